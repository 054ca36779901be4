import { createDemoExchange, createDemoExchangeServer, manualClock } from '@tollgate/demo-exchange';
import { migrateLedger, connectLedger, openLedgerSink, openLimitStore, type OpenedLedgerSink } from '@tollgate/ledger';
import { MemoryLimitStore, compilePolicy, type CompiledPolicy, type LimitStore } from '@tollgate/policy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../../ledger/test/support/tcp-proxy.js';
import { ToolCallPipeline } from '../src/pipeline/tool-call-pipeline.js';
import type { ActivePolicy, PolicySource } from '../src/policy/policy-source.js';
import { UpstreamRegistry } from '../src/upstream/upstream-registry.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { InMemoryUpstream, testLogger } from './fixtures.js';

// Every refusal is a decision with a stable rule id, recorded before the agent hears of it —
// the gateway's own refusals (shutting down, no policy, limits unavailable, decision deadline)
// as much as the policy's.

class FixedPolicies implements PolicySource {
  constructor(readonly policies: Map<string, CompiledPolicy>) {}
  policyFor(server: string): CompiledPolicy | undefined {
    return this.policies.get(server);
  }
  active(): ReadonlyMap<string, ActivePolicy> {
    return new Map([...this.policies].map(([k, policy]) => [k, { policy, source: 'test', activatedAt: 0 }]));
  }
}

interface EventRow {
  event_type: string;
  effect: string | null;
  rule: string | null;
  reason: string | null;
  args: Record<string, unknown> | null;
  outcome_status: string | null;
  detail: Record<string, unknown> | null;
}

const agent = { id: 'trader-1' };
const caller = { agent, sessionId: 'session-1' };
const order = (amount: unknown) => ({ exchange_id: 'binance', symbol: 'BTC/USDT', side: 'buy', amount });

/** A global spend cap of 1 unit a day on spot market orders: easy to see whether it moved. */
const SPEND_POLICY = {
  version: '1',
  default: 'allow',
  tools: {
    create_spot_market_order: { limits: [{ counter: 'spend', max: 1, window: 'day', scope: 'global', increment_from: 'args.amount' }] },
    withdraw_cryptocurrency: { action: 'hide' },
  },
};

const spendPolicy = (limits: LimitStore = new MemoryLimitStore()) => compilePolicy(SPEND_POLICY, { server: 'ccxt', limits });

