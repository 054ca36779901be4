// The data layouts of CCXT's unified API that the demo exchange answers in (abridged to
// the fields an exchange fills in), plus the requests its methods take.
import type { BookLevel } from './price-model.js';
import type { IndicatorName } from './technical-indicators.js';
import type { Timeframe } from './timeframe.js';

/** `buy` or `sell`. */
export type OrderSide = 'buy' | 'sell';
/** Which kind of market an order goes to. */
export type MarketKind = 'spot' | 'futures';
/** CCXT order status. */
export type OrderStatus = 'open' | 'closed' | 'canceled';

/** A listed market in CCXT's unified layout (abridged). */
export interface MarketInfo {
  readonly id: string;
  readonly symbol: string;
  readonly base: string;
  readonly quote: string;
  readonly settle: string | null;
  readonly type: 'spot' | 'swap';
  readonly spot: boolean;
  readonly swap: boolean;
  readonly contract: boolean;
  readonly linear: boolean | null;
  readonly contractSize: number | null;
  readonly maker: number;
  readonly taker: number;
  readonly precision: { readonly price: number; readonly amount: number };
  readonly limits: { readonly amount: { readonly min: number }; readonly leverage: { readonly min: number; readonly max: number } | null };
}

/** Free, reserved and total holdings of one currency. */
export interface BalanceEntry {
  readonly free: number;
  readonly used: number;
  readonly total: number;
}

/** CCXT's balance structure: per-currency entries plus `free`/`used`/`total` maps. */
export interface AccountBalance {
  readonly [currency: string]: unknown;
  readonly info: Record<string, unknown>;
  readonly timestamp: number;
  readonly datetime: string;
  readonly free: Readonly<Record<string, number>>;
  readonly used: Readonly<Record<string, number>>;
  readonly total: Readonly<Record<string, number>>;
}

/** A fee paid, in CCXT's layout. */
export interface FeePaid {
  readonly currency: string;
  readonly cost: number;
}

/** A trade (the account's own, or a public one) in CCXT's layout. */
export interface Trade {
  readonly info: Record<string, unknown>;
  readonly id: string;
  readonly order: string | null;
  readonly timestamp: number;
  readonly datetime: string;
  readonly symbol: string;
  readonly type: 'limit' | 'market' | null;
  readonly side: OrderSide;
  readonly takerOrMaker: 'taker' | 'maker' | null;
  readonly price: number;
  readonly amount: number;
  readonly cost: number;
  readonly fee: FeePaid | null;
}

/** An order in CCXT's layout. */
export interface Order {
  readonly info: Record<string, unknown>;
  readonly id: string;
  readonly clientOrderId: string | null;
  readonly timestamp: number;
  readonly datetime: string;
  readonly lastTradeTimestamp: number | null;
  readonly symbol: string;
  readonly type: 'limit' | 'market';
  readonly timeInForce: 'GTC' | 'IOC';
  readonly postOnly: boolean;
  readonly reduceOnly: boolean;
  readonly side: OrderSide;
  readonly price: number | null;
  readonly average: number | null;
  readonly amount: number;
  readonly filled: number;
  readonly remaining: number;
  readonly cost: number;
  readonly status: OrderStatus;
  readonly fee: FeePaid;
  readonly trades: readonly Trade[];
}

/** What to order. `price` is required for limit orders and ignored for market orders. */
export interface OrderRequest {
  readonly kind: MarketKind;
  readonly symbol: string;
  readonly type: 'limit' | 'market';
  readonly side: OrderSide;
  /** Amount in base currency (contracts of one base unit for futures). */
  readonly amount: number;
  readonly price?: number;
  readonly clientOrderId?: string;
}

/** An open futures position in CCXT's layout. */
export interface Position {
  readonly info: Record<string, unknown>;
  readonly id: string;
  readonly symbol: string;
  readonly timestamp: number;
  readonly datetime: string;
  readonly lastUpdateTimestamp: number;
  readonly side: 'long' | 'short';
  readonly contracts: number;
  readonly contractSize: number;
  readonly entryPrice: number;
  readonly markPrice: number;
  readonly notional: number;
  readonly leverage: number;
  readonly collateral: number;
  readonly initialMargin: number;
  readonly initialMarginPercentage: number;
  readonly maintenanceMargin: number;
  readonly maintenanceMarginPercentage: number;
  readonly unrealizedPnl: number;
  readonly realizedPnl: number;
  readonly liquidationPrice: number;
  readonly marginMode: 'isolated';
  readonly marginRatio: number;
  readonly percentage: number;
  readonly hedged: false;
}

/** Result of changing leverage. */
export interface LeverageChange {
  readonly info: Record<string, unknown>;
  /** The symbol asked for, or `null` when every futures market was changed. */
  readonly symbol: string | null;
  /** The futures markets whose leverage is now `leverage`. */
  readonly symbols: readonly string[];
  readonly leverage: number;
  readonly longLeverage: number;
  readonly shortLeverage: number;
  readonly marginMode: 'isolated';
}

/** A deposit address in CCXT's layout. */
export interface DepositAddress {
  readonly info: Record<string, unknown>;
  readonly currency: string;
  readonly network: string;
  readonly address: string;
  readonly tag: string | null;
}

