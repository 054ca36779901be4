import { createHash } from 'node:crypto';
import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { EPSILON, roundTo, tidy, truncateTo } from './decimal-rounding.js';
import { hashString, unitHash } from './deterministic-hash.js';
import { DemoExchangeError } from './exchange-error.js';
import {
  ADDRESS_PATTERNS,
  CURRENCIES,
  DEFAULT_EXCHANGES,
  DEFAULT_LEVERAGE,
  MAINTENANCE_MARGIN_RATE,
  QUOTE,
} from './exchange-seed.js';
import type { CurrencySpec, ExchangeSeed, NetworkSpec } from './exchange-seed.js';
import { BOOK_DEPTH, MarketCatalog } from './market-catalog.js';
import type { Market } from './market-catalog.js';
import { blackScholes, parseOptionSymbol } from './option-pricing.js';
import type { BookLevel, OhlcvRow } from './price-model.js';
import type {
  AccountBalance,
  BalanceEntry,
  DepositAddress,
  FundingRate,
  HistoryQuery,
  IndicatorPoint,
  IndicatorRequest,
  IndicatorResult,
  LeverageChange,
  LongShortRatio,
  MarketInfo,
  OptionContractData,
  Order,
  OrderBook,
  OrderRequest,
  OrderSide,
  OrderStatus,
  Position,
  Ticker,
  Trade,
  Withdrawal,
  WithdrawalRequest,
} from './ccxt-structures.js';
import { isoDatetime } from './ccxt-structures.js';
import { checkSince, clampLimit, pickPage } from './history-paging.js';
import { computeIndicator, resolveIndicatorParams } from './indicator-request.js';
import { TIMEFRAMES, bucketStart, isTimeframe, previousBucketStart } from './timeframe.js';
import type { Timeframe } from './timeframe.js';

/** How a demo exchange is set up. Everything is optional. */
export interface DemoExchangeOptions {
  /** Seed of every generated number: prices, book sizes, public trades, addresses. Default 1. */
  readonly seed?: number;
  /** Source of the current time. Default: the wall clock. */
  readonly clock?: Clock;
  /** The venues served, with their starting balances. Default {@link DEFAULT_EXCHANGES}. */
  readonly exchanges?: readonly ExchangeSeed[];
}

const MAX_OHLCV = 1000;
const MAX_TRADES = 1000;
const MAX_RATIOS = 500;
const MAX_INDICATOR_POINTS = 1000;
const FUNDING_INTERVAL_MS = 8 * 3_600_000;
const YEAR_MS = 365 * 86_400_000;
const LONG_SHORT_TIMEFRAMES: readonly Timeframe[] = ['5m', '15m', '30m', '1h', '2h', '4h', '6h', '12h', '1d'];

interface Holding {
  free: number;
  used: number;
}

interface OrderState {
  readonly id: string;
  readonly clientOrderId: string | null;
  readonly timestamp: number;
  readonly market: Market;
  readonly type: 'limit' | 'market';
  readonly side: OrderSide;
  readonly price: number | null;
  readonly amount: number;
  lastTradeTimestamp: number | null;
  filled: number;
  cost: number;
  fee: number;
  status: OrderStatus;
  /** What is still held in `used` for this order, in `reservedCurrency`. */
  reserved: number;
  readonly reservedCurrency: string;
  readonly trades: Trade[];
  cancelReason: string | null;
}

interface PositionState {
  readonly market: Market;
  side: 'long' | 'short';
  contracts: number;
  entryPrice: number;
  initialMargin: number;
  realizedPnl: number;
  readonly timestamp: number;
  lastUpdateTimestamp: number;
}

interface Venue {
  readonly seed: ExchangeSeed;
  readonly catalog: MarketCatalog;
  readonly holdings: Map<string, Holding>;
  readonly orders: Map<string, OrderState>;
  /** Open orders in placement order; the matcher walks them on every call. */
  open: OrderState[];
  readonly trades: Trade[];
  readonly positions: Map<string, PositionState>;
  readonly leverage: Map<string, number>;
  readonly withdrawals: Withdrawal[];
  nextOrder: number;
  nextTrade: number;
  nextWithdrawal: number;
}

interface Fill {
  readonly amount: number;
  readonly price: number;
}

interface Snapshot {
  readonly holdings: Map<string, Holding>;
  readonly position: PositionState | undefined;
  readonly symbol: string;
}

/** Creates a demo exchange: see {@link DemoExchange}. */
export function createDemoExchange(options: DemoExchangeOptions = {}): DemoExchange {
  return new DemoExchange(options);
}

/**
 * An in-memory crypto exchange serving several venues (`binance`, `kraken`, `coinbase` by
 * default), each with USDT-quoted spot markets for BTC, ETH and SOL and (where the venue
 * lists them) USDT-margined perpetual futures and options on them.
 *
 * Prices follow a deterministic path of the seed and the clock; market orders fill against
 * a generated order book and move balances; limit orders reserve funds, fill at once when
 * they cross the book and otherwise rest until the price reaches them or they are
 * canceled. Every method answers in CCXT's unified data layout and throws
 * {@link DemoExchangeError} on bad input, unknown venues, symbols and orders, and
 * insufficient funds. All state lives in this object; methods are synchronous, so every
 * call is atomic.
 *
 * @example
 * const exchange = createDemoExchange({ seed: 7, clock: manualClock('2025-01-01T00:00:00Z') });
 * exchange.createOrder('binance', { kind: 'spot', symbol: 'BTC/USDT', type: 'market', side: 'buy', amount: 0.1 });
 */
export class DemoExchange {
  private readonly seed: number;
  private readonly clock: Clock;
  private readonly venues = new Map<string, Venue>();

