/**
 * Approvals benchmark (DESIGN §9, issue 10): how long from an approver's grant until the agent
 * has the result of the call that was held for it, p50/p95/p99/max, side by side in one run:
 * - `same replica`: the grant is sent to the admin API of the replica that holds the call;
 * - `across replicas`: it is sent to the other replica (two gateway processes, one PostgreSQL
 *   database; the holder learns of the grant through PostgreSQL LISTEN/NOTIFY);
 * - `embedded (PGlite)`: one gateway on the embedded ledger, the grant to its own admin API;
 * - `no approval (reference)`: the same `cancel_order`, through a third gateway on the same
 *   database whose policy allows it, timed from sending the call to its result: what the
 *   forwarding itself costs, so that the ratio shows what the approval adds.
 *
 * Every gateway is `tollgate gateway` in hold mode in front of the demo exchange (stdio), with
 * the ccxt policy (its budgets raised so that hundreds of calls fit in a minute; they are still
 * counted, in PostgreSQL on the replicas), an approver `desk-lead` in group `desk-leads`, and an
 * agent on Streamable HTTP (127.0.0.1). For each held call the agent places a resting limit
 * order, then cancels it: the cancel is held for a desk lead. The benchmark waits until the
 * request is listed as pending and the call is waiting — on PostgreSQL until its held decision
 * (`approval_required`) is in the ledger; on the embedded ledger, which only its gateway can
 * open, a grant answered "not on the record yet" is sent again — and `--settle-ms` more, then
 * grants it through the admin API and times:
 * - from sending the grant, and from its answer arriving, until the held call's result arrives;
 * - on PostgreSQL, from sending the grant until a LISTEN session of the benchmark's own hears
 *   the request change (the vote committed), and from then until the result.
 * The configurations take turns call by call (the starting one rotating), so that load on the
 * machine falls on each alike; the holder alternates between the two replicas.
 *
 *   pnpm build && pnpm exec tsx --tsconfig bench/approvals/tsconfig.json bench/approvals/approvals-bench.ts
 *     [--calls 200] [--warmup 10] [--settle-ms 20] [--no-pglite] [--json out.json]
 *
 * Needs PostgreSQL (TOLLGATE_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres);
 * a database `tollgate_bench_<random>` is created and dropped.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { canonicalDigest } from '../../packages/policy/src/index.js';
import { startTollgate, type BenchPolicy, type BenchTarget } from '../gateway/bench-targets.js';
import { McpHttpSession } from '../gateway/mcp-http-client.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
/** The goal of issue 10: grant -> held call forwarded, p50 across replicas. */
const GOAL_P50_MS = 20;

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '10' },
    'settle-ms': { type: 'string', default: '20' },
    'no-pglite': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
const CALLS = Number(values.calls);
const WARMUP = Number(values.warmup);
const SETTLE_MS = Number(values['settle-ms']);
const PG_URL = process.env.TOLLGATE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const APPROVER_TOKEN = randomBytes(16).toString('hex');
const APPROVALS = {
  approvals: {
    mode: 'hold',
    hold_max: '30s',
    approvers: [{ id: 'desk-lead', token_sha256: createHash('sha256').update(APPROVER_TOKEN).digest('hex'), groups: ['desk-leads'] }],
  },
};

interface PgClient {
  connect(): Promise<void>;
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): void;
  end(): Promise<void>;
}
// pg is a dependency of the gateway package, not of the repository root.
const pg = createRequire(join(ROOT, 'packages/gateway/package.json'))('pg') as { Client: new (options: { connectionString: string }) => PgClient };

/** The policy's counted limits raised (still evaluated and counted), so that hundreds of orders fit. */
function raiseLimits(policy: BenchPolicy): void {
  for (const rule of Object.values(policy.tools)) for (const limit of (rule.limits as Array<{ max: number }> | undefined) ?? []) limit.max = 1_000_000_000;
}

