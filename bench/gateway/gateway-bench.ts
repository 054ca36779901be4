/**
 * Gateway benchmark (DESIGN §9): `tools/call` latency (p50/p99), throughput and CPU per call
 * at concurrency 1, 8 and 64, side by side in one run, against
 * - the demo exchange directly over Streamable HTTP (`direct`),
 * - mcp-proxy (npm) on the same topology (HTTP in, the exchange as a stdio child),
 * - Tollgate with the ccxt policy and the durable ledger on PostgreSQL, limit counters in
 *   memory (`tollgate`) and in PostgreSQL (`tollgate (pg limits)`, as replicas run it),
 * and the floors: Tollgate with a sink that records nothing (`tollgate (no-op sink)`), and one
 * durable one-row INSERT + COMMIT of a decision-shaped row as pgbench runs it (`pg commit`).
 * Every call is `fetch_account_balance` on binance: allowed by the policy after its `require`
 * check and the all-tools limit, decided, committed to the ledger, forwarded, and its outcome
 * recorded. A refused or failed call is an error: the cells that had one are marked and the
 * goals they feed are not judged (a refusal is fast and would flatter the gateway).
 *
 * Concurrency 1 is measured interleaved: one session per target, each called in short bursts in
 * a rotating order together with a one-row commit from Node, so that every target meets the same
 * seconds of the machine's load (pgbench's floor runs on its own). Concurrency 8 and 64 use that
 * many sessions per target, each calling in a closed loop, one target at a time; the order of
 * the targets is reversed every other round, so that background load on the machine falls on
 * every target alike, and the tables are the medians of the rounds. CPU per call is read from /proc over each measured window: the
 * target's own process, its children (the upstream) and its PostgreSQL backends.
 *
 *   pnpm build && pnpm exec tsx bench/gateway/gateway-bench.ts [--seconds 4] [--warmup 1] [--rounds 3]
 *     [--json out.json] [--client http|fetch|both] [--baseline /path/to/other/checkout] [--only c1]
 *     [--think-ms 2]      (a pause after each answer, as an agent thinks; not counted)
 *     [--cpu-prof dir]    (each Tollgate process writes a V8 CPU profile there when it stops;
 *                          summarise one with bench/gateway/profile-summary.ts)
 *
 * Needs PostgreSQL (TOLLGATE_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres)
 * and pgbench; a database `tollgate_bench_<random>` per Tollgate target is created and dropped.
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
import { prepareFloor, runFloor, type Sql } from './commit-floor.js';
import { FetchMcpSession, McpHttpSession, type McpSession } from './mcp-http-client.js';
import { childPids, procAvailable, processCpuMs } from './process-cpu.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

/** The goals of the issue, each a ratio or a difference within one run. */
const GOALS = {
  addedP50Ms: 0.6,
  addedP99Ms: 2,
  addedP50PgLimitsMs: 0.7,
  throughputVsDirect: 0.8,
  throughputVsMcpProxy: 1.5,
  cpuVsMcpProxy: 0.5,
} as const;

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'string' },
    client: { type: 'string', default: 'http' },
    baseline: { type: 'string' },
    only: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'think-ms': { type: 'string', default: '0' },
    'no-pg-limits': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = values.only === 'c1' ? [1] : [1, 8, 64];
/** A pause after each answer before the next call (an agent's think time), not counted in latency. */
const THINK_MS = Number(values['think-ms']);
const think = (): Promise<void> | undefined => (THINK_MS > 0 ? new Promise((r) => setTimeout(r, THINK_MS)) : undefined);
/** `both`: every target is measured with each client in every round, the fetch rows marked `[fetch]`. */
const CLIENTS: ReadonlyArray<'http' | 'fetch'> = values.client === 'both' ? ['http', 'fetch'] : values.client === 'fetch' ? ['fetch'] : ['http'];
const CLIENT = CLIENTS.join('+');
const PG_URL = process.env.TOLLGATE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const FLOOR = 'pg commit (pgbench)';
const NODE_FLOOR = 'pg commit (node pg)';
/** Concurrency 1 interleaved: how long each target is called in a row, and how much of that is its warm-up. */
const BURST_MS = 250;
const BURST_SETTLE_MS = 25;
/** One INSERT + COMMIT from Node (`pg`, a prepared statement, autocommit): the interleaved floor at concurrency 1. */
const NODE_FLOOR_SQL = `INSERT INTO bench_commit_floor (event_id, occurred_at, strand_id, seq, prev_hash, hash, event_type, call_id, agent_id, session_id, server, tool, args, args_sha256, effect, rule, reason, policy_revision, policy_digest, detail)
VALUES (gen_random_uuid(), now(), '00000000-0000-4000-8000-000000000001', nextval('bench_commit_floor_seq'), $1, $1, 'decision', $2, 'bench-agent-0', 'e0b7c3f2-1111-4222-8333-944445555666', 'ccxt', 'fetch_account_balance', '{"exchange_id": "binance"}', $1, 'allow', NULL, 'allowed by policy', NULL, $1, $3::jsonb)`;

