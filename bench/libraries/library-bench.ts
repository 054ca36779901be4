/**
 * Where docs/dependencies.md keeps our code over a library for speed, this measures the two
 * side by side in one run, on the same inputs, after checking that they give the same bytes:
 *
 * - canonical JSON (RFC 8785) of a tool call's arguments and of a large result, ours
 *   (`canonicalJson`, on the gateway's hot path: every call's arguments are hashed) against
 *   the `canonicalize` package;
 * - CSV of ledger events, ours (`eventToCsvLine`, what `ledger export --format csv` and
 *   `ledger query --format csv` write) against `csv-stringify` with formula escaping.
 *
 * Each pair alternates for several rounds and the medians are printed.
 *
 * Run: pnpm exec tsx --tsconfig bench/libraries/tsconfig.json bench/libraries/library-bench.ts [--rounds 5]
 */
import { parseArgs } from 'node:util';
import canonicalize from 'canonicalize';
import { stringify } from 'csv-stringify/sync';
import { canonicalJson } from '../../packages/policy/src/index.js';
import { LEDGER_EVENT_COLUMNS, eventToCsvLine, type LedgerEventRow } from '../../packages/ledger/src/index.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Number(values.rounds);

/** Microseconds per call of `f`, over `n` calls after a warm-up. */
function time(f: () => unknown, n: number): number {
  for (let i = 0; i < Math.max(1, n / 10); i++) f();
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) f();
  return Number(process.hrtime.bigint() - start) / n / 1000;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function compare(name: string, unit: string, ours: () => string, library: () => string, n: number): void {
  if (ours() !== library()) throw new Error(`${name}: ours and the library differ`);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      a.push(time(ours, n));
      b.push(time(library, n));
    } else {
      b.push(time(library, n));
      a.push(time(ours, n));
    }
  }
  const [x, y] = [median(a), median(b)];
  console.log(`${name.padEnd(34)} ours ${x.toFixed(2).padStart(9)} ${unit}   library ${y.toFixed(2).padStart(9)} ${unit}   library/ours ${(y / x).toFixed(2)}`);
}

const args = { symbol: 'BTC/USDT', side: 'buy', type: 'limit', amount: 0.015, price: 64250.5, params: { timeInForce: 'GTC', clientOrderId: 'agent-7f3a', reduceOnly: false, tags: ['desk-a', 'strategy-9'] } };
const result = { items: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `item-${i}`, price: i * 1.25, flags: [true, false, null], nested: { a: 'x'.repeat(20), b: i % 7 } })) };
compare('canonical JSON, order arguments', 'µs', () => canonicalJson(args), () => canonicalize(args)!, 100_000);
compare('canonical JSON, 200-item result', 'µs', () => canonicalJson(result), () => canonicalize(result)!, 1_000);

const row = (i: number): LedgerEventRow =>
  ({
    event_id: `0190f3a2-7c1e-7000-8000-${String(i).padStart(12, '0')}`, occurred_at: '2026-11-24T10:00:00.123Z', strand_id: 'gw-1', seq: i, prev_hash: 'a'.repeat(64), hash: 'b'.repeat(64),
    event_type: 'decision', call_id: `call-${i}`, agent_id: 'agent-7', session_id: 's-1', server: 'ccxt', tool: 'create_order', args: { symbol: 'BTC/USDT', side: 'buy', amount: 0.01, note: 'a, "quoted" note' },
    args_sha256: 'c'.repeat(64), effect: 'allow', rule: 'tools.create_order.allow_if[0]', reason: '=within limits', policy_revision: 'abc1234', policy_digest: 'd'.repeat(64), approval_id: null, approver: null,
    outcome_status: null, duration_ms: 12, result_sha256: null, detail: null, shadow_effect: null, shadow_rule: null,
  }) as unknown as LedgerEventRow;
const rows = Array.from({ length: 1000 }, (_, i) => row(i));
const options = { escape_formulas: true, columns: [...LEDGER_EVENT_COLUMNS], cast: { boolean: String, object: (v: object) => canonicalJson(v) } };
compare('CSV, 1000 ledger events', 'µs', () => rows.map((r) => `${eventToCsvLine(r)}\n`).join(''), () => stringify(rows, options), 50);