/** One held call's times (ms); for the reference lane, `fromSent` and `fromAnswer` are the call's own latency. */
interface Sample {
  /** Grant sent -> the held call's result. */
  readonly fromSent: number;
  /** Grant answered -> the held call's result. */
  readonly fromAnswer: number;
  /** The grant's own round trip. */
  readonly grant: number;
  /** Grant sent -> the benchmark's LISTEN session heard the change (PostgreSQL only). */
  readonly toNotify?: number;
}

/** A configuration: how one call of it is made and timed. */
interface Lane {
  readonly name: string;
  readonly samples: Sample[];
  /** Makes the `index`th call and resolves with its times (the caller keeps them once warmed up). */
  run(index: number): Promise<Sample>;
}

const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });
/** Grants sent again because the request was listed before it was on the record. */
let regrants = 0;

/** One admin API request with the approver's token, on a kept-alive connection. */
function admin(target: BenchTarget, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolvePromise, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${APPROVER_TOKEN}` };
    if (payload !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) });
    const req = request(new URL(path, target.admin!.url), { method, agent: keepAlive, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** The id of the pending request for exactly these arguments, once the target lists it. */
async function pendingId(target: BenchTarget, args: Record<string, unknown>): Promise<string> {
  const digest = canonicalDigest(args);
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    const { json } = await admin(target, 'GET', '/approvals?status=pending&limit=20');
    const found = (json.approvals as Array<{ id: string; args_sha256: string }> | undefined)?.find((a) => a.args_sha256 === digest);
    if (found) return found.id;
    await sleep(2);
  }
  throw new Error(`no pending request for cancel_order ${JSON.stringify(args)} appeared on ${target.name} within 10 s`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Places a resting buy order through `session` and returns the arguments that cancel it. */
async function restingOrder(session: McpHttpSession): Promise<Record<string, unknown>> {
  const placed = await session.callTool('create_spot_limit_order', { exchange_id: 'binance', symbol: 'SOL/USDT', side: 'buy', amount: 0.01, price: 10 });
  const text = (placed.content?.[0] as { text?: string } | undefined)?.text ?? '';
  if (placed.isError) throw new Error(`placing the order to cancel was refused: ${text}`);
  return { exchange_id: 'binance', id: (JSON.parse(text) as { id: string }).id, symbol: 'SOL/USDT' };
}

function checkCancelled(result: { isError?: boolean; content?: unknown[] }, where: string): void {
  const text = (result.content?.[0] as { text?: string } | undefined)?.text ?? '';
  if (result.isError || !text.includes('canceled')) throw new Error(`${where}: the cancel did not run: ${text.slice(0, 300)}`);
}

/**
 * Where a lane learns that a held call is waiting, and when requests changed.
 * - `held`: resolves once the call's held decision (`approval_required`) is on the record, so
 *   the call waits for its decision; without it, the request being listed and `--settle-ms`
 *   must do, and a grant answered "not on the record yet" is sent again (its clock restarted).
 * - `heard`: when the benchmark's LISTEN session heard each request change.
 */
interface Observer {
  held?(id: string): Promise<void>;
  readonly heard?: Map<string, number[]>;
}

/** The observer of a PostgreSQL ledger: the held decision in `ledger_events`, the notifications on `tollgate_approvals`. */
async function postgresObserver(databaseUrl: string): Promise<Observer & { close(): Promise<void> }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const heard = new Map<string, number[]>();
  client.on('notification', (m) => {
    if (!m.payload) return;
    const times = heard.get(m.payload) ?? [];
    times.push(performance.now());
    heard.set(m.payload, times);
  });
  await client.query('LISTEN tollgate_approvals');
  return {
    heard,
    async held(id) {
      const deadline = performance.now() + 10_000;
      while (performance.now() < deadline) {
        const { rows } = await client.query("SELECT 1 FROM ledger_events WHERE approval_id = $1 AND event_type = 'decision' AND effect = 'approval_required'", [id]);
        if (rows.length > 0) return;
        await sleep(2);
      }
      throw new Error(`the held decision of approval ${id} was not recorded within 10 s`);
    },
    close: () => client.end(),
  };
}

/**
 * The floor under the same load, taken once a round from the benchmark's own session: one
 * round trip (`SELECT 1`) and one durable commit (a one-row INSERT in autocommit).
 */
async function postgresFloor(databaseUrl: string): Promise<{ roundTrips: number[]; commits: number[]; measure(): Promise<void>; close(): Promise<void> }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('CREATE TABLE bench_approvals_floor (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())');
  const roundTrips: number[] = [];
  const commits: number[] = [];
  return {
    roundTrips,
    commits,
    async measure() {
      let t0 = performance.now();
      await client.query('SELECT 1');
      roundTrips.push(performance.now() - t0);
      t0 = performance.now();
      await client.query('INSERT INTO bench_approvals_floor DEFAULT VALUES');
      commits.push(performance.now() - t0);
    },
    close: () => client.end(),
  };
}

/**
 * A lane of held calls: the call is held by one of `holders` (in turn), and granted through
 * `granterOf(holder)`'s admin API.
 */
function heldLane(name: string, holders: ReadonlyArray<{ target: BenchTarget; session: McpHttpSession }>, granterOf: (holder: number) => BenchTarget, observer: Observer): Lane {
  const { heard } = observer;
  const samples: Sample[] = [];
  return {
    name,
    samples,
    async run(index) {
      const h = index % holders.length;
      const { target, session } = holders[h]!;
      const args = await restingOrder(session);
      let resultAt = 0;
      // Settled at once either way, so that a failure is reported here rather than as an unhandled rejection.
      const held = session.callTool('cancel_order', args).then(
        (r) => {
          resultAt = performance.now();
          return r;
        },
        (error: unknown) => ({ isError: true, content: [{ type: 'text', text: `${name}, call ${index} on ${target.name}: ${String(error)}` }] }),
      );
      const id = await pendingId(target, args);
      await observer.held?.(id);
      let sentAt: number;
      let answeredAt: number;
      for (let attempt = 1; ; attempt++) {
        await sleep(SETTLE_MS);
        sentAt = performance.now();
        const granted = await admin(granterOf(h), 'POST', `/approvals/${id}/approve`, { reason: 'bench' });
        answeredAt = performance.now();
        if (granted.status === 200) break;
        // Listed, but its approval.requested not committed yet (409): a person would try again.
        const early = granted.status === 409 && String(granted.json.error).includes('not on the record yet');
        if (!early || attempt >= 100) throw new Error(`${name}: the grant was refused (${granted.status}): ${JSON.stringify(granted.json)}`);
        regrants++;
      }
      checkCancelled(await held, name);
      const notifiedAt = heard?.get(id)?.find((t) => t >= sentAt);
      heard?.delete(id);
      return { fromSent: resultAt - sentAt, fromAnswer: resultAt - answeredAt, grant: answeredAt - sentAt, ...(notifiedAt === undefined ? {} : { toNotify: notifiedAt - sentAt }) };
    },
  };
}

/** The reference lane: the same cancel through a gateway whose policy allows it, call to result. */
function referenceLane(session: McpHttpSession): Lane {
  const samples: Sample[] = [];
  return {
    name: 'no approval (reference)',
    samples,
    async run() {
      const args = await restingOrder(session);
      const sentAt = performance.now();
      const result = await session.callTool('cancel_order', args);
      const latency = performance.now() - sentAt;
      checkCancelled(result, 'reference');
      return { fromSent: latency, fromAnswer: latency, grant: 0 };
    },
  };
}

function quantile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

/** p50/p95/p99/max of some values. */
function stats(xs: readonly number[]): { p50: number; p95: number; p99: number; max: number } {
  const sorted = [...xs].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? Number.NaN };
}

const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');

function line(label: string, xs: readonly number[]): string {
  const s = stats(xs);
  return `  ${label.padEnd(34)} p50 ${fmt(s.p50).padStart(7)}  p95 ${fmt(s.p95).padStart(7)}  p99 ${fmt(s.p99).padStart(7)}  max ${fmt(s.max).padStart(7)} ms`;
}

async function main(): Promise<void> {
  for (const needed of ['packages/demo-exchange/dist/main.js', 'packages/cli/dist/commands/gateway.js', 'packages/gateway/dist/index.js']) {
    if (!existsSync(join(ROOT, needed))) throw new Error(`${needed} is missing: run pnpm install && pnpm build first`);
  }
  const loadAtStart = loadavg();
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(`approvals benchmark: ${availableParallelism()} cores (${cpu}), Node ${process.version}, load ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}\n`);
  process.stdout.write(`${CALLS} held calls per configuration after ${WARMUP} warm-up calls, taking turns; grant ${SETTLE_MS} ms after the request is listed\n\n`);

  const root = new pg.Client({ connectionString: PG_URL });
  await root.connect();
  const database = `tollgate_bench_${randomBytes(5).toString('hex')}`;
  await root.query(`CREATE DATABASE ${database}`);
  const databaseUrl = PG_URL.replace(/\/[^/]*$/, `/${database}`);
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-approvals-'));
  const targets: BenchTarget[] = [];
  const sessions: McpHttpSession[] = [];
  let observer: Awaited<ReturnType<typeof postgresObserver>> | undefined;
  let floor: Awaited<ReturnType<typeof postgresFloor>> | undefined;
  const lanes: Lane[] = [];
  try {
    const replica = async (name: string): Promise<BenchTarget> => {
      const target = await startTollgate({ root: ROOT, name, databaseUrl, limits: 'postgres', agents: 1, dir: join(dir, name), editPolicy: raiseLimits, config: APPROVALS });
      targets.push(target);
      return target;
    };
    // One after the other: the first migrates the database.
    const a = await replica('replica-a');
    const b = await replica('replica-b');
    const reference = await startTollgate({
      root: ROOT,
      name: 'reference',
      databaseUrl,
      limits: 'postgres',
      agents: 1,
      dir: join(dir, 'reference'),
      editPolicy: (p) => {
        raiseLimits(p);
        p.tools.cancel_order = {};
      },
      config: APPROVALS,
    });
    targets.push(reference);
    const embedded = values['no-pglite']
      ? undefined
      : await startTollgate({ root: ROOT, name: 'embedded', databaseUrl: '', ledger: { data_dir: join(dir, 'pglite') }, limits: 'memory', agents: 1, dir: join(dir, 'embedded'), editPolicy: raiseLimits, config: APPROVALS });
    if (embedded) targets.push(embedded);

    const open = async (target: BenchTarget): Promise<McpHttpSession> => {
      const session = new McpHttpSession(target.url, target.headers(0));
      await session.open();
      sessions.push(session);
      return session;
    };
    const holders = [
      { target: a, session: await open(a) },
      { target: b, session: await open(b) },
    ];
    observer = await postgresObserver(databaseUrl);
    floor = await postgresFloor(databaseUrl);
    lanes.push(heldLane('same replica', holders, (h) => holders[h]!.target, observer));
    lanes.push(heldLane('across replicas', holders, (h) => holders[1 - h]!.target, observer));
    if (embedded) lanes.push(heldLane('embedded (PGlite)', [{ target: embedded, session: await open(embedded) }], () => embedded, {}));
    lanes.push(referenceLane(await open(reference)));

    const started = performance.now();
    for (let i = 0; i < WARMUP + CALLS; i++) {
      for (let k = 0; k < lanes.length; k++) {
        const lane = lanes[(i + k) % lanes.length]!;
        const sample = await lane.run(i);
        if (i >= WARMUP) lane.samples.push(sample);
      }
      if (i >= WARMUP) await floor.measure();
      if ((i + 1) % 50 === 0) process.stdout.write(`  ${i + 1} of ${WARMUP + CALLS} rounds (load ${loadavg().map((l) => l.toFixed(2)).join(' ')})\n`);
    }
    process.stdout.write(`measured in ${((performance.now() - started) / 1000).toFixed(1)} s; ${regrants} grant(s) sent again (listed before on the record)\n`);
  } finally {
    await observer?.close().catch(() => undefined);
    await floor?.close().catch(() => undefined);
    for (const session of sessions) await session.close().catch(() => undefined);
    keepAlive.destroy();
    for (const target of targets) await target.stop();
    await root.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
    await root.end();
    rmSync(dir, { recursive: true, force: true });
  }

  const loadAtEnd = loadavg();
  process.stdout.write(`\nload at start ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}, at end ${loadAtEnd.map((l) => l.toFixed(2)).join(' ')}\n`);
  for (const lane of lanes) {
    process.stdout.write(`${lane.name} (${lane.samples.length} calls)\n`);
    if (lane.name.startsWith('no approval')) {
      process.stdout.write(`${line('call sent -> result', lane.samples.map((s) => s.fromSent))}\n`);
      continue;
    }
    process.stdout.write(`${line('grant sent -> result', lane.samples.map((s) => s.fromSent))}\n`);
    process.stdout.write(`${line('grant answered -> result', lane.samples.map((s) => s.fromAnswer))}\n`);
    process.stdout.write(`${line('the grant request itself', lane.samples.map((s) => s.grant))}\n`);
    const notified = lane.samples.filter((s) => s.toNotify !== undefined);
    if (notified.length > 0) {
      process.stdout.write(`${line('grant sent -> NOTIFY heard', notified.map((s) => s.toNotify!))}\n`);
      process.stdout.write(`${line('NOTIFY heard -> result', notified.map((s) => s.fromSent - s.toNotify!))}\n`);
    }
  }

  if (floor) {
    process.stdout.write(`PostgreSQL from the benchmark, once a round (${floor.commits.length} each)\n`);
    process.stdout.write(`${line('one round trip (SELECT 1)', floor.roundTrips)}\n`);
    process.stdout.write(`${line('one commit (one-row INSERT)', floor.commits)}\n`);
  }

  const p = (name: string, pick: (s: Sample) => number, q: 'p50' | 'p99'): number => stats(lanes.find((l) => l.name === name)?.samples.map(pick) ?? [])[q];
  const sent = (s: Sample): number => s.fromSent;
  const answered = (s: Sample): number => s.fromAnswer;
  process.stdout.write('\nratios (same run)\n');
  for (const [label, pick] of [['grant sent -> result', sent], ['grant answered -> result', answered]] as const) {
    process.stdout.write(
      `  across / same replica, ${label}: p50 ${fmt(p('across replicas', pick, 'p50') / p('same replica', pick, 'p50'))}x, p99 ${fmt(p('across replicas', pick, 'p99') / p('same replica', pick, 'p99'))}x\n`,
    );
  }
  const ref50 = p('no approval (reference)', sent, 'p50');
  for (const name of lanes.map((l) => l.name).filter((n) => !n.startsWith('no approval'))) {
    process.stdout.write(`  ${name}, grant sent -> result / the call without approval: p50 ${fmt(p(name, sent, 'p50') / ref50)}x (${fmt(p(name, sent, 'p50') - ref50)} ms more)\n`);
  }
  const across50 = p('across replicas', sent, 'p50');
  process.stdout.write(`\ngoal: grant -> held call's result, p50 across replicas <= ${GOAL_P50_MS} ms: ${fmt(across50)} ms from sending the grant: ${across50 <= GOAL_P50_MS ? 'met' : 'NOT met'}\n`);

  if (values.json) {
    writeFileSync(
      values.json,
      JSON.stringify({ cores: availableParallelism(), cpu, node: process.version, calls: CALLS, settleMs: SETTLE_MS, loadAtStart, loadAtEnd, lanes: lanes.map((l) => ({ name: l.name, samples: l.samples })), floor: floor && { roundTrips: floor.roundTrips, commits: floor.commits } }, null, 2),
    );
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`approvals benchmark failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
