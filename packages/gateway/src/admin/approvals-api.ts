import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApprovalDeliveryEvent, ApprovalDeliveryRecord, ApprovalDeliveryStatus, ApprovalRecord, ApprovalStatus } from '@tollgate/ledger';
import type { ApprovalDesk } from '../approvals/approval-desk.js';
import type { AdminIdentity } from '../approvals/approver-directory.js';
import { errorMessage } from '../gateway-error.js';

/**
 * One approval request as it is, whoever looks: what `GET /approvals/{id}` shows and what a
 * webhook notification carries (`approvals.notify`).
 */
export interface ApprovalView {
  readonly id: string;
  readonly status: ApprovalStatus;
  readonly server: string;
  readonly tool: string;
  /** The arguments, redacted as in the ledger. */
  readonly arguments: unknown;
  readonly args_sha256: string;
  readonly agent: string;
  readonly session: string | null;
  readonly call_id: string;
  readonly rule: string;
  readonly reason: string;
  readonly policy_revision: string | null;
  readonly policy_digest: string;
  readonly approvers: readonly string[] | null;
  readonly min_approvals: number;
  readonly requested_at: string;
  readonly expires_at: string;
  readonly decided_at: string | null;
  readonly consumed_at: string | null;
  readonly decisions: ReadonlyArray<{ readonly approver: string; readonly decision: 'grant' | 'deny'; readonly reason: string | null; readonly at: string }>;
}

/** One attempt at a webhook delivery, as `GET /approvals/{id}` shows it. */
export interface DeliveryAttemptBody {
  readonly attempt: number;
  readonly at: string;
  readonly duration_ms: number;
  /** The HTTP status the receiver answered with; null when it did not answer. */
  readonly status_code: number | null;
  readonly error: string | null;
  /** The gateway replica that made it. */
  readonly replica: string;
}

/** One webhook delivery of an event of the request (`approvals.notify`), with its attempts. */
export interface DeliveryBody {
  /** The delivery id, sent as `X-Tollgate-Delivery`. */
  readonly id: string;
  readonly event: ApprovalDeliveryEvent;
  /** Whose vote a `granted` or `denied` delivery tells of. */
  readonly approver: string | null;
  /** The receiver's id (`approvals.notify[].id`). */
  readonly receiver: string;
  readonly format: 'json' | 'slack';
  /** `delivering` while a replica is making an attempt. */
  readonly status: ApprovalDeliveryStatus | 'delivering';
  readonly max_attempts: number;
  readonly created_at: string;
  readonly next_attempt_at: string | null;
  readonly finished_at: string | null;
  readonly note: string | null;
  readonly attempts: readonly DeliveryAttemptBody[];
}

/** One approval request as the admin API shows it (`GET /approvals`, `GET /approvals/{id}`). */
export interface ApprovalBody extends ApprovalView {
  /** Whether the identity that asked may decide it (and if not, why). */
  readonly can_decide: boolean;
  readonly cannot_decide_reason?: string;
  /**
   * `GET /approvals/{id}` with notifications configured: every webhook delivery of the
   * request's events and every attempt, the same on every replica.
   */
  readonly deliveries?: readonly DeliveryBody[];
  /** Why the deliveries could not be read (the request itself could). */
  readonly deliveries_error?: string;
}

const STATUSES: ReadonlySet<string> = new Set(['pending', 'granted', 'denied', 'expired', 'consumed']);
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_BODY = 16_384;
const MAX_REASON = 2000;

/**
 * The approvals part of the admin API (DESIGN §5), for approver and admin tokens:
 * `GET /approvals[?status=pending][&limit=N]`, `GET /approvals/{id}`,
 * `POST /approvals/{id}/approve` and `POST /approvals/{id}/deny` with `{ "reason"?: "…" }`.
 * 401 without a valid approver or admin token, 403 for an agent's token, for an approver the
 * request's rule does not allow, or for the requesting agent itself; 404 for an unknown
 * request; 409 when it is already decided, expired, or was already voted on by the same approver.
 */
export async function handleApprovalsRequest(req: IncomingMessage, res: ServerResponse, desk: ApprovalDesk, who: AdminIdentity | undefined): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
  const parts = url.pathname.split('/').filter(Boolean);
  if (!who) {
    return send(res, 401, { error: 'present an approver or admin bearer token (Authorization: Bearer <token>)' }, { 'www-authenticate': 'Bearer realm="tollgate-admin"' });
  }
  if (who.kind === 'agent') return send(res, 403, { error: `an agent's token cannot see or decide approvals (agent "${who.id}")` });

  if (parts.length === 1) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'GET /approvals lists requests' }, { allow: 'GET, HEAD' });
    const status = url.searchParams.get('status') ?? undefined;
    if (status !== undefined && !STATUSES.has(status)) return send(res, 400, { error: `status must be one of ${[...STATUSES].join(', ')} (got ${JSON.stringify(status)})` });
    const limitText = url.searchParams.get('limit');
    const limit = limitText === null ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return send(res, 400, { error: `limit must be an integer from 1 to 1000 (got ${JSON.stringify(limitText)})` });
    const records = await desk.list(status as ApprovalStatus | undefined, limit);
    return send(res, 200, { approvals: records.map((r) => approvalBody(r, desk, who)) });
  }

  const id = parts[1]!;
  if (!ID.test(id)) return send(res, 404, { error: `no approval request ${JSON.stringify(id)}` });
  if (parts.length === 2) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: `GET /approvals/${id} shows a request; POST /approvals/${id}/approve or /deny decides it` }, { allow: 'GET, HEAD' });
    const record = await desk.get(id);
    if (!record) return send(res, 404, { error: `no approval request ${id}` });
    return send(res, 200, { ...approvalBody(record, desk, who), ...(await deliveriesOf(desk, id)) });
  }
  const verb = parts[2];
  if (parts.length !== 3 || (verb !== 'approve' && verb !== 'deny')) return send(res, 404, { error: `not found: ${url.pathname}; POST /approvals/${id}/approve or /approvals/${id}/deny` });
  if (req.method !== 'POST') return send(res, 405, { error: `use POST /approvals/${id}/${verb}` }, { allow: 'POST' });
  const body = await readReason(req);
  if (!body.ok) return send(res, 400, { error: body.error }, body.close ? { connection: 'close' } : {});
  const outcome = await desk.vote(id, who, verb === 'approve' ? 'grant' : 'deny', body.reason);
  if (outcome.status === 200) return send(res, 200, approvalBody(outcome.record, desk, who));
  return send(res, outcome.status, { error: outcome.error, ...(outcome.record ? { approval: approvalBody(outcome.record, desk, who) } : {}) });
}

