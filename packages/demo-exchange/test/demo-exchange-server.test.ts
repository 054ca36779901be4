import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoExchange, demoExchangeToolList, startDemoExchangeHttp, TOOL_NAMES } from '../src/index.js';
import type { DemoExchangeHttp } from '../src/index.js';

// One conformance suite, run against every way the server is reached: a real child
// process over stdio, and Streamable HTTP on 127.0.0.1 with and without sessions.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

interface Harness {
  readonly client: Client;
  close(): Promise<void>;
}

async function stdioHarness(): Promise<Harness> {
  const transport = new StdioClientTransport({ command: process.execPath, args: ['--import', 'tsx', MAIN, '--seed', '7'], cwd: ROOT, stderr: 'pipe' });
  const client = new Client({ name: 'conformance', version: '1.0.0' });
  await client.connect(transport);
  return { client, close: () => client.close() };
}

async function httpHarness(stateless: boolean): Promise<Harness & { readonly http: DemoExchangeHttp }> {
  const http = await startDemoExchangeHttp({ port: 0, exchange: createDemoExchange({ seed: 7 }), stateless, jsonResponse: stateless });
  const client = new Client({ name: 'conformance', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(http.url)));
  return {
    client,
    http,
    close: async () => {
      await client.close();
      await http.close();
    },
  };
}

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

function text(result: CallToolResult): string {
  const first = result.content[0];
  if (first?.type !== 'text') throw new Error(`expected text content, got ${JSON.stringify(result.content)}`);
  return first.text;
}

async function ok<T = Record<string, unknown>>(client: Client, name: string, args: Record<string, unknown>): Promise<T> {
  const result = await call(client, name, args);
  if (result.isError) throw new Error(`${name} failed: ${text(result)}`);
  return JSON.parse(text(result)) as T;
}

async function fails(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  const result = await call(client, name, args);
  expect(result.isError, `${name} should fail`).toBe(true);
  return text(result);
}

interface Balance {
  free: Record<string, number>;
  used: Record<string, number>;
}

const transports: [string, () => Promise<Harness>][] = [
  ['stdio (child process)', stdioHarness],
  ['Streamable HTTP with sessions', () => httpHarness(false)],
  ['Streamable HTTP stateless, JSON responses', () => httpHarness(true)],
];

