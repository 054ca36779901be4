import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { MemoryLimitStore, sha256Hex } from '@tollgate/policy';
import { DEFAULT_EMBEDDED_DIR, LedgerWriter, connectLedger, migrateLedger, verifyLedger, type LedgerConnection, type VerifyReport } from '@tollgate/ledger';
import { pino } from 'pino';
import { parseGatewayConfig } from '../config/config-loader.js';
import { GatewayError } from '../gateway-error.js';
import { startGateway, type RunningGateway } from '../gateway.js';

/** One scripted call of the demo agent. */
export interface DemoStep {
  /** What the step shows, e.g. "an order over the cap". */
  readonly title: string;
  readonly tool: string;
  readonly args: Record<string, unknown>;
}

/** How the gateway answered one scripted call. */
export interface DemoCall {
  readonly step: number;
  readonly title: string;
  readonly tool: string;
  /** `allowed`, `denied`, `rate limited`, `approval required` or `unknown tool`. */
  readonly verdict: string;
  /** The refusal code (`policy.denied`, `rate_limited`, …), or null when the call ran. */
  readonly code: string | null;
  readonly rule: string | null;
  /** The first line the agent read: the result's text, or the refusal. */
  readonly text: string;
}

/** One decision as the ledger recorded it. */
export interface DemoDecision {
  readonly seq: number;
  readonly tool: string;
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
}

/** A progress event of the demo. */
export type DemoProgress =
  | { readonly kind: 'stage'; readonly text: string }
  | { readonly kind: 'call'; readonly call: DemoCall };

