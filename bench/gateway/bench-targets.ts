/**
 * The three targets of the gateway benchmark, each a real process on 127.0.0.1:
 * - `direct`: the demo exchange serving Streamable HTTP itself;
 * - `mcp-proxy`: mcp-proxy (npm) serving Streamable HTTP, the demo exchange as its stdio child;
 * - `tollgate`: `tollgate gateway` serving Streamable HTTP, the demo exchange as its stdio
 *   child, the ccxt policy, and the durable ledger on PostgreSQL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A running target. */
export interface BenchTarget {
  readonly name: string;
  readonly url: string;
  /** Headers per session index (Tollgate: one agent token per session). */
  headers(session: number): Record<string, string>;
  stop(): Promise<void>;
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
  return { name: 'direct', url, headers: () => ({}), stop: stopper(child) };
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
  return { name: 'mcp-proxy', url, headers: () => ({}), stop: stopper(child) };
}

/** Options of {@link startTollgate}. */
export interface TollgateTargetOptions {
  readonly root: string;
  readonly databaseUrl: string;
  /** Where limit counters live. */
  readonly limits: 'memory' | 'postgres';
  /** Agents (one per concurrent session). */
  readonly agents: number;
  /** A scratch directory for the configuration and policy. */
  readonly dir: string;
}

/**
 * `tollgate gateway` in front of the demo exchange (stdio) with policies/ccxt. The policy is
 * the repository's, with one change: the per-agent budget of 120 calls a minute
 * (`all_tools.limits[0]`) is raised so the benchmark measures allowed calls; the limit is
 * still evaluated and counted on every call.
 */
export async function startTollgate(options: TollgateTargetOptions): Promise<BenchTarget> {
  const { root, dir } = options;
  const policy = JSON.parse(readFileSync(join(root, 'policies/ccxt/policy.json'), 'utf8')) as { all_tools: { limits: Array<{ max: number }> }; $schema?: string };
  delete policy.$schema;
  policy.all_tools.limits[0]!.max = 1_000_000_000;
  mkdirSync(join(dir, 'policies/ccxt'), { recursive: true });
  writeFileSync(join(dir, 'policies/ccxt/policy.json'), JSON.stringify(policy, null, 2));
  const tokens = Array.from({ length: options.agents }, () => randomBytes(16).toString('hex'));
  const port = await freePort();
  const config = {
    listen: { http: { host: '127.0.0.1', port } },
    agents: tokens.map((t, i) => ({ id: `bench-agent-${i}`, token_sha256: createHash('sha256').update(t).digest('hex'), labels: { team: 'desk' } })),
    upstreams: { ccxt: { command: process.execPath, args: [join(root, 'packages/demo-exchange/dist/main.js'), '--stdio'] } },
    policy: { dir: join(dir, 'policies') },
    ledger: { database_url: options.databaseUrl, migrate: true },
    limits: { store: options.limits },
    log: { level: 'warn' },
  };
  const file = join(dir, `tollgate-${options.limits}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  const child = start(process.execPath, [join(root, 'packages/cli/bin/run.js'), 'gateway', '--config', file], root);
  const url = `http://127.0.0.1:${port}/mcp`;
  await waitForHttp(url);
  return {
    name: options.limits === 'memory' ? 'tollgate' : 'tollgate (pg limits)',
    url,
    headers: (session) => ({ authorization: `Bearer ${tokens[session % tokens.length]}` }),
    stop: stopper(child),
  };
}
