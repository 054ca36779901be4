import { isoDatetime } from './ccxt-structures.js';
import type { FundingRate, IndicatorPoint, IndicatorRequest, IndicatorResult, LongShortRatio, OptionContractData, OrderBook, Ticker, Trade } from './ccxt-structures.js';
import { roundTo, tidy } from './decimal-rounding.js';
import { hashString, unitHash } from './deterministic-hash.js';
import { DemoExchangeError } from './exchange-error.js';
import { checkSince, clampLimit, pickPage } from './history-paging.js';
import { computeIndicator, resolveIndicatorParams } from './indicator-request.js';
import { BOOK_DEPTH } from './market-catalog.js';
import type { Market, MarketCatalog } from './market-catalog.js';
import { blackScholes, parseOptionSymbol } from './option-pricing.js';
import type { OhlcvRow } from './price-model.js';
import { TIMEFRAMES, bucketStart, isTimeframe, previousBucketStart } from './timeframe.js';
import type { Timeframe } from './timeframe.js';

/**
 * Where the feed reads the account's own fills, which a market's public trades include:
 * the matching engine, which fills the resting orders the market has reached first.
 */
export interface AccountTradeSource {
  /** Every fill of the account up to `now`, oldest first. */
  accountTrades(now: number): readonly Trade[];
}

/** What the market data feed of one venue reads. */
export interface MarketDataFeedOptions {
  /** Seed of the generated funding rates, long/short ratios and option quotes. */
  readonly seed: number;
  /** The venue's markets, each with its price path. */
  readonly catalog: MarketCatalog;
  /** The account's own fills. */
  readonly accountTrades: AccountTradeSource;
}

const MAX_OHLCV = 1000;
const MAX_TRADES = 1000;
const MAX_RATIOS = 500;
const MAX_INDICATOR_POINTS = 1000;
const DAY_MS = 86_400_000;
const FUNDING_INTERVAL_MS = 8 * 3_600_000;
const YEAR_MS = 365 * DAY_MS;
const LONG_SHORT_TIMEFRAMES: readonly Timeframe[] = ['5m', '15m', '30m', '1h', '2h', '4h', '6h', '12h', '1d'];

/**
 * The public market data of one venue, all of it generated from the seed and the time:
 * candles, tickers, order books and public trades from each market's price model, and
 * funding rates, long/short ratios, option quotes and technical indicators derived from
 * them. Nothing here changes state; the same seed and `now` give the same answer.
 *
 * @example
 * feed.ohlcv('BTC/USDT', '1h', undefined, 24, now); // the last 24 hourly candles
 */
export class MarketDataFeed {
  private readonly seed: number;
  private readonly catalog: MarketCatalog;
  private readonly own: AccountTradeSource;

  constructor(options: MarketDataFeedOptions) {
    this.seed = options.seed;
    this.catalog = options.catalog;
    this.own = options.accountTrades;
  }

  /**
   * Candles (`fetchOHLCV`): `limit` (default 100, at most 1000) from `since`, or the latest
   * ones, the last of which may still be open.
   *
   * @throws DemoExchangeError (`symbol.bad`, `request.bad`) on a bad symbol, timeframe, limit or since.
   */
  ohlcv(symbol: string, timeframe: string, since: number | undefined, limit: number | undefined, now: number): OhlcvRow[] {
    const market = this.catalog.resolve(symbol, 'any');
    const tf = this.timeframe(timeframe, TIMEFRAMES);
    const count = clampLimit(limit, 100, MAX_OHLCV, 'limit');
    checkSince(since);
    return market.model.candles(tf, since, count, now, market.futures);
  }

