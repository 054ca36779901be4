/**
 * The floor of a durable decision: one one-row INSERT and its COMMIT, as `pgbench` runs it
 * (C, prepared statements, autocommit), into a table shaped like the ledger's events (same
 * columns, constraints and indexes: `LIKE ledger_events INCLUDING ALL`), with a row the size
 * of a gateway decision. Latencies come from pgbench's per-transaction log; CPU from /proc, of
 * pgbench and of its PostgreSQL backends.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processCpuMs } from './process-cpu.js';

/** What one floor cell measured. */
export interface FloorMeasurement {
  readonly latenciesMs: number[];
  readonly elapsedS: number;
  /** CPU (ms) over the measured window: pgbench itself, and its PostgreSQL backends. */
  readonly clientCpuMs: number;
  readonly postgresCpuMs: number;
}

/** Runs SQL on the floor's database (the benchmark's own client). */
export type Sql = <R>(text: string, values?: unknown[]) => Promise<R[]>;

const HEX = 'a'.repeat(64);

/** Creates the floor's table in `sql`'s database (which has the ledger's schema). */
export async function prepareFloor(sql: Sql): Promise<void> {
  await sql('CREATE TABLE IF NOT EXISTS bench_commit_floor (LIKE ledger_events INCLUDING ALL)');
  await sql('CREATE SEQUENCE IF NOT EXISTS bench_commit_floor_seq');
}

const SCRIPT = `\\set n random(1, 1000000000)
INSERT INTO bench_commit_floor (event_id, occurred_at, strand_id, seq, prev_hash, hash, event_type, call_id, agent_id, session_id, server, tool, args, args_sha256, effect, rule, reason, policy_revision, policy_digest, detail) VALUES (gen_random_uuid(), now(), '00000000-0000-4000-8000-000000000000', nextval('bench_commit_floor_seq'), '${HEX}', '${HEX}', 'decision', 'call-' || :n, 'bench-agent-0', 'e0b7c3f2-1111-4222-8333-944445555666', 'ccxt', 'fetch_account_balance', '{"exchange_id": "binance"}', '${HEX}', 'allow', NULL, 'allowed by policy', NULL, '${HEX}', '{"limits": [{"max": 1000000000, "rule": "all_tools.limits[0]", "used": 1, "scope": "agent", "amount": 1, "window": 60, "counter": "ccxt-calls", "resets_at": 1796195700000}]}');
`;

/**
 * `pgbench -M prepared -c <concurrency>` for `warmupS + seconds`; only the transactions that
 * completed within the last `seconds` count, and CPU is sampled at the window's ends.
 */
export async function runFloor(options: {
  readonly url: string;
  readonly database: string;
  readonly concurrency: number;
  readonly warmupS: number;
  readonly seconds: number;
  readonly sql: Sql;
}): Promise<FloorMeasurement> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-floor-'));
  try {
    writeFileSync(join(dir, 'insert.sql'), SCRIPT);
    const total = Math.ceil(options.warmupS + options.seconds + 1);
    const threads = Math.min(options.concurrency, 2);
    const child = spawn(
      'pgbench',
      ['-n', '-M', 'prepared', '-c', String(options.concurrency), '-j', String(threads), '-T', String(total), '-f', join(dir, 'insert.sql'), '-l', `--log-prefix=${join(dir, 'pgb')}`, options.url],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PGAPPNAME: 'pgbench' } },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const sample = async (): Promise<{ at: number; client: number; backends: Map<number, number> }> => {
      const rows = await options.sql<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pgbench'", [options.database]);
      return { at: Date.now(), client: processCpuMs(child.pid!), backends: new Map(rows.map((r) => [r.pid, processCpuMs(r.pid)])) };
    };
    await new Promise((r) => setTimeout(r, options.warmupS * 1000));
    const from = await sample();
    await new Promise((r) => setTimeout(r, options.seconds * 1000));
    const to = await sample();
    const code = await exited;
    if (code !== 0) throw new Error(`pgbench exited with ${code}:\n${output.slice(-2000)}`);
    let postgresCpuMs = 0;
    for (const [pid, cpu] of to.backends) postgresCpuMs += cpu - (from.backends.get(pid) ?? cpu);
    const latenciesMs: number[] = [];
    for (const file of readdirSync(dir).filter((f) => f.startsWith('pgb'))) {
      for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
        // client_id transaction_no latency_us script_no epoch_s epoch_us
        const f = line.split(' ');
        if (f.length < 6) continue;
        const doneMs = Number(f[4]) * 1000 + Number(f[5]) / 1000;
        if (doneMs >= from.at && doneMs < to.at) latenciesMs.push(Number(f[2]) / 1000);
      }
    }
    return { latenciesMs, elapsedS: (to.at - from.at) / 1000, clientCpuMs: to.client - from.client, postgresCpuMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
