import { ceilTo, floorTo, roundTo, truncateTo } from './decimal-rounding.js';
import { hashString, unitHash } from './deterministic-hash.js';
import type { AssetSpec } from './exchange-seed.js';
import { bucketStart, nextBucketStart, previousBucketStart } from './timeframe.js';
import type { Timeframe } from './timeframe.js';

/** One candle in CCXT's layout: `[timestamp, open, high, low, close, volume]`. */
export type OhlcvRow = [timestamp: number, open: number, high: number, low: number, close: number, volume: number];

/** One price level of an order book: `[price, amount]`. */
export type BookLevel = [price: number, amount: number];

/** A generated order book snapshot, best prices first. */
export interface BookSnapshot {
  readonly bids: BookLevel[];
  readonly asks: BookLevel[];
}

/** A generated trade of other market participants. */
export interface GeneratedTrade {
  readonly id: string;
  readonly timestamp: number;
  readonly side: 'buy' | 'sell';
  readonly price: number;
  readonly amount: number;
}

const TWO_PI = 2 * Math.PI;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
// Superposed waves give trends at several scales; their phases come from the seed.
const WAVE_PERIODS = [7 * DAY, DAY, 6 * HOUR, HOUR, 13 * MINUTE];
const WAVE_AMPLITUDES = [0.05, 0.015, 0.006, 0.003, 0.0015];
const NOISE_AMPLITUDE = 0.0012;
const NOISE_KNOT_MS = MINUTE;
const CANDLE_SAMPLES = 16;
const TRADE_SLOT_MS = 2_000;
const TRADE_PRESENCE = 0.55;
const LEVEL_STEP = 0.0001;
const HALF_SPREAD = 0.00005;

/**
 * The deterministic market of one asset on one venue: a continuous price path (the same
 * seed and time always give the same price), candles cut from it, an order book around
 * it and a tape of other participants' trades.
 *
 * Candles of every timeframe share their open and close prices (both are points of the
 * path); highs and lows add a wick that depends on the timeframe.
 */
export class PriceModel {
  readonly asset: AssetSpec;
  private readonly seed: number;
  private readonly logReference: number;
  private readonly phases: readonly number[];
  private readonly venueKey: number;
  private readonly venueOffset: number;
  private readonly basisPhase: number;

  /**
   * @param seed seed of every generated number.
   * @param venueId exchange id; venues share the asset's trends but differ in noise and level.
   * @param asset the traded asset.
   */
  constructor(seed: number, venueId: string, asset: AssetSpec) {
    this.asset = asset;
    this.seed = seed >>> 0;
    const assetKey = hashString(asset.code);
    this.venueKey = hashString(`${venueId}|${asset.code}`);
    this.logReference = Math.log(asset.referencePrice);
    this.phases = WAVE_PERIODS.map((_, k) => TWO_PI * unitHash(this.seed, assetKey, k));
    this.venueOffset = (unitHash(this.seed, this.venueKey, 1_000_003) - 0.5) * 0.003;
    this.basisPhase = TWO_PI * unitHash(this.seed, this.venueKey, 1_000_033);
  }

  /** Spot mid price at `time` (unrounded). */
  spot(time: number): number {
    let log = this.logReference + this.venueOffset;
    for (let k = 0; k < WAVE_PERIODS.length; k++) {
      log += (WAVE_AMPLITUDES[k] ?? 0) * Math.sin((TWO_PI * time) / (WAVE_PERIODS[k] ?? 1) + (this.phases[k] ?? 0));
    }
    const knot = Math.floor(time / NOISE_KNOT_MS);
    const frac = (time - knot * NOISE_KNOT_MS) / NOISE_KNOT_MS;
    const n0 = unitHash(this.seed, this.venueKey, knot) - 0.5;
    const n1 = unitHash(this.seed, this.venueKey, knot + 1) - 0.5;
    log += 2 * NOISE_AMPLITUDE * (n0 + (n1 - n0) * frac);
    return Math.exp(log);
  }

  /** Mark price of the asset's perpetual future at `time`: spot plus a small, slowly moving basis. */
  mark(time: number): number {
    return this.spot(time) * (1 + this.basis(time));
  }

  /** Price of the spot market or of the perpetual future. */
  price(time: number, futures: boolean): number {
    return futures ? this.mark(time) : this.spot(time);
  }

  /** Relative premium of the perpetual future over spot at `time`. */
  basis(time: number): number {
    return 0.0004 + 0.0003 * Math.sin((TWO_PI * time) / (8 * HOUR) + this.basisPhase);
  }

  /**
   * The candle of `timeframe` starting at `start`, cut at `now` when it is still open;
   * `null` when it starts after `now`.
   */
  candle(timeframe: Timeframe, start: number, now: number, futures: boolean): OhlcvRow | null {
    if (start > now) return null;
    const end = nextBucketStart(timeframe, start);
    const last = Math.min(end, now);
    const decimals = this.asset.priceDecimals;
    const open = this.price(start, futures);
    const close = this.price(last, futures);
    let high = Math.max(open, close);
    let low = Math.min(open, close);
    // A fixed grid over the whole bucket, so an open candle's range only widens with time.
    const step = (end - start) / (CANDLE_SAMPLES + 1);
    for (let i = 1; i <= CANDLE_SAMPLES; i++) {
      const t = start + i * step;
      if (t > last) break;
      const p = this.price(t, futures);
      if (p > high) high = p;
      if (p < low) low = p;
    }
    const minutes = (last - start) / MINUTE;
    const tfKey = hashString(timeframe);
    const wick = Math.min(0.03, 0.0003 * Math.sqrt(minutes));
    high *= 1 + wick * unitHash(this.seed, this.venueKey ^ tfKey, start, 1);
    low *= 1 - wick * unitHash(this.seed, this.venueKey ^ tfKey, start, 2);
    const volume = this.asset.volumePerMinute * minutes * (0.6 + 0.8 * unitHash(this.seed, this.venueKey ^ tfKey, start, 3));
    return [
      start,
      roundTo(open, decimals),
      roundTo(high, decimals),
      roundTo(low, decimals),
      roundTo(close, decimals),
      roundTo(volume, this.asset.amountDecimals),
    ];
  }