  /** @throws DemoExchangeError (`request.bad`) on a malformed venue list. */
  constructor(options: DemoExchangeOptions = {}) {
    const seed = options.seed ?? 1;
    if (!Number.isInteger(seed)) throw new DemoExchangeError('request.bad', `seed must be an integer, got ${seed}`);
    this.seed = seed >>> 0;
    this.clock = options.clock ?? systemClock;
    const seeds = options.exchanges ?? DEFAULT_EXCHANGES;
    if (seeds.length === 0) throw new DemoExchangeError('request.bad', 'at least one exchange must be configured');
    for (const venueSeed of seeds) {
      const id = venueSeed.id.toLowerCase();
      if (!/^[a-z0-9]+$/.test(id)) throw new DemoExchangeError('request.bad', `exchange id ${JSON.stringify(venueSeed.id)} must be letters and digits`);
      if (this.venues.has(id)) throw new DemoExchangeError('request.bad', `exchange ${id} is configured twice`);
      this.venues.set(id, this.buildVenue({ ...venueSeed, id }));
    }
  }

  /** The venue ids served, e.g. `['binance', 'kraken', 'coinbase']`. */
  exchangeIds(): string[] {
    return [...this.venues.keys()];
  }

  /** The markets listed on a venue. */
  listMarkets(exchangeId: string): MarketInfo[] {
    return this.venue(exchangeId).catalog.list();
  }

  /** The account's balances (`fetchBalance`). */
  fetchBalance(exchangeId: string): AccountBalance {
    const venue = this.venue(exchangeId);
    const now = this.clock.now();
    this.matchRestingOrders(venue, now);
    const free: Record<string, number> = {};
    const used: Record<string, number> = {};
    const total: Record<string, number> = {};
    const perCurrency: Record<string, BalanceEntry> = {};
    for (const [code, h] of venue.holdings) {
      free[code] = tidy(h.free);
      used[code] = tidy(h.used);
      total[code] = tidy(h.free + h.used);
      perCurrency[code] = { free: free[code], used: used[code], total: total[code] };
    }
    return { info: {}, timestamp: now, datetime: isoDatetime(now), ...perCurrency, free, used, total };
  }

  /** The deposit address of a currency on a network (`fetchDepositAddress`); stable for a seed. */
  fetchDepositAddress(exchangeId: string, code: string, network?: string): DepositAddress {
    const venue = this.venue(exchangeId);
    const currency = this.currency(venue, code);
    const net = this.network(venue, currency, network);
    return { info: {}, currency: currency.code, network: net.id, address: this.depositAddress(venue, currency, net), tag: null };
  }

  /**
   * Withdraws to an external address (`withdraw`): the amount plus the network fee leave
   * the free balance at once, and the withdrawal is reported `pending`.
   */
  withdraw(exchangeId: string, request: WithdrawalRequest): Withdrawal {
    const venue = this.venue(exchangeId);
    const now = this.clock.now();
    this.matchRestingOrders(venue, now);
    const currency = this.currency(venue, request.code);
    const net = this.network(venue, currency, request.network);
    const amount = request.amount;
    if (!Number.isFinite(amount) || amount <= 0) throw new DemoExchangeError('request.bad', `withdrawal amount must be a positive number, got ${amount}`);
    if (amount < net.withdrawMin) {
      throw new DemoExchangeError('request.bad', `withdrawal amount ${amount} ${currency.code} is below the minimum ${net.withdrawMin} ${currency.code} on network ${net.id}`);
    }
    const address = request.address.trim();
    if (!ADDRESS_PATTERNS[net.addressFormat].test(address)) {
      throw new DemoExchangeError('address.invalid', `${JSON.stringify(request.address)} is not a valid ${currency.code} address on network ${net.id} (${describeFormat(net)})`);
    }
    const holding = this.holding(venue, currency.code);
    const needed = tidy(amount + net.withdrawFee);
    if (needed > holding.free + EPSILON) {
      throw new DemoExchangeError(
        'funds.insufficient',
        `${venue.seed.id} account has insufficient balance for requested action: withdrawing ${amount} ${currency.code} plus the ${net.withdrawFee} ${currency.code} network fee needs ${needed} ${currency.code}, has ${tidy(holding.free)} ${currency.code} available`,
      );
    }
    holding.free = tidy(holding.free - needed);
    const id = String(venue.nextWithdrawal++);
    const digest = createHash('sha256').update(`${this.seed}|${venue.seed.id}|withdrawal|${id}`).digest('hex');
    const tag = request.tag ?? null;
    const withdrawal: Withdrawal = Object.freeze({
      info: {},
      id,
      txid: net.addressFormat === 'hex40' ? `0x${digest}` : digest,
      timestamp: now,
      datetime: isoDatetime(now),
      network: net.id,
      address,
      addressTo: address,
      addressFrom: null,
      tag,
      tagTo: tag,
      tagFrom: null,
      type: 'withdrawal',
      amount,
      currency: currency.code,
      status: 'pending',
      updated: null,
      internal: false,
      comment: null,
      fee: { currency: currency.code, cost: net.withdrawFee },
    });
    venue.withdrawals.push(withdrawal);
    return withdrawal;
  }

  /** The withdrawals made so far on a venue, oldest first (`fetchWithdrawals`). */
  fetchWithdrawals(exchangeId: string): Withdrawal[] {
    return [...this.venue(exchangeId).withdrawals];
  }

  /** Open futures positions (`fetchPositions`). */
  fetchPositions(exchangeId: string): Position[] {
    const venue = this.venue(exchangeId);
    venue.catalog.requireFutures();
    const now = this.clock.now();
    this.matchRestingOrders(venue, now);
    return [...venue.positions.values()].map((p) => this.positionView(venue, p, now));
  }