/** An {@link ApprovalRecord} in the admin API's snake_case, with whether `who` may decide it. */
export function approvalBody(r: ApprovalRecord, desk: ApprovalDesk, who: AdminIdentity): ApprovalBody {
  const may = desk.directory.mayDecide(who, r);
  return {
    ...approvalView(r),
    can_decide: may.allowed && r.status === 'pending',
    ...(may.allowed ? (r.status === 'pending' ? {} : { cannot_decide_reason: `it is ${r.status}` }) : { cannot_decide_reason: may.reason }),
  };
}

/** An {@link ApprovalRecord} in the admin API's snake_case, as anyone sees it. */
export function approvalView(r: ApprovalRecord): ApprovalView {
  return {
    id: r.id,
    status: r.status,
    server: r.server,
    tool: r.tool,
    arguments: r.args,
    args_sha256: r.argsSha256,
    agent: r.agentId,
    session: r.sessionId,
    call_id: r.callId,
    rule: r.rule,
    reason: r.reason,
    policy_revision: r.policyRevision,
    policy_digest: r.policyDigest,
    approvers: r.approvers,
    min_approvals: r.minApprovals,
    requested_at: r.requestedAt.toISOString(),
    expires_at: r.expiresAt.toISOString(),
    decided_at: r.decidedAt?.toISOString() ?? null,
    consumed_at: r.consumedAt?.toISOString() ?? null,
    decisions: r.votes.map((v) => ({ approver: v.approver, decision: v.decision, reason: v.reason, at: v.at.toISOString() })),
  };
}

/** A {@link ApprovalDeliveryRecord} in the admin API's snake_case. */
export function deliveryBody(d: ApprovalDeliveryRecord): DeliveryBody {
  return {
    id: d.id,
    event: d.event,
    approver: d.approver,
    receiver: d.receiver,
    format: d.format,
    status: d.status === 'pending' && d.inProgress ? 'delivering' : d.status,
    max_attempts: d.maxAttempts,
    created_at: d.createdAt.toISOString(),
    next_attempt_at: d.nextAttemptAt?.toISOString() ?? null,
    finished_at: d.finishedAt?.toISOString() ?? null,
    note: d.note,
    attempts: d.attempts.map((a) => ({
      attempt: a.attempt,
      at: a.startedAt.toISOString(),
      duration_ms: a.durationMs,
      status_code: a.statusCode,
      error: a.error,
      replica: a.replica,
    })),
  };
}

/**
 * Reads the body of a vote, `{ "reason"?: "…" }` (at most 16 KiB; a reason of at most 2000
 * characters; an empty body is no reason): the admin API's and the console's.
 */
export async function readReason(req: IncomingMessage): Promise<{ ok: true; reason: string | null } | { ok: false; error: string; close?: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) {
      req.resume();
      return { ok: false, error: `the body is larger than ${MAX_BODY} bytes`, close: true };
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return { ok: true, reason: null };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `the body is not JSON: ${(error as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, error: 'the body must be a JSON object like { "reason": "…" }' };
  const extra = Object.keys(value).filter((k) => k !== 'reason');
  if (extra.length > 0) return { ok: false, error: `unknown field ${JSON.stringify(extra[0])}: the body takes only "reason"` };
  const reason = (value as { reason?: unknown }).reason;
  if (reason === undefined || reason === null) return { ok: true, reason: null };
  if (typeof reason !== 'string') return { ok: false, error: `"reason" must be a string (got ${typeof reason})` };
  if (reason.length > MAX_REASON) return { ok: false, error: `"reason" is longer than ${MAX_REASON} characters` };
  return { ok: true, reason: reason.trim() === '' ? null : reason };
}

/** The request's webhook deliveries, when notifications are configured; a failure to read them is said, not fatal. */
async function deliveriesOf(desk: ApprovalDesk, id: string): Promise<Pick<ApprovalBody, 'deliveries' | 'deliveries_error'>> {
  try {
    const deliveries = await desk.deliveries(id);
    return deliveries === undefined ? {} : { deliveries: deliveries.map(deliveryBody) };
  } catch (error) {
    return { deliveries_error: `the deliveries could not be read: ${errorMessage(error)}` };
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}