describe.each(transports)('demo exchange over %s', (_name, start) => {
  let harness: Harness;
  let client: Client;

  beforeAll(async () => {
    harness = await start();
    client = harness.client;
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('introduces itself and lists the 19 tools with their schemas and annotations', async () => {
    expect(client.getServerVersion()).toMatchObject({ name: 'demo-exchange' });
    expect(client.getServerCapabilities()?.tools).toBeDefined();
    const listed = await client.listTools();
    expect(listed.tools.map((t) => t.name)).toEqual([...TOOL_NAMES]);
    expect(listed.tools).toEqual(demoExchangeToolList().tools);
    const withdraw = listed.tools.find((t) => t.name === 'withdraw_cryptocurrency');
    expect(withdraw?.inputSchema).toMatchObject({ required: ['exchange_id', 'code', 'amount', 'address'], additionalProperties: false });
    expect(withdraw?.annotations).toEqual({ readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true });
  });

  it('trades: a market order moves balances and shows in the trade history', async () => {
    const before = await ok<Balance>(client, 'fetch_account_balance', { exchange_id: 'binance' });
    expect(before.free.SOL).toBe(400);
    const order = await ok<{ status: string; filled: number; cost: number; fee: { cost: number }; id: string }>(client, 'create_spot_market_order', {
      exchange_id: 'binance',
      symbol: 'SOL/USDT',
      side: 'buy',
      amount: 2,
    });
    expect(order).toMatchObject({ status: 'closed', filled: 2 });
    const after = await ok<Balance>(client, 'fetch_account_balance', { exchange_id: 'binance', api_key: 'k', secret_key: 's', params: {} });
    expect(after.free.SOL).toBe(402);
    expect(after.free.USDT).toBeCloseTo((before.free.USDT ?? 0) - order.cost - order.fee.cost, 6);
    const trades = await ok<{ order: string }[]>(client, 'fetch_my_trade_history', { exchange_id: 'binance', symbol: 'SOL/USDT' });
    expect(trades.length).toBeGreaterThan(0);
    expect(trades.every((t) => t.order === order.id)).toBe(true);
  });

  it('rests a limit order, lists it and cancels it', async () => {
    const ticker = await ok<{ bid: number }>(client, 'fetch_market_ticker', { exchange_id: 'kraken', symbol: 'ETH/USDT' });
    const price = Math.floor(ticker.bid * 0.9);
    const order = await ok<{ id: string; status: string }>(client, 'create_spot_limit_order', { exchange_id: 'kraken', symbol: 'ETH/USDT', side: 'buy', amount: 1, price });
    expect(order.status).toBe('open');
    const reserved = await ok<Balance>(client, 'fetch_account_balance', { exchange_id: 'kraken' });
    expect(reserved.used.USDT).toBeCloseTo(price * 1.001, 6);
    const history = await ok<{ id: string; status: string }[]>(client, 'fetch_order_history', { exchange_id: 'kraken', limit: 10 });
    expect(history).toContainEqual(expect.objectContaining({ id: order.id, status: 'open' }));
    const canceled = await ok<{ status: string }>(client, 'cancel_order', { exchange_id: 'kraken', id: order.id, symbol: 'ETH/USDT' });
    expect(canceled.status).toBe('canceled');
    expect((await ok<Balance>(client, 'fetch_account_balance', { exchange_id: 'kraken' })).used.USDT).toBe(0);
    expect(await fails(client, 'cancel_order', { exchange_id: 'kraken', id: order.id })).toMatch(/^OrderNotFound: kraken has no open order/);
  });

  it('withdraws, and refuses a withdrawal beyond the balance', async () => {
    const address = (await ok<{ address: string }>(client, 'fetch_deposit_address', { exchange_id: 'kraken', code: 'BTC' })).address;
    const withdrawal = await ok<{ status: string; amount: number }>(client, 'withdraw_cryptocurrency', { exchange_id: 'coinbase', code: 'BTC', amount: 0.1, address });
    expect(withdrawal).toMatchObject({ status: 'pending', amount: 0.1 });
    expect((await ok<Balance>(client, 'fetch_account_balance', { exchange_id: 'coinbase' })).free.BTC).toBeCloseTo(0.1498, 10);
    expect(await fails(client, 'withdraw_cryptocurrency', { exchange_id: 'coinbase', code: 'BTC', amount: 5, address })).toMatch(
      /^InsufficientFunds: .*needs 5.0002 BTC, has 0.1498 BTC available/,
    );
  });

  it('trades futures and reports the position', async () => {
    await ok(client, 'set_trading_leverage', { exchange_id: 'binance', leverage: 5, symbol: 'BTC/USDT:USDT' });
    await ok(client, 'create_futures_market_order', { exchange_id: 'binance', symbol: 'BTC/USDT:USDT', side: 'sell', amount: 0.1 });
    const positions = await ok<{ side: string; contracts: number; leverage: number }[]>(client, 'fetch_open_positions', { exchange_id: 'binance' });
    expect(positions).toEqual([expect.objectContaining({ side: 'short', contracts: 0.1, leverage: 5 })]);
    const limit = await ok<{ status: string }>(client, 'create_futures_limit_order', { exchange_id: 'binance', symbol: 'ETH/USDT', side: 'buy', amount: 0.5, price: 1000 });
    expect(limit.status).toBe('open');
  });

  it('serves market data', async () => {
    const candles = await ok<number[][]>(client, 'fetch_ohlcv', { exchange_id: 'binance', symbol: 'BTC/USDT', timeframe: '1h', limit: 24 });
    expect(candles).toHaveLength(24);
    expect(candles[0]).toHaveLength(6);
    const funding = await ok<{ symbol: string; interval: string }>(client, 'fetch_funding_rate', { exchange_id: 'binance', symbol: 'BTC/USDT:USDT' });
    expect(funding).toMatchObject({ symbol: 'BTC/USDT:USDT', interval: '8h' });
    const ratios = await ok<unknown[]>(client, 'fetch_long_short_ratio', { exchange_id: 'binance', symbol: 'ETH/USDT:USDT', timeframe: '1h', limit: 5 });
    expect(ratios).toHaveLength(5);
    const expiry = new Date(Date.now() + 40 * 86_400_000);
    const yymmdd = expiry.toISOString().slice(2, 10).replace(/-/g, '');
    const option = await ok<{ optionType: string; markPrice: number }>(client, 'fetch_option_contract_data', { exchange_id: 'binance', symbol: `ETH/USDT:USDT-${yymmdd}-3000-P` });
    expect(option.optionType).toBe('put');
    expect(option.markPrice).toBeGreaterThan(0);
    const trades = await ok<unknown[]>(client, 'fetch_public_market_trades', { exchange_id: 'kraken', symbol: 'BTC/USDT', limit: 7 });
    expect(trades).toHaveLength(7);
  });

  it('calculates technical indicators with JSON-string parameters', async () => {
    const result = await ok<{ indicator_name: string; params_used: Record<string, unknown>; data: { value: number }[] }>(client, 'calculate_technical_indicator', {
      exchange_id: 'binance',
      symbol: 'BTC/USDT',
      timeframe: '4h',
      indicator_name: 'RSI',
      ohlcv_limit: 10,
      indicator_params: '{"length": 7, "price_source": "hlc3"}',
    });
    expect(result.params_used).toEqual({ length: 7, price_source: 'hlc3', ohlcv_limit: 10 });
    expect(result.data).toHaveLength(10);
    expect(result.data.every((p) => p.value >= 0 && p.value <= 100)).toBe(true);
    expect(await fails(client, 'calculate_technical_indicator', { exchange_id: 'binance', symbol: 'BTC/USDT', timeframe: '4h', indicator_name: 'RSI', indicator_params: '{length: 7' })).toMatch(
      /^BadRequest: indicator_params is not valid JSON/,
    );
  });

  it('answers invalid arguments with a tool error naming the argument', async () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['fetch_account_balance', {}, /must have required property 'exchange_id'/],
      ['create_spot_market_order', { exchange_id: 'binance', symbol: 'BTC/USDT', side: 'hold', amount: 1 }, /arguments\.side must be one of "buy", "sell"/],
      ['create_spot_limit_order', { exchange_id: 'binance', symbol: 'BTC/USDT', side: 'buy', amount: 1 }, /must have required property 'price'/],
      ['withdraw_cryptocurrency', { exchange_id: 'binance', code: 'BTC', amount: 0, address: 'x' }, /arguments\.amount must be > 0/],
      ['withdraw_cryptocurrency', { exchange_id: 'binance', code: 'BTC', amount: '1', address: 'x' }, /arguments\.amount must be number/],
      ['set_trading_leverage', { exchange_id: 'binance', leverage: 2.5 }, /arguments\.leverage must be integer/],
      ['fetch_ohlcv', { exchange_id: 'binance', symbol: 'BTC/USDT', timeframe: '1h', since: -1 }, /arguments\.since must be >= 0/],
      ['fetch_account_balance', { exchange_id: 'binance', amount: 1 }, /unknown property 'amount'/],
      ['calculate_technical_indicator', { exchange_id: 'binance', symbol: 'BTC/USDT', timeframe: '2m', indicator_name: 'RSI' }, /arguments\.timeframe must be one of/],
      ['fetch_order_history', { exchange_id: 'binance', params: [] }, /arguments\.params must be object/],
    ];
    for (const [name, args, message] of cases) {
      const error = await fails(client, name, args);
      expect(error, name).toMatch(new RegExp(`^Invalid arguments for tool ${name}: `));
      expect(error, name).toMatch(message);
    }
  });

  it('answers exchange errors with a tool error in CCXT terms', async () => {
    expect(await fails(client, 'fetch_market_ticker', { exchange_id: 'bitmex', symbol: 'BTC/USDT' })).toMatch(/^ExchangeNotFound: exchange "bitmex" is not available/);
    expect(await fails(client, 'fetch_market_ticker', { exchange_id: 'binance', symbol: 'DOGE/USDT' })).toMatch(/^BadSymbol: binance does not have market symbol "DOGE\/USDT"/);
    expect(await fails(client, 'create_spot_market_order', { exchange_id: 'coinbase', symbol: 'BTC/USDT', side: 'buy', amount: 1 })).toMatch(/^InsufficientFunds: coinbase account/);
    expect(await fails(client, 'cancel_order', { exchange_id: 'binance', id: 'nope' })).toMatch(/^OrderNotFound: binance has no order "nope"/);
    expect(await fails(client, 'fetch_open_positions', { exchange_id: 'coinbase' })).toMatch(/^NotSupported: coinbase does not offer futures/);
  });

  it('answers an unknown tool with JSON-RPC error -32602', async () => {
    await expect(client.callTool({ name: 'transfer_everything', arguments: {} })).rejects.toMatchObject({ code: -32602, message: expect.stringMatching(/Unknown tool: transfer_everything$/) });
  });
});