  /**
   * Sets the leverage of one futures market, or of all of them when `symbol` is omitted
   * (`setLeverage`). An open position's margin is adjusted to the new leverage; markets
   * with open orders keep their leverage until those orders are canceled.
   */
  setLeverage(exchangeId: string, leverage: number, symbol?: string): LeverageChange {
    const venue = this.venue(exchangeId);
    venue.catalog.requireFutures();
    const now = this.clock.now();
    this.matchRestingOrders(venue, now);
    if (!Number.isInteger(leverage) || leverage < 1) throw new DemoExchangeError('request.bad', `leverage must be a positive integer, got ${leverage}`);
    const markets = symbol === undefined ? venue.catalog.futuresMarkets() : [venue.catalog.resolve(symbol, 'futures')];
    let extraMargin = 0;
    for (const m of markets) {
      if (leverage > m.asset.maxLeverage) {
        throw new DemoExchangeError('request.bad', `leverage ${leverage} exceeds the maximum ${m.asset.maxLeverage} of ${m.symbol} on ${venue.seed.id}`);
      }
      const blocking = venue.open.filter((o) => o.market === m).map((o) => o.id);
      if (blocking.length > 0 && venue.leverage.get(m.symbol) !== leverage) {
        throw new DemoExchangeError('request.bad', `cannot change the leverage of ${m.symbol} on ${venue.seed.id} while it has open orders (${blocking.join(', ')}); cancel them first`);
      }
      const position = venue.positions.get(m.symbol);
      if (position) extraMargin += (position.contracts * position.entryPrice) / leverage - position.initialMargin;
    }
    const usdt = this.holding(venue, QUOTE);
    if (extraMargin > usdt.free + EPSILON) {
      throw new DemoExchangeError(
        'funds.insufficient',
        `${venue.seed.id} account has insufficient balance for requested action: leverage ${leverage} needs ${tidy(extraMargin)} ${QUOTE} more margin, has ${tidy(usdt.free)} ${QUOTE} available`,
      );
    }
    for (const m of markets) {
      venue.leverage.set(m.symbol, leverage);
      const position = venue.positions.get(m.symbol);
      if (position) {
        const margin = (position.contracts * position.entryPrice) / leverage;
        usdt.free = tidy(usdt.free - (margin - position.initialMargin));
        usdt.used = tidy(usdt.used + (margin - position.initialMargin));
        position.initialMargin = margin;
        position.lastUpdateTimestamp = now;
      }
    }
    return {
      info: {},
      symbol: symbol === undefined ? null : (markets[0]?.symbol ?? null),
      symbols: markets.map((m) => m.symbol),
      leverage,
      longLeverage: leverage,
      shortLeverage: leverage,
      marginMode: 'isolated',
    };
  }

  /**
   * Candles (`fetchOHLCV`): `limit` (default 100, at most 1000) from `since`, or the latest
   * ones, the last of which may still be open.
   */
  fetchOhlcv(exchangeId: string, symbol: string, timeframe: string, since?: number, limit?: number): OhlcvRow[] {
    const venue = this.venue(exchangeId);
    const market = venue.catalog.resolve(symbol, 'any');
    const tf = this.timeframe(venue, timeframe, TIMEFRAMES);
    const count = clampLimit(limit, 100, MAX_OHLCV, 'limit');
    checkSince(since);
    return market.model.candles(tf, since, count, this.clock.now(), market.futures);
  }

  /** The current and previous funding rate of a perpetual future (`fetchFundingRate`). */
  fetchFundingRate(exchangeId: string, symbol: string): FundingRate {
    const venue = this.venue(exchangeId);
    const market = venue.catalog.resolve(symbol, 'futures');
    const now = this.clock.now();
    const period = Math.floor(now / FUNDING_INTERVAL_MS);
    const key = hashString(`${venue.seed.id}|${market.symbol}|funding`);
    const rate = (p: number) => roundTo(0.0001 + (unitHash(this.seed, key, p) - 0.4) * 0.0004, 8);
    const decimals = market.asset.priceDecimals;
    const next = (period + 1) * FUNDING_INTERVAL_MS;
    const previous = period * FUNDING_INTERVAL_MS;
    return {
      info: {},
      symbol: market.symbol,
      markPrice: roundTo(market.model.mark(now), decimals),
      indexPrice: roundTo(market.model.spot(now), decimals),
      interestRate: 0.0001,
      estimatedSettlePrice: null,
      timestamp: now,
      datetime: isoDatetime(now),
      fundingRate: rate(period),
      fundingTimestamp: next,
      fundingDatetime: isoDatetime(next),
      nextFundingRate: null,
      nextFundingTimestamp: null,
      nextFundingDatetime: null,
      previousFundingRate: rate(period - 1),
      previousFundingTimestamp: previous,
      previousFundingDatetime: isoDatetime(previous),
      interval: '8h',
    };
  }

  /**
   * Long/short account ratio history of a perpetual future (`fetchLongShortRatioHistory`):
   * `limit` points (default 30, at most 500), oldest first, the last at the current period.
   */
  fetchLongShortRatio(exchangeId: string, symbol: string, timeframe: string, limit?: number): LongShortRatio[] {
    const venue = this.venue(exchangeId);
    const market = venue.catalog.resolve(symbol, 'futures');
    const tf = this.timeframe(venue, timeframe, LONG_SHORT_TIMEFRAMES);
    const count = clampLimit(limit, 30, MAX_RATIOS, 'limit');
    const now = this.clock.now();
    const key = hashString(`${venue.seed.id}|${market.symbol}|longshort`);
    const phase = 2 * Math.PI * unitHash(this.seed, key, 0);
    const out: LongShortRatio[] = [];
    let t = bucketStart(tf, now);
    for (let i = 0; i < count; i++) {
      const swing = 0.35 * Math.sin((2 * Math.PI * t) / (3 * 86_400_000) + phase) + 0.16 * (unitHash(this.seed, key, t) - 0.5);
      const ratio = roundTo(Math.exp(swing), 4);
      const longAccount = roundTo(ratio / (1 + ratio), 4);
      out.push({
        info: { longAccount, shortAccount: roundTo(1 - longAccount, 4) },
        symbol: market.symbol,
        timestamp: t,
        datetime: isoDatetime(t),
        timeframe: tf,
        longShortRatio: ratio,
      });
      t = previousBucketStart(tf, t);
    }
    return out.reverse();
  }

