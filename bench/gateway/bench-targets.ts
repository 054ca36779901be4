/**
 * The targets of the gateway benchmark, each a real process on 127.0.0.1:
 * - `direct`: the demo exchange serving Streamable HTTP itself;
 * - `mcp-proxy`: mcp-proxy (npm) serving Streamable HTTP, the demo exchange as its stdio child;
 * - `tollgate (no-op sink)`: the gateway with a sink that records nothing — the floor of the
 *   gateway's own work (policy, HTTP, the stdio hop) without the ledger;
 * - `tollgate`: `tollgate gateway` serving Streamable HTTP, the demo exchange as its stdio
 *   child, the ccxt policy, and the durable ledger on PostgreSQL, limit counters in memory;
 * - `tollgate (pg limits)`: the same with the counters in PostgreSQL, as replicas run;
 * - optionally the same two from another checkout's build (`@baseline`), for before/after in one run.
 * Each Tollgate target has a database of its own, so that its PostgreSQL backends (and their
 * CPU) can be told apart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A running MCP target. */
export interface BenchTarget {
  readonly name: string;
  readonly url: string;
  /** Headers per session index (Tollgate: one agent token per session). */
  headers(session: number): Record<string, string>;
  /** The server process (its CPU is the target's own). */
  readonly pid: number;
  /** The database its ledger writes to, when it has one (its backends' CPU is counted apart). */
  readonly database?: string;
  /** Tollgate: its Prometheus metrics now (sums and counts of histograms, summed over labels). */
  metrics?(): Promise<Map<string, number>>;
  /** Tollgate: its admin API (approvals, metrics) and the admin token. */
  readonly admin?: { readonly url: string; readonly token: string };
  stop(): Promise<void>;
}

/** Reads a Prometheus text exposition: each series' value, summed over its labels. */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return out;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function start(command: string, args: readonly string[], cwd: string): ChildProcess {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } });
  let log = '';
  child.stderr?.on('data', (c: Buffer) => {
    log = (log + c.toString()).slice(-4000);
  });
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal === null) process.stderr.write(`${command} ${args.join(' ')} exited with ${code}:\n${log}\n`);
  });
  return child;
}

async function waitForHttp(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fetch(url, { method: 'GET', signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} did not come up within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    });
}

/** The demo exchange on its own, over Streamable HTTP. */
export async function startDirect(root: string): Promise<BenchTarget> {
  const port = await freePort();
  const child = start(process.execPath, [join(root, 'packages/demo-exchange/dist/main.js'), '--http', '--port', String(port)], root);
  const url = `http://127.0.0.1:${port}/mcp`;
  await waitForHttp(url);
  return { name: 'direct', url, pid: child.pid!, headers: () => ({}), stop: stopper(child) };
}

/** mcp-proxy in front of the demo exchange (stdio). */
export async function startMcpProxy(root: string): Promise<BenchTarget> {
  const port = await freePort();
  const proxy = join(root, 'node_modules/mcp-proxy/dist/bin/mcp-proxy.mjs');
  const child = start(
    process.execPath,
    [proxy, '--host', '127.0.0.1', '--port', String(port), '--server', 'stream', '--no-eventStore', '--', process.execPath, join(root, 'packages/demo-exchange/dist/main.js'), '--stdio'],
    root,
  );
  const url = `http://127.0.0.1:${port}/mcp`;
  await waitForHttp(url);
  return { name: 'mcp-proxy', url, pid: child.pid!, headers: () => ({}), stop: stopper(child) };
}

