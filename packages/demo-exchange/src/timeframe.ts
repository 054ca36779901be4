// Candle timeframes in CCXT notation and the UTC buckets they cut time into.

/** The timeframes of `calculate_technical_indicator`, which `fetch_ohlcv` also accepts. */
export const TIMEFRAMES = ['1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M'] as const;

/** A CCXT timeframe: `1m` is one minute, `1M` one calendar month. */
export type Timeframe = (typeof TIMEFRAMES)[number];

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
// 1970-01-05 was the first Monday after the epoch; weekly candles open on Mondays.
const FIRST_MONDAY = 4 * DAY;

const FIXED_MS: Readonly<Record<Exclude<Timeframe, '1M'>, number>> = {
  '1m': MINUTE,
  '3m': 3 * MINUTE,
  '5m': 5 * MINUTE,
  '15m': 15 * MINUTE,
  '30m': 30 * MINUTE,
  '1h': HOUR,
  '2h': 2 * HOUR,
  '4h': 4 * HOUR,
  '6h': 6 * HOUR,
  '8h': 8 * HOUR,
  '12h': 12 * HOUR,
  '1d': DAY,
  '3d': 3 * DAY,
  '1w': 7 * DAY,
};

const KNOWN = new Set<string>(TIMEFRAMES);

/** Whether `value` is one of {@link TIMEFRAMES} (case-sensitive: `1m` is not `1M`). */
export function isTimeframe(value: string): value is Timeframe {
  return KNOWN.has(value);
}

/** Nominal length of a timeframe in milliseconds (a month counts as 30 days). */
export function timeframeMs(timeframe: Timeframe): number {
  return timeframe === '1M' ? 30 * DAY : FIXED_MS[timeframe];
}

/** Start of the bucket of `timeframe` that contains `time` (UTC). */
export function bucketStart(timeframe: Timeframe, time: number): number {
  if (timeframe === '1M') {
    const d = new Date(time);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  }
  const size = FIXED_MS[timeframe];
  const origin = timeframe === '1w' ? FIRST_MONDAY : 0;
  return Math.floor((time - origin) / size) * size + origin;
}

/** Start of the bucket after the one starting at `start`. */
export function nextBucketStart(timeframe: Timeframe, start: number): number {
  if (timeframe === '1M') {
    const d = new Date(start);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  }
  return start + FIXED_MS[timeframe];
}

/** Start of the bucket before the one starting at `start`. */
export function previousBucketStart(timeframe: Timeframe, start: number): number {
  if (timeframe === '1M') {
    const d = new Date(start);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1);
  }
  return start - FIXED_MS[timeframe];
}
