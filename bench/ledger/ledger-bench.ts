/**
 * Ledger throughput, side by side in one run (DESIGN §9):
 *
 * - durable events/s through the LedgerWriter on PostgreSQL (hash chain on, group commit,
 *   synchronous_commit on: every append() resolves only after its batch's COMMIT is flushed),
 * - a raw COPY of the same rows into the same table (psql \copy, i.e. COPY FROM STDIN),
 * - the ratio of the two (the goal is >= 0.6),
 * - events/s through the writer on the embedded, file-backed PGlite ledger,
 * - events/s of `verifyLedger` recomputing every chain.
 *
 * Writer and COPY alternate for several rounds on the same table (which one goes first
 * alternates too, and each starts from a CHECKPOINT) and the medians are compared, so that
 * table growth and machine noise hit both alike.
 *
 * Run: pnpm exec tsx --tsconfig bench/ledger/tsconfig.json bench/ledger/ledger-bench.ts [--events 50000] [--rounds 3]
 * Needs PostgreSQL (TOLLGATE_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres) and psql.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import {
  ArgumentRedactor,
  GENESIS_HASH,
  LedgerWriter,
  connectLedger,
  csvHeader,
  eventHash,
  eventToCsvLine,
  migrateLedger,
  verifyLedger,
  type DecisionEventInput,
  type LedgerConnection,
} from '../../packages/ledger/src/index.js';
import { prepareEvent } from '../../packages/ledger/src/event/event-builder.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '50000' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '2048' },
    'pglite-events': { type: 'string', default: '20000' },
  },
});
const EVENTS = Number(values.events);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);
const PGLITE_EVENTS = Number(values['pglite-events']);
const ADMIN_URL = process.env.TOLLGATE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The n-th call of the load: a gateway decision with realistic arguments. */
function event(n: number): DecisionEventInput {
  return {
    type: 'decision',
    callId: `bench-${n}`,
    agentId: `trader-${n % 16}`,
    sessionId: `session-${n % 64}`,
    server: 'ccxt',
    tool: n % 3 ? 'create_spot_market_order' : 'fetch_ticker',
    args: { exchange_id: 'binance', symbol: 'BTC/USDT', side: n % 2 ? 'buy' : 'sell', amount: (n % 1000) / 100, price: 64_000 + (n % 500) },
    effect: n % 10 ? 'allow' : 'deny',
    rule: n % 10 ? null : 'tools.create_spot_market_order.deny_if[0]',
    reason: n % 10 ? 'allowed by policy' : 'amount above the desk limit',
    policyRevision: '42',
    policyDigest: 'c0ffee'.padEnd(64, '0'),
  };
}

/** Appends `count` events with `concurrency` callers in flight; returns events/s. */
async function writerRun(
  connection: LedgerConnection,
  count: number,
  concurrency: number,
): Promise<{ perSecond: number; batches: number; databaseShare: number }> {
  let batches = 0;
  let inDatabase = 0;
  const writer = new LedgerWriter(connection, {
    observer: {
      batchCommitted: (b) => {
        batches += 1;
        inDatabase += b.durationMs;
      },
    },
  });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await writer.append(event(next++));
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await writer.close();
  return { perSecond: count / seconds, batches, databaseShare: inDatabase / 1000 / seconds };
}