  /**
   * Market data of an option on a venue's perpetual future (`fetchOption`), priced with
   * Black-Scholes from the underlying's price and a volatility smile. Any strike and any
   * future expiry in CCXT notation is quoted, e.g. `BTC/USDT:USDT-251226-70000-C`.
   */
  fetchOption(exchangeId: string, symbol: string): OptionContractData {
    const venue = this.venue(exchangeId);
    venue.catalog.requireFutures();
    const contract = parseOptionSymbol(symbol.trim().toUpperCase());
    if (!contract) {
      throw new DemoExchangeError(
        'symbol.bad',
        `${venue.seed.id} does not have option ${JSON.stringify(symbol)}; option symbols look like BTC/USDT:USDT-YYMMDD-STRIKE-C (or -P)`,
      );
    }
    const underlying = `${contract.base}/${contract.quote}:${contract.settle}`;
    const market = venue.catalog.find(underlying);
    if (!market) throw new DemoExchangeError('symbol.bad', `${venue.seed.id} has no options on ${underlying}: it lists no such perpetual future`);
    const now = this.clock.now();
    if (contract.expiry <= now) throw new DemoExchangeError('symbol.bad', `option ${contract.symbol} expired at ${isoDatetime(contract.expiry)}`);
    const years = (contract.expiry - now) / YEAR_MS;
    const spot = market.model.mark(now);
    const moneyness = Math.log(contract.strike / spot);
    // Calls and puts of one strike and expiry share their volatility, as put-call parity requires.
    const key = hashString(`${venue.seed.id}|${contract.symbol.slice(0, -2)}`);
    const day = Math.floor(now / 86_400_000);
    const iv = market.asset.impliedVolatility * (1 + 0.05 * (unitHash(this.seed, key, day) - 0.5)) + 0.25 * moneyness * moneyness;
    const value = blackScholes(spot, contract.strike, years, iv, contract.optionType);
    const yesterday = blackScholes(market.model.mark(now - 86_400_000), contract.strike, years + 1 / 365, iv, contract.optionType);
    const mark = roundTo(value.price, 2);
    const halfSpread = Math.max(0.05, mark * 0.015);
    const bid = roundTo(Math.max(0, mark - halfSpread), 2);
    const ask = roundTo(mark + halfSpread, 2);
    const last = roundTo(mark * (1 + 0.01 * (unitHash(this.seed, key, day, 1) - 0.5)), 2);
    const change = roundTo(last - yesterday.price, 2);
    const baseVolume = roundTo(50 * unitHash(this.seed, key, day, 2) * Math.exp(-4 * moneyness * moneyness), 2);
    return {
      info: {},
      currency: contract.settle,
      symbol: contract.symbol,
      timestamp: now,
      datetime: isoDatetime(now),
      underlying,
      optionType: contract.optionType,
      strike: contract.strike,
      expiry: contract.expiry,
      expiryDatetime: isoDatetime(contract.expiry),
      impliedVolatility: roundTo(iv, 4),
      openInterest: roundTo(500 * unitHash(this.seed, key, 3) * Math.exp(-2 * moneyness * moneyness), 2),
      bidPrice: bid,
      askPrice: ask,
      midPrice: roundTo((bid + ask) / 2, 2),
      markPrice: mark,
      lastPrice: last,
      underlyingPrice: roundTo(spot, market.asset.priceDecimals),
      change,
      percentage: yesterday.price > 0 ? roundTo((100 * change) / yesterday.price, 4) : 0,
      baseVolume,
      quoteVolume: roundTo(baseVolume * mark, 2),
      greeks: { delta: roundTo(value.delta, 6), gamma: roundTo(value.gamma, 10), theta: roundTo(value.theta, 6), vega: roundTo(value.vega, 6) },
    };
  }

  /** The ticker of a spot or futures market, with rolling 24-hour statistics (`fetchTicker`). */
  fetchTicker(exchangeId: string, symbol: string): Ticker {
    const venue = this.venue(exchangeId);
    const market = venue.catalog.resolve(symbol, 'any');
    const now = this.clock.now();
    const decimals = market.asset.priceDecimals;
    const dayAgo = now - 86_400_000;
    const candles = market.model.candles('1h', bucketStart('1h', dayAgo), 26, now, market.futures);
    let high = -Infinity;
    let low = Infinity;
    let baseVolume = 0;
    let quoteVolume = 0;
    for (const [, , h, l, c, v] of candles) {
      high = Math.max(high, h);
      low = Math.min(low, l);
      baseVolume += v;
      quoteVolume += (v * (h + l + c)) / 3;
    }
    const book = market.model.book(now, market.futures, 1);
    const [bid, bidVolume] = book.bids[0] ?? [0, 0];
    const [ask, askVolume] = book.asks[0] ?? [0, 0];
    const open = roundTo(market.model.price(dayAgo, market.futures), decimals);
    const last = roundTo(market.model.price(now, market.futures), decimals);
    const ticker: Ticker = {
      info: {},
      symbol: market.symbol,
      timestamp: now,
      datetime: isoDatetime(now),
      high: Math.max(high, last),
      low: Math.min(low, last),
      bid,
      bidVolume,
      ask,
      askVolume,
      vwap: baseVolume > 0 ? roundTo(quoteVolume / baseVolume, decimals) : last,
      open,
      close: last,
      last,
      previousClose: null,
      change: roundTo(last - open, decimals),
      percentage: roundTo((100 * (last - open)) / open, 4),
      average: roundTo((open + last) / 2, decimals),
      baseVolume: roundTo(baseVolume, market.asset.amountDecimals),
      quoteVolume: roundTo(quoteVolume, 2),
    };
    if (!market.futures) return ticker;
    return { ...ticker, markPrice: last, indexPrice: roundTo(market.model.spot(now), decimals) };
  }

  /** The order book of a market (`fetchOrderBook`), `depth` levels a side (default and most 25). */
  fetchOrderBook(exchangeId: string, symbol: string, depth = BOOK_DEPTH): OrderBook {
    const venue = this.venue(exchangeId);
    const market = venue.catalog.resolve(symbol, 'any');
    const now = this.clock.now();
    const book = market.model.book(now, market.futures, clampLimit(depth, BOOK_DEPTH, BOOK_DEPTH, 'depth'));
    return { symbol: market.symbol, timestamp: now, datetime: isoDatetime(now), nonce: null, bids: book.bids, asks: book.asks };
  }

