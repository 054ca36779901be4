/**
 * The benchmark's stream of CCXT tool calls: deterministic (seeded PRNG), valid against
 * the tools' input schemas (what reaches the policy in the gateway), mixed so that allows,
 * denies, approvals and hidden tools all occur; and its translation into Cedar requests.
 */
import type { StatefulAuthorizationCall } from '@cedar-policy/cedar-wasm/nodejs';
import type { ToolCall } from '../../packages/policy/src/index.js';
import { cedarArgType } from './ccxt-policies.js';

/** A small, fast, seeded PRNG (mulberry32): the same seed gives the same stream on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** How often each tool appears in the stream (weights sum to 100). `transfer_funds` is not a CCXT tool. */
const TOOL_WEIGHTS: readonly (readonly [string, number])[] = [
  ['fetch_market_ticker', 14],
  ['fetch_ohlcv', 10],
  ['fetch_funding_rate', 4],
  ['fetch_long_short_ratio', 3],
  ['fetch_option_contract_data', 2],
  ['fetch_public_market_trades', 5],
  ['calculate_technical_indicator', 6],
  ['fetch_account_balance', 8],
  ['fetch_open_positions', 5],
  ['fetch_order_history', 4],
  ['fetch_my_trade_history', 4],
  ['fetch_deposit_address', 2],
  ['create_spot_limit_order', 8],
  ['create_spot_market_order', 6],
  ['create_futures_limit_order', 4],
  ['create_futures_market_order', 3],
  ['cancel_order', 5],
  ['set_trading_leverage', 2],
  ['withdraw_cryptocurrency', 3],
  ['transfer_funds', 2],
];

const EXCHANGES = ['binance', 'binance', 'bybit', 'coinbase', 'kraken', 'okx', 'kucoin'];
const SPOT_SYMBOLS = ['BTC/USDT', 'BTC/USDT', 'ETH/USDT', 'SOL/USDC', 'XRP/USDC', 'ETH/BTC', 'BTC/EUR', 'BTC/USDT:USDT'];
const FUTURES_SYMBOLS = ['BTC/USDT:USDT', 'BTC/USDT:USDT', 'ETH/USDT:USDT', 'SOL/USDT:USDT', 'BTC/USD:BTC', 'ETH/USDT'];
const TIMEFRAMES = ['1m', '5m', '15m', '1h', '4h', '1d'];
const INDICATORS = ['RSI', 'SMA', 'EMA', 'MACD', 'BBANDS', 'STOCH', 'ATR'];
const CODES = ['BTC', 'ETH', 'USDT', 'USDC', 'DOGE'];
const AGENT_COUNT = 12;

/** One call of the stream and the time (epoch ms) it arrives at. */
export interface StreamCall {
  readonly call: ToolCall;
  readonly at: number;
}

/** Options of {@link generateCallStream}. */
export interface StreamOptions {
  readonly size: number;
  readonly seed: number;
  /** Arrival time of the first call (epoch ms). */
  readonly start: number;
  /** Milliseconds between consecutive calls. */
  readonly spacingMs: number;
}

/**
 * Generates the stream. Agents 0–5 carry `team: desk`, 6–8 `team: research`, 9–11 no
 * labels; amounts are whole multiples of 0.0001 so that Cedar's `decimal` holds them exactly.
 */