/** The same rows the writer makes (same events, chained on a strand of their own) as a CSV file. */
function copyFile(dir: string, count: number): { file: string; strandId: string } {
  const redactor = new ArgumentRedactor();
  const strandId = randomUUID();
  let prev = GENESIS_HASH;
  const lines = [csvHeader()];
  for (let n = 0; n < count; n++) {
    const prepared = prepareEvent(event(n), new Date(), redactor);
    const row = { ...prepared.fields, strand_id: strandId, seq: n + 1, prev_hash: prev, hash: '' };
    row.hash = eventHash(prev, row, prepared.argsJson, prepared.detailJson);
    prev = row.hash;
    lines.push(eventToCsvLine(row));
  }
  const file = join(dir, `copy-${strandId}.csv`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return { file, strandId };
}

/** Prepares the rows of a COPY run and times it. */
async function copyRound(connection: LedgerConnection, databaseUrl: string, dir: string, count: number): Promise<number> {
  const { file, strandId } = copyFile(dir, count);
  await registerStrand(connection, strandId);
  return copyRun(databaseUrl, file, count);
}

/** Registers a strand as its writer would (not timed), so that verify accepts the copied rows. */
async function registerStrand(connection: LedgerConnection, strandId: string): Promise<void> {
  await connection.execute('INSERT INTO ledger_strands (strand_id, started_at, host, pid, label) VALUES ($1, now(), $2, $3, $4)', [
    strandId,
    'bench',
    process.pid,
    'COPY baseline',
  ]);
}

/** COPY of a CSV file into ledger_events through psql (COPY FROM STDIN); returns rows/s. */
async function copyRun(databaseUrl: string, file: string, count: number): Promise<number> {
  const started = performance.now();
  const { stdout } = await run('psql', [databaseUrl, '-v', 'ON_ERROR_STOP=1', '-c', `\\copy ledger_events FROM '${file}' WITH (FORMAT csv, HEADER true)`]);
  const seconds = (performance.now() - started) / 1000;
  if (stdout.trim() !== `COPY ${count}`) throw new Error(`COPY said: ${stdout}`);
  return count / seconds;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const name = `tollgate_bench_${randomBytes(4).toString('hex')}`;
  const admin = await connectLedger({ databaseUrl: ADMIN_URL });
  await admin.execute(`CREATE DATABASE ${name}`);
  await admin.close();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
  const connection = await connectLedger({ databaseUrl, maxConnections: 2 });
  try {
    await migrateLedger(connection);
    const settings = await connection.execute<{ name: string; setting: string }>(
      "SELECT name, setting FROM pg_settings WHERE name IN ('synchronous_commit', 'fsync', 'server_version') ORDER BY name",
    );
    console.log(`PostgreSQL ${settings.rows.map((r) => `${r.name}=${r.setting}`).join(', ')}`);
    console.log(`${ROUNDS} rounds of ${fmt(EVENTS)} events; writer callers in flight: ${CONCURRENCY}; batches of at most 256, window 2 ms\n`);

    // Warm up both paths (connections, plan caches, the table's first pages).
    await writerRun(connection, 2000, CONCURRENCY);
    await copyRound(connection, databaseUrl, dir, 2000);

    const writer: number[] = [];
    const copy: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // Each measurement starts from a checkpoint (no dirty pages of the previous one to write
      // back), and the order alternates, so neither side inherits the other's mess.
      const measureCopy = async () => {
        await connection.execute('CHECKPOINT');
        return copyRound(connection, databaseUrl, dir, EVENTS);
      };
      const measureWriter = async () => {
        await connection.execute('CHECKPOINT');
        return writerRun(connection, EVENTS, CONCURRENCY);
      };
      let c: number;
      let w: Awaited<ReturnType<typeof writerRun>>;
      if (round % 2) {
        c = await measureCopy();
        w = await measureWriter();
      } else {
        w = await measureWriter();
        c = await measureCopy();
      }
      copy.push(c);
      writer.push(w.perSecond);
      console.log(`round ${round}: COPY ${fmt(c)} rows/s, writer ${fmt(w.perSecond)} events/s (${w.batches} batches of ${(EVENTS / w.batches).toFixed(0)}, ${Math.round(w.databaseShare * 100)}% of the time waiting on the database), ratio ${(w.perSecond / c).toFixed(2)}`);
    }

    const verifyStarted = performance.now();
    const report = await verifyLedger(connection);
    const verifySeconds = (performance.now() - verifyStarted) / 1000;
    if (report.problem_count !== 0) throw new Error(`verify found problems: ${JSON.stringify(report.first_problem)}`);

    const pgliteDir = join(dir, 'pglite-ledger');
    const embedded = await connectLedger({ dataDir: pgliteDir });
    let pglite: number;
    try {
      await migrateLedger(embedded);
      await writerRun(embedded, 1000, CONCURRENCY);
      pglite = (await writerRun(embedded, PGLITE_EVENTS, CONCURRENCY)).perSecond;
    } finally {
      await embedded.close();
    }

    const ratio = median(writer) / median(copy);
    console.log('');
    console.log(`PostgreSQL writer (median) ${fmt(median(writer))} events/s`);
    console.log(`PostgreSQL COPY   (median) ${fmt(median(copy))} rows/s`);
    console.log(`PGlite writer (file-backed) ${fmt(pglite)} events/s`);
    console.log(`verify                      ${fmt(report.events / verifySeconds)} events/s (${fmt(report.events)} events, ${report.strands.length} strands)`);
    console.log(`ratio writer/COPY           ${ratio.toFixed(2)} (goal >= 0.60)`);
  } finally {
    await connection.close();
    rmSync(dir, { recursive: true, force: true });
    const cleanup = await connectLedger({ databaseUrl: ADMIN_URL });
    await cleanup.execute(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await cleanup.close();
  }
}

await main();