  /**
   * Recent trades of a market (`fetchTrades`): other participants' generated trades merged
   * with this account's own fills; `limit` (default 50, at most 1000), oldest first.
   */
  fetchTrades(exchangeId: string, symbol: string, since?: number, limit?: number): Trade[] {
    const venue = this.venue(exchangeId);
    const market = venue.catalog.resolve(symbol, 'any');
    const count = clampLimit(limit, 50, MAX_TRADES, 'limit');
    checkSince(since);
    const now = this.clock.now();
    this.matchRestingOrders(venue, now);
    const generated: Trade[] = market.model.publicTrades(since, count, now, market.futures).map((t) => ({
      info: {},
      id: `p${t.id}`,
      order: null,
      timestamp: t.timestamp,
      datetime: isoDatetime(t.timestamp),
      symbol: market.symbol,
      type: null,
      side: t.side,
      takerOrMaker: null,
      price: t.price,
      amount: t.amount,
      cost: tidy(t.price * t.amount),
      fee: null,
    }));
    const own = venue.trades
      .filter((t) => t.symbol === market.symbol && (since === undefined || t.timestamp >= since))
      .map((t) => ({ ...t, order: null, type: null, takerOrMaker: null, fee: null, info: {} }));
    return pickPage([...generated, ...own].sort((a, b) => a.timestamp - b.timestamp), since, count);
  }

  /**
   * Places an order (`createOrder`). Market orders fill at once against the book or are
   * refused; limit orders reserve their funds (spot buys: cost plus fee in the quote
   * currency; spot sells: the amount; futures: margin plus fee in USDT), fill what
   * crosses the book and rest with the remainder. Amounts are truncated and limit prices
   * rounded to the market's precision.
   */
  createOrder(exchangeId: string, request: OrderRequest): Order {
    const venue = this.venue(exchangeId);
    const now = this.clock.now();
    this.matchRestingOrders(venue, now);
    const market = venue.catalog.resolve(request.symbol, request.kind);
    if (request.side !== 'buy' && request.side !== 'sell') {
      throw new DemoExchangeError('order.invalid', `side must be "buy" or "sell", got ${JSON.stringify(request.side)}`);
    }
    if (!Number.isFinite(request.amount) || request.amount <= 0) {
      throw new DemoExchangeError('order.invalid', `amount must be a positive number, got ${request.amount}`);
    }
    const amount = truncateTo(request.amount, market.asset.amountDecimals);
    if (amount < market.asset.minAmount) {
      throw new DemoExchangeError('order.invalid', `amount ${request.amount} ${market.base} is below the minimum ${market.asset.minAmount} ${market.base} of ${market.symbol} on ${venue.seed.id}`);
    }
    let price: number | null = null;
    if (request.type === 'limit') {
      if (request.price === undefined || !Number.isFinite(request.price) || request.price <= 0) {
        throw new DemoExchangeError('order.invalid', `a limit order needs a positive price, got ${request.price}`);
      }
      price = roundTo(request.price, market.asset.priceDecimals);
      if (price <= 0) throw new DemoExchangeError('order.invalid', `price ${request.price} rounds to 0 at the ${market.symbol} tick size`);
    }
    const book = market.model.book(now, market.futures, BOOK_DEPTH);
    const levels = request.side === 'buy' ? book.asks : book.bids;
    const fills = walkBook(levels, amount, request.side, price);
    if (request.type === 'market') {
      const available = fills.reduce((s, f) => s + f.amount, 0);
      if (available + EPSILON < amount) {
        throw new DemoExchangeError(
          'order.invalid',
          `market order of ${amount} ${market.base} exceeds the liquidity of the ${market.symbol} order book on ${venue.seed.id} (${truncateTo(available, market.asset.amountDecimals)} ${market.base} within ${BOOK_DEPTH} levels)`,
        );
      }
    }
    const leverage = venue.leverage.get(market.symbol) ?? DEFAULT_LEVERAGE;
    const reservedCurrency = market.futures || request.side === 'buy' ? market.quote : market.base;
    const reserve =
      price === null ? 0 : market.futures ? (amount * price) / leverage + amount * price * market.fees.taker : request.side === 'buy' ? amount * price * (1 + market.fees.taker) : amount;
    const order: OrderState = {
      id: String(venue.nextOrder),
      clientOrderId: request.clientOrderId ?? null,
      timestamp: now,
      market,
      type: request.type,
      side: request.side,
      price,
      amount,
      lastTradeTimestamp: null,
      filled: 0,
      cost: 0,
      fee: 0,
      status: 'open',
      reserved: tidy(reserve),
      reservedCurrency,
      trades: [],
      cancelReason: null,
    };
    const snapshot = this.snapshot(venue, market);
    const holding = this.holding(venue, reservedCurrency);
    holding.free = tidy(holding.free - order.reserved);
    holding.used = tidy(holding.used + order.reserved);
    const executed: { fill: Fill; fee: number }[] = [];
    try {
      for (const fill of fills) executed.push({ fill, fee: this.applyFill(venue, order, fill, 'taker', leverage) });
      this.assertSolvent(venue, snapshot);
    } catch (error) {
      this.restore(venue, snapshot);
      throw error;
    }
    venue.nextOrder++;
    venue.orders.set(order.id, order);
    for (const { fill, fee } of executed) this.recordTrade(venue, order, fill, fee, 'taker', now);
    if (order.status === 'open') venue.open.push(order);
    return this.orderView(order);
  }

  /** Cancels an open order (`cancelOrder`) and releases what it reserved. */
  cancelOrder(exchangeId: string, id: string, symbol?: string): Order {
    const venue = this.venue(exchangeId);
    const now = this.clock.now();
    this.matchRestingOrders(venue, now);
    const order = venue.orders.get(id.trim());
    if (symbol !== undefined) {
      const market = venue.catalog.resolve(symbol, 'any');
      if (!order || order.market !== market) {
        throw new DemoExchangeError('order.not_found', `${venue.seed.id} has no order ${JSON.stringify(id)} on ${market.symbol}`);
      }
    }
    if (!order) throw new DemoExchangeError('order.not_found', `${venue.seed.id} has no order ${JSON.stringify(id)}`);
    if (order.status !== 'open') {
      throw new DemoExchangeError('order.not_found', `${venue.seed.id} has no open order ${order.id}: it is already ${order.status}${order.status === 'closed' ? ' (filled)' : ''}`);
    }
    this.releaseReservation(venue, order);
    order.status = 'canceled';
    order.cancelReason = 'canceled by user';
    venue.open = venue.open.filter((o) => o !== order);
    return this.orderView(order);
  }

