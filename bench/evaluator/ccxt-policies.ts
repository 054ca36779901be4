/**
 * The policy the evaluator benchmark decides with, written twice: once in Tollgate's
 * language and once in Cedar, so that both allow exactly the same calls.
 *
 * Cedar has no regular expressions, so the symbol rules are suffix patterns that Cedar's
 * `like` expresses exactly (`/(?:USDT|USDC)$` is `like "*\/USDT" || like "*\/USDC"`),
 * and it has no floating-point numbers, so `amount` travels to Cedar as a `decimal`
 * (four fraction digits; the stream only produces such amounts).
 */
import type { Policy, ToolRule } from '../../packages/policy/src/index.js';

/** The exchanges where account data may be read. */
const DESK_EXCHANGES = ['binance', 'bybit', 'coinbase', 'kraken'];
/** The exchanges where spot orders may be placed. */
const SPOT_EXCHANGES = ['binance', 'coinbase', 'kraken'];
/** The exchanges where futures orders may be placed. */
const FUTURES_EXCHANGES = ['binance', 'bybit'];
const DEPOSIT_CODES = ['BTC', 'ETH', 'USDT', 'USDC'];
const INDICATORS = ['RSI', 'SMA', 'EMA', 'MACD', 'BBANDS'];
/** Spot pairs quoted in a stablecoin. */
const SPOT_SYMBOL = '/(?:USDT|USDC)$';
/** USDT-margined perpetuals. */
const FUTURES_SYMBOL = '/USDT:USDT$';
const MAX_PAGE = 1000;

/** The CCXT MCP server's tools that read account data. */
export const ACCOUNT_READS = ['fetch_account_balance', 'fetch_open_positions', 'fetch_order_history', 'fetch_my_trade_history'] as const;
/** The CCXT MCP server's public market-data tools. */
export const MARKET_READS = ['fetch_ohlcv', 'fetch_funding_rate', 'fetch_long_short_ratio', 'fetch_option_contract_data', 'fetch_public_market_trades', 'fetch_market_ticker'] as const;
/** The spot order tools. */
export const SPOT_ORDERS = ['create_spot_limit_order', 'create_spot_market_order'] as const;
/** The futures order tools. */
export const FUTURES_ORDERS = ['create_futures_limit_order', 'create_futures_market_order'] as const;

const accountRead: ToolRule = {
  require: [{ path: 'args.exchange_id', op: 'in', value: DESK_EXCHANGES, on_deny: "Account data may only be read on the desk's exchanges." }],
};

function spotOrder(id: string): ToolRule {
  return {
    require: [
      { path: 'args.exchange_id', op: 'in', value: SPOT_EXCHANGES, on_deny: 'Spot orders may only be placed on binance, coinbase or kraken.' },
      { path: 'args.symbol', op: 'regex', value: SPOT_SYMBOL, on_deny: 'Spot orders must be quoted in USDT or USDC.' },
      { path: 'args.api_key', op: 'exists', value: false, on_deny: "Orders use the server's credentials; agents must not pass api_key." },
      { path: 'args.side', op: 'in', value: ['buy', 'sell'] },
    ],
    deny_if: [{ id, conditions: [{ path: 'args.amount', op: 'gt', value: 2 }], on_deny: 'A spot order may not exceed 2 units of the base currency.' }],
  };
}

function futuresOrder(id: string): ToolRule {
  return {
    require: [
      { path: 'args.exchange_id', op: 'in', value: FUTURES_EXCHANGES, on_deny: 'Futures orders may only be placed on binance or bybit.' },
      { path: 'args.symbol', op: 'regex', value: FUTURES_SYMBOL, on_deny: 'Futures orders must be on USDT-margined perpetuals.' },
      { path: 'args.api_key', op: 'exists', value: false, on_deny: "Orders use the server's credentials; agents must not pass api_key." },
      { path: 'agent.labels.team', op: 'eq', value: 'desk', on_deny: 'Futures orders are reserved for the trading desk.' },
    ],
    deny_if: [{ id: `${id}-max-amount`, conditions: [{ path: 'args.amount', op: 'gt', value: 1 }], on_deny: 'A futures order may not exceed 1 unit.' }],
    approve_if: [{ id: `${id}-large-order`, conditions: [{ path: 'args.amount', op: 'gt', value: 0.5 }], reason: 'Futures orders above 0.5 units need a risk desk approval.', approvers: ['risk-desk'] }],
  };
}

