import { timingSafeEqual } from 'node:crypto';
import { sha256Hex } from '@tollgate/policy';
import type { ApproverConfig, TokenAgent } from '../config/gateway-config.js';

/** Who presented a bearer token to the admin API. */
export type AdminIdentity =
  | { readonly kind: 'approver'; readonly id: string; readonly groups: readonly string[] }
  | { readonly kind: 'admin'; readonly id: 'admin'; readonly groups: readonly string[] }
  | { readonly kind: 'agent'; readonly id: string };

/** A request as far as who may decide it goes. */
export interface DecidableRequest {
  /** The requesting agent. */
  readonly agentId: string;
  /** Approver ids or groups the rule allows; null = any configured approver (and the admin). */
  readonly approvers: readonly string[] | null;
}

/** Why someone may not decide a request: the admin API answers 403 with the reason. */
export type DecideRefusal = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

/**
 * The configured approvers, the admin token and the agents' tokens (DESIGN §5): who a token
 * belongs to, and whether they may decide a given request. An agent's token never decides
 * anything, and nobody decides a request their own id made.
 *
 * @example
 * const who = directory.identify(token);
 * if (who?.kind === 'approver' && directory.mayDecide(who, request).allowed) …
 */
export class ApproverDirectory {
  readonly #byToken = new Map<string, AdminIdentity>();
  readonly #adminToken: string | undefined;

  constructor(approvers: readonly ApproverConfig[], agents: readonly TokenAgent[], adminTokenSha256: string | undefined) {
    for (const a of agents) this.#byToken.set(a.token_sha256, { kind: 'agent', id: a.id });
    // Configuration refuses an approver token that is also an agent's; should both ever be
    // present, the agent wins: the token decides nothing.
    for (const a of approvers) if (!this.#byToken.has(a.token_sha256)) this.#byToken.set(a.token_sha256, { kind: 'approver', id: a.id, groups: a.groups });
    this.#adminToken = adminTokenSha256;
  }

  /** True when at least one approver is configured. */
  get hasApprovers(): boolean {
    return [...this.#byToken.values()].some((i) => i.kind === 'approver');
  }

  /** Who the bearer token belongs to, or undefined for an unknown one. */
  identify(token: string): AdminIdentity | undefined {
    const digest = sha256Hex(token);
    if (this.#adminToken !== undefined && sameHex(digest, this.#adminToken)) return { kind: 'admin', id: 'admin', groups: [] };
    return this.#byToken.get(digest);
  }

  /** Whether `who` may decide `request`; when not, why (for the 403). */
  mayDecide(who: AdminIdentity, request: DecidableRequest): DecideRefusal {
    if (who.kind === 'agent') return { allowed: false, reason: `an agent's token cannot decide approvals (agent "${who.id}")` };
    if (who.id === request.agentId) return { allowed: false, reason: `"${who.id}" made this request and cannot approve its own call` };
    const allowed = request.approvers;
    if (allowed === null) return { allowed: true };
    if (allowed.includes(who.id) || who.groups.some((g) => allowed.includes(g))) return { allowed: true };
    return { allowed: false, reason: `the rule allows only ${allowed.map((a) => JSON.stringify(a)).join(', ')} to decide this request; "${who.id}" is not one of them` };
  }
}

function sameHex(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}