const ORDER = { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy' } as const;

/**
 * The demo agent's script (policies/ccxt): every effect the policy has — an allowed read, an
 * allowed small order, an order over the per-order cap, `cancel_order` reserved to people, the
 * hidden withdrawal, the desk-wide daily notional cap, and the 10-orders-a-minute rate limit.
 */
export const DEMO_SCRIPT: readonly DemoStep[] = Object.freeze([
  { title: 'an allowed read', tool: 'fetch_account_balance', args: { exchange_id: 'binance' } },
  { title: 'an allowed small order', tool: 'create_spot_market_order', args: { ...ORDER, amount: 0.5 } },
  { title: 'an order over the 2-unit cap', tool: 'create_spot_market_order', args: { ...ORDER, amount: 5 } },
  { title: 'cancelling needs a human', tool: 'cancel_order', args: { exchange_id: 'binance', id: '1' } },
  { title: 'the hidden withdrawal', tool: 'withdraw_cryptocurrency', args: { exchange_id: 'binance', code: 'SOL', amount: 10, address: 'So1ana1111111111111111111111111111111111111' } },
  { title: 'a 2-unit order', tool: 'create_spot_market_order', args: { ...ORDER, amount: 2 } },
  { title: 'another 2-unit order', tool: 'create_spot_market_order', args: { ...ORDER, amount: 2 } },
  { title: 'over the daily notional cap (5)', tool: 'create_spot_market_order', args: { ...ORDER, amount: 1 } },
  ...Array.from({ length: 7 }, (_, i) => ({ title: `small order ${i + 1} of 7`, tool: 'create_spot_market_order', args: { ...ORDER, amount: 0.05 } })),
  { title: 'the 11th order this minute', tool: 'create_spot_market_order', args: { ...ORDER, amount: 0.05 } },
]);

/**
 * Runs the demo: the demo exchange (built, stdio) behind an in-process gateway with
 * policies/ccxt and the ledger, the scripted agent over Streamable HTTP with a bearer token,
 * then the ledger's decisions and `tollgate ledger verify`.
 *
 * @throws GatewayError `demo.unavailable` when the repository is missing or not built; a
 *   `LedgerError` when the ledger cannot be opened.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const started = performance.now();
  const progress = options.onProgress ?? (() => undefined);
  const root = findRepository(options.cwd);
  const exchangeMain = join(root, 'packages/demo-exchange/dist/main.js');
  if (!existsSync(exchangeMain)) {
    throw new GatewayError('demo.unavailable', `the demo exchange is not built (${exchangeMain} is missing): run \`pnpm build\` in the repository first`);
  }

  progress({ kind: 'stage', text: options.databaseUrl ? 'Opening the PostgreSQL ledger' : `Opening the embedded ledger in ${DEFAULT_EMBEDDED_DIR}` });
  const connection: LedgerConnection = await connectLedger(options.databaseUrl ? { databaseUrl: options.databaseUrl } : { dataDir: resolve(options.cwd, DEFAULT_EMBEDDED_DIR) });
  let writer: LedgerWriter | undefined;
  let gateway: RunningGateway | undefined;
  let client: Client | undefined;
  try {
    await migrateLedger(connection, { migrationsDir: join(root, 'migrations') });
    writer = new LedgerWriter(connection, { label: 'tollgate demo', maxBatchDelayMs: 0 });
    const token = randomBytes(24).toString('base64url');
    const config = parseGatewayConfig(
      JSON.stringify({
        listen: { http: { host: '127.0.0.1', port: 0 } },
        agents: [{ id: 'desk-bot', token_sha256: sha256Hex(token), labels: { team: 'desk' } }],
        upstreams: { ccxt: { command: process.execPath, args: [exchangeMain, '--stdio'] } },
        policy: { dir: 'policies' },
        limits: { store: 'memory' },
        ledger: { await_outcome: true },
      }),
      join(root, 'tollgate.demo.json'),
      root,
    );
    progress({ kind: 'stage', text: 'Starting the demo exchange behind the gateway (policies/ccxt)' });
    gateway = await startGateway(config, { sink: writer, limits: new MemoryLimitStore(), logger: pino({ level: 'error' }, pino.destination({ fd: 2, sync: true })) });
    client = new Client({ name: 'tollgate-demo-agent', version: '0.1.0' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway.http!.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    const listed = (await client.listTools()).tools.length;
    const offered = gateway.registry.tools().length;
    progress({ kind: 'stage', text: `Agent desk-bot connected over HTTP; it sees ${listed} of the exchange's ${offered} tools` });

    const calls: DemoCall[] = [];
    for (const [i, step] of DEMO_SCRIPT.entries()) {
      const call = await callOnce(client, i + 1, step);
      calls.push(call);
      progress({ kind: 'call', call });
    }
    await client.close();
    client = undefined;
    progress({ kind: 'stage', text: 'Stopping the gateway and flushing the ledger' });
    await gateway.shutdown('demo finished');
    gateway = undefined;
    await writer.close();

    const { rows } = await connection.execute<{ seq: string | number; tool: string; effect: string; rule: string | null; reason: string; outcome: string | null }>(
      `SELECT d.seq, d.tool, d.effect, d.rule, d.reason, o.outcome_status AS outcome
         FROM ledger_events d
         LEFT JOIN ledger_events o ON o.call_id = d.call_id AND o.event_type = 'outcome'
        WHERE d.strand_id = $1 AND d.event_type = 'decision'
        ORDER BY d.seq`,
      [writer.strandId],
    );
    progress({ kind: 'stage', text: 'Verifying the ledger (tollgate ledger verify)' });
    const verify = await verifyLedger(connection);
    return {
      ledger: { backend: connection.backend, location: connection.location, strand: writer.strandId },
      tools: { listed, offered },
      calls,
      decisions: rows.map((r) => ({ seq: Number(r.seq), tool: r.tool, effect: r.effect, rule: r.rule, reason: r.reason, outcome: r.outcome })),
      verify,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    await client?.close().catch(() => undefined);
    await gateway?.shutdown('demo stopped').catch(() => undefined);
    await writer?.close().catch(() => undefined);
    await connection.close().catch(() => undefined);
  }
}

async function callOnce(client: Client, step: number, s: DemoStep): Promise<DemoCall> {
  const base = { step, title: s.title, tool: s.tool };
  let result: CallToolResult;
  try {
    result = (await client.request({ method: 'tools/call', params: { name: s.tool, arguments: s.args } }, CallToolResultSchema)) as CallToolResult;
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).replace(/^MCP error -?\d+: /, '');
    return { ...base, verdict: 'unknown tool', code: null, rule: null, text: message };
  }
  const text = String((result.content?.[0] as { text?: unknown } | undefined)?.text ?? '');
  const refusal = result.structuredContent as { code?: string; rule?: string | null } | undefined;
  if (result.isError && refusal?.code) {
    const verdict = refusal.code === 'rate_limited' ? 'limit reached' : refusal.code === 'approval.required' ? 'approval required' : 'denied';
    return { ...base, verdict, code: refusal.code, rule: refusal.rule ?? null, text };
  }
  return { ...base, verdict: result.isError ? 'allowed (upstream error)' : 'allowed', code: null, rule: null, text: text.length > 100 ? `${text.slice(0, 97)}...` : text };
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
  throw new GatewayError('demo.unavailable', 'the demo needs the Tollgate repository (policies/ccxt and packages/demo-exchange): run `tollgate demo` inside a clone of it');
}
