/**
 * Gateway benchmark (DESIGN §9): `tools/call` latency (p50/p99) and throughput at
 * concurrency 1, 8 and 64, side by side in one run, against
 * - the demo exchange directly over Streamable HTTP,
 * - mcp-proxy (npm) on the same topology (HTTP in, the exchange as a stdio child),
 * - Tollgate on the same topology with the ccxt policy and the durable ledger on PostgreSQL
 *   (limit counters in memory; and, as a second row, in PostgreSQL as replicas run them).
 * Every call is `fetch_account_balance` on binance: allowed by the policy after its `require`
 * check and the all-tools limit, decided, committed to the ledger, forwarded, and its outcome
 * recorded. Each concurrency level uses that many sessions, each calling in a closed loop.
 *
 * All targets run side by side; each round measures every target at every concurrency in
 * turn, and the tables report the median of the rounds, so that background load on the
 * machine hits every target alike.
 *
 *   pnpm build && pnpm exec tsx bench/gateway/gateway-bench.ts [--seconds 5] [--warmup 1] [--rounds 3] [--json out.json]
 *
 * Needs PostgreSQL (TOLLGATE_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres);
 * a database `tollgate_bench_<random>` is created for the ledger and dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDirect, startMcpProxy, startTollgate, type BenchTarget } from './bench-targets.js';
import { McpHttpSession } from './mcp-http-client.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const CONCURRENCY = [1, 8, 64] as const;
const GOAL_ADDED_P50_MS = 1;
const GOAL_THROUGHPUT_VS_DIRECT = 0.8;

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'string' },
    'no-pg-limits': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const ROUNDS = Number(values.rounds);
const PG_URL = process.env.TOLLGATE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** One cell of the results table. */
interface Cell {
  readonly target: string;
  readonly concurrency: number;
  readonly calls: number;
  readonly errors: number;
  readonly throughput: number;
  readonly p50: number;
  readonly p99: number;
}

async function measure(target: BenchTarget, concurrency: number): Promise<Cell> {
  const sessions = Array.from({ length: concurrency }, (_, i) => new McpHttpSession(target.url, target.headers(i)));
  await Promise.all(sessions.map((s) => s.open()));
  const args = { exchange_id: 'binance' };
  let recording = false;
  let stop = false;
  const latencies: number[] = [];
  let errors = 0;
  const loop = async (s: McpHttpSession): Promise<void> => {
    while (!stop) {
      const t0 = performance.now();
      const result = await s.callTool('fetch_account_balance', args).catch(() => ({ isError: true }));
      const dt = performance.now() - t0;
      if (!recording) continue;
      if (result.isError) errors++;
      latencies.push(dt);
    }
  };
  const loops = sessions.map(loop);
  await new Promise((r) => setTimeout(r, WARMUP * 1000));
  recording = true;
  const started = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  recording = false;
  const elapsed = (performance.now() - started) / 1000;
  stop = true;
  await Promise.all(loops);
  await Promise.all(sessions.map((s) => s.close()));
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { target: target.name, concurrency, calls: latencies.length, errors, throughput: latencies.length / elapsed, p50: q(0.5), p99: q(0.99) };
}

