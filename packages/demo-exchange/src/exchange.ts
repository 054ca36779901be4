import { AccountWallet } from './account-wallet.js';
import { isoDatetime } from './ccxt-structures.js';
import type {
  AccountBalance,
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
  Position,
  Ticker,
  Trade,
  Withdrawal,
  WithdrawalRequest,
} from './ccxt-structures.js';
import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { roundTo, tidy } from './decimal-rounding.js';
import { hashString, unitHash } from './deterministic-hash.js';
import { DemoExchangeError } from './exchange-error.js';
import { DEFAULT_EXCHANGES } from './exchange-seed.js';
import type { ExchangeSeed } from './exchange-seed.js';
import { checkSince, clampLimit, pickPage } from './history-paging.js';
import { computeIndicator, resolveIndicatorParams } from './indicator-request.js';
import { BOOK_DEPTH, MarketCatalog } from './market-catalog.js';
import { MatchingEngine } from './matching-engine.js';
import { blackScholes, parseOptionSymbol } from './option-pricing.js';
import { PositionBook } from './position-book.js';
import type { OhlcvRow } from './price-model.js';
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

/** One venue's parts: its markets, the account's wallet and positions, and its matching engine. */
interface Venue {
  readonly catalog: MarketCatalog;
  readonly wallet: AccountWallet;
  readonly positions: PositionBook;
  readonly engine: MatchingEngine;
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
 * Each venue is composed of a {@link MarketCatalog}, an {@link AccountWallet}, a
 * {@link PositionBook} and a {@link MatchingEngine}; this class reads the clock once a
 * call, finds the venue and hands account calls to the part that owns them.
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
    venue.engine.settle(now);
    return venue.wallet.balance(now);
  }

  /** The deposit address of a currency on a network (`fetchDepositAddress`); stable for a seed. */
  fetchDepositAddress(exchangeId: string, code: string, network?: string): DepositAddress {
    return this.venue(exchangeId).wallet.depositAddress(code, network);
  }

  /**
   * Withdraws to an external address (`withdraw`): the amount plus the network fee leave
   * the free balance at once, and the withdrawal is reported `pending`.
   */
  withdraw(exchangeId: string, request: WithdrawalRequest): Withdrawal {
    const venue = this.venue(exchangeId);
    const now = this.clock.now();
    venue.engine.settle(now);
    return venue.wallet.withdraw(request, now);
  }

  /** The withdrawals made so far on a venue, oldest first (`fetchWithdrawals`). */
  fetchWithdrawals(exchangeId: string): Withdrawal[] {
    return this.venue(exchangeId).wallet.withdrawals();
  }

  /** Open futures positions (`fetchPositions`). */
  fetchPositions(exchangeId: string): Position[] {
    const venue = this.venue(exchangeId);
    venue.catalog.requireFutures();
    const now = this.clock.now();
    venue.engine.settle(now);
    return venue.positions.list(now);
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
    venue.engine.settle(now);
    return venue.positions.setLeverage(leverage, symbol, now, (market) => venue.engine.openOrderIds(market));
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
    const key = hashString(`${venue.catalog.venueId}|${market.symbol}|funding`);
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
    const key = hashString(`${venue.catalog.venueId}|${market.symbol}|longshort`);
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
        `${venue.catalog.venueId} does not have option ${JSON.stringify(symbol)}; option symbols look like BTC/USDT:USDT-YYMMDD-STRIKE-C (or -P)`,
      );
    }
    const underlying = `${contract.base}/${contract.quote}:${contract.settle}`;
    const market = venue.catalog.find(underlying);
    if (!market) throw new DemoExchangeError('symbol.bad', `${venue.catalog.venueId} has no options on ${underlying}: it lists no such perpetual future`);
    const now = this.clock.now();
    if (contract.expiry <= now) throw new DemoExchangeError('symbol.bad', `option ${contract.symbol} expired at ${isoDatetime(contract.expiry)}`);
    const years = (contract.expiry - now) / YEAR_MS;
    const spot = market.model.mark(now);
    const moneyness = Math.log(contract.strike / spot);
    // Calls and puts of one strike and expiry share their volatility, as put-call parity requires.
    const key = hashString(`${venue.catalog.venueId}|${contract.symbol.slice(0, -2)}`);
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
    const fills = venue.engine.accountTrades(now);
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
    const own = fills
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
    return this.venue(exchangeId).engine.place(request, this.clock.now());
  }

  /** Cancels an open order (`cancelOrder`) and releases what it reserved. */
  cancelOrder(exchangeId: string, id: string, symbol?: string): Order {
    return this.venue(exchangeId).engine.cancel(id, symbol, this.clock.now());
  }

  /** Orders of the account, open and past (`fetchOrders`), oldest first. */
  fetchOrders(exchangeId: string, query: HistoryQuery = {}): Order[] {
    return this.venue(exchangeId).engine.orders(query, this.clock.now());
  }

  /** The account's own trades (`fetchMyTrades`), oldest first. */
  fetchMyTrades(exchangeId: string, query: HistoryQuery = {}): Trade[] {
    return this.venue(exchangeId).engine.trades(query, this.clock.now());
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
      exchange_id: venue.catalog.venueId,
      symbol: market.symbol,
      timeframe: tf,
      indicator_name: request.indicator,
      params_used: { ...spec.used, ohlcv_limit: points },
      data: data.slice(-points),
    };
  }

  private buildVenue(seed: ExchangeSeed): Venue {
    const catalog = new MarketCatalog(this.seed, seed);
    // Ids start at a venue-specific number, as real exchanges' ids never look alike.
    const base = 1_000_000 + Math.floor(unitHash(this.seed, hashString(seed.id), 7) * 8_000_000);
    const wallet = new AccountWallet({ seed: this.seed, venueId: seed.id, balances: seed.balances, firstWithdrawalId: base + 500_000 });
    const positions = new PositionBook({ catalog, wallet });
    const engine = new MatchingEngine({ catalog, wallet, positions, firstOrderId: base, firstTradeId: base * 3 });
    return { catalog, wallet, positions, engine };
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
    throw new DemoExchangeError('request.bad', `timeframe ${JSON.stringify(timeframe)} is not supported by ${venue.catalog.venueId} here; supported: ${allowed.join(', ')}`);
  }
}