/** One measurement of one target at one concurrency. */
interface Cell {
  readonly target: string;
  readonly concurrency: number;
  readonly calls: number;
  readonly errors: number;
  readonly throughput: number;
  readonly p50: number;
  readonly p99: number;
  /** CPU per call (ms): the target's process, its children (the upstream), its PostgreSQL backends, the load generator. */
  readonly cpu: { readonly own: number; readonly children: number; readonly postgres: number; readonly client: number };
  /** 1-minute load average when the cell ended. */
  readonly load: number;
  /**
   * Tollgate, from its own metrics over the window (means, ms): receipt to decision recorded,
   * the upstream's answer, one ledger commit, and events per commit.
   */
  readonly inside?: { readonly decisionMs: number; readonly upstreamMs: number; readonly commitMs: number; readonly batch: number };
}

interface PgClient {
  connect(): Promise<void>;
  query<R>(text: string | { name: string; text: string; values: unknown[] }, values?: unknown[]): Promise<{ rows: R[] }>;
  end(): Promise<void>;
}

// pg is a dependency of the gateway package, not of the repository root.
const pg = createRequire(join(ROOT, 'packages/gateway/package.json'))('pg') as { Client: new (options: { connectionString: string }) => PgClient };

function quantile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

/** CPU (ms) of a target's processes and backends now, by pid, so a window's use is a difference. */
async function cpuSample(target: BenchTarget, sql: Sql): Promise<{ own: number; children: Map<number, number>; postgres: Map<number, number> }> {
  const children = new Map(childPids(target.pid).map((pid) => [pid, processCpuMs(pid)]));
  const postgres = new Map<number, number>();
  if (target.database) {
    const rows = await sql<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'tollgate%'", [target.database]);
    for (const r of rows) postgres.set(r.pid, processCpuMs(r.pid));
  }
  return { own: processCpuMs(target.pid), children, postgres };
}

function spent(from: Map<number, number>, to: Map<number, number>): number {
  let ms = 0;
  for (const [pid, cpu] of to) {
    const before = from.get(pid);
    if (before !== undefined && Number.isFinite(cpu - before)) ms += cpu - before;
  }
  return ms;
}

async function measure(target: BenchTarget, concurrency: number, sql: Sql, client: 'http' | 'fetch'): Promise<Cell> {
  const sessions: McpSession[] = Array.from({ length: concurrency }, (_, i) => (client === 'fetch' ? new FetchMcpSession(target.url, target.headers(i)) : new McpHttpSession(target.url, target.headers(i))));
  await Promise.all(sessions.map((s) => s.open()));
  const args = { exchange_id: 'binance' };
  let recording = false;
  let stop = false;
  const latencies: number[] = [];
  let errors = 0;
  const loop = async (s: McpSession): Promise<void> => {
    while (!stop) {
      const t0 = performance.now();
      const result = await s.callTool('fetch_account_balance', args).catch(() => ({ isError: true }));
      const dt = performance.now() - t0;
      await think();
      if (!recording) continue;
      if (result.isError) errors++;
      else latencies.push(dt);
    }
  };
  const loops = sessions.map(loop);
  await new Promise((r) => setTimeout(r, WARMUP * 1000));
  const metricsFrom = await target.metrics?.();
  const from = await cpuSample(target, sql);
  const clientFrom = process.cpuUsage();
  recording = true;
  const started = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  recording = false;
  const elapsed = (performance.now() - started) / 1000;
  const clientCpu = process.cpuUsage(clientFrom);
  const to = await cpuSample(target, sql);
  const metricsTo = await target.metrics?.();
  stop = true;
  await Promise.all(loops);
  await Promise.all(sessions.map((s) => s.close()));
  latencies.sort((a, b) => a - b);
  const calls = latencies.length + errors;
  const per = (ms: number): number => (calls > 0 ? ms / calls : Number.NaN);
  return {
    target: CLIENTS.length > 1 && client === 'fetch' ? `${target.name} [fetch]` : target.name,
    concurrency,
    calls,
    errors,
    throughput: latencies.length / elapsed,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    cpu: { own: per(to.own - from.own), children: per(spent(from.children, to.children)), postgres: per(spent(from.postgres, to.postgres)), client: per((clientCpu.user + clientCpu.system) / 1000) },
    load: loadavg()[0]!,
    ...(metricsFrom && metricsTo ? { inside: inside(metricsFrom, metricsTo) } : {}),
  };
}