/** A withdrawal in CCXT's transaction layout. */
export interface Withdrawal {
  readonly info: Record<string, unknown>;
  readonly id: string;
  readonly txid: string;
  readonly timestamp: number;
  readonly datetime: string;
  readonly network: string;
  readonly address: string;
  readonly addressTo: string;
  readonly addressFrom: null;
  readonly tag: string | null;
  readonly tagTo: string | null;
  readonly tagFrom: null;
  readonly type: 'withdrawal';
  readonly amount: number;
  readonly currency: string;
  readonly status: 'pending';
  readonly updated: null;
  readonly internal: false;
  readonly comment: null;
  readonly fee: FeePaid;
}

/** What to withdraw. `network` defaults to the currency's first network. */
export interface WithdrawalRequest {
  readonly code: string;
  readonly amount: number;
  readonly address: string;
  readonly tag?: string;
  readonly network?: string;
}

/** A ticker in CCXT's layout. Futures tickers add mark and index prices. */
export interface Ticker {
  readonly info: Record<string, unknown>;
  readonly symbol: string;
  readonly timestamp: number;
  readonly datetime: string;
  readonly high: number;
  readonly low: number;
  readonly bid: number;
  readonly bidVolume: number;
  readonly ask: number;
  readonly askVolume: number;
  readonly vwap: number;
  readonly open: number;
  readonly close: number;
  readonly last: number;
  readonly previousClose: null;
  readonly change: number;
  readonly percentage: number;
  readonly average: number;
  readonly baseVolume: number;
  readonly quoteVolume: number;
  readonly markPrice?: number;
  readonly indexPrice?: number;
}

/** An order book snapshot in CCXT's layout. */
export interface OrderBook {
  readonly symbol: string;
  readonly timestamp: number;
  readonly datetime: string;
  readonly nonce: null;
  readonly bids: readonly BookLevel[];
  readonly asks: readonly BookLevel[];
}

/** A funding rate in CCXT's layout. */
export interface FundingRate {
  readonly info: Record<string, unknown>;
  readonly symbol: string;
  readonly markPrice: number;
  readonly indexPrice: number;
  readonly interestRate: number;
  readonly estimatedSettlePrice: null;
  readonly timestamp: number;
  readonly datetime: string;
  readonly fundingRate: number;
  readonly fundingTimestamp: number;
  readonly fundingDatetime: string;
  readonly nextFundingRate: null;
  readonly nextFundingTimestamp: null;
  readonly nextFundingDatetime: null;
  readonly previousFundingRate: number;
  readonly previousFundingTimestamp: number;
  readonly previousFundingDatetime: string;
  readonly interval: '8h';
}

/** One point of a long/short account ratio history, in CCXT's layout. */
export interface LongShortRatio {
  readonly info: { readonly longAccount: number; readonly shortAccount: number };
  readonly symbol: string;
  readonly timestamp: number;
  readonly datetime: string;
  readonly timeframe: string;
  readonly longShortRatio: number;
}

/** Market data of an option contract in CCXT's layout, plus its greeks. */
export interface OptionContractData {
  readonly info: Record<string, unknown>;
  readonly currency: string;
  readonly symbol: string;
  readonly timestamp: number;
  readonly datetime: string;
  readonly underlying: string;
  readonly optionType: 'call' | 'put';
  readonly strike: number;
  readonly expiry: number;
  readonly expiryDatetime: string;
  readonly impliedVolatility: number;
  readonly openInterest: number;
  readonly bidPrice: number;
  readonly askPrice: number;
  readonly midPrice: number;
  readonly markPrice: number;
  readonly lastPrice: number;
  readonly underlyingPrice: number;
  readonly change: number;
  readonly percentage: number;
  readonly baseVolume: number;
  readonly quoteVolume: number;
  readonly greeks: { readonly delta: number; readonly gamma: number; readonly theta: number; readonly vega: number };
}

/** What to compute: the indicator over the last `ohlcvLimit` candles (default 50). */
export interface IndicatorRequest {
  readonly symbol: string;
  readonly timeframe: string;
  readonly indicator: IndicatorName;
  readonly ohlcvLimit?: number;
  /** Indicator parameters, e.g. `{ length: 14 }` for RSI; see the tool description. */
  readonly params?: Readonly<Record<string, unknown>>;
}

/** One output row of an indicator: the candle's time plus the indicator's values. */
export interface IndicatorPoint {
  readonly [field: string]: number | string | null;
  readonly timestamp: number;
  readonly datetime: string;
}

/** The result of `calculate_technical_indicator`. */
export interface IndicatorResult {
  readonly exchange_id: string;
  readonly symbol: string;
  readonly timeframe: Timeframe;
  readonly indicator_name: IndicatorName;
  readonly params_used: Readonly<Record<string, number | string>>;
  readonly data: readonly IndicatorPoint[];
}

/** Filters of order and trade history queries. */
export interface HistoryQuery {
  readonly symbol?: string;
  /** Only entries at or after this time (epoch milliseconds). */
  readonly since?: number;
  /** At most this many entries: the first ones after `since`, else the latest ones. */
  readonly limit?: number;
}

/** CCXT's `datetime` field: the ISO 8601 form of an epoch-milliseconds `timestamp`. */
export function isoDatetime(time: number): string {
  return new Date(time).toISOString();
}
