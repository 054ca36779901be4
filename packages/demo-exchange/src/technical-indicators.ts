// Technical indicators over price series, computed the textbook way (TA-Lib conventions):
// outputs line up with their inputs and are `null` until enough values exist.

/** The indicators `calculate_technical_indicator` computes. */
export const INDICATOR_NAMES = ['RSI', 'SMA', 'EMA', 'MACD', 'BBANDS', 'STOCH', 'ATR'] as const;
/** One of {@link INDICATOR_NAMES}. */
export type IndicatorName = (typeof INDICATOR_NAMES)[number];

/** A series aligned with the candles it was computed from; `null` where undefined. */
export type IndicatorSeries = (number | null)[];

function firstDefined(values: readonly (number | null)[]): number {
  for (let i = 0; i < values.length; i++) if (values[i] !== null) return i;
  return values.length;
}

function requireLength(name: string, length: number): void {
  if (!Number.isInteger(length) || length < 1) throw new RangeError(`${name} must be a positive integer, got ${length}`);
}

function at(values: readonly (number | null)[], i: number): number {
  const v = values[i];
  if (v === null || v === undefined) throw new RangeError(`indicator input has a gap at index ${i}; only leading values may be undefined`);
  return v;
}

/**
 * Simple moving average: the mean of the last `length` values. Leading `null`s in the
 * input (another indicator's warm-up) are skipped.
 *
 * @example sma([1, 2, 3, 4], 2) // [null, 1.5, 2.5, 3.5]
 */
export function sma(values: readonly (number | null)[], length: number): IndicatorSeries {
  requireLength('SMA length', length);
  const out: IndicatorSeries = new Array<number | null>(values.length).fill(null);
  const first = firstDefined(values);
  let sum = 0;
  for (let i = first; i < values.length; i++) {
    sum += at(values, i);
    if (i - first >= length) sum -= at(values, i - length);
    if (i - first >= length - 1) out[i] = sum / length;
  }
  return out;
}

/**
 * Exponential moving average with smoothing 2 / (length + 1), seeded with the simple
 * average of the first `length` values.
 *
 * @example ema([1, 2, 3, 4, 5], 3) // [null, null, 2, 3, 4]
 */
export function ema(values: readonly (number | null)[], length: number): IndicatorSeries {
  requireLength('EMA length', length);
  const out: IndicatorSeries = new Array<number | null>(values.length).fill(null);
  const first = firstDefined(values);
  const seedAt = first + length - 1;
  if (seedAt >= values.length) return out;
  let sum = 0;
  for (let i = first; i <= seedAt; i++) sum += at(values, i);
  let prev = sum / length;
  out[seedAt] = prev;
  const k = 2 / (length + 1);
  for (let i = seedAt + 1; i < values.length; i++) {
    prev = at(values, i) * k + prev * (1 - k);
    out[i] = prev;
  }
  return out;
}

/**
 * Relative strength index with Wilder's smoothing: the first value (at index `length`)
 * averages the first `length` gains and losses; 100 when nothing was lost, 50 when the
 * price did not move at all.
 */
export function rsi(values: readonly number[], length: number): IndicatorSeries {
  requireLength('RSI length', length);
  const out: IndicatorSeries = new Array<number | null>(values.length).fill(null);
  if (values.length <= length) return out;
  let gain = 0;
  let loss = 0;
  for (let i = 1; i <= length; i++) {
    const d = at(values, i) - at(values, i - 1);
    if (d > 0) gain += d;
    else loss -= d;
  }
  gain /= length;
  loss /= length;
  out[length] = rsiValue(gain, loss);
  for (let i = length + 1; i < values.length; i++) {
    const d = at(values, i) - at(values, i - 1);
    gain = (gain * (length - 1) + (d > 0 ? d : 0)) / length;
    loss = (loss * (length - 1) + (d < 0 ? -d : 0)) / length;
    out[i] = rsiValue(gain, loss);
  }
  return out;
}

function rsiValue(gain: number, loss: number): number {
  if (loss === 0) return gain === 0 ? 50 : 100;
  return 100 - 100 / (1 + gain / loss);
}

/** MACD line (fast EMA minus slow EMA), its signal line (EMA of the MACD line) and their difference. */
export interface MacdSeries {
  readonly macd: IndicatorSeries;
  readonly signal: IndicatorSeries;
  readonly histogram: IndicatorSeries;
}