/**
 * The compared policy: reads allowed (account reads only on the desk's exchanges), page
 * sizes capped, orders restricted by exchange, symbol, credentials, side and size, futures
 * reserved for the desk and held for approval above 0.5 units, cancel_order and
 * set_trading_leverage denied, withdraw_cryptocurrency hidden, everything else denied.
 * It has no limits: Cedar has no stateful counters to compare them with.
 */
export const TOLLGATE_POLICY: Policy = {
  version: '1',
  description: 'Evaluator benchmark: a trading desk on the CCXT MCP server.',
  default: 'deny',
  hide: ['withdraw_cryptocurrency'],
  tools: {
    fetch_account_balance: accountRead,
    fetch_open_positions: accountRead,
    fetch_order_history: accountRead,
    fetch_my_trade_history: accountRead,
    fetch_deposit_address: {
      require: [
        { path: 'args.exchange_id', op: 'in', value: DESK_EXCHANGES },
        { path: 'args.code', op: 'in', value: DEPOSIT_CODES },
      ],
    },
    fetch_ohlcv: { deny_if: [{ id: 'ohlcv-page-size', conditions: [{ path: 'args.limit', op: 'gt', value: MAX_PAGE }] }] },
    fetch_funding_rate: {},
    fetch_long_short_ratio: {},
    fetch_option_contract_data: {},
    fetch_public_market_trades: { deny_if: [{ id: 'trades-page-size', conditions: [{ path: 'args.limit', op: 'gt', value: MAX_PAGE }] }] },
    fetch_market_ticker: { action: 'allow' },
    calculate_technical_indicator: {
      require: [{ path: 'args.indicator_name', op: 'in', value: INDICATORS }],
      deny_if: [{ id: 'indicator-history', conditions: [{ path: 'args.ohlcv_limit', op: 'gt', value: MAX_PAGE }] }],
    },
    create_spot_limit_order: spotOrder('spot-limit-max-amount'),
    create_spot_market_order: spotOrder('spot-market-max-amount'),
    create_futures_limit_order: futuresOrder('futures-limit'),
    create_futures_market_order: futuresOrder('futures-market'),
    cancel_order: { deny_if: [{ conditions: [], on_deny: 'Requires human approval.' }] },
    set_trading_leverage: { action: 'deny', reason: 'Leverage is set by the risk desk, never by an agent.' },
  },
};

/** The sizes of the limits added by {@link limitedPolicy}. */
export interface LimitSizes {
  /** Calls per minute per agent over every tool (`all_tools`). */
  readonly callsPerMinute: number;
  /** Orders per minute per agent, shared by the four order tools. */
  readonly ordersPerMinute: number;
  /** Units of base currency per day over all agents, shared by the four order tools (a spend cap). */
  readonly dailyNotional: number;
}

/**
 * {@link TOLLGATE_POLICY} plus a rate limit over every call, an order rate limit and a
 * daily spend cap on the order tools: the stateful part Cedar cannot express.
 */
export function limitedPolicy(sizes: LimitSizes): Policy {
  const tools: Record<string, ToolRule> = { ...(TOLLGATE_POLICY.tools as Record<string, ToolRule>) };
  for (const tool of [...SPOT_ORDERS, ...FUTURES_ORDERS]) {
    tools[tool] = {
      ...tools[tool],
      limits: [
        { counter: 'orders', max: sizes.ordersPerMinute, window: 'minute' },
        { counter: 'daily-notional', max: sizes.dailyNotional, window: 'day', scope: 'global', increment_from: 'args.amount' },
      ],
    };
  }
  return { ...TOLLGATE_POLICY, all_tools: { limits: [{ counter: 'ccxt-calls', max: sizes.callsPerMinute, window: 'minute' }] }, tools };
}

