import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { canonicalDigest, sha256Hex } from '@tollgate/policy';
import { demoExchangeStdio } from './fixtures.js';

/** The approvers of the approval tests, their tokens and groups; `agent-7` is also the test agent's id. */
export const APPROVERS = [
  { id: 'alice', token: 'approver-alice', groups: ['desk-leads', 'treasury'] },
  { id: 'bob', token: 'approver-bob', groups: ['treasury'] },
  { id: 'agent-7', token: 'approver-same-id-as-agent', groups: ['desk-leads'] },
] as const;
export const ADMIN_TOKEN = 'admin-token';

/** A policy for the demo exchange with every kind of approval rule the tests need. */
export const APPROVAL_POLICY = {
  version: '1',
  default: 'allow',
  tools: {
    cancel_order: { action: 'approve', reason: 'A desk lead approves cancellations.', approvers: ['desk-leads'] },
    withdraw_cryptocurrency: {
      approve_if: [{ id: 'two-person', conditions: [], reason: 'Two treasury approvers.', approvers: ['treasury'], min_approvals: 2 }],
    },
    fetch_order_history: { action: 'approve', reason: 'Expires fast.', timeout: '2s' },
    // The agent's own user may decide (asked in-band by elicitation), or a desk lead.
    fetch_my_trade_history: { action: 'approve', reason: 'Your user decides.', approvers: ['user', 'desk-leads'] },
  },
};

/** A policy directory with {@link APPROVAL_POLICY} for upstream `ccxt`. */
export async function approvalPolicyDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-approvals-'));
  await mkdir(join(dir, 'ccxt'), { recursive: true });
  await writeFile(join(dir, 'ccxt', 'policy.json'), JSON.stringify(APPROVAL_POLICY, null, 2));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The gateway configuration the approval tests share (listen and agents are the harness's). */
export function approvalGatewayConfig(policyDir: string, ledger: Record<string, unknown>, approvals: Record<string, unknown> = {}): Record<string, unknown> {
  const ccxt = demoExchangeStdio('ccxt');
  return {
    upstreams: { ccxt: { command: ccxt.command, args: ccxt.args, cwd: ccxt.cwd } },
    policy: { dir: policyDir },
    ledger,
    admin: { host: '127.0.0.1', port: 0, token_sha256: sha256Hex(ADMIN_TOKEN) },
    approvals: {
      mode: 'hold',
      hold_max: '1500ms',
      progress_interval: '300ms',
      approvers: APPROVERS.map((a) => ({ id: a.id, token_sha256: sha256Hex(a.token), groups: [...a.groups] })),
      ...approvals,
    },
  };
}

/** One approval request as the admin API shows it. */
export interface ApprovalJson {
  id: string;
  status: string;
  tool: string;
  agent: string;
  args_sha256: string;
  expires_at: string;
  decisions: Array<{ approver: string; decision: string; reason: string | null }>;
  can_decide: boolean;
}

/** A client of one gateway's admin API. */
export function adminApi(url: string) {
  const request = async (path: string, token: string | undefined, init: { method?: string; body?: unknown } = {}) => {
    const res = await fetch(new URL(path, url), {
      method: init.method ?? 'GET',
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const tokenOf = (approver: string): string => APPROVERS.find((a) => a.id === approver)?.token ?? approver;
  return {
    request,
    async pending(): Promise<ApprovalJson[]> {
      return ((await request('/approvals?status=pending', ADMIN_TOKEN)).body.approvals ?? []) as ApprovalJson[];
    },
    async get(id: string): Promise<ApprovalJson> {
      return (await request(`/approvals/${id}`, ADMIN_TOKEN)).body as unknown as ApprovalJson;
    },
    /**
     * The pending request of `tool` (for exactly `args`, when given) other than `not`, once it
     * appears (a person looking at the list).
     */
    async awaitPending(tool: string, not: readonly string[] = [], args?: Record<string, unknown>): Promise<ApprovalJson> {
      const digest = args === undefined ? undefined : canonicalDigest(args);
      for (let i = 0; i < 400; i++) {
        const found = (await this.pending()).find((a) => a.tool === tool && !not.includes(a.id) && (digest === undefined || a.args_sha256 === digest));
        if (found) return found;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`no pending approval for ${tool} appeared`);
    },
    vote(id: string, approver: string, decision: 'approve' | 'deny', reason?: string) {
      return request(`/approvals/${id}/${decision}`, tokenOf(approver), { method: 'POST', body: reason === undefined ? {} : { reason } });
    },
  };
}

/** A `tools/call` through the agent's client; never throws for a JSON-RPC error (it is returned). */
export async function callTool(
  client: Client,
  name: string,
  args: Record<string, unknown>,
  options: { signal?: AbortSignal; onprogress?: (p: { progress: number; message?: string }) => void; timeout?: number; resetTimeoutOnProgress?: boolean } = {},
): Promise<CallToolResult | { error: Error }> {
  try {
    return (await client.request({ method: 'tools/call', params: { name, arguments: args } }, CallToolResultSchema, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onprogress ? { onprogress: options.onprogress } : {}),
      timeout: options.timeout ?? 60_000,
      ...(options.resetTimeoutOnProgress ? { resetTimeoutOnProgress: true } : {}),
    })) as CallToolResult;
  } catch (error) {
    return { error: error as Error };
  }
}

/** The machine-readable part of a gateway refusal, if the result is one. */
export function refusalOf(result: CallToolResult | { error: Error }): Record<string, unknown> | undefined {
  if ('error' in result) return undefined;
  return (result._meta?.['tollgate/refusal'] as Record<string, unknown> | undefined) ?? undefined;
}

/** The first text block of a result. */
export function textOf(result: CallToolResult | { error: Error }): string {
  if ('error' in result) return (result as { error: Error }).error.message;
  return String((result.content?.[0] as { text?: unknown } | undefined)?.text ?? '');
}
