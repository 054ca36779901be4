import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { parseGatewayConfig, startGateway, type ApprovalBody, type RunningGateway } from '@tollgate/gateway';
import { DEFAULT_EMBEDDED_DIR, openLedgerServices, verifyLedger, type LedgerServices, type VerifyReport } from '@tollgate/ledger';
import { sha256Hex } from '@tollgate/policy';
import { adminRequest, type AdminConnection } from '../admin/admin-client.js';
import { CliError, ExitCode } from '../cli-error.js';

/** What a scripted approver does with the request a step's call opens. */
export interface DemoVote {
  /** The approver (one of the demo's configured approvers). */
  readonly approver: string;
  readonly decision: 'approve' | 'deny';
  readonly reason: string;
}

/** One scripted call of the demo agent. */
export interface DemoStep {
  /** What the step shows, e.g. "an order over the cap". */
  readonly title: string;
  readonly tool: string;
  /** The arguments, or how to make them from the calls before (e.g. the id of an order placed earlier). */
  readonly args: Record<string, unknown> | ((before: readonly DemoCall[]) => Record<string, unknown>);
  /** For a call the policy holds: what the scripted approvers decide, in order. */
  readonly votes?: readonly DemoVote[];
}

/** How the gateway answered one scripted call. */
export interface DemoCall {
  readonly step: number;
  readonly title: string;
  readonly tool: string;
  /** `allowed`, `denied`, `limit reached`, `approval required`, `held, then approved`, `unknown tool`, … */
  readonly verdict: string;
  /** The refusal code (`policy.denied`, `rate_limited`, `approval.denied`, …), or null when the call ran. */
  readonly code: string | null;
  readonly rule: string | null;
  /** The first line the agent read: the result's text, or the refusal. */
  readonly text: string;
  /** The approval the call waited for, and who decided it. */
  readonly approval?: { readonly id: string; readonly votes: readonly DemoVote[] };
  /** The `id` of what the call created (an order), when its result names one. */
  readonly resultId?: string;
}

/** One event of the demo's strand as the ledger recorded it. */
export interface DemoDecision {
  readonly seq: number;
  /** `decision`, or an approval event (`approval.requested`, `approval.granted`, …). */
  readonly type: string;
  readonly tool: string;
  /** The decision's effect; for an approval event, who decided (or nothing). */
  readonly effect: string;
  readonly rule: string | null;
  readonly reason: string;
  readonly outcome: string | null;
}

/** What `tollgate demo` shows. */
export interface DemoResult {
  readonly ledger: { readonly backend: string; readonly location: string; readonly strand: string };
  /** Tools the agent saw in tools/list, of those the exchange offers. */
  readonly tools: { readonly listed: number; readonly offered: number };
  readonly calls: readonly DemoCall[];
  readonly decisions: readonly DemoDecision[];
  readonly verify: VerifyReport;
  readonly durationMs: number;
}

/** Options of {@link runDemo}. */
export interface DemoOptions {
  readonly cwd: string;
  /** A PostgreSQL ledger; without one the embedded ledger in `.tollgate/ledger` under `cwd`. */
  readonly databaseUrl?: string;
  /** Progress as the demo goes (the CLI prints it). */
  readonly onProgress?: (event: DemoProgress) => void;
  /**
   * `tollgate demo --console`: after the script, the gateway keeps running with the approvals
   * console open and one more `cancel_order` held for a desk lead, for a person to decide,
   * until `signal` aborts (Ctrl-C); then the demo ends as usual.
   */
  readonly console?: { readonly signal: AbortSignal; readonly port?: number };
}

/** A progress event of the demo. */
export type DemoProgress =
  | { readonly kind: 'stage'; readonly text: string }
  | { readonly kind: 'call'; readonly call: DemoCall }
  | {
      readonly kind: 'console';
      /** The approvals console's address. */
      readonly url: string;
      /** The approver to sign in as, and their token. */
      readonly approver: string;
      readonly token: string;
      /** The held call waiting for that approver. */
      readonly tool: string;
      readonly approvalId: string;
    };