  /** The current and previous funding rate of a perpetual future (`fetchFundingRate`). */
  fundingRate(symbol: string, now: number): FundingRate {
    const market = this.catalog.resolve(symbol, 'futures');
    const period = Math.floor(now / FUNDING_INTERVAL_MS);
    const key = this.noiseKey(`${market.symbol}|funding`);
    const rate = (p: number) => roundTo(0.0001 + (unitHash(this.seed, key, p) - 0.4) * 0.0004, 8);
    const next = (period + 1) * FUNDING_INTERVAL_MS;
    const previous = period * FUNDING_INTERVAL_MS;
    return {
      info: {},
      symbol: market.symbol,
      markPrice: roundTo(market.model.mark(now), market.asset.priceDecimals),
      indexPrice: indexPrice(market, now),
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
  longShortRatio(symbol: string, timeframe: string, limit: number | undefined, now: number): LongShortRatio[] {
    const market = this.catalog.resolve(symbol, 'futures');
    const tf = this.timeframe(timeframe, LONG_SHORT_TIMEFRAMES);
    const count = clampLimit(limit, 30, MAX_RATIOS, 'limit');
    const key = this.noiseKey(`${market.symbol}|longshort`);
    const phase = 2 * Math.PI * unitHash(this.seed, key, 0);
    const out: LongShortRatio[] = [];
    let t = bucketStart(tf, now);
    for (let i = 0; i < count; i++) {
      const swing = 0.35 * Math.sin((2 * Math.PI * t) / (3 * DAY_MS) + phase) + 0.16 * (unitHash(this.seed, key, t) - 0.5);
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
   *
   * @throws DemoExchangeError `symbol.bad` on a malformed, unlisted or expired option;
   * `exchange.not_supported` on a spot-only venue.
   */
  option(symbol: string, now: number): OptionContractData {
    this.catalog.requireFutures();
    const venueId = this.catalog.venueId;
    const contract = parseOptionSymbol(symbol.trim().toUpperCase());
    if (!contract) {
      throw new DemoExchangeError('symbol.bad', `${venueId} does not have option ${JSON.stringify(symbol)}; option symbols look like BTC/USDT:USDT-YYMMDD-STRIKE-C (or -P)`);
    }
    const underlying = `${contract.base}/${contract.quote}:${contract.settle}`;
    const market = this.catalog.find(underlying);
    if (!market) throw new DemoExchangeError('symbol.bad', `${venueId} has no options on ${underlying}: it lists no such perpetual future`);
    if (contract.expiry <= now) throw new DemoExchangeError('symbol.bad', `option ${contract.symbol} expired at ${isoDatetime(contract.expiry)}`);
    const years = (contract.expiry - now) / YEAR_MS;
    const spot = market.model.mark(now);
    const moneyness = Math.log(contract.strike / spot);
    // Calls and puts of one strike and expiry share their volatility, as put-call parity requires.
    const key = this.noiseKey(contract.symbol.slice(0, -2));
    const day = Math.floor(now / DAY_MS);
    const iv = market.asset.impliedVolatility * (1 + 0.05 * (unitHash(this.seed, key, day) - 0.5)) + 0.25 * moneyness * moneyness;
    const value = blackScholes(spot, contract.strike, years, iv, contract.optionType);
    const yesterday = blackScholes(market.model.mark(now - DAY_MS), contract.strike, years + 1 / 365, iv, contract.optionType);
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
  ticker(symbol: string, now: number): Ticker {
    const market = this.catalog.resolve(symbol, 'any');
    const decimals = market.asset.priceDecimals;
    const dayAgo = now - DAY_MS;
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
    return { ...ticker, markPrice: last, indexPrice: indexPrice(market, now) };
  }

  /** The order book of a market (`fetchOrderBook`), `depth` levels a side (default and most 25). */
  orderBook(symbol: string, depth: number, now: number): OrderBook {
    const market = this.catalog.resolve(symbol, 'any');
    const book = market.model.book(now, market.futures, clampLimit(depth, BOOK_DEPTH, BOOK_DEPTH, 'depth'));
    return { symbol: market.symbol, timestamp: now, datetime: isoDatetime(now), nonce: null, bids: book.bids, asks: book.asks };
  }

  /**
   * Recent trades of a market (`fetchTrades`): other participants' generated trades merged
   * with this account's own fills; `limit` (default 50, at most 1000), oldest first.
   */
  trades(symbol: string, since: number | undefined, limit: number | undefined, now: number): Trade[] {
    const market = this.catalog.resolve(symbol, 'any');
    const count = clampLimit(limit, 50, MAX_TRADES, 'limit');
    checkSince(since);
    const fills = this.own.accountTrades(now);
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
    // The tape shows the account's fills as anyone sees them: no order, role or fee.
    const own = fills
      .filter((t) => t.symbol === market.symbol && (since === undefined || t.timestamp >= since))
      .map((t) => ({ ...t, order: null, type: null, takerOrMaker: null, fee: null, info: {} }));
    return pickPage([...generated, ...own].sort((a, b) => a.timestamp - b.timestamp), since, count);
  }

  /**
   * Computes a technical indicator over the venue's candles: the last `ohlcvLimit`
   * (default 50, at most 1000) values, each with its candle's time.
   *
   * @throws DemoExchangeError (`request.bad`) naming an unknown or out-of-range parameter.
   */
  indicator(request: IndicatorRequest, now: number): IndicatorResult {
    const market = this.catalog.resolve(request.symbol, 'any');
    const tf = this.timeframe(request.timeframe, TIMEFRAMES);
    const spec = resolveIndicatorParams(request.indicator, request.params ?? {});
    const points = clampLimit(request.ohlcvLimit ?? spec.ohlcvLimit, 50, MAX_INDICATOR_POINTS, 'ohlcv_limit');
    const candles = market.model.candles(tf, undefined, points + spec.warmup + 100, now, market.futures);
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
      exchange_id: this.catalog.venueId,
      symbol: market.symbol,
      timeframe: tf,
      indicator_name: request.indicator,
      params_used: { ...spec.used, ohlcv_limit: points },
      data: data.slice(-points),
    };
  }

  /** Hash coordinate of one generated series of this venue, e.g. `BTC/USDT:USDT|funding`. */
  private noiseKey(series: string): number {
    return hashString(`${this.catalog.venueId}|${series}`);
  }

  private timeframe(timeframe: string, allowed: readonly Timeframe[]): Timeframe {
    if (isTimeframe(timeframe) && allowed.includes(timeframe)) return timeframe;
    throw new DemoExchangeError('request.bad', `timeframe ${JSON.stringify(timeframe)} is not supported by ${this.catalog.venueId} here; supported: ${allowed.join(', ')}`);
  }
}

/** The index (spot) price a future's funding and ticker report. */
function indexPrice(market: Market, now: number): number {
  return roundTo(market.model.spot(now), market.asset.priceDecimals);
}