async function withDatabase<T>(run: (url: string) => Promise<T>): Promise<T> {
  // pg is a dependency of the gateway package, not of the repository root.
  const pg = createRequire(join(ROOT, 'packages/gateway/package.json'))('pg') as {
    Client: new (options: { connectionString: string }) => { connect(): Promise<void>; query(text: string): Promise<unknown>; end(): Promise<void> };
  };
  const name = `tollgate_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  try {
    return await run(PG_URL.replace(/\/[^/]*$/, `/${name}`));
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

async function main(): Promise<void> {
  for (const needed of ['packages/demo-exchange/dist/main.js', 'packages/cli/dist/commands/gateway.js', 'node_modules/mcp-proxy/dist/bin/mcp-proxy.mjs']) {
    if (!existsSync(join(ROOT, needed))) throw new Error(`${needed} is missing: run pnpm install && pnpm build first`);
  }
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(`gateway benchmark: ${availableParallelism()} cores (${cpu}), Node ${process.version}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  process.stdout.write(`each cell: ${WARMUP}s warm-up, ${SECONDS}s measured, ${ROUNDS} round(s); tools/call fetch_account_balance\n\n`);
  const cells: Cell[] = [];
  await withDatabase(async (databaseUrl) => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
    const targets: BenchTarget[] = [];
    try {
      targets.push(await startDirect(ROOT), await startMcpProxy(ROOT), await startTollgate({ root: ROOT, databaseUrl, limits: 'memory', agents: 64, dir }));
      if (!values['no-pg-limits']) targets.push(await startTollgate({ root: ROOT, databaseUrl, limits: 'postgres', agents: 64, dir }));
      const rounds: Cell[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        process.stdout.write(`round ${round} of ${ROUNDS}\n`);
        for (const c of CONCURRENCY) {
          for (const target of targets) {
            const cell = await measure(target, c);
            rounds.push(cell);
            process.stdout.write(
              `  ${cell.target.padEnd(22)} c=${String(c).padEnd(3)} ${fmt(cell.throughput, 0).padStart(7)} calls/s  p50 ${fmt(cell.p50).padStart(7)} ms  p99 ${fmt(cell.p99).padStart(7)} ms  (${cell.calls} calls, ${cell.errors} errors)\n`,
            );
          }
        }
      }
      for (const target of targets) {
        for (const c of CONCURRENCY) {
          const mine = rounds.filter((r) => r.target === target.name && r.concurrency === c);
          cells.push({
            target: target.name,
            concurrency: c,
            calls: mine.reduce((n, r) => n + r.calls, 0),
            errors: mine.reduce((n, r) => n + r.errors, 0),
            throughput: median(mine.map((r) => r.throughput)),
            p50: median(mine.map((r) => r.p50)),
            p99: median(mine.map((r) => r.p99)),
          });
        }
      }
    } finally {
      for (const target of targets) await target.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  process.stdout.write(`\nmedians of ${ROUNDS} round(s)\n`);
  for (const cell of cells) {
    process.stdout.write(
      `${cell.target.padEnd(22)} c=${String(cell.concurrency).padEnd(3)} ${fmt(cell.throughput, 0).padStart(7)} calls/s  p50 ${fmt(cell.p50).padStart(7)} ms  p99 ${fmt(cell.p99).padStart(7)} ms  (${cell.errors} errors)\n`,
    );
  }

  const cell = (target: string, c: number): Cell | undefined => cells.find((x) => x.target === target && x.concurrency === c);
  process.stdout.write('\nratios\n');
  for (const t of ['mcp-proxy', 'tollgate', 'tollgate (pg limits)']) {
    for (const c of CONCURRENCY) {
      const d = cell('direct', c);
      const x = cell(t, c);
      if (!d || !x) continue;
      process.stdout.write(`${t.padEnd(22)} c=${String(c).padEnd(3)} added p50 ${fmt(x.p50 - d.p50).padStart(6)} ms  added p99 ${fmt(x.p99 - d.p99).padStart(7)} ms  throughput ${fmt(x.throughput / d.throughput)}x direct\n`);
    }
  }
  const t1 = cell('tollgate', 1);
  const d1 = cell('direct', 1);
  const t64 = cell('tollgate', 64);
  const d64 = cell('direct', 64);
  const p64 = cell('mcp-proxy', 64);
  if (t1 && d1 && t64 && d64 && p64) {
    const added = t1.p50 - d1.p50;
    process.stdout.write('\ngoals\n');
    process.stdout.write(`added p50 at c=1: ${fmt(added)} ms (goal <= ${GOAL_ADDED_P50_MS} ms): ${added <= GOAL_ADDED_P50_MS ? 'met' : 'NOT met'}\n`);
    process.stdout.write(`throughput at c=64: ${fmt(t64.throughput / d64.throughput)}x direct (goal >= ${GOAL_THROUGHPUT_VS_DIRECT}): ${t64.throughput / d64.throughput >= GOAL_THROUGHPUT_VS_DIRECT ? 'met' : 'NOT met'}\n`);
    process.stdout.write(`throughput at c=64: ${fmt(t64.throughput / p64.throughput)}x mcp-proxy (goal >= 1): ${t64.throughput >= p64.throughput ? 'met' : 'NOT met'}\n`);
  }
  if (values.json) writeFileSync(values.json, JSON.stringify({ cores: availableParallelism(), cpu, node: process.version, seconds: SECONDS, rounds: ROUNDS, load: loadavg(), cells }, null, 2));
}

main().catch((error: unknown) => {
  process.stderr.write(`gateway benchmark failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
