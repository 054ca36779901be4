import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { INDICATOR_NAMES } from './technical-indicators.js';
import { TIMEFRAMES } from './timeframe.js';

// The 19 tools of the CCXT MCP server: same names, same arguments. Input schemas follow
// the convention of a zod-built MCP server: `type: object`, `properties`, `required`
// (omitted when empty), `additionalProperties: false` and the draft-07 `$schema`;
// `amount > 0` is `exclusiveMinimum: 0`, a positive integer is `type: integer` with
// `exclusiveMinimum: 0`, a non-negative one `minimum: 0`, a defaulted argument carries
// `default`. policies/ccxt/catalog.json snapshots the same list.

/** The JSON Schema dialect every `inputSchema` declares. */
export const JSON_SCHEMA_DRAFT_07 = 'http://json-schema.org/draft-07/schema#';

/** A JSON Schema fragment as it appears in a tool's `inputSchema`. */
export type JsonSchema = { readonly [keyword: string]: unknown };

/** Names of the 19 tools, in catalog order. */
export const TOOL_NAMES = [
  'fetch_account_balance',
  'fetch_deposit_address',
  'withdraw_cryptocurrency',
  'fetch_open_positions',
  'set_trading_leverage',
  'fetch_ohlcv',
  'fetch_funding_rate',
  'fetch_long_short_ratio',
  'fetch_option_contract_data',
  'fetch_market_ticker',
  'fetch_public_market_trades',
  'create_spot_limit_order',
  'create_spot_market_order',
  'create_futures_limit_order',
  'create_futures_market_order',
  'cancel_order',
  'fetch_order_history',
  'fetch_my_trade_history',
  'calculate_technical_indicator',
] as const;

/** One of the {@link TOOL_NAMES}. */
export type ToolName = (typeof TOOL_NAMES)[number];

const exchangeId: JsonSchema = {
  type: 'string',
  description: "The CCXT id of the exchange, e.g. 'binance', 'kraken', 'coinbase'. Case-insensitive.",
};
const credentials: Readonly<Record<string, JsonSchema>> = {
  api_key: { type: 'string', description: 'Optional: API key for the exchange. When omitted, credentials configured on the server are used.' },
  secret_key: { type: 'string', description: 'Optional: API secret paired with the API key.' },
  passphrase: { type: 'string', description: 'Optional: API passphrase, for exchanges that require one (e.g. OKX, KuCoin).' },
};
const params = (what: string): JsonSchema => ({
  type: 'object',
  description: `Optional: extra exchange-specific parameters passed through to ${what}.`,
});
const symbol = (example: string): JsonSchema => ({ type: 'string', description: `Unified market symbol, e.g. ${example}.` });
const positiveNumber = (description: string): JsonSchema => ({ type: 'number', exclusiveMinimum: 0, description });
const positiveInteger = (description: string): JsonSchema => ({ type: 'integer', exclusiveMinimum: 0, description });
const since: JsonSchema = { type: 'integer', minimum: 0, description: 'Optional: earliest time to include, in milliseconds since the Unix epoch.' };
const side: JsonSchema = { type: 'string', enum: ['buy', 'sell'], description: "Order side: 'buy' or 'sell'." };

const READ: Tool['annotations'] = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true };
const MOVES_FUNDS: Tool['annotations'] = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true };
const OVERWRITES: Tool['annotations'] = { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true };

function tool(
  name: ToolName,
  description: string,
  properties: Readonly<Record<string, JsonSchema>>,
  required: readonly string[],
  annotations: Tool['annotations'],
  paramsFor: string,
): Tool {
  const inputSchema: Tool['inputSchema'] = {
    type: 'object',
    properties: { ...properties, ...credentials, params: params(paramsFor) },
    ...(required.length > 0 ? { required: [...required] } : {}),
    additionalProperties: false,
    $schema: JSON_SCHEMA_DRAFT_07,
  };
  return { name, description, inputSchema, annotations };
}

const orderArguments = (market: 'spot' | 'futures', limit: boolean): Record<string, JsonSchema> => ({
  exchange_id: exchangeId,
  symbol: symbol(market === 'spot' ? "'BTC/USDT'" : "'BTC/USDT:USDT' (the perpetual swap; 'BTC/USDT' is accepted too)"),
  side,
  amount: positiveNumber(market === 'spot' ? 'Amount of the base currency to trade. Must be greater than 0.' : 'Number of contracts to trade. Must be greater than 0.'),
  ...(limit ? { price: positiveNumber('Limit price in the quote currency. Must be greater than 0.') } : {}),
});

const historyArguments = (what: string): Record<string, JsonSchema> => ({
  exchange_id: exchangeId,
  symbol: { type: 'string', description: `Optional: only ${what} of this market, e.g. 'BTC/USDT'.` },
  since,
  limit: positiveInteger(`Optional: maximum number of ${what} to return.`),
});