describe('every refusal is a recorded decision', () => {
  const logger = testLogger();
  let sink: OpenedLedgerSink;
  let upstream: InMemoryUpstream;
  let registry: UpstreamRegistry;

  beforeAll(async () => {
    sink = await openLedgerSink({ dataDir: 'memory://', migrate: true, maxBatchDelayMs: 0 });
    const exchange = createDemoExchange({ clock: manualClock('2026-01-05T10:00:00Z') });
    upstream = new InMemoryUpstream('ccxt', () => createDemoExchangeServer(exchange), logger);
    registry = new UpstreamRegistry([upstream], logger);
    await registry.start();
  }, 60_000);

  afterAll(async () => {
    await registry?.close();
    await sink?.close();
  });

  const pipelineWith = (policies: Map<string, CompiledPolicy>, options: { callId: string; decisionTimeoutMs?: number; on?: OpenedLedgerSink }) =>
    new ToolCallPipeline({ registry, policies: new FixedPolicies(policies), sink: options.on ?? sink, logger, awaitOutcome: true, newCallId: () => options.callId, ...(options.decisionTimeoutMs ? { decisionTimeoutMs: options.decisionTimeoutMs } : {}) });

  async function events(on: OpenedLedgerSink, callId: string): Promise<EventRow[]> {
    const { rows } = await on.connection.execute<EventRow>('SELECT event_type, effect, rule, reason, args, outcome_status, detail FROM ledger_events WHERE call_id = $1 ORDER BY seq', [callId]);
    return rows;
  }


  it('a call that arrives while the gateway shuts down', async () => {
    const pipeline = pipelineWith(new Map([['ccxt', spendPolicy()]]), { callId: 'closing-1' });
    await pipeline.drain(1000);
    const before = upstream.toolCalls().length;
    const result = await pipeline.call({ name: 'fetch_account_balance', arguments: { exchange_id: 'binance' } }, caller);
    expect(result).toMatchObject({ isError: true, structuredContent: { code: 'gateway.closing', rule: 'gateway.closing', decision_id: 'closing-1' } });
    expect(upstream.toolCalls()).toHaveLength(before);
    expect(await events(sink, 'closing-1')).toEqual([expect.objectContaining({ event_type: 'decision', effect: 'deny', rule: 'gateway.closing', detail: { code: 'gateway.closing' } })]);
  });

  it('a call to an upstream that no policy governs', async () => {
    const pipeline = pipelineWith(new Map(), { callId: 'no-policy-1' });
    const before = upstream.toolCalls().length;
    const result = await pipeline.call({ name: 'fetch_account_balance', arguments: { exchange_id: 'binance' } }, caller);
    expect(result).toMatchObject({ isError: true, structuredContent: { code: 'policy.unavailable', rule: 'gateway.no_policy' } });
    expect(upstream.toolCalls()).toHaveLength(before);
    const [row] = await events(sink, 'no-policy-1');
    expect(row).toMatchObject({ effect: 'deny', rule: 'gateway.no_policy', detail: { code: 'policy.unavailable' } });
    expect(row!.reason).toContain('no policy governs upstream "ccxt"');
  });

  it('a call whose limits cannot be checked (the limit store is unreachable)', async () => {
    // A real PostgreSQL limit store whose database is taken away: every connection to it is
    // terminated and new ones are refused.
    const db = await createTestDatabase();
    const connection = await connectLedger({ databaseUrl: db.url });
    const limits = openLimitStore(connection, { sweepIntervalMs: 0 });
    try {
      await migrateLedger(connection);
      await limits.check();
      await db.block();
      const pipeline = pipelineWith(new Map([['ccxt', spendPolicy(limits)]]), { callId: 'limits-1' });
      const before = upstream.toolCalls().length;
      const result = await pipeline.call({ name: 'create_spot_market_order', arguments: order(0.5) }, caller);
      expect(result).toMatchObject({ isError: true, structuredContent: { code: 'limits.unavailable', rule: 'gateway.limits_unavailable' } });
      expect(upstream.toolCalls()).toHaveLength(before);
      expect(await events(sink, 'limits-1')).toEqual([expect.objectContaining({ effect: 'deny', rule: 'gateway.limits_unavailable', detail: { code: 'limits.unavailable' } })]);
    } finally {
      await limits.close();
      await connection.close();
      await db.drop();
    }
  });

  it('non-finite numbers are invalid arguments: refused before any counter moves, and recorded', async () => {
    const limits = new MemoryLimitStore();
    const pipeline = pipelineWith(new Map([['ccxt', spendPolicy(limits)]]), { callId: 'infinity-1' });
    const before = upstream.toolCalls().length;
    // What JSON.parse makes of an agent's `"amount": 1e999`.
    const result = await pipeline.call({ name: 'create_spot_market_order', arguments: JSON.parse('{"exchange_id":"binance","symbol":"BTC/USDT","side":"buy","amount":1e999}') }, caller);
    expect(result).toMatchObject({ isError: true, structuredContent: { code: 'invalid_arguments', rule: 'input_schema' } });
    expect((result.content as Array<{ text: string }>)[0]!.text).toContain('args.amount is not a finite number');
    expect(upstream.toolCalls()).toHaveLength(before);
    const [row] = await events(sink, 'infinity-1');
    expect(row).toMatchObject({ event_type: 'decision', effect: 'deny', rule: 'input_schema', args: order('Infinity'), detail: { code: 'invalid_arguments', non_finite: ['args.amount'] } });
    // The global spend cap was not burnt: the whole of it is still there for the next call.
    const next = pipelineWith(new Map([['ccxt', spendPolicy(limits)]]), { callId: 'infinity-2' });
    expect((await next.call({ name: 'create_spot_market_order', arguments: order(1) }, caller)).isError).toBeUndefined();
  });

  it('a hidden tool called with non-finite numbers is still answered as unknown and recorded', async () => {
    const pipeline = pipelineWith(new Map([['ccxt', spendPolicy()]]), { callId: 'hidden-infinity-1' });
    const error = await pipeline.call({ name: 'withdraw_cryptocurrency', arguments: JSON.parse('{"amount":-1e999}') }, caller).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: -32602, message: 'Unknown tool: withdraw_cryptocurrency' });
    await pipeline.drain(1000);
    expect(await events(sink, 'hidden-infinity-1')).toEqual([expect.objectContaining({ effect: 'hidden', rule: 'tools.withdraw_cryptocurrency.action', args: { amount: '-Infinity' } })]);
  });
});