  /** Orders of the account, open and past (`fetchOrders`), oldest first. */
  fetchOrders(exchangeId: string, query: HistoryQuery = {}): Order[] {
    const venue = this.venue(exchangeId);
    this.matchRestingOrders(venue, this.clock.now());
    const market = query.symbol === undefined ? undefined : venue.catalog.resolve(query.symbol, 'any');
    checkSince(query.since);
    const limit = query.limit === undefined ? undefined : clampLimit(query.limit, 1, Number.MAX_SAFE_INTEGER, 'limit');
    const orders = [...venue.orders.values()].filter((o) => (market === undefined || o.market === market) && (query.since === undefined || o.timestamp >= query.since));
    return pickPage(orders, query.since, limit).map((o) => this.orderView(o));
  }

  /** The account's own trades (`fetchMyTrades`), oldest first. */
  fetchMyTrades(exchangeId: string, query: HistoryQuery = {}): Trade[] {
    const venue = this.venue(exchangeId);
    this.matchRestingOrders(venue, this.clock.now());
    const market = query.symbol === undefined ? undefined : venue.catalog.resolve(query.symbol, 'any');
    checkSince(query.since);
    const limit = query.limit === undefined ? undefined : clampLimit(query.limit, 1, Number.MAX_SAFE_INTEGER, 'limit');
    const trades = venue.trades.filter((t) => (market === undefined || t.symbol === market.symbol) && (query.since === undefined || t.timestamp >= query.since));
    return pickPage(trades, query.since, limit);
  }

  /**
   * Computes a technical indicator over the venue's candles: the last `ohlcvLimit`
   * (default 50, at most 1000) values, each with its candle's time.
   */
  calculateIndicator(exchangeId: string, request: IndicatorRequest): IndicatorResult {
    const venue = this.venue(exchangeId);
    const market = venue.catalog.resolve(request.symbol, 'any');
    const tf = this.timeframe(venue, request.timeframe, TIMEFRAMES);
    const spec = resolveIndicatorParams(request.indicator, request.params ?? {});
    const points = clampLimit(request.ohlcvLimit ?? spec.ohlcvLimit, 50, MAX_INDICATOR_POINTS, 'ohlcv_limit');
    const candles = market.model.candles(tf, undefined, points + spec.warmup + 100, this.clock.now(), market.futures);
    const columns = computeIndicator(request.indicator, spec, candles);
    const names = Object.keys(columns);
    const data: IndicatorPoint[] = [];
    for (let i = 0; i < candles.length; i++) {
      const row: Record<string, number | string | null> = {};
      let complete = true;
      for (const name of names) {
        const v = columns[name]?.[i] ?? null;
        if (v === null) complete = false;
        row[name] = v;
      }
      if (!complete) continue;
      const ts = candles[i]?.[0] ?? 0;
      data.push({ timestamp: ts, datetime: isoDatetime(ts), ...row });
    }
    return {
      exchange_id: venue.seed.id,
      symbol: market.symbol,
      timeframe: tf,
      indicator_name: request.indicator,
      params_used: { ...spec.used, ohlcv_limit: points },
      data: data.slice(-points),
    };
  }

  // ---------------------------------------------------------------------------------
  // Internals

  private buildVenue(seed: ExchangeSeed): Venue {
    const catalog = new MarketCatalog(this.seed, seed);
    const holdings = new Map<string, Holding>();
    for (const currency of CURRENCIES) holdings.set(currency.code, { free: 0, used: 0 });
    for (const [code, amount] of Object.entries(seed.balances)) {
      const holding = holdings.get(code.toUpperCase());
      if (!holding) throw new DemoExchangeError('request.bad', `exchange ${seed.id}: unknown currency ${code} in balances (known: ${CURRENCIES.map((c) => c.code).join(', ')})`);
      if (!Number.isFinite(amount) || amount < 0) throw new DemoExchangeError('request.bad', `exchange ${seed.id}: balance of ${code} must be a non-negative number, got ${amount}`);
      holding.free = amount;
    }
    const leverage = new Map<string, number>();
    for (const m of catalog.futuresMarkets()) leverage.set(m.symbol, DEFAULT_LEVERAGE);
    // Ids start at a venue-specific number, as real exchanges' ids never look alike.
    const base = 1_000_000 + Math.floor(unitHash(this.seed, hashString(seed.id), 7) * 8_000_000);
    return {
      seed,
      catalog,
      holdings,
      orders: new Map(),
      open: [],
      trades: [],
      positions: new Map(),
      leverage,
      withdrawals: [],
      nextOrder: base,
      nextTrade: base * 3,
      nextWithdrawal: base + 500_000,
    };
  }

  private venue(exchangeId: string): Venue {
    const venue = this.venues.get(exchangeId.trim().toLowerCase());
    if (!venue) {
      throw new DemoExchangeError('exchange.not_found', `exchange ${JSON.stringify(exchangeId)} is not available (available: ${this.exchangeIds().join(', ')})`);
    }
    return venue;
  }

  private timeframe(venue: Venue, timeframe: string, allowed: readonly Timeframe[]): Timeframe {
    if (isTimeframe(timeframe) && allowed.includes(timeframe)) return timeframe;
    throw new DemoExchangeError('request.bad', `timeframe ${JSON.stringify(timeframe)} is not supported by ${venue.seed.id} here; supported: ${allowed.join(', ')}`);
  }

  private currency(venue: Venue, code: string): CurrencySpec {
    const upper = code.trim().toUpperCase();
    const currency = CURRENCIES.find((c) => c.code === upper);
    if (!currency) {
      throw new DemoExchangeError('request.bad', `${venue.seed.id} does not have currency ${JSON.stringify(code)} (currencies: ${CURRENCIES.map((c) => c.code).join(', ')})`);
    }
    return currency;
  }

  private network(venue: Venue, currency: CurrencySpec, network: string | undefined): NetworkSpec {
    if (network === undefined) {
      const first = currency.networks[0];
      if (!first) throw new DemoExchangeError('request.bad', `${currency.code} has no networks on ${venue.seed.id}`);
      return first;
    }
    const found = currency.networks.find((n) => n.id === network.trim().toUpperCase());
    if (!found) {
      throw new DemoExchangeError('request.bad', `${venue.seed.id} does not support network ${JSON.stringify(network)} for ${currency.code} (networks: ${currency.networks.map((n) => n.id).join(', ')})`);
    }
    return found;
  }

