import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createDemoExchange, createDemoExchangeServer, manualClock } from '@tollgate/demo-exchange';
import { LedgerWriter, openLedgerSink, type OpenedLedgerSink } from '@tollgate/ledger';
import { MemoryLimitStore, canonicalDigest, compilePolicy, type CompiledPolicy } from '@tollgate/policy';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ToolCallPipeline } from '../src/pipeline/tool-call-pipeline.js';
import type { ActivePolicy, PolicySource } from '../src/policy/policy-source.js';
import { UpstreamRegistry } from '../src/upstream/upstream-registry.js';
import { InMemoryUpstream, ROOT, testLogger } from './fixtures.js';

const agent = { id: 'trader-1', labels: { team: 'desk' } };

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
  call_id: string;
  effect: string | null;
  rule: string | null;
  reason: string | null;
  outcome_status: string | null;
  result_sha256: string | null;
  args_sha256: string | null;
  detail: Record<string, unknown> | null;
}

describe('tool call pipeline', () => {
  const logger = testLogger();
  let sink: OpenedLedgerSink;
  let upstream: InMemoryUpstream;
  let registry: UpstreamRegistry;
  let pipeline: ToolCallPipeline;
  let session = 0;
  const policyText = readFileSync(resolve(ROOT, 'policies/ccxt/policy.json'), 'utf8');

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

  beforeEach(() => {
    const policy = compilePolicy(JSON.parse(policyText), { server: 'ccxt', limits: new MemoryLimitStore() });
    pipeline = new ToolCallPipeline({ registry, policies: new FixedPolicies(new Map([['ccxt', policy]])), sink, logger, awaitOutcome: true });
    session++;
  });

  const caller = () => ({ agent, sessionId: `s-${session}` });

  async function events(callId: string): Promise<EventRow[]> {
    const { rows } = await sink.connection.execute<EventRow>(
      'SELECT event_type, call_id, effect, rule, reason, outcome_status, result_sha256, args_sha256, detail FROM ledger_events WHERE call_id = $1 ORDER BY seq',
      [callId],
    );
    return rows;
  }

  it('lists only tools the policy may allow', () => {
    const names = pipeline.listTools().map((t) => t.name);
    expect(names).toHaveLength(17);
    // Hidden, and (a rule in shadow) denied by default whatever the arguments.
    for (const gone of ['set_trading_leverage', 'fetch_deposit_address']) expect(names).not.toContain(gone);
    // Tools that need an approval are listed: a call can succeed once a human approves it.
    for (const held of ['create_spot_market_order', 'cancel_order', 'withdraw_cryptocurrency']) expect(names).toContain(held);
  });

  it('forwards an allowed call after its decision is durable and records the outcome', async () => {
    const before = upstream.toolCalls().length;
    const args = { exchange_id: 'binance' };
    const result = await pipeline.call({ name: 'fetch_account_balance', arguments: args }, caller());
    expect(result.isError).toBeUndefined();
    expect(upstream.toolCalls()).toHaveLength(before + 1);
    const direct = await upstream.request({ method: 'tools/call', params: { name: 'fetch_account_balance', arguments: args } });
    expect(result).toEqual(direct);
    const callId = (await sink.connection.execute<{ call_id: string }>("SELECT call_id FROM ledger_events WHERE tool = 'fetch_account_balance' AND event_type = 'decision' ORDER BY seq DESC LIMIT 1")).rows[0]!.call_id;
    const rows = await events(callId);
    expect(rows.map((r) => [r.event_type, r.effect, r.outcome_status])).toEqual([
      ['decision', 'allow', null],
      ['outcome', null, 'ok'],
    ]);
    expect(rows[0]!.args_sha256).toBe(canonicalDigest(args));
    expect(rows[1]!.result_sha256).toBe(canonicalDigest(result));
  });

  it('refuses invalid arguments without asking the policy or the upstream', async () => {
    const before = upstream.toolCalls().length;
    const result = await pipeline.call({ name: 'create_spot_market_order', arguments: { exchange_id: 'binance', symbol: 'BTC/USDT', side: 'buy', amount: '0.1' } }, caller());
    expect(result.isError).toBe(true);
    expect(result.content).toEqual([{ type: 'text', text: '[POLICY DENIED] invalid arguments for create_spot_market_order: args.amount must be number' }]);
    const content = result.structuredContent as Record<string, unknown>;
    expect(content).toMatchObject({ code: 'invalid_arguments', rule: 'input_schema' });
    expect(upstream.toolCalls()).toHaveLength(before);
    const rows = await events(content.decision_id as string);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ event_type: 'decision', effect: 'deny', rule: 'input_schema', detail: { code: 'invalid_arguments', errors: ['args.amount must be number'] } });
  });

  it('answers a denial as an isError result with its rule and records it', async () => {
    const result = await pipeline.call({ name: 'create_spot_market_order', arguments: { exchange_id: 'binance', symbol: 'BTC/USDT', side: 'buy', amount: 5 } }, caller());
    expect(result).toMatchObject({
      isError: true,
      content: [{ type: 'text', text: '[POLICY DENIED] A spot order may not exceed 2 units of the base currency.' }],
      structuredContent: { code: 'policy.denied', rule: 'spot-market-max-amount' },
    });
    const rows = await events((result.structuredContent as { decision_id: string }).decision_id);
    expect(rows.map((r) => [r.event_type, r.effect, r.rule])).toEqual([['decision', 'deny', 'spot-market-max-amount']]);
  });

  it('answers a hidden tool exactly like a tool that does not exist, and records the decision', async () => {
    const hidden = await pipeline.call({ name: 'set_trading_leverage', arguments: { nonsense: true } }, caller()).then(() => undefined, (e: unknown) => e);
    const missing = await pipeline.call({ name: 'no_such_tool', arguments: {} }, caller()).then(() => undefined, (e: unknown) => e);
    expect(hidden).toMatchObject({ code: -32602, message: 'Unknown tool: set_trading_leverage' });
    expect(missing).toMatchObject({ code: -32602, message: 'Unknown tool: no_such_tool' });
    await pipeline.drain(1000);
    const { rows } = await sink.connection.execute<{ effect: string; rule: string }>("SELECT effect, rule FROM ledger_events WHERE tool = 'set_trading_leverage'");
    expect(rows).toEqual([{ effect: 'hidden', rule: 'hide' }]);
  });

  it('rate-limits with retry_after once a limit is used up', async () => {
    const args = { exchange_id: 'binance', symbol: 'BTC/USDT' };
    for (let i = 0; i < 60; i++) expect((await pipeline.call({ name: 'fetch_market_ticker', arguments: args }, caller())).isError).toBeUndefined();
    const limited = await pipeline.call({ name: 'fetch_market_ticker', arguments: args }, caller());
    expect(limited.isError).toBe(true);
    const content = limited.structuredContent as Record<string, unknown>;
    expect(content).toMatchObject({ code: 'rate_limited', rule: 'tools.fetch_market_ticker.rate_limit' });
    expect(content.retry_after).toBeGreaterThan(0);
    expect((limited.content as Array<{ text: string }>)[0]!.text).toMatch(/^\[POLICY DENIED\] rate limit exceeded/);
  });

  it('relays the upstream\'s own error results unchanged and marks their outcome', async () => {
    const args = { exchange_id: 'binance', symbol: 'NOPE/USDT', timeframe: '1h' };
    const result = await pipeline.call({ name: 'fetch_ohlcv', arguments: args }, caller());
    expect(result.isError).toBe(true);
    expect(result).toEqual(await upstream.request({ method: 'tools/call', params: { name: 'fetch_ohlcv', arguments: args } }));
    const { rows } = await sink.connection.execute<{ outcome_status: string; detail: unknown }>(
      "SELECT outcome_status, detail FROM ledger_events WHERE tool = 'fetch_ohlcv' AND event_type = 'outcome' ORDER BY seq DESC LIMIT 1",
    );
    expect(rows).toEqual([{ outcome_status: 'ok', detail: { is_error: true } }]);
  });

  it('fails closed: with the ledger unavailable nothing reaches the upstream', async () => {
    // A writer on the same database that has been closed refuses every event.
    const broken = new LedgerWriter(sink.connection);
    await broken.close();
    const policy = compilePolicy(JSON.parse(policyText), { server: 'ccxt', limits: new MemoryLimitStore() });
    const failing = new ToolCallPipeline({ registry, policies: new FixedPolicies(new Map([['ccxt', policy]])), sink: broken, logger });
    const before = upstream.toolCalls().length;
    const result = await failing.call({ name: 'create_spot_market_order', arguments: { exchange_id: 'binance', symbol: 'BTC/USDT', side: 'buy', amount: 0.1 } }, caller());
    expect(result).toMatchObject({ isError: true, structuredContent: { code: 'ledger.unavailable' } });
    expect((result.content as Array<{ text: string }>)[0]!.text).toBe('[GATEWAY ERROR] the ledger could not record the decision, so the call was not forwarded');
    expect(upstream.toolCalls()).toHaveLength(before);
  });

  it('holds an outcome back until the next decision (or a moment) and flushes it on drain', async () => {
    const policy = compilePolicy(JSON.parse(policyText), { server: 'ccxt', limits: new MemoryLimitStore() });
    const p = new ToolCallPipeline({ registry, policies: new FixedPolicies(new Map([['ccxt', policy]])), sink, logger, newCallId: () => `held-${session}` });
    await p.call({ name: 'fetch_account_balance', arguments: { exchange_id: 'coinbase' } }, caller());
    await p.drain(1000);
    expect((await events(`held-${session}`)).map((r) => r.event_type)).toEqual(['decision', 'outcome']);
  });

  it('drains: new calls are refused while calls in flight finish', async () => {
    const running = pipeline.call({ name: 'fetch_ohlcv', arguments: { exchange_id: 'binance', symbol: 'ETH/USDT', timeframe: '1m', limit: 2 } }, caller());
    const drained = pipeline.drain(5000);
    const refused = await pipeline.call({ name: 'fetch_ohlcv', arguments: { exchange_id: 'binance', symbol: 'ETH/USDT', timeframe: '1m' } }, caller());
    expect(refused.structuredContent).toMatchObject({ code: 'gateway.closing' });
    expect((await running).isError).toBeUndefined();
    expect(await drained).toBe(0);
  });
});
