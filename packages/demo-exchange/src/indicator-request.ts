// The `calculate_technical_indicator` request: its parameters checked against each
// indicator's defaults, and the indicator computed over a run of candles.
import { DemoExchangeError } from './exchange-error.js';
import type { OhlcvRow } from './price-model.js';
import { INDICATOR_NAMES, averageTrueRange, bollingerBands, ema, macd, rsi, sma, stochastic } from './technical-indicators.js';
import type { IndicatorName, IndicatorSeries } from './technical-indicators.js';

const MAX_INDICATOR_PERIOD = 500;
/** Price columns an indicator can be computed from. */
export const PRICE_SOURCES = ['open', 'high', 'low', 'close', 'hlc3', 'ohlc4'] as const;
/** One of {@link PRICE_SOURCES}. */
export type PriceSource = (typeof PRICE_SOURCES)[number];

/** Parameters of one indicator run, defaults applied and checked. */
export interface IndicatorSpec {
  /** Every parameter with its value, defaults filled in (reported as `params_used`). */
  readonly used: Record<string, number | string>;
  /** Candles needed before the first complete value. */
  readonly warmup: number;
  /** `ohlcv_limit` given inside `indicator_params`, if any. */
  readonly ohlcvLimit: number | undefined;
  /** A numeric parameter's value. */
  readonly number: (name: string) => number;
  /** A price-source parameter's value. */
  readonly source: (name: string) => PriceSource;
}

/** Every indicator's parameters and their default values. */
export const INDICATOR_DEFAULTS: Readonly<Record<IndicatorName, Readonly<Record<string, number | string>>>> = {
  RSI: { length: 14, price_source: 'close' },
  SMA: { length: 20, price_source: 'close' },
  EMA: { length: 20, price_source: 'close' },
  MACD: { fast: 12, slow: 26, signal: 9, price_source: 'close' },
  BBANDS: { length: 20, std: 2, price_source: 'close' },
  STOCH: { k_period: 14, d_period: 3, smooth_k: 3, price_source_high: 'high', price_source_low: 'low', price_source_close: 'close' },
  ATR: { period: 14, price_source_high: 'high', price_source_low: 'low', price_source_close: 'close' },
};

/**
 * Applies an indicator's defaults to `params` and checks them.
 *
 * @throws DemoExchangeError (`request.bad`) naming the parameter that is unknown or out of range.
 */
export function resolveIndicatorParams(indicator: IndicatorName, params: Readonly<Record<string, unknown>>): IndicatorSpec {
  const defaults = INDICATOR_DEFAULTS[indicator];
  if (!defaults) throw new DemoExchangeError('request.bad', `unknown indicator ${JSON.stringify(indicator)} (supported: ${INDICATOR_NAMES.join(', ')})`);
  const used: Record<string, number | string> = { ...defaults };
  let ohlcvLimit: number | undefined;
  for (const [key, value] of Object.entries(params)) {
    if (key === 'ohlcv_limit') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
        throw new DemoExchangeError('request.bad', `indicator_params.ohlcv_limit must be a positive integer, got ${JSON.stringify(value)}`);
      }
      ohlcvLimit = value;
      continue;
    }
    const fallback = defaults[key];
    if (fallback === undefined) {
      throw new DemoExchangeError('request.bad', `indicator_params.${key} is not a parameter of ${indicator} (parameters: ${[...Object.keys(defaults), 'ohlcv_limit'].join(', ')})`);
    }
    if (typeof fallback === 'string') {
      const source = typeof value === 'string' ? value.toLowerCase() : value;
      if (typeof source !== 'string' || !(PRICE_SOURCES as readonly string[]).includes(source)) {
        throw new DemoExchangeError('request.bad', `indicator_params.${key} must be one of ${PRICE_SOURCES.join(', ')}, got ${JSON.stringify(value)}`);
      }
      used[key] = source;
    } else if (key === 'std') {
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
        throw new DemoExchangeError('request.bad', `indicator_params.std must be a positive number, got ${JSON.stringify(value)}`);
      }
      used[key] = value;
    } else {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_INDICATOR_PERIOD) {
        throw new DemoExchangeError('request.bad', `indicator_params.${key} must be an integer from 1 to ${MAX_INDICATOR_PERIOD}, got ${JSON.stringify(value)}`);
      }
      used[key] = value;
    }
  }
  const int = (name: string) => used[name] as number;
  if (indicator === 'MACD' && int('fast') >= int('slow')) {
    throw new DemoExchangeError('request.bad', `indicator_params.fast (${int('fast')}) must be smaller than indicator_params.slow (${int('slow')})`);
  }
  const warmup =
    indicator === 'MACD'
      ? int('slow') + int('signal')
      : indicator === 'STOCH'
        ? int('k_period') + int('smooth_k') + int('d_period')
        : indicator === 'ATR'
          ? int('period') + 1
          : int('length') + 1;
  return { used, warmup, ohlcvLimit, number: int, source: (name) => used[name] as PriceSource };
}

function priceColumn(candles: readonly OhlcvRow[], source: PriceSource): number[] {
  return candles.map(([, o, h, l, c]) => {
    switch (source) {
      case 'open':
        return o;
      case 'high':
        return h;
      case 'low':
        return l;
      case 'close':
        return c;
      case 'hlc3':
        return (h + l + c) / 3;
      case 'ohlc4':
        return (o + h + l + c) / 4;
    }
  });
}

/** Computes the indicator's named output series (e.g. `macd`, `signal`, `histogram`) over `candles`. */
export function computeIndicator(indicator: IndicatorName, spec: IndicatorSpec, candles: readonly OhlcvRow[]): Record<string, IndicatorSeries> {
  switch (indicator) {
    case 'RSI':
      return { value: rsi(priceColumn(candles, spec.source('price_source')), spec.number('length')) };
    case 'SMA':
      return { value: sma(priceColumn(candles, spec.source('price_source')), spec.number('length')) };
    case 'EMA':
      return { value: ema(priceColumn(candles, spec.source('price_source')), spec.number('length')) };
    case 'MACD': {
      const out = macd(priceColumn(candles, spec.source('price_source')), spec.number('fast'), spec.number('slow'), spec.number('signal'));
      return { macd: out.macd, signal: out.signal, histogram: out.histogram };
    }
    case 'BBANDS': {
      const out = bollingerBands(priceColumn(candles, spec.source('price_source')), spec.number('length'), spec.number('std'));
      return { lower: out.lower, middle: out.middle, upper: out.upper };
    }
    case 'STOCH': {
      const out = stochastic(
        priceColumn(candles, spec.source('price_source_high')),
        priceColumn(candles, spec.source('price_source_low')),
        priceColumn(candles, spec.source('price_source_close')),
        spec.number('k_period'),
        spec.number('d_period'),
        spec.number('smooth_k'),
      );
      return { percent_k: out.k, percent_d: out.d };
    }
    case 'ATR':
      return {
        value: averageTrueRange(
          priceColumn(candles, spec.source('price_source_high')),
          priceColumn(candles, spec.source('price_source_low')),
          priceColumn(candles, spec.source('price_source_close')),
          spec.number('period'),
        ),
      };
  }
}