const cedarSet = (values: readonly string[]): string => `[${values.map((v) => JSON.stringify(v)).join(', ')}]`;
const cedarActions = (tools: readonly string[]): string => `[${tools.map((t) => `Action::${JSON.stringify(t)}`).join(', ')}]`;

/**
 * The Cedar policy set equivalent to {@link TOLLGATE_POLICY}: a call is allowed when a
 * permit holds and no forbid does. Tollgate's `require` conditions are a permit's `when`,
 * its `deny_if` and `approve_if` rules are forbids (a call held for approval is not
 * allowed without one), and its hidden and denied tools are forbids. Keys are policy ids.
 */
export const CEDAR_POLICIES: Readonly<Record<string, string>> = {
  'account-reads': `permit (principal, action in ${cedarActions(ACCOUNT_READS)}, resource is Server)
when { ${cedarSet(DESK_EXCHANGES)}.contains(context.args.exchange_id) };`,
  'deposit-address': `permit (principal, action == Action::"fetch_deposit_address", resource is Server)
when { ${cedarSet(DESK_EXCHANGES)}.contains(context.args.exchange_id) && ${cedarSet(DEPOSIT_CODES)}.contains(context.args.code) };`,
  'market-reads': `permit (principal, action in ${cedarActions(MARKET_READS)}, resource is Server);`,
  'page-size': `forbid (principal, action in ${cedarActions(['fetch_ohlcv', 'fetch_public_market_trades'])}, resource is Server)
when { context.args has limit && context.args.limit > ${MAX_PAGE} };`,
  indicators: `permit (principal, action == Action::"calculate_technical_indicator", resource is Server)
when { ${cedarSet(INDICATORS)}.contains(context.args.indicator_name) };`,
  'indicator-history': `forbid (principal, action == Action::"calculate_technical_indicator", resource is Server)
when { context.args has ohlcv_limit && context.args.ohlcv_limit > ${MAX_PAGE} };`,
  'spot-orders': `permit (principal, action in ${cedarActions(SPOT_ORDERS)}, resource is Server)
when {
  ${cedarSet(SPOT_EXCHANGES)}.contains(context.args.exchange_id) &&
  (context.args.symbol like "*/USDT" || context.args.symbol like "*/USDC") &&
  !(context.args has api_key) &&
  ["buy", "sell"].contains(context.args.side)
};`,
  'spot-max-amount': `forbid (principal, action in ${cedarActions(SPOT_ORDERS)}, resource is Server)
when { context.args.amount.greaterThan(decimal("2.0")) };`,
  'futures-orders': `permit (principal is Agent, action in ${cedarActions(FUTURES_ORDERS)}, resource is Server)
when {
  ${cedarSet(FUTURES_EXCHANGES)}.contains(context.args.exchange_id) &&
  context.args.symbol like "*/USDT:USDT" &&
  !(context.args has api_key) &&
  principal.hasTag("team") && principal.getTag("team") == "desk"
};`,
  'futures-max-amount': `forbid (principal, action in ${cedarActions(FUTURES_ORDERS)}, resource is Server)
when { context.args.amount.greaterThan(decimal("1.0")) };`,
  'futures-large-order': `forbid (principal, action in ${cedarActions(FUTURES_ORDERS)}, resource is Server)
when { context.args.amount.greaterThan(decimal("0.5")) };`,
  'cancel-needs-human': `forbid (principal, action == Action::"cancel_order", resource);`,
  'no-leverage': `forbid (principal, action == Action::"set_trading_leverage", resource);`,
  'no-withdrawals': `forbid (principal, action == Action::"withdraw_cryptocurrency", resource);`,
};

/** How an argument travels to Cedar: a string, a Long (JSON integer) or a decimal (JSON number). */
export type CedarArgType = 'String' | 'Long' | 'decimal';

interface ArgSpec {
  readonly type: CedarArgType;
  readonly required: boolean;
}

const req = (type: CedarArgType): ArgSpec => ({ type, required: true });
const opt = (type: CedarArgType): ArgSpec => ({ type, required: false });
const orderArgs = (priced: boolean): Record<string, ArgSpec> => ({
  exchange_id: req('String'),
  symbol: req('String'),
  side: req('String'),
  amount: req('decimal'),
  ...(priced ? { price: req('decimal') } : {}),
});
const historyArgs = { exchange_id: req('String'), symbol: opt('String'), since: opt('Long'), limit: opt('Long') };