  private holding(venue: Venue, code: string): Holding {
    let holding = venue.holdings.get(code);
    if (!holding) {
      holding = { free: 0, used: 0 };
      venue.holdings.set(code, holding);
    }
    return holding;
  }

  private depositAddress(venue: Venue, currency: CurrencySpec, network: NetworkSpec): string {
    const bytes = createHash('sha512').update(`${this.seed}|${venue.seed.id}|${currency.code}|${network.id}|deposit`).digest();
    const pickChars = (alphabet: string, count: number, offset = 0) => {
      let out = '';
      for (let i = 0; i < count; i++) out += alphabet[(bytes[(i + offset) % bytes.length] ?? 0) % alphabet.length];
      return out;
    };
    const base58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
    switch (network.addressFormat) {
      case 'bech32':
        return `bc1q${pickChars('qpzry9x8gf2tvdw0s3jn54khce6mua7l', 38)}`;
      case 'hex40':
        return `0x${bytes.subarray(0, 20).toString('hex')}`;
      case 'tron':
        return `T${pickChars(base58, 33)}`;
      case 'base58':
        return pickChars(base58, 44);
    }
  }

  /** Fills resting limit orders the market has traded through since they were placed, at their limit price. */
  private matchRestingOrders(venue: Venue, now: number): void {
    if (venue.open.length === 0) return;
    let changed = false;
    for (const order of venue.open) {
      const price = order.price;
      // The book an order was placed against has already been taken from; only a later
      // market that trades through the limit price fills it.
      if (price === null || now <= order.timestamp) continue;
      const top = order.market.model.topOfBook(now, order.market.futures);
      const crosses = order.side === 'buy' ? top.ask < price : top.bid > price;
      if (!crosses) continue;
      changed = true;
      const fill: Fill = { amount: tidy(order.amount - order.filled), price };
      const snapshot = this.snapshot(venue, order.market);
      const before = { filled: order.filled, cost: order.cost, fee: order.fee, status: order.status, reserved: order.reserved };
      try {
        const fee = this.applyFill(venue, order, fill, 'maker', venue.leverage.get(order.market.symbol) ?? DEFAULT_LEVERAGE);
        this.assertSolvent(venue, snapshot);
        this.recordTrade(venue, order, fill, fee, 'maker', now);
      } catch (error) {
        if (!(error instanceof DemoExchangeError) || error.code !== 'funds.insufficient') throw error;
        // Only a futures fill whose realised loss exceeds the account's margin lands here;
        // the exchange cancels the order instead of leaving the account negative.
        this.restore(venue, snapshot);
        Object.assign(order, before);
        this.releaseReservation(venue, order);
        order.status = 'canceled';
        order.cancelReason = 'insufficient margin when the price reached the order';
      }
    }
    if (changed) venue.open = venue.open.filter((o) => o.status === 'open');
  }

  /** Moves balances (and the futures position) for one fill; returns the fee charged. */
  private applyFill(venue: Venue, order: OrderState, fill: Fill, role: 'taker' | 'maker', leverage: number): number {
    const market = order.market;
    const remainingBefore = order.amount - order.filled;
    if (order.reserved > 0) {
      // Release the reservation in proportion to the part of the order that fills.
      const share = fill.amount >= remainingBefore - EPSILON ? order.reserved : (order.reserved * fill.amount) / remainingBefore;
      const held = this.holding(venue, order.reservedCurrency);
      held.used -= share;
      held.free += share;
      order.reserved = tidy(order.reserved - share);
    }
    const notional = fill.amount * fill.price;
    const fee = notional * market.fees[role];
    const quote = this.holding(venue, market.quote);
    if (!market.futures) {
      const base = this.holding(venue, market.base);
      if (order.side === 'buy') {
        quote.free -= notional + fee;
        base.free += fill.amount;
      } else {
        base.free -= fill.amount;
        quote.free += notional - fee;
      }
    } else {
      quote.free -= fee;
      this.applyPositionFill(venue, market, order.side, fill, leverage, quote);
    }
    order.filled = tidy(order.filled + fill.amount);
    order.cost = tidy(order.cost + notional);
    order.fee = tidy(order.fee + fee);
    if (order.filled >= order.amount - EPSILON) {
      order.status = 'closed';
      if (order.reserved !== 0) this.releaseReservation(venue, order);
    }
    for (const h of venue.holdings.values()) {
      h.free = tidy(h.free);
      h.used = tidy(h.used);
    }
    return fee;
  }

  private applyPositionFill(venue: Venue, market: Market, side: OrderSide, fill: Fill, leverage: number, usdt: Holding): void {
    const direction = side === 'buy' ? 'long' : 'short';
    let remaining = fill.amount;
    const position = venue.positions.get(market.symbol);
    const now = this.clock.now();
    if (position && position.side !== direction) {
      const closing = Math.min(remaining, position.contracts);
      const pnl = closing * (fill.price - position.entryPrice) * (position.side === 'long' ? 1 : -1);
      const released = (position.initialMargin * closing) / position.contracts;
      usdt.used -= released;
      usdt.free += released + pnl;
      position.contracts = tidy(position.contracts - closing);
      position.initialMargin -= released;
      position.realizedPnl += pnl;
      position.lastUpdateTimestamp = now;
      remaining = tidy(remaining - closing);
      if (position.contracts <= EPSILON) venue.positions.delete(market.symbol);
    }
    if (remaining <= EPSILON) return;
    const margin = (remaining * fill.price) / leverage;
    usdt.free -= margin;
    usdt.used += margin;
    const current = venue.positions.get(market.symbol);
    if (current) {
      current.entryPrice = (current.contracts * current.entryPrice + remaining * fill.price) / (current.contracts + remaining);
      current.contracts = tidy(current.contracts + remaining);
      current.initialMargin += margin;
      current.lastUpdateTimestamp = now;
    } else {
      venue.positions.set(market.symbol, {
        market,
        side: direction,
        contracts: remaining,
        entryPrice: fill.price,
        initialMargin: margin,
        realizedPnl: 0,
        timestamp: now,
        lastUpdateTimestamp: now,
      });
    }
  }