/** Means over a window from two scrapes of the gateway's histograms. */
function inside(from: Map<string, number>, to: Map<string, number>): NonNullable<Cell['inside']> {
  const d = (name: string): number => (to.get(name) ?? 0) - (from.get(name) ?? 0);
  const mean = (name: string, scale = 1000): number => (d(`${name}_count`) > 0 ? (scale * d(`${name}_sum`)) / d(`${name}_count`) : Number.NaN);
  return {
    decisionMs: mean('tollgate_decision_duration_seconds'),
    upstreamMs: mean('tollgate_upstream_duration_seconds'),
    commitMs: mean('tollgate_ledger_commit_duration_seconds'),
    batch: mean('tollgate_ledger_batch_size', 1),
  };
}

/** One lane of an interleaved measurement: a target reached by one client, or the Node floor. */
interface Lane {
  readonly name: string;
  readonly target: BenchTarget | undefined;
  call(): Promise<{ isError?: boolean }>;
  close(): Promise<void>;
}

/**
 * Concurrency 1, interleaved: one session per target (and client) and the Node floor, each
 * called in a closed loop for a burst of {@link BURST_MS} in a rotating order, so that every
 * target meets the same seconds of the machine's load — on a shared machine, load that comes
 * and goes within seconds otherwise lands on whichever target is measured then. (Bursts, not
 * single calls: a process that sleeps between calls answers slower, and more so the more
 * processes a call passes through, which is another measurement.) Each lane's rate is what its
 * latency allows alone (1000 / mean ms); CPU per call is each target's over the window.
 */