describe('Streamable HTTP sessions', () => {
  let http: DemoExchangeHttp;
  beforeAll(async () => {
    http = await startDemoExchangeHttp({ port: 0 });
  });
  afterAll(async () => {
    await http.close();
  });

  it('share one exchange between sessions and end a session on DELETE', async () => {
    const a = new Client({ name: 'a', version: '1' });
    const b = new Client({ name: 'b', version: '1' });
    const ta = new StreamableHTTPClientTransport(new URL(http.url));
    await a.connect(ta);
    await b.connect(new StreamableHTTPClientTransport(new URL(http.url)));
    expect(http.sessionCount()).toBe(2);
    expect(ta.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    await a.callTool({ name: 'create_spot_market_order', arguments: { exchange_id: 'kraken', symbol: 'BTC/USDT', side: 'sell', amount: 0.25 } });
    const seen = (await b.callTool({ name: 'fetch_account_balance', arguments: { exchange_id: 'kraken' } })) as CallToolResult;
    expect((JSON.parse(text(seen)) as Balance).free.BTC).toBe(0.5);
    await ta.terminateSession();
    expect(http.sessionCount()).toBe(1);
    await a.close();
    await b.close();
  });

  it('refuses requests without or with an unknown session, and other paths', async () => {
    const call = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const noSession = await fetch(http.url, { method: 'POST', headers, body: JSON.stringify(call) });
    expect(noSession.status).toBe(400);
    expect(await noSession.json()).toMatchObject({ error: { message: expect.stringMatching(/no valid mcp-session-id/) } });
    const unknown = await fetch(http.url, { method: 'POST', headers: { ...headers, 'mcp-session-id': 'no-such-session' }, body: JSON.stringify(call) });
    expect(unknown.status).toBe(404);
    const garbage = await fetch(http.url, { method: 'POST', headers, body: '{not json' });
    expect(garbage.status).toBe(400);
    expect(await garbage.json()).toMatchObject({ error: { code: -32700 } });
    expect((await fetch(new URL('/other', http.url))).status).toBe(404);
  });

  it('closes with sessions still open', async () => {
    const server = await startDemoExchangeHttp({ port: 0 });
    const client = new Client({ name: 'c', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
    expect(server.sessionCount()).toBe(1);
    await server.close();
    expect(server.sessionCount()).toBe(0);
    await expect(fetch(server.url, { method: 'POST' })).rejects.toThrow();
    await client.close();
  });
});