const ORDER = { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy' } as const;
/** Cancels the resting limit order placed earlier in the script. */
const cancelTheRestingOrder = (before: readonly DemoCall[]): Record<string, unknown> => ({
  exchange_id: 'binance',
  id: before.find((c) => c.tool === 'create_spot_limit_order')?.resultId ?? 'unknown',
  symbol: 'SOL/USDT',
});
const WITHDRAWAL = { exchange_id: 'binance', code: 'SOL', amount: 2, address: 'So1ana1111111111111111111111111111111111111' } as const;

/** The demo's approvers: a desk lead, and two people of treasury (withdrawals above 1 unit need both). */
const APPROVERS = [
  { id: 'desk-lead', groups: ['desk-leads'] },
  { id: 'treasurer-1', groups: ['treasury'] },
  { id: 'treasurer-2', groups: ['treasury'] },
] as const;

/**
 * The demo agent's script (policies/ccxt): every effect the policy has — an allowed read, an
 * allowed small order, an order over the per-order cap, a resting limit order and its
 * `cancel_order`, held until a desk lead approves it (then run once; the identical repeat is
 * held again, and denied), the hidden
 * leverage tool, a withdrawal that needs two treasury approvers, the desk-wide daily notional
 * cap, and the 10-orders-a-minute rate limit.
 */
export const DEMO_SCRIPT: readonly DemoStep[] = Object.freeze([
  { title: 'an allowed read', tool: 'fetch_account_balance', args: { exchange_id: 'binance' } },
  { title: 'an allowed small order', tool: 'create_spot_market_order', args: { ...ORDER, amount: 0.5 } },
  { title: 'an order over the 2-unit cap', tool: 'create_spot_market_order', args: { ...ORDER, amount: 5 } },
  { title: 'a resting limit order', tool: 'create_spot_limit_order', args: { ...ORDER, amount: 0.1, price: 50 } },
  { title: 'cancel it: held for a desk lead', tool: 'cancel_order', args: cancelTheRestingOrder, votes: [{ approver: 'desk-lead', decision: 'approve', reason: 'stale order, fine to cancel' }] },
  { title: 'the same cancel again: held again', tool: 'cancel_order', args: cancelTheRestingOrder, votes: [{ approver: 'desk-lead', decision: 'deny', reason: 'already cancelled' }] },
  { title: 'the hidden leverage tool', tool: 'set_trading_leverage', args: { exchange_id: 'binance', leverage: 5 } },
  {
    title: 'a 2 SOL withdrawal: two people',
    tool: 'withdraw_cryptocurrency',
    args: WITHDRAWAL,
    votes: [
      { approver: 'treasurer-1', decision: 'approve', reason: 'address on the allow-list' },
      { approver: 'treasurer-2', decision: 'approve', reason: 'second pair of eyes' },
    ],
  },
  { title: 'a 2-unit order', tool: 'create_spot_market_order', args: { ...ORDER, amount: 2 } },
  { title: 'another 2-unit order', tool: 'create_spot_market_order', args: { ...ORDER, amount: 2 } },
  { title: 'over the daily notional cap (5)', tool: 'create_spot_market_order', args: { ...ORDER, amount: 1 } },
  ...Array.from({ length: 6 }, (_, i) => ({ title: `small order ${i + 1} of 6`, tool: 'create_spot_market_order', args: { ...ORDER, amount: 0.05 } })),
  { title: 'the 11th order this minute', tool: 'create_spot_market_order', args: { ...ORDER, amount: 0.05 } },
]);

/**
 * Runs the demo: the demo exchange (built, stdio) behind an in-process gateway with
 * policies/ccxt, the ledger and its approval store, the scripted agent over Streamable HTTP
 * with a bearer token, scripted approvers deciding the calls it holds through the admin API,
 * then the ledger's decisions and `tollgate ledger verify`.
 *
 * @throws CliError `demo.unavailable` when the repository is missing or not built; a
 *   `LedgerError` when the ledger cannot be opened.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const started = performance.now();
  const progress = options.onProgress ?? (() => undefined);
  const root = findRepository(options.cwd);
  const exchangeMain = join(root, 'packages/demo-exchange/dist/main.js');
  if (!existsSync(exchangeMain)) {
    throw new CliError('demo.unavailable', `the demo exchange is not built (${exchangeMain} is missing)`, { exit: ExitCode.input, hint: 'Run `pnpm build` in the repository first.' });
  }

  progress({ kind: 'stage', text: options.databaseUrl ? 'Opening the PostgreSQL ledger' : `Opening the embedded ledger in ${DEFAULT_EMBEDDED_DIR}` });
  const services: LedgerServices = await openLedgerServices({
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : { dataDir: resolve(options.cwd, DEFAULT_EMBEDDED_DIR) }),
    migrate: true,
    migrationsDir: join(root, 'migrations'),
    label: 'tollgate demo',
    maxBatchDelayMs: 0,
    limits: 'memory',
  });
  let gateway: RunningGateway | undefined;
  let client: Client | undefined;
  let second: Client | undefined;
  try {
    const token = randomBytes(24).toString('base64url');
    const secondToken = randomBytes(24).toString('base64url');
    const adminToken = randomBytes(24).toString('base64url');
    const approverTokens = new Map<string, string>(APPROVERS.map((a) => [a.id, randomBytes(24).toString('base64url')]));
    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { http: { host: '127.0.0.1', port: 0 } },
        agents: [
          { id: 'desk-bot', token_sha256: sha256Hex(token), labels: { team: 'desk' } },
          // --console: a second agent of the desk, with limits of its own, makes the call held for a person.
          { id: 'desk-bot-2', token_sha256: sha256Hex(secondToken), labels: { team: 'desk', shift: 'late' } },
        ],
        upstreams: { ccxt: { command: process.execPath, args: [exchangeMain, '--stdio'] } },
        policy: { dir: 'policies' },
        limits: { store: 'memory' },
        ledger: { await_outcome: true },
        admin: { host: '127.0.0.1', port: options.console?.port ?? 0, token_sha256: sha256Hex(adminToken) },
        log: { level: 'error' },
        approvals: { mode: 'hold', hold_max: '30s', approvers: APPROVERS.map((a) => ({ id: a.id, groups: [...a.groups], token_sha256: sha256Hex(approverTokens.get(a.id)!) })) },
      }),
      join(root, 'tollgate.demo.json'),
      root,
    );
    progress({ kind: 'stage', text: 'Starting the demo exchange behind the gateway (policies/ccxt)' });
    gateway = await startGateway(config, { services: { sink: services.sink, limits: services.limits, approvals: services.approvals } });
    client = new Client({ name: 'tollgate-demo-agent', version: '0.1.0' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    const listed = (await client.listTools()).tools.length;
    const offered = gateway.registry.tools().length;
    progress({ kind: 'stage', text: `Agent desk-bot connected over HTTP; it sees ${listed} of the exchange's ${offered} tools` });

    const admin = (approver: string): AdminConnection => ({ adminUrl: gateway!.admin!.url, token: approverTokens.get(approver) });
    const calls: DemoCall[] = [];
    for (const [i, step] of DEMO_SCRIPT.entries()) {
      const call = await callOnce(client, i + 1, step, typeof step.args === 'function' ? step.args(calls) : step.args, admin, adminToken, gateway.admin!.url);
      calls.push(call);
      progress({ kind: 'call', call });
    }
    if (options.console) {
      // desk-bot has used up its orders for this minute: desk-bot-2 places the order whose cancel waits for a person.
      second = new Client({ name: 'tollgate-demo-agent-2', version: '0.1.0' }, { capabilities: {} });
      await second.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${secondToken}` } } }));
      progress({ kind: 'stage', text: 'Agent desk-bot-2 connected over HTTP' });
      calls.push(...(await heldForAPerson(second, calls, { adminUrl: gateway.admin!.url, token: adminToken }, approverTokens.get('desk-lead')!, options.console.signal, progress)));
      await second.close();
      second = undefined;
    }
    await client.close();
    client = undefined;
    progress({ kind: 'stage', text: 'Stopping the gateway and flushing the ledger' });
    await gateway.shutdown('demo finished');
    gateway = undefined;
    await services.writer.close();

    const { rows } = await services.connection.execute<{ seq: string | number; event_type: string; tool: string; effect: string | null; approver: string | null; rule: string | null; reason: string | null; outcome: string | null }>(
      `SELECT d.seq, d.event_type, d.tool, d.effect, d.approver, d.rule, d.reason, o.outcome_status AS outcome
         FROM ledger_events d
         LEFT JOIN ledger_events o ON o.call_id = d.call_id AND o.event_type = 'outcome' AND d.event_type = 'decision' AND d.effect = 'allow'
        WHERE d.strand_id = $1 AND (d.event_type = 'decision' OR d.event_type LIKE 'approval.%')
        ORDER BY d.seq`,
      [services.writer.strandId],
    );
    progress({ kind: 'stage', text: 'Verifying the ledger (tollgate ledger verify)' });
    const verify = await verifyLedger(services.connection);
    return {
      ledger: { backend: services.connection.backend, location: services.connection.location, strand: services.writer.strandId },
      tools: { listed, offered },
      calls,
      decisions: rows.map((r) => ({
        seq: Number(r.seq),
        type: r.event_type,
        tool: r.tool,
        effect: r.event_type === 'decision' ? (r.effect ?? '') : (r.approver ?? ''),
        rule: r.rule,
        reason: r.reason ?? '',
        outcome: r.outcome,
      })),
      verify,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    await second?.close().catch(() => undefined);
    await client?.close().catch(() => undefined);
    await gateway?.shutdown('demo stopped').catch(() => undefined);
    await services.close().catch(() => undefined);
  }
}

/**
 * Makes one scripted call. A call the policy holds is decided, while it waits, by the step's
 * scripted approvers through the admin API — as a person would from `tollgate approvals` or
 * the console.
 */
async function callOnce(
  client: Client,
  step: number,
  s: DemoStep,
  args: Record<string, unknown>,
  admin: (approver: string) => AdminConnection,
  adminToken: string,
  adminUrl: string,
): Promise<DemoCall> {
  const base = { step, title: s.title, tool: s.tool };
  const answer = client
    .request({ method: 'tools/call', params: { name: s.tool, arguments: args } }, CallToolResultSchema, { timeout: 60_000 })
    .then((r) => ({ result: r as CallToolResult }), (error: unknown) => ({ error }));
  let approval: DemoCall['approval'];
  if (s.votes) {
    const pending = await awaitPending(s.tool, { adminUrl, token: adminToken });
    for (const vote of s.votes) {
      const r = await adminRequest(admin(vote.approver), `/approvals/${pending.id}/${vote.decision}`, { method: 'POST', body: { reason: vote.reason }, tokenHint: 'the demo approver token' });
      if (r.status !== 200) throw new CliError('demo.failed', `the demo approver ${vote.approver} could not ${vote.decision} ${pending.id}: ${JSON.stringify(r.body)}`, { exit: ExitCode.input });
    }
    approval = { id: pending.id, votes: s.votes };
  }
  return describeAnswer(base, await answer, approval);
}

/** A call answered by the gateway, as the demo shows it. */
function describeAnswer(base: Pick<DemoCall, 'step' | 'title' | 'tool'>, answered: { result: CallToolResult } | { error: unknown }, approval: DemoCall['approval']): DemoCall {
  if ('error' in answered) {
    const error = answered.error;
    const message = (error instanceof Error ? error.message : String(error)).replace(/^MCP error -?\d+: /, '');
    return { ...base, verdict: 'unknown tool', code: null, rule: null, text: message };
  }
  const result = answered.result;
  const text = String((result.content?.[0] as { text?: unknown } | undefined)?.text ?? '');
  const refusal = result.structuredContent as { code?: string; rule?: string | null } | undefined;
  const held = approval ? `held, then ${approval.votes.map((v) => `${v.decision === 'approve' ? 'approved' : 'denied'} by ${v.approver}`).join(' and ')}` : undefined;
  if (result.isError && refusal?.code) {
    const verdict =
      held ?? (refusal.code === 'rate_limited' ? 'limit reached' : refusal.code === 'approval.required' ? 'approval required' : refusal.code === 'approval.expired' ? 'held, then expired' : 'denied');
    return { ...base, verdict, code: refusal.code, rule: refusal.rule ?? null, text, ...(approval ? { approval } : {}) };
  }
  const verdict = held ? `${held}: ran` : result.isError ? 'allowed (upstream error)' : 'allowed';
  const resultId = idOf(text);
  return {
    ...base,
    verdict,
    code: null,
    rule: null,
    text: text.length > 100 ? `${text.slice(0, 97)}...` : text,
    ...(approval ? { approval } : {}),
    ...(resultId ? { resultId } : {}),
  };
}

/**
 * `tollgate demo --console`: one more resting order, and its `cancel_order` held for a desk
 * lead — a person, this time, in the approvals console. The call is kept alive with progress
 * until it is decided (or expires); the gateway runs on until `signal` aborts.
 */
async function heldForAPerson(
  client: Client,
  before: readonly DemoCall[],
  admin: AdminConnection,
  deskLeadToken: string,
  signal: AbortSignal,
  progress: (event: DemoProgress) => void,
): Promise<DemoCall[]> {
  const calls: DemoCall[] = [];
  let step = before.length;
  const order = await callOnce(client, ++step, { title: 'desk-bot-2: a resting limit order', tool: 'create_spot_limit_order', args: { ...ORDER, amount: 0.05, price: 45 } }, { ...ORDER, amount: 0.05, price: 45 }, () => admin, admin.token!, admin.adminUrl);
  calls.push(order);
  progress({ kind: 'call', call: order });
  const title = 'desk-bot-2 cancels it: held for you';
  const base = { step: ++step, title, tool: 'cancel_order' };
  const stopped = new Promise<'stopped'>((resolve) => {
    if (signal.aborted) resolve('stopped');
    else signal.addEventListener('abort', () => resolve('stopped'), { once: true });
  });
  const answer = client
    .request({ method: 'tools/call', params: { name: 'cancel_order', arguments: { exchange_id: 'binance', id: order.resultId ?? 'unknown', symbol: ORDER.symbol } } }, CallToolResultSchema, {
      // Progress from the gateway keeps the held call open until a person decides it.
      onprogress: () => undefined,
      resetTimeoutOnProgress: true,
      timeout: 60_000,
      signal,
    })
    .then((r) => ({ result: r as CallToolResult }), (error: unknown) => ({ error }));
  const pending = await Promise.race([awaitPending('cancel_order', admin), stopped]);
  if (pending === 'stopped') return calls;
  progress({ kind: 'console', url: `${admin.adminUrl}/console`, approver: 'desk-lead', token: deskLeadToken, tool: 'cancel_order', approvalId: pending.id });
  const answered = await Promise.race([answer, stopped]);
  if (answered === 'stopped') {
    progress({ kind: 'stage', text: 'Stopped before anyone decided the held cancel_order' });
    return calls;
  }
  const decided = await adminRequest(admin, `/approvals/${pending.id}`, { tokenHint: 'the demo admin token' });
  const record = decided.body as ApprovalBody | undefined;
  const votes: DemoVote[] = (record?.decisions ?? []).map((d) => ({ approver: d.approver, decision: d.decision === 'grant' ? 'approve' : 'deny', reason: d.reason ?? '' }));
  const call = describeAnswer(base, answered, votes.length > 0 ? { id: pending.id, votes } : undefined);
  calls.push(call);
  progress({ kind: 'call', call });
  if (!signal.aborted) progress({ kind: 'stage', text: 'The gateway and the console keep running; press Ctrl-C to stop them and see the ledger' });
  await stopped;
  return calls;
}

/** The `id` a JSON tool result names, if any. */
function idOf(text: string): string | undefined {
  try {
    const id = (JSON.parse(text) as { id?: unknown }).id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/** The pending request the held call just opened, as an approver would see it appear. */
async function awaitPending(tool: string, admin: AdminConnection): Promise<ApprovalBody> {
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    const r = await adminRequest(admin, '/approvals?status=pending', { tokenHint: 'the demo admin token' });
    const found = (r.body as { approvals?: ApprovalBody[] } | undefined)?.approvals?.find((a) => a.tool === tool);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new CliError('demo.failed', `no approval request for ${tool} appeared within 20 s`, { exit: ExitCode.input });
}

/** The repository the demo runs from: `cwd` or a parent of it, else the one this CLI lives in. */
function findRepository(cwd: string): string {
  const isRoot = (dir: string): boolean => existsSync(join(dir, 'policies/ccxt/policy.json')) && existsSync(join(dir, 'packages/demo-exchange/package.json'));
  for (const start of [resolve(cwd), dirname(fileURLToPath(import.meta.url))]) {
    let dir = start;
    for (;;) {
      if (isRoot(dir)) return dir;
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  throw new CliError('demo.unavailable', 'the demo needs the Tollgate repository (policies/ccxt and packages/demo-exchange)', { exit: ExitCode.input, hint: 'Run `tollgate demo` inside a clone of it.' });
}