async function measureInterleaved(targets: readonly BenchTarget[], sql: Sql, floorUrl: string): Promise<Cell[]> {
  const lanes: Lane[] = [];
  for (const client of CLIENTS) {
    for (const target of targets) {
      const session: McpSession = client === 'fetch' ? new FetchMcpSession(target.url, target.headers(0)) : new McpHttpSession(target.url, target.headers(0));
      await session.open();
      lanes.push({
        name: CLIENTS.length > 1 && client === 'fetch' ? `${target.name} [fetch]` : target.name,
        target,
        call: () => session.callTool('fetch_account_balance', { exchange_id: 'binance' }),
        close: () => session.close(),
      });
    }
  }
  const floor = new pg.Client({ connectionString: floorUrl });
  await floor.connect();
  const hex = 'b'.repeat(64);
  const detail = JSON.stringify({ limits: [{ max: 1e9, rule: 'all_tools.limits[0]', used: 1, scope: 'agent', amount: 1, window: 60, counter: 'ccxt-calls', resets_at: 1796195700000 }] });
  let n = 0;
  lanes.push({
    name: NODE_FLOOR,
    target: undefined,
    call: async () => {
      await floor.query({ name: 'bench_floor', text: NODE_FLOOR_SQL, values: [hex, `call-${n++}`, detail] });
      return {};
    },
    close: () => floor.end(),
  });
  const latencies = lanes.map((): number[] => []);
  const errors = lanes.map(() => 0);
  // Each lane in turn calls in a closed loop for a short burst; the first calls of a burst,
  // while its processes wake up, are not recorded.
  const round = async (record: boolean, turn: number): Promise<void> => {
    for (let k = 0; k < lanes.length; k++) {
      const i = (turn + k) % lanes.length;
      const started = performance.now();
      const settled = started + BURST_SETTLE_MS;
      for (let now = started; now - started < BURST_MS; now = performance.now()) {
        const t0 = performance.now();
        const result = await lanes[i]!.call().catch(() => ({ isError: true }));
        const dt = performance.now() - t0;
        await think();
        if (!record || t0 < settled) continue;
        if (result.isError) errors[i]!++;
        else latencies[i]!.push(dt);
      }
    }
  };
  let turn = 0;
  const warmUntil = performance.now() + WARMUP * 1000;
  while (performance.now() < warmUntil) await round(false, turn++);
  // One at a time: the samples share the benchmark's one database session.
  const sampleAll = async (): Promise<Array<Awaited<ReturnType<typeof cpuSample>>>> => {
    const out = [];
    for (const t of targets) out.push(await cpuSample(t, sql));
    return out;
  };
  const metricsFrom = await Promise.all(targets.map((t) => t.metrics?.()));
  const from = await sampleAll();
  // As long as the separate cells together: every lane gets about SECONDS of its own.
  const until = performance.now() + SECONDS * 1000 * Math.min(lanes.length, 4);
  while (performance.now() < until) await round(true, turn++);
  const to = await sampleAll();
  const metricsTo = await Promise.all(targets.map((t) => t.metrics?.()));
  for (const lane of lanes) await lane.close();
  const load = loadavg()[0]!;
  return lanes.map((lane, i) => {
    const sorted = latencies[i]!.sort((a, b) => a - b);
    const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
    const t = lane.target ? targets.indexOf(lane.target) : -1;
    // A target's calls over the window, from every lane that reached it.
    const calls = lanes.reduce((sum, l, j) => sum + (l.target === lane.target ? latencies[j]!.length + errors[j]! : 0), 0);
    const per = (ms: number): number => (calls > 0 ? ms / calls : Number.NaN);
    const mf = t >= 0 ? metricsFrom[t] : undefined;
    const mt = t >= 0 ? metricsTo[t] : undefined;
    return {
      target: lane.name,
      concurrency: 1,
      calls: sorted.length + errors[i]!,
      errors: errors[i]!,
      throughput: sorted.length > 0 ? 1000 / mean : Number.NaN,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      cpu:
        t >= 0
          ? { own: per(to[t]!.own - from[t]!.own), children: per(spent(from[t]!.children, to[t]!.children)), postgres: per(spent(from[t]!.postgres, to[t]!.postgres)), client: Number.NaN }
          : { own: Number.NaN, children: Number.NaN, postgres: Number.NaN, client: Number.NaN },
      load,
      ...(mf && mt ? { inside: inside(mf, mt) } : {}),
    };
  });
}

async function measureFloor(url: string, database: string, concurrency: number, sql: Sql): Promise<Cell> {
  const m = await runFloor({ url, database, concurrency, warmupS: WARMUP, seconds: SECONDS, sql });
  const sorted = m.latenciesMs.sort((a, b) => a - b);
  const n = sorted.length;
  return {
    target: FLOOR,
    concurrency,
    calls: n,
    errors: 0,
    throughput: n / m.elapsedS,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    cpu: { own: Number.NaN, children: Number.NaN, postgres: n > 0 ? m.postgresCpuMs / n : Number.NaN, client: n > 0 ? m.clientCpuMs / n : Number.NaN },
    load: loadavg()[0]!,
  };
}