/** Options of {@link startTollgate}. */
export interface TollgateTargetOptions {
  /** This checkout: the policy, the demo exchange and the no-op gateway script come from here. */
  readonly root: string;
  /** The checkout whose build of `tollgate` runs (default `root`): another one is a baseline. */
  readonly build?: string;
  /** Shown after the target's name, e.g. `@main`. */
  readonly tag?: string;
  /** The ledger's database (a URL); ignored with the no-op sink. */
  readonly databaseUrl: string;
  /** Where limit counters live; `noop`: no ledger at all (a sink that records nothing). */
  readonly limits: 'memory' | 'postgres' | 'noop';
  /** Agents (one per concurrent session). */
  readonly agents: number;
  /** A scratch directory for the configuration and policy. */
  readonly dir: string;
  /** Node options of the gateway process, e.g. `--cpu-prof`. */
  readonly nodeArgs?: readonly string[];
  /** The `ledger` section instead of `{ database_url, migrate: true }`, e.g. `{ data_dir }` for the embedded ledger. */
  readonly ledger?: Record<string, unknown>;
  /** Changes the policy further before it is written (its budget is raised already). */
  readonly editPolicy?: (policy: BenchPolicy) => void;
  /** Further configuration sections, e.g. `approvals`. */
  readonly config?: Record<string, unknown>;
  /** The target's name instead of the one its limit store gives it. */
  readonly name?: string;
}

/** The ccxt policy as the benchmarks change it. */
export interface BenchPolicy {
  all_tools: { limits: Array<{ max: number }> };
  tools: Record<string, Record<string, unknown>>;
  $schema?: string;
}

/**
 * `tollgate gateway` in front of the demo exchange (stdio) with policies/ccxt. The policy is
 * the repository's, with one change: the per-agent budget of 120 calls a minute
 * (`all_tools.limits[0]`) is raised so the benchmark measures allowed calls; the limit is
 * still evaluated and counted on every call.
 */
export async function startTollgate(options: TollgateTargetOptions): Promise<BenchTarget> {
  const { root, dir } = options;
  const build = options.build ?? root;
  const policy = JSON.parse(readFileSync(join(root, 'policies/ccxt/policy.json'), 'utf8')) as BenchPolicy;
  delete policy.$schema;
  policy.all_tools.limits[0]!.max = 1_000_000_000;
  options.editPolicy?.(policy);
  mkdirSync(join(dir, 'policies/ccxt'), { recursive: true });
  writeFileSync(join(dir, 'policies/ccxt/policy.json'), JSON.stringify(policy, null, 2));
  const tokens = Array.from({ length: options.agents }, () => randomBytes(16).toString('hex'));
  const port = await freePort();
  const adminPort = await freePort();
  const adminToken = randomBytes(16).toString('hex');
  const config = {
    listen: { http: { host: '127.0.0.1', port } },
    admin: { host: '127.0.0.1', port: adminPort, token_sha256: createHash('sha256').update(adminToken).digest('hex') },
    agents: tokens.map((t, i) => ({ id: `bench-agent-${i}`, token_sha256: createHash('sha256').update(t).digest('hex'), labels: { team: 'desk' } })),
    upstreams: { ccxt: { command: process.execPath, args: [join(root, 'packages/demo-exchange/dist/main.js'), '--stdio'] } },
    policy: { dir: join(dir, 'policies') },
    ...(options.limits === 'noop' ? {} : { ledger: options.ledger ?? { database_url: options.databaseUrl, migrate: true }, limits: { store: options.limits } }),
    log: { level: 'warn' },
    ...options.config,
  };
  const file = join(dir, `tollgate-${options.limits}-${randomBytes(3).toString('hex')}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  const node = options.nodeArgs ?? [];
  const child =
    options.limits === 'noop'
      ? start(process.execPath, [...node, join(root, 'bench/gateway/noop-gateway.mjs'), file], root)
      : start(process.execPath, [...node, join(build, 'packages/cli/bin/run.js'), 'gateway', '--config', file], root);
  const url = `http://127.0.0.1:${port}/mcp`;
  await waitForHttp(url);
  const name = options.name ?? (options.limits === 'memory' ? 'tollgate' : options.limits === 'postgres' ? 'tollgate (pg limits)' : 'tollgate (no-op sink)');
  return {
    name: options.tag ? `${name} ${options.tag}` : name,
    url,
    pid: child.pid!,
    ...(options.limits === 'noop' || options.ledger ? {} : { database: new URL(options.databaseUrl).pathname.slice(1) }),
    admin: { url: `http://127.0.0.1:${adminPort}`, token: adminToken },
    headers: (session) => ({ authorization: `Bearer ${tokens[session % tokens.length]}` }),
    metrics: async () => {
      const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } });
      return parsePrometheus(await res.text());
    },
    stop: stopper(child),
  };
}