/**
 * The 19 tools of the CCXT MCP server and their arguments as Cedar types (from the
 * server's input schemas). Every tool also takes api_key, secret_key, passphrase
 * (strings) and params (an open object, which no rule reads and Cedar's strict schema
 * cannot type, so it is not sent to Cedar).
 */
export const CCXT_TOOL_ARGS: Readonly<Record<string, Readonly<Record<string, ArgSpec>>>> = {
  fetch_account_balance: { exchange_id: req('String') },
  fetch_deposit_address: { exchange_id: req('String'), code: req('String') },
  withdraw_cryptocurrency: { exchange_id: req('String'), code: req('String'), amount: req('decimal'), address: req('String'), tag: opt('String') },
  fetch_open_positions: { exchange_id: req('String') },
  set_trading_leverage: { exchange_id: req('String'), leverage: req('Long'), symbol: opt('String') },
  fetch_ohlcv: { exchange_id: req('String'), symbol: req('String'), timeframe: req('String'), since: opt('Long'), limit: opt('Long') },
  fetch_funding_rate: { exchange_id: req('String'), symbol: req('String') },
  fetch_long_short_ratio: { exchange_id: req('String'), symbol: req('String'), timeframe: req('String'), limit: opt('Long') },
  fetch_option_contract_data: { exchange_id: req('String'), symbol: req('String') },
  fetch_market_ticker: { exchange_id: req('String'), symbol: req('String') },
  fetch_public_market_trades: { exchange_id: req('String'), symbol: req('String'), since: opt('Long'), limit: opt('Long') },
  create_spot_limit_order: orderArgs(true),
  create_spot_market_order: orderArgs(false),
  create_futures_limit_order: orderArgs(true),
  create_futures_market_order: orderArgs(false),
  cancel_order: { exchange_id: req('String'), id: req('String'), symbol: opt('String') },
  fetch_order_history: historyArgs,
  fetch_my_trade_history: historyArgs,
  calculate_technical_indicator: {
    exchange_id: req('String'),
    symbol: req('String'),
    timeframe: req('String'),
    indicator_name: req('String'),
    ohlcv_limit: opt('Long'),
    indicator_params: opt('String'),
  },
};

const CREDENTIALS = { api_key: opt('String'), secret_key: opt('String'), passphrase: opt('String') };

/** The Cedar type of one argument of one tool, or undefined when Cedar is not sent it. */
export function cedarArgType(tool: string, arg: string): CedarArgType | undefined {
  const spec = CCXT_TOOL_ARGS[tool]?.[arg] ?? (CREDENTIALS as Record<string, ArgSpec>)[arg];
  return spec?.type;
}

/**
 * The Cedar schema (JSON form) of the CCXT server: principals are `Agent`s whose labels
 * are entity tags, the resource is the `Server`, each tool is an action whose context is
 * `{ args }`. Used to validate {@link CEDAR_POLICIES} in strict mode before the run.
 */
export function cedarSchema(): Record<string, unknown> {
  const typeOf = (s: ArgSpec): Record<string, unknown> => ({
    ...(s.type === 'decimal' ? { type: 'Extension', name: 'decimal' } : { type: s.type }),
    required: s.required,
  });
  const actions: Record<string, unknown> = {};
  for (const [tool, args] of Object.entries(CCXT_TOOL_ARGS)) {
    const attributes = Object.fromEntries(Object.entries({ ...args, ...CREDENTIALS }).map(([k, s]) => [k, typeOf(s)]));
    actions[tool] = {
      appliesTo: {
        principalTypes: ['Agent'],
        resourceTypes: ['Server'],
        context: { type: 'Record', attributes: { args: { type: 'Record', attributes } } },
      },
    };
  }
  return {
    '': {
      entityTypes: { Agent: { shape: { type: 'Record', attributes: {} }, tags: { type: 'String' } }, Server: {} },
      actions,
    },
  };
}