describe('the decision deadline, with a database that stalls (as under SIGSTOP)', () => {
  const logger = testLogger();
  let db: TestDatabase;
  let proxy: TcpProxy;
  let sink: OpenedLedgerSink;
  let upstream: InMemoryUpstream;
  let registry: UpstreamRegistry;

  beforeAll(async () => {
    db = await createTestDatabase();
    const direct = await connectLedger({ databaseUrl: db.url });
    await migrateLedger(direct);
    await direct.close();
    proxy = await startTcpProxy(5432);
    sink = await openLedgerSink({ databaseUrl: db.url.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`), maxBatchDelayMs: 0, statementTimeoutMs: 20_000 });
    const exchange = createDemoExchange({ clock: manualClock('2026-01-05T10:00:00Z') });
    upstream = new InMemoryUpstream('ccxt', () => createDemoExchangeServer(exchange), logger);
    registry = new UpstreamRegistry([upstream], logger);
    await registry.start();
  }, 60_000);

  afterAll(async () => {
    await registry?.close();
    await sink?.close();
    await proxy?.close();
    await db?.drop();
  });

  it('refuses a call whose decision is not committed in time, never forwards it, and records that it was not', async () => {
    const policy = compilePolicy({ version: '1', default: 'allow' }, { server: 'ccxt', limits: new MemoryLimitStore() });
    const pipeline = new ToolCallPipeline({ registry, policies: new FixedPolicies(new Map([['ccxt', policy]])), sink, logger, decisionTimeoutMs: 300, newCallId: () => 'stalled-1' });
    const before = upstream.toolCalls().length;
    await proxy.setMode('stall');
    const t0 = performance.now();
    const result = await pipeline.call({ name: 'create_spot_market_order', arguments: order(0.1) }, caller);
    const waited = performance.now() - t0;
    expect(result).toMatchObject({ isError: true, structuredContent: { code: 'decision.timeout', rule: 'gateway.decision_timeout', decision_id: 'stalled-1' } });
    expect(waited).toBeGreaterThanOrEqual(290);
    expect(waited).toBeLessThan(2000);
    // The database wakes up; the decision commits after all — and the call still never runs.
    await proxy.setMode('forward');
    await sink.writer.flush();
    await pipeline.drain(5000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(upstream.toolCalls()).toHaveLength(before);
    const rows = await db.query<EventRow>("SELECT event_type, effect, rule, outcome_status, detail FROM ledger_events WHERE call_id = 'stalled-1' ORDER BY seq");
    expect(rows.map((r) => [r.event_type, r.effect, r.outcome_status])).toEqual([
      ['decision', 'allow', null],
      ['outcome', null, 'cancelled'],
    ]);
    expect(rows[1]!.detail).toEqual({ code: 'decision.timeout', forwarded: false });
  });

  it('with counters kept by the ledger: a decision late with its counters is refused, never forwarded, and on the record with them', async () => {
    // The sink counts the limits in the transaction that records the decision (limits in PostgreSQL).
    const counting = { append: sink.append, appendCounted: (c: Parameters<typeof sink.writer.appendCounted>[0]) => sink.writer.appendCounted(c), close: () => Promise.resolve() };
    const pipeline = new ToolCallPipeline({ registry, policies: new FixedPolicies(new Map([['ccxt', spendPolicy()]])), sink: counting, logger, decisionTimeoutMs: 300, newCallId: () => 'stalled-counted-1' });
    const before = upstream.toolCalls().length;
    await proxy.setMode('stall');
    const t0 = performance.now();
    const result = await pipeline.call({ name: 'create_spot_market_order', arguments: order(0.25) }, caller);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(result).toMatchObject({ isError: true, structuredContent: { code: 'decision.timeout', rule: 'gateway.decision_timeout', decision_id: 'stalled-counted-1' } });
    await proxy.setMode('forward');
    await sink.writer.flush();
    await pipeline.drain(5000);
    // The outcome that says it never ran is appended once the late decision has committed.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await pipeline.drain(5000);
    await sink.writer.flush();
    expect(upstream.toolCalls()).toHaveLength(before);
    const rows = await db.query<EventRow>("SELECT event_type, effect, rule, outcome_status, detail FROM ledger_events WHERE call_id = 'stalled-counted-1' ORDER BY seq");
    expect(rows.map((r) => [r.event_type, r.effect, r.outcome_status])).toEqual([
      ['decision', 'allow', null],
      ['outcome', null, 'cancelled'],
    ]);
    // The counter moved exactly by the recorded decision's amount, in the same transaction.
    expect((rows[0]!.detail as { limits: Array<{ used: number; amount: number }> }).limits.map((l) => [l.used, l.amount])).toEqual([[0.25, 0.25]]);
    const counters = await db.query<{ used: number }>('SELECT used FROM limit_counters');
    expect(counters.map((c) => Number(c.used))).toEqual([0.25]);
  });

  it('answers a refusal within the deadline too, when the ledger stalls while recording it', async () => {
    const policy = compilePolicy({ version: '1', default: 'deny' }, { server: 'ccxt', limits: new MemoryLimitStore() });
    const pipeline = new ToolCallPipeline({ registry, policies: new FixedPolicies(new Map([['ccxt', policy]])), sink, logger, decisionTimeoutMs: 300, newCallId: () => 'stalled-2' });
    await proxy.setMode('stall');
    const t0 = performance.now();
    const result = await pipeline.call({ name: 'fetch_account_balance', arguments: { exchange_id: 'binance' } }, caller);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(result).toMatchObject({ isError: true, structuredContent: { code: 'decision.timeout', rule: 'default' } });
    await proxy.setMode('forward');
    await sink.writer.flush();
    const rows = await db.query<EventRow>("SELECT event_type, effect, rule FROM ledger_events WHERE call_id = 'stalled-2'");
    expect(rows).toEqual([{ event_type: 'decision', effect: 'deny', rule: 'default' }]);
  });
});