const CATALOG: readonly Tool[] = [
  tool(
    'fetch_account_balance',
    'Fetches the account balance on an exchange: free, used (reserved by open orders and positions) and total amount of every currency. Use params for an account type (spot, margin, futures) where the exchange needs one.',
    { exchange_id: exchangeId },
    ['exchange_id'],
    READ,
    'fetchBalance',
  ),
  tool(
    'fetch_deposit_address',
    'Fetches the deposit address of a currency on an exchange. Use params to choose the network (e.g. {"network": "TRC20"}) when the currency exists on several.',
    { exchange_id: exchangeId, code: { type: 'string', description: "Currency code, e.g. 'BTC', 'ETH', 'USDT'." } },
    ['exchange_id', 'code'],
    READ,
    'fetchDepositAddress (e.g. {"network": "TRC20"})',
  ),
  tool(
    'withdraw_cryptocurrency',
    'Withdraws cryptocurrency from the exchange account to an external address. Funds leave the account: the amount plus the network fee are debited at once. Use params to choose the network (e.g. {"network": "TRC20"}).',
    {
      exchange_id: exchangeId,
      code: { type: 'string', description: "Currency code to withdraw, e.g. 'BTC', 'ETH', 'USDT'." },
      amount: positiveNumber('Amount to withdraw. Must be greater than 0.'),
      address: { type: 'string', description: 'Destination address.' },
      tag: { type: 'string', description: 'Optional: destination tag, memo or payment id, for currencies that use one.' },
    },
    ['exchange_id', 'code', 'amount', 'address'],
    MOVES_FUNDS,
    'withdraw (e.g. {"network": "ERC20"})',
  ),
  tool(
    'fetch_open_positions',
    'Fetches the open futures and perpetual swap positions of the account: side, contracts, entry and mark price, leverage, margin, unrealized PnL and liquidation price.',
    { exchange_id: exchangeId },
    ['exchange_id'],
    READ,
    'fetchPositions',
  ),
  tool(
    'set_trading_leverage',
    'Sets the leverage of a futures market, or of every futures market of the exchange when symbol is omitted. The margin of an open position is adjusted to the new leverage.',
    {
      exchange_id: exchangeId,
      leverage: positiveInteger('Leverage multiplier, e.g. 10. Must be a positive integer within the market limit.'),
      symbol: { type: 'string', description: "Optional: futures market symbol, e.g. 'BTC/USDT:USDT'." },
    },
    ['exchange_id', 'leverage'],
    OVERWRITES,
    'setLeverage',
  ),
  tool(
    'fetch_ohlcv',
    'Fetches OHLCV candles of a market: [timestamp, open, high, low, close, volume] rows, oldest first; the last candle may still be open.',
    {
      exchange_id: exchangeId,
      symbol: symbol("'BTC/USDT' or 'BTC/USDT:USDT'"),
      timeframe: { type: 'string', description: `Candle length, e.g. '1m', '1h', '1d'. Supported: ${TIMEFRAMES.join(', ')}.` },
      since,
      limit: positiveInteger('Optional: maximum number of candles to return (default 100, at most 1000).'),
    },
    ['exchange_id', 'symbol', 'timeframe'],
    READ,
    'fetchOHLCV',
  ),
  tool(
    'fetch_funding_rate',
    'Fetches the current funding rate of a perpetual swap, with the next funding time, the previous rate, and the mark and index prices.',
    { exchange_id: exchangeId, symbol: symbol("'BTC/USDT:USDT'") },
    ['exchange_id', 'symbol'],
    READ,
    'fetchFundingRate',
  ),
  tool(
    'fetch_long_short_ratio',
    'Fetches the history of the long/short account ratio of a perpetual swap, oldest first.',
    {
      exchange_id: exchangeId,
      symbol: symbol("'BTC/USDT:USDT'"),
      timeframe: { type: 'string', description: "Period of each data point: '5m', '15m', '30m', '1h', '2h', '4h', '6h', '12h' or '1d'." },
      limit: positiveInteger('Optional: maximum number of data points to return (default 30, at most 500).'),
    },
    ['exchange_id', 'symbol', 'timeframe'],
    READ,
    'fetchLongShortRatioHistory',
  ),
  tool(
    'fetch_option_contract_data',
    'Fetches market data of an option contract: bid, ask, mark and last price, implied volatility, open interest, underlying price and greeks.',
    { exchange_id: exchangeId, symbol: symbol("'BTC/USDT:USDT-251226-70000-C' (BASE/QUOTE:SETTLE-YYMMDD-STRIKE-C|P)") },
    ['exchange_id', 'symbol'],
    READ,
    'fetchOption',
  ),
  tool(
    'fetch_market_ticker',
    'Fetches the ticker of a market: last price, best bid and ask, and rolling 24-hour high, low, open, change and volume.',
    { exchange_id: exchangeId, symbol: symbol("'BTC/USDT' or 'BTC/USDT:USDT'") },
    ['exchange_id', 'symbol'],
    READ,
    'fetchTicker',
  ),
  tool(
    'fetch_public_market_trades',
    'Fetches the most recent public trades of a market, oldest first: time, side, price and amount.',
    {
      exchange_id: exchangeId,
      symbol: symbol("'BTC/USDT'"),
      since,
      limit: positiveInteger('Optional: maximum number of trades to return (default 50, at most 1000).'),
    },
    ['exchange_id', 'symbol'],
    READ,
    'fetchTrades',
  ),
  tool(
    'create_spot_limit_order',
    'Places a limit order on a spot market. The order reserves its funds, fills whatever crosses the order book at once, and rests on the book with the remainder until filled or canceled.',
    orderArguments('spot', true),
    ['exchange_id', 'symbol', 'side', 'amount', 'price'],
    MOVES_FUNDS,
    'createOrder (e.g. {"clientOrderId": "my-id"})',
  ),
  tool(
    'create_spot_market_order',
    'Places a market order on a spot market. It fills at once against the order book at the best available prices and moves balances.',
    orderArguments('spot', false),
    ['exchange_id', 'symbol', 'side', 'amount'],
    MOVES_FUNDS,
    'createOrder (e.g. {"clientOrderId": "my-id"})',
  ),
  tool(
    'create_futures_limit_order',
    'Places a limit order on a futures (perpetual swap) market. The order reserves margin at the market leverage, fills whatever crosses the order book at once, and rests with the remainder.',
    orderArguments('futures', true),
    ['exchange_id', 'symbol', 'side', 'amount', 'price'],
    MOVES_FUNDS,
    'createOrder (e.g. {"clientOrderId": "my-id"})',
  ),
  tool(
    'create_futures_market_order',
    'Places a market order on a futures (perpetual swap) market. It fills at once, opening, growing, reducing or reversing the position, and locks margin at the market leverage.',
    orderArguments('futures', false),
    ['exchange_id', 'symbol', 'side', 'amount'],
    MOVES_FUNDS,
    'createOrder (e.g. {"clientOrderId": "my-id"})',
  ),
  tool(
    'cancel_order',
    'Cancels an open order and releases the funds it reserved.',
    {
      exchange_id: exchangeId,
      id: { type: 'string', description: 'Id of the order to cancel, as returned when it was placed.' },
      symbol: { type: 'string', description: "Optional: market symbol of the order, e.g. 'BTC/USDT'. Some exchanges require it." },
    },
    ['exchange_id', 'id'],
    OVERWRITES,
    'cancelOrder',
  ),
  tool(
    'fetch_order_history',
    'Fetches the orders of the account, open, filled and canceled, oldest first.',
    historyArguments('orders'),
    ['exchange_id'],
    READ,
    'fetchOrders',
  ),
  tool(
    'fetch_my_trade_history',
    "Fetches the account's own trades (fills of its orders), oldest first, with price, amount, cost and fee.",
    historyArguments('trades'),
    ['exchange_id'],
    READ,
    'fetchMyTrades',
  ),
  tool(
    'calculate_technical_indicator',
    'Fetches OHLCV candles of a market and calculates a technical indicator over them (RSI, SMA, EMA, MACD, BBANDS, STOCH or ATR). Returns one value per candle, oldest first, for the last ohlcv_limit candles.',
    {
      exchange_id: exchangeId,
      symbol: symbol("'BTC/USDT'"),
      timeframe: { type: 'string', enum: [...TIMEFRAMES], description: 'Candle length of the OHLCV data.' },
      indicator_name: { type: 'string', enum: [...INDICATOR_NAMES], description: 'Indicator to calculate.' },
      ohlcv_limit: { ...positiveInteger('Optional: number of indicator values (candles) to return. Default 50.'), default: 50 },
      indicator_params: {
        type: 'string',
        description:
          'Optional: JSON object (as a string) of indicator parameters, all optional. RSI: {"length": 14, "price_source": "close"}. ' +
          'SMA/EMA: {"length": 20, "price_source": "close"}. MACD: {"fast": 12, "slow": 26, "signal": 9, "price_source": "close"}. ' +
          'BBANDS: {"length": 20, "std": 2.0, "price_source": "close"}. STOCH: {"k_period": 14, "d_period": 3, "smooth_k": 3}. ' +
          'ATR: {"period": 14}. price_source is one of open, high, low, close, hlc3, ohlc4.',
      },
    },
    ['exchange_id', 'symbol', 'timeframe', 'indicator_name'],
    READ,
    'fetchOHLCV when fetching the candles',
  ),
];

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
  }
  return value;
}

/**
 * The frozen tool definitions, shared by every server instance. Use
 * {@link demoExchangeTools} for a copy you may change.
 */
export const DEMO_EXCHANGE_TOOLS: readonly Tool[] = deepFreeze(CATALOG);

/**
 * The 19 tool definitions (name, description, `inputSchema`, `annotations`), as fresh
 * mutable copies.
 */
export function demoExchangeTools(): Tool[] {
  return structuredClone(CATALOG) as Tool[];
}

/**
 * The exact `tools/list` result the demo exchange server answers, for comparing with a
 * catalog snapshot such as `policies/ccxt/catalog.json`.
 *
 * @example expect(catalog.tools).toEqual(demoExchangeToolList().tools);
 */
export function demoExchangeToolList(): { tools: Tool[] } {
  return { tools: demoExchangeTools() };
}