function median(xs: readonly number[]): number {
  const sorted = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

function row(cell: Cell): string {
  const c = cell.cpu;
  return (
    `${cell.target.padEnd(30)} c=${String(cell.concurrency).padEnd(3)} ${fmt(cell.throughput, 0).padStart(7)} calls/s  p50 ${fmt(cell.p50).padStart(6)} ms  p99 ${fmt(cell.p99).padStart(7)} ms  ` +
    `cpu/call ms: own ${fmt(c.own, 3).padStart(6)} upstream ${fmt(c.children, 3).padStart(6)} pg ${fmt(c.postgres, 3).padStart(6)} client ${fmt(c.client, 3).padStart(6)}  load ${fmt(cell.load)}` +
    (cell.inside ? `  inside: decided ${fmt(cell.inside.decisionMs)} ms, upstream ${fmt(cell.inside.upstreamMs)} ms, commit ${fmt(cell.inside.commitMs)} ms x${fmt(cell.inside.batch, 1)} events` : '') +
    (cell.errors > 0 ? `  ${cell.errors} ERRORS` : '')
  );
}

async function main(): Promise<void> {
  for (const needed of ['packages/demo-exchange/dist/main.js', 'packages/cli/dist/commands/gateway.js', 'packages/gateway/dist/index.js', 'node_modules/mcp-proxy/dist/bin/mcp-proxy.mjs']) {
    if (!existsSync(join(ROOT, needed))) throw new Error(`${needed} is missing: run pnpm install && pnpm build first`);
  }
  if (values.baseline && !existsSync(join(values.baseline, 'packages/cli/dist/commands/gateway.js'))) throw new Error(`--baseline ${values.baseline} has no built CLI (packages/cli/dist)`);
  if (!procAvailable()) throw new Error('this benchmark reads CPU time from /proc (Linux)');
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const loadAtStart = loadavg();
  process.stdout.write(`gateway benchmark: ${availableParallelism()} cores (${cpu}), Node ${process.version}, load ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}\n`);
  process.stdout.write(`each cell: ${WARMUP}s warm-up, ${SECONDS}s measured, ${ROUNDS} round(s); tools/call fetch_account_balance; client: ${CLIENT}; think time ${THINK_MS} ms\n\n`);

  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const sql: Sql = async (text, params) => (await admin.query(text, params)).rows as never;
  const databases: string[] = [];
  const newDatabase = async (): Promise<string> => {
    const name = `tollgate_bench_${randomBytes(5).toString('hex')}`;
    await admin.query(`CREATE DATABASE ${name}`);
    databases.push(name);
    return PG_URL.replace(/\/[^/]*$/, `/${name}`);
  };
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
  const targets: BenchTarget[] = [];
  const cells: Cell[] = [];
  let floorUrl: string | undefined;
  let floorDatabase: string | undefined;
  try {
    const sub = (name: string): string => join(dir, name);
    const prof = (name: string): { nodeArgs?: string[] } =>
      values['cpu-prof'] ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${join(resolve(values['cpu-prof']), name)}`] } : {};
    targets.push(await startDirect(ROOT), await startMcpProxy(ROOT));
    targets.push(await startTollgate({ root: ROOT, databaseUrl: '', limits: 'noop', agents: 64, dir: sub('noop'), ...prof('noop') }));
    const memoryUrl = await newDatabase();
    targets.push(await startTollgate({ root: ROOT, databaseUrl: memoryUrl, limits: 'memory', agents: 64, dir: sub('memory'), ...prof('memory') }));
    if (!values['no-pg-limits']) targets.push(await startTollgate({ root: ROOT, databaseUrl: await newDatabase(), limits: 'postgres', agents: 64, dir: sub('postgres'), ...prof('postgres') }));
    if (values.baseline) {
      const tag = `@${values.baseline.replace(/\/+$/, '').split('/').pop()}`;
      targets.push(await startTollgate({ root: ROOT, build: values.baseline, tag, databaseUrl: await newDatabase(), limits: 'memory', agents: 64, dir: sub('base-memory'), ...prof('base-memory') }));
      if (!values['no-pg-limits']) targets.push(await startTollgate({ root: ROOT, build: values.baseline, tag, databaseUrl: await newDatabase(), limits: 'postgres', agents: 64, dir: sub('base-postgres'), ...prof('base-postgres') }));
    }
    // The floor's table lives beside the memory target's ledger (which migrated it).
    floorUrl = memoryUrl;
    floorDatabase = new URL(memoryUrl).pathname.slice(1);
    const floorClient = new pg.Client({ connectionString: floorUrl });
    await floorClient.connect();
    await prepareFloor(async (text, params) => (await floorClient.query(text, params)).rows as never);
    await floorClient.end();

    const names = [FLOOR, ...targets.map((t) => t.name)];
    const rowNames = [FLOOR, NODE_FLOOR, ...CLIENTS.flatMap((client) => targets.map((t) => (CLIENTS.length > 1 && client === 'fetch' ? `${t.name} [fetch]` : t.name)))];
    const rounds: Cell[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      process.stdout.write(`round ${round} of ${ROUNDS} (load ${loadavg().map((l) => l.toFixed(2)).join(' ')})\n`);
      for (const c of CONCURRENCY) {
        if (c === 1) {
          // Concurrency 1: every target interleaved call by call (and the pgbench floor on its own).
          for (const cell of [...(await measureInterleaved(targets, sql, floorUrl)), await measureFloor(floorUrl, floorDatabase, 1, sql)]) {
            rounds.push(cell);
            process.stdout.write(`  ${row(cell)}\n`);
          }
          continue;
        }
        const order = round % 2 === 1 ? names : [...names].reverse();
        for (const name of order) {
          const target = targets.find((t) => t.name === name);
          for (const client of round % 2 === 1 ? CLIENTS : [...CLIENTS].reverse()) {
            if (!target && client !== CLIENTS[0]) continue;
            const cell = target ? await measure(target, c, sql, client) : await measureFloor(floorUrl, floorDatabase, c, sql);
            rounds.push(cell);
            process.stdout.write(`  ${row(cell)}\n`);
          }
        }
      }
    }
    for (const name of rowNames) {
      for (const c of CONCURRENCY) {
        const mine = rounds.filter((r) => r.target === name && r.concurrency === c);
        if (mine.length === 0) continue;
        cells.push({
          target: name,
          concurrency: c,
          calls: mine.reduce((n, r) => n + r.calls, 0),
          errors: mine.reduce((n, r) => n + r.errors, 0),
          throughput: median(mine.map((r) => r.throughput)),
          p50: median(mine.map((r) => r.p50)),
          p99: median(mine.map((r) => r.p99)),
          cpu: {
            own: median(mine.map((r) => r.cpu.own)),
            children: median(mine.map((r) => r.cpu.children)),
            postgres: median(mine.map((r) => r.cpu.postgres)),
            client: median(mine.map((r) => r.cpu.client)),
          },
          load: median(mine.map((r) => r.load)),
          ...(mine[0]?.inside
            ? {
                inside: {
                  decisionMs: median(mine.map((r) => r.inside!.decisionMs)),
                  upstreamMs: median(mine.map((r) => r.inside!.upstreamMs)),
                  commitMs: median(mine.map((r) => r.inside!.commitMs)),
                  batch: median(mine.map((r) => r.inside!.batch)),
                },
              }
            : {}),
        });
      }
    }
  } finally {
    for (const target of targets) await target.stop();
    for (const name of databases) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }

  process.stdout.write(`\nmedians of ${ROUNDS} round(s); load at start ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}, at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  for (const cell of cells) process.stdout.write(`${row(cell)}\n`);

  const cell = (target: string, c: number): Cell | undefined => cells.find((x) => x.target === target && x.concurrency === c);
  process.stdout.write('\nadded to direct (p50 and p99 differences), throughput and CPU ratios, same run\n');
  for (const t of cells.map((x) => x.target).filter((t, i, all) => all.indexOf(t) === i && t !== 'direct' && t !== 'direct [fetch]' && t !== FLOOR && t !== NODE_FLOOR)) {
    for (const c of CONCURRENCY) {
      const fetched = t.endsWith(' [fetch]');
      const d = cell(fetched ? 'direct [fetch]' : 'direct', c);
      const x = cell(t, c);
      const p = cell(fetched ? 'mcp-proxy [fetch]' : 'mcp-proxy', c);
      if (!d || !x) continue;
      const vsProxy = p && p !== x ? `  ${fmt(x.throughput / p.throughput)}x mcp-proxy  own cpu ${fmt(x.cpu.own / p.cpu.own)}x mcp-proxy's` : '';
      process.stdout.write(`${t.padEnd(30)} c=${String(c).padEnd(3)} added p50 ${fmt(x.p50 - d.p50).padStart(6)} ms  p99 ${fmt(x.p99 - d.p99).padStart(7)} ms  throughput ${fmt(x.throughput / d.throughput)}x direct${vsProxy}\n`);
    }
  }
  for (const f of [FLOOR, NODE_FLOOR]) {
    const floor1 = cell(f, 1);
    if (floor1) process.stdout.write(`${f.padEnd(30)} c=1   one durable commit: p50 ${fmt(floor1.p50, 3)} ms, p99 ${fmt(floor1.p99, 3)} ms\n`);
  }

  process.stdout.write('\ngoals (each within this run)\n');
  const verdict = (ok: boolean, ...used: Array<Cell | undefined>): string => (used.some((u) => !u || u.errors > 0) ? 'NOT JUDGED (errors or missing cells)' : ok ? 'met' : 'NOT met');
  const d1 = cell('direct', 1);
  const t1 = cell('tollgate', 1);
  const g1 = cell('tollgate (pg limits)', 1);
  const d64 = cell('direct', 64);
  const p64 = cell('mcp-proxy', 64);
  const t64 = cell('tollgate', 64);
  if (d1 && t1) {
    const a = t1.p50 - d1.p50;
    const b = t1.p99 - d1.p99;
    process.stdout.write(`added p50 at c=1: ${fmt(a)} ms (goal <= ${GOALS.addedP50Ms} ms): ${verdict(a <= GOALS.addedP50Ms, d1, t1)}\n`);
    process.stdout.write(`added p99 at c=1: ${fmt(b)} ms (goal <= ${GOALS.addedP99Ms} ms): ${verdict(b <= GOALS.addedP99Ms, d1, t1)}\n`);
  }
  const n1 = cell('tollgate (no-op sink)', 1);
  // The interleaved floor met the same moments of load as the targets.
  const f1 = cell(NODE_FLOOR, 1);
  if (d1 && n1 && f1) {
    // The goals' own terms: the floor (one commit, and the gateway without a ledger) plus about 0.3 ms.
    const floor = f1.p50 + (n1.p50 - d1.p50);
    process.stdout.write(`floor in this run: one commit ${fmt(f1.p50)} ms (node pg, interleaved) + the gateway with a no-op sink ${fmt(n1.p50 - d1.p50)} ms = ${fmt(floor)} ms\n`);
    for (const x of [t1, g1]) if (x) process.stdout.write(`  ${x.target}: added p50 beyond that floor ${fmt(x.p50 - d1.p50 - floor)} ms (goal about 0.3 ms; 0.4 ms with counters in PostgreSQL)\n`);
  }
  if (d1 && g1) {
    const a = g1.p50 - d1.p50;
    process.stdout.write(`added p50 at c=1, counters in PostgreSQL: ${fmt(a)} ms (goal <= ${GOALS.addedP50PgLimitsMs} ms): ${verdict(a <= GOALS.addedP50PgLimitsMs, d1, g1)}\n`);
  }
  if (d64 && p64 && t64) {
    const vd = t64.throughput / d64.throughput;
    const vp = t64.throughput / p64.throughput;
    const vc = t64.cpu.own / p64.cpu.own;
    process.stdout.write(`throughput at c=64: ${fmt(vd)}x direct (goal >= ${GOALS.throughputVsDirect}): ${verdict(vd >= GOALS.throughputVsDirect, d64, t64)}\n`);
    process.stdout.write(`throughput at c=64: ${fmt(vp)}x mcp-proxy (goal >= ${GOALS.throughputVsMcpProxy}): ${verdict(vp >= GOALS.throughputVsMcpProxy, p64, t64)}\n`);
    process.stdout.write(`gateway CPU per call at c=64: ${fmt(t64.cpu.own, 3)} ms = ${fmt(vc)}x mcp-proxy's ${fmt(p64.cpu.own, 3)} ms (goal <= ${GOALS.cpuVsMcpProxy}): ${verdict(vc <= GOALS.cpuVsMcpProxy, p64, t64)}\n`);
  }
  if (values.json) {
    writeFileSync(values.json, JSON.stringify({ cores: availableParallelism(), cpu, node: process.version, client: CLIENT, seconds: SECONDS, rounds: ROUNDS, loadAtStart, loadAtEnd: loadavg(), cells }, null, 2));
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`gateway benchmark failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