/** Moving average convergence/divergence. */
export function macd(values: readonly number[], fast: number, slow: number, signal: number): MacdSeries {
  if (fast >= slow) throw new RangeError(`MACD fast period (${fast}) must be shorter than the slow period (${slow})`);
  const fastEma = ema(values, fast);
  const slowEma = ema(values, slow);
  const line: IndicatorSeries = values.map((_, i) => {
    const f = fastEma[i];
    const s = slowEma[i];
    return f === null || f === undefined || s === null || s === undefined ? null : f - s;
  });
  const signalLine = ema(line, signal);
  const histogram: IndicatorSeries = line.map((m, i) => {
    const s = signalLine[i];
    return m === null || s === null || s === undefined ? null : m - s;
  });
  return { macd: line, signal: signalLine, histogram };
}

/** Bollinger bands: an SMA and the bands `multiplier` standard deviations above and below it. */
export interface BollingerSeries {
  readonly lower: IndicatorSeries;
  readonly middle: IndicatorSeries;
  readonly upper: IndicatorSeries;
}

/** Bollinger bands with the population standard deviation of the window (Bollinger's definition). */
export function bollingerBands(values: readonly number[], length: number, multiplier: number): BollingerSeries {
  const middle = sma(values, length);
  const lower: IndicatorSeries = new Array<number | null>(values.length).fill(null);
  const upper: IndicatorSeries = new Array<number | null>(values.length).fill(null);
  for (let i = length - 1; i < values.length; i++) {
    const mean = middle[i];
    if (mean === null || mean === undefined) continue;
    let squares = 0;
    for (let j = i - length + 1; j <= i; j++) squares += (at(values, j) - mean) ** 2;
    const sd = Math.sqrt(squares / length);
    lower[i] = mean - multiplier * sd;
    upper[i] = mean + multiplier * sd;
  }
  return { lower, middle, upper };
}

/** Stochastic oscillator %K (smoothed) and %D. */
export interface StochasticSeries {
  readonly k: IndicatorSeries;
  readonly d: IndicatorSeries;
}

/**
 * Stochastic oscillator: raw %K = 100 · (close − lowest low) / (highest high − lowest low)
 * over `kPeriod` candles (50 when the range is empty), %K = SMA(raw, `smoothK`),
 * %D = SMA(%K, `dPeriod`).
 */
export function stochastic(
  high: readonly number[],
  low: readonly number[],
  close: readonly number[],
  kPeriod: number,
  dPeriod: number,
  smoothK: number,
): StochasticSeries {
  requireLength('STOCH k_period', kPeriod);
  const raw: IndicatorSeries = new Array<number | null>(close.length).fill(null);
  for (let i = kPeriod - 1; i < close.length; i++) {
    let hh = -Infinity;
    let ll = Infinity;
    for (let j = i - kPeriod + 1; j <= i; j++) {
      hh = Math.max(hh, at(high, j));
      ll = Math.min(ll, at(low, j));
    }
    raw[i] = hh === ll ? 50 : (100 * (at(close, i) - ll)) / (hh - ll);
  }
  const k = smoothK > 1 ? sma(raw, smoothK) : raw;
  return { k, d: sma(k, dPeriod) };
}

/**
 * Average true range with Wilder's smoothing. True range needs the previous close, so the
 * first true range is at index 1 and the first ATR (their simple average) at index `period`.
 */
export function averageTrueRange(high: readonly number[], low: readonly number[], close: readonly number[], period: number): IndicatorSeries {
  requireLength('ATR period', period);
  const out: IndicatorSeries = new Array<number | null>(close.length).fill(null);
  if (close.length <= period) return out;
  const trueRange = (i: number): number => {
    const h = at(high, i);
    const l = at(low, i);
    const prev = at(close, i - 1);
    return Math.max(h - l, Math.abs(h - prev), Math.abs(l - prev));
  };
  let sum = 0;
  for (let i = 1; i <= period; i++) sum += trueRange(i);
  let prev = sum / period;
  out[period] = prev;
  for (let i = period + 1; i < close.length; i++) {
    prev = (prev * (period - 1) + trueRange(i)) / period;
    out[i] = prev;
  }
  return out;
}