  private releaseReservation(venue: Venue, order: OrderState): void {
    if (order.reserved === 0) return;
    const held = this.holding(venue, order.reservedCurrency);
    held.used = tidy(held.used - order.reserved);
    held.free = tidy(held.free + order.reserved);
    order.reserved = 0;
  }

  private snapshot(venue: Venue, market: Market): Snapshot {
    const holdings = new Map<string, Holding>();
    for (const [code, h] of venue.holdings) holdings.set(code, { ...h });
    const position = venue.positions.get(market.symbol);
    return { holdings, position: position ? { ...position } : undefined, symbol: market.symbol };
  }

  private restore(venue: Venue, snapshot: Snapshot): void {
    for (const [code, h] of snapshot.holdings) {
      const live = this.holding(venue, code);
      live.free = h.free;
      live.used = h.used;
    }
    if (snapshot.position) venue.positions.set(snapshot.symbol, snapshot.position);
    else venue.positions.delete(snapshot.symbol);
  }

  private assertSolvent(venue: Venue, snapshot: Snapshot): void {
    for (const [code, h] of venue.holdings) {
      if (h.free >= -1e-9) continue;
      const before = snapshot.holdings.get(code)?.free ?? 0;
      throw new DemoExchangeError(
        'funds.insufficient',
        `${venue.seed.id} account has insufficient balance for requested action: needs ${tidy(before - h.free)} ${code}, has ${tidy(before)} ${code} available`,
      );
    }
  }

  private recordTrade(venue: Venue, order: OrderState, fill: Fill, fee: number, role: 'taker' | 'maker', now: number): void {
    const trade: Trade = Object.freeze({
      info: {},
      id: String(venue.nextTrade++),
      order: order.id,
      timestamp: now,
      datetime: isoDatetime(now),
      symbol: order.market.symbol,
      type: order.type,
      side: order.side,
      takerOrMaker: role,
      price: fill.price,
      amount: fill.amount,
      cost: tidy(fill.amount * fill.price),
      fee: Object.freeze({ currency: order.market.quote, cost: tidy(fee) }),
    });
    order.trades.push(trade);
    order.lastTradeTimestamp = now;
    venue.trades.push(trade);
  }

  private orderView(order: OrderState): Order {
    const info: Record<string, unknown> = {};
    if (order.cancelReason !== null) info.cancelReason = order.cancelReason;
    return {
      info,
      id: order.id,
      clientOrderId: order.clientOrderId,
      timestamp: order.timestamp,
      datetime: isoDatetime(order.timestamp),
      lastTradeTimestamp: order.lastTradeTimestamp,
      symbol: order.market.symbol,
      type: order.type,
      timeInForce: order.type === 'market' ? 'IOC' : 'GTC',
      postOnly: false,
      reduceOnly: false,
      side: order.side,
      price: order.price,
      average: order.filled > 0 ? roundTo(order.cost / order.filled, order.market.asset.priceDecimals + 4) : null,
      amount: order.amount,
      filled: order.filled,
      remaining: tidy(order.amount - order.filled),
      cost: order.cost,
      status: order.status,
      fee: { currency: order.market.quote, cost: order.fee },
      trades: [...order.trades],
    };
  }

  private positionView(venue: Venue, p: PositionState, now: number): Position {
    const decimals = p.market.asset.priceDecimals;
    const mark = roundTo(p.market.model.mark(now), decimals);
    const sign = p.side === 'long' ? 1 : -1;
    const leverage = venue.leverage.get(p.market.symbol) ?? DEFAULT_LEVERAGE;
    const notional = p.contracts * mark;
    const unrealized = (mark - p.entryPrice) * p.contracts * sign;
    const liquidation = p.entryPrice * (1 - sign * (1 / leverage - MAINTENANCE_MARGIN_RATE));
    const maintenance = notional * MAINTENANCE_MARGIN_RATE;
    return {
      info: {},
      id: `${venue.seed.id}:${p.market.symbol}`,
      symbol: p.market.symbol,
      timestamp: p.timestamp,
      datetime: isoDatetime(p.timestamp),
      lastUpdateTimestamp: p.lastUpdateTimestamp,
      side: p.side,
      contracts: p.contracts,
      contractSize: 1,
      entryPrice: roundTo(p.entryPrice, decimals + 4),
      markPrice: mark,
      notional: tidy(notional),
      leverage,
      collateral: tidy(p.initialMargin),
      initialMargin: tidy(p.initialMargin),
      initialMarginPercentage: roundTo(1 / leverage, 6),
      maintenanceMargin: tidy(maintenance),
      maintenanceMarginPercentage: MAINTENANCE_MARGIN_RATE,
      unrealizedPnl: tidy(unrealized),
      realizedPnl: tidy(p.realizedPnl),
      liquidationPrice: roundTo(Math.max(0, liquidation), decimals),
      marginMode: 'isolated',
      marginRatio: p.initialMargin + unrealized > 0 ? roundTo(maintenance / (p.initialMargin + unrealized), 6) : 1,
      percentage: p.initialMargin > 0 ? roundTo((100 * unrealized) / p.initialMargin, 4) : 0,
      hedged: false,
    };
  }
}

function describeFormat(network: NetworkSpec): string {
  switch (network.addressFormat) {
    case 'bech32':
      return 'a bc1… bech32 or a 1…/3… base58 address';
    case 'hex40':
      return '0x followed by 40 hex digits';
    case 'tron':
      return 'T followed by 33 base58 characters';
    case 'base58':
      return '32 to 44 base58 characters';
  }
}

/** The levels an order of `amount` takes from the book, stopping at the limit price. */
function walkBook(levels: readonly BookLevel[], amount: number, side: OrderSide, limit: number | null): Fill[] {
  const fills: Fill[] = [];
  let left = amount;
  for (const [price, size] of levels) {
    if (left <= EPSILON) break;
    if (limit !== null && (side === 'buy' ? price > limit : price < limit)) break;
    const take = Math.min(left, size);
    fills.push({ amount: tidy(take), price });
    left = tidy(left - take);
  }
  return fills;
}