  /**
   * Up to `limit` consecutive candles: from the first bucket starting at or after `since`
   * when given, else the last `limit` buckets up to and including the one containing `now`.
   */
  candles(timeframe: Timeframe, since: number | undefined, limit: number, now: number, futures: boolean): OhlcvRow[] {
    let start: number;
    if (since === undefined) {
      start = bucketStart(timeframe, now);
      for (let i = 1; i < limit; i++) start = previousBucketStart(timeframe, start);
    } else {
      start = bucketStart(timeframe, since);
      if (start < since) start = nextBucketStart(timeframe, start);
    }
    const rows: OhlcvRow[] = [];
    while (rows.length < limit) {
      const row = this.candle(timeframe, start, now, futures);
      if (row === null) break;
      rows.push(row);
      start = nextBucketStart(timeframe, start);
    }
    return rows;
  }

  /** Best bid and best ask at `time`, the first level of {@link book}. */
  topOfBook(time: number, futures: boolean): { bid: number; ask: number } {
    const mid = this.price(time, futures);
    return { bid: this.bidPrice(mid, 0), ask: this.askPrice(mid, 0) };
  }

  /**
   * The order book at `time`, `depth` levels a side: one basis point apart, around the
   * path's price, with sizes that change every second.
   */
  book(time: number, futures: boolean, depth: number): BookSnapshot {
    const mid = this.price(time, futures);
    const second = Math.floor(time / 1000);
    const bids: BookLevel[] = [];
    const asks: BookLevel[] = [];
    for (let i = 0; i < depth; i++) {
      const bid = this.bidPrice(mid, i);
      const ask = this.askPrice(mid, i);
      // Coarse ticks can round neighbouring levels onto one price; keep them distinct.
      const prevBid = bids[i - 1]?.[0];
      const prevAsk = asks[i - 1]?.[0];
      const tick = 10 ** -this.asset.priceDecimals;
      bids.push([prevBid !== undefined && bid >= prevBid ? roundTo(prevBid - tick, this.asset.priceDecimals) : bid, this.levelSize(second, 2 * i)]);
      asks.push([prevAsk !== undefined && ask <= prevAsk ? roundTo(prevAsk + tick, this.asset.priceDecimals) : ask, this.levelSize(second, 2 * i + 1)]);
    }
    return { bids, asks };
  }

  /**
   * Other participants' trades: from `since` forwards when given, else the latest ones
   * before `now`; at most `limit`, oldest first.
   */
  publicTrades(since: number | undefined, limit: number, now: number, futures: boolean): GeneratedTrade[] {
    const out: GeneratedTrade[] = [];
    const lastSlot = Math.floor(now / TRADE_SLOT_MS);
    if (since === undefined) {
      for (let slot = lastSlot; out.length < limit && slot > lastSlot - limit * 20; slot--) {
        const trade = this.tradeAt(slot, now, futures);
        if (trade) out.push(trade);
      }
      return out.reverse();
    }
    for (let slot = Math.floor(since / TRADE_SLOT_MS); slot <= lastSlot && out.length < limit; slot++) {
      const trade = this.tradeAt(slot, now, futures);
      if (trade && trade.timestamp >= since) out.push(trade);
    }
    return out;
  }

  private tradeAt(slot: number, now: number, futures: boolean): GeneratedTrade | null {
    const key = this.venueKey ^ (futures ? 0x5f5f : 0);
    if (unitHash(this.seed, key, slot, 11) >= TRADE_PRESENCE) return null;
    const timestamp = slot * TRADE_SLOT_MS + Math.floor(unitHash(this.seed, key, slot, 12) * TRADE_SLOT_MS);
    if (timestamp > now) return null;
    const side = unitHash(this.seed, key, slot, 13) < 0.5 ? 'buy' : 'sell';
    const mid = this.price(timestamp, futures);
    const price = side === 'buy' ? this.askPrice(mid, 0) : this.bidPrice(mid, 0);
    const size = this.asset.bookLevelSize * 0.02 * (0.05 + 3 * unitHash(this.seed, key, slot, 14) ** 4);
    const amount = Math.max(this.asset.minAmount, truncateTo(size, this.asset.amountDecimals));
    return { id: String(slot), timestamp, side, price, amount };
  }

  private askPrice(mid: number, level: number): number {
    return ceilTo(mid * (1 + HALF_SPREAD + level * LEVEL_STEP), this.asset.priceDecimals);
  }

  private bidPrice(mid: number, level: number): number {
    return floorTo(mid * (1 - HALF_SPREAD - level * LEVEL_STEP), this.asset.priceDecimals);
  }

  private levelSize(second: number, index: number): number {
    const size = this.asset.bookLevelSize * (0.3 + 1.4 * unitHash(this.seed, this.venueKey, second, 100 + index));
    return Math.max(this.asset.minAmount, truncateTo(size, this.asset.amountDecimals));
  }
}