export function generateCallStream(options: StreamOptions): StreamCall[] {
  const random = seededRandom(options.seed);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
  const chance = (p: number): boolean => random() < p;
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const amount = (): number => (chance(0.85) ? int(1, 15_000) : int(15_001, 50_000)) / 10_000;
  const page = (): Record<string, number> => (chance(0.5) ? { limit: chance(0.9) ? int(1, 1000) : int(1001, 5000) } : {});
  const since = (): Record<string, number> => (chance(0.3) ? { since: 1_767_225_600_000 - int(0, 86_400) * 1000 } : {});
  const total = TOOL_WEIGHTS.reduce((s, [, w]) => s + w, 0);

  const argsFor = (tool: string): Record<string, unknown> => {
    const exchange_id = pick(EXCHANGES);
    switch (tool) {
      case 'fetch_market_ticker':
      case 'fetch_funding_rate':
      case 'fetch_option_contract_data':
        return { exchange_id, symbol: pick(SPOT_SYMBOLS) };
      case 'fetch_ohlcv':
        return { exchange_id, symbol: pick(SPOT_SYMBOLS), timeframe: pick(TIMEFRAMES), ...since(), ...page() };
      case 'fetch_long_short_ratio':
        return { exchange_id, symbol: pick(FUTURES_SYMBOLS), timeframe: pick(TIMEFRAMES), ...page() };
      case 'fetch_public_market_trades':
        return { exchange_id, symbol: pick(SPOT_SYMBOLS), ...since(), ...page() };
      case 'calculate_technical_indicator':
        return {
          exchange_id,
          symbol: pick(SPOT_SYMBOLS),
          timeframe: pick(TIMEFRAMES),
          indicator_name: pick(INDICATORS),
          ...(chance(0.5) ? { ohlcv_limit: chance(0.9) ? int(50, 1000) : int(1001, 3000) } : {}),
          ...(chance(0.2) ? { indicator_params: '{"period":14}' } : {}),
        };
      case 'fetch_account_balance':
      case 'fetch_open_positions':
        return { exchange_id, ...(chance(0.1) ? { params: { type: 'swap' } } : {}) };
      case 'fetch_order_history':
      case 'fetch_my_trade_history':
        return { exchange_id, ...(chance(0.5) ? { symbol: pick(SPOT_SYMBOLS) } : {}), ...since(), ...page() };
      case 'fetch_deposit_address':
        return { exchange_id, code: pick(CODES) };
      case 'create_spot_limit_order':
      case 'create_spot_market_order':
      case 'create_futures_limit_order':
      case 'create_futures_market_order': {
        const futures = tool.includes('futures');
        return {
          exchange_id,
          symbol: pick(futures ? FUTURES_SYMBOLS : SPOT_SYMBOLS),
          side: chance(0.5) ? 'buy' : 'sell',
          amount: amount(),
          ...(tool.endsWith('limit_order') ? { price: int(1, 70_000_000) / 1000 } : {}),
          ...(chance(0.04) ? { api_key: 'agent-supplied-key' } : {}),
          ...(chance(0.1) ? { params: { timeInForce: 'GTC' } } : {}),
        };
      }
      case 'cancel_order':
        return { exchange_id, id: String(int(1, 1_000_000)), ...(chance(0.5) ? { symbol: pick(SPOT_SYMBOLS) } : {}) };
      case 'set_trading_leverage':
        return { exchange_id, leverage: int(1, 50), ...(chance(0.5) ? { symbol: pick(FUTURES_SYMBOLS) } : {}) };
      case 'withdraw_cryptocurrency':
        return { exchange_id, code: pick(CODES), amount: amount(), address: `bc1q${int(100_000, 999_999)}`, ...(chance(0.2) ? { tag: 'memo' } : {}) };
      default:
        return { exchange_id, code: pick(CODES), to_account: 'savings' };
    }
  };

  const agents = Array.from({ length: AGENT_COUNT }, (_, i) => ({
    id: `agent-${i}`,
    ...(i < 6 ? { labels: { team: 'desk' } } : i < 9 ? { labels: { team: 'research' } } : {}),
  }));
  const stream: StreamCall[] = new Array(options.size);
  for (let i = 0; i < options.size; i++) {
    let r = random() * total;
    let tool = TOOL_WEIGHTS[0]![0];
    for (const [name, weight] of TOOL_WEIGHTS) {
      if (r < weight) {
        tool = name;
        break;
      }
      r -= weight;
    }
    const agentIndex = int(0, AGENT_COUNT - 1);
    const agent = agents[agentIndex]!;
    stream[i] = { call: { tool, args: argsFor(tool), agent, session: { id: `${agent.id}/s${int(0, 3)}` } }, at: options.start + i * options.spacingMs };
  }
  return stream;
}

/**
 * Translates a call into a Cedar request for a preparsed policy set: principal
 * `Agent::"<agent id>"` (its labels as entity tags), action `Action::"<tool>"`, resource
 * `Server::"<server>"`, context `{ args }` with each argument in its Cedar type (numbers of
 * `decimal` arguments as `decimal` extension values; `params` left out).
 *
 * @throws Error when an amount has more than four fraction digits, which Cedar cannot hold exactly.
 */
export function toCedarRequest(call: ToolCall, server: string, policySetId: string): StatefulAuthorizationCall {
  const args: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(call.args ?? {})) {
    const type = cedarArgType(call.tool, key);
    if (type === undefined && key === 'params') continue;
    if (type === 'decimal' && typeof value === 'number') {
      const text = value.toFixed(4);
      if (Number(text) !== value) throw new Error(`${call.tool}: args.${key} = ${value} has more than four fraction digits; Cedar's decimal cannot hold it`);
      args[key] = { __extn: { fn: 'decimal', arg: text } };
    } else {
      args[key] = value;
    }
  }
  const agentId = call.agent?.id ?? '';
  return {
    principal: { type: 'Agent', id: agentId },
    action: { type: 'Action', id: call.tool },
    resource: { type: 'Server', id: server },
    context: { args: args as Record<string, never> },
    preparsedPolicySetId: policySetId,
    entities: [{ uid: { type: 'Agent', id: agentId }, attrs: {}, parents: [], tags: { ...(call.agent?.labels ?? {}) } as Record<string, string> }],
  };
}
