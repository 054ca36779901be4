import { describe, expect, it } from 'vitest';
import { averageTrueRange, bollingerBands, ema, macd, rsi, sma, stochastic } from './technical-indicators.js';

// Every expected value below was worked out by hand; the comments show the arithmetic.

function close(actual: readonly (number | null)[], expected: readonly (number | null)[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((v, i) => {
    const e = expected[i];
    if (e === null || e === undefined) expect(v, `index ${i}`).toBeNull();
    else expect(v, `index ${i}`).toBeCloseTo(e, 10);
  });
}

describe('sma', () => {
  it('averages the last n values', () => {
    close(sma([1, 2, 3, 4, 5], 3), [null, null, 2, 3, 4]);
  });
  it('skips leading nulls of another indicator', () => {
    close(sma([null, null, 2, 4, 9], 2), [null, null, null, 3, 6.5]);
  });
});

describe('ema', () => {
  it('is seeded with the simple average and smoothed with 2 / (n + 1)', () => {
    // n = 3, k = 0.5: seed mean(2, 4, 6) = 4; 8·.5 + 4·.5 = 6; 4·.5 + 6·.5 = 5; 2·.5 + 5·.5 = 3.5
    close(ema([2, 4, 6, 8, 4, 2], 3), [null, null, 4, 6, 5, 3.5]);
  });
  it('is all null when there are fewer values than the period', () => {
    close(ema([1, 2], 3), [null, null]);
  });
});

describe('rsi', () => {
  it("uses Wilder's smoothing after a simple first average", () => {
    // diffs +1 +1 −1 +2 −1, n = 3
    // i=3: gain 2/3, loss 1/3, RS 2 → 100 − 100/3 = 66.667
    // i=4: gain (2/3·2 + 2)/3 = 10/9, loss (1/3·2)/3 = 2/9, RS 5 → 100 − 100/6 = 83.333
    // i=5: gain (10/9·2)/3 = 20/27, loss (2/9·2 + 1)/3 = 13/27, RS 20/13 → 100·20/33 = 60.606
    close(rsi([10, 11, 12, 11, 13, 12], 3), [null, null, null, 200 / 3, 250 / 3, 2000 / 33]);
  });
  it('is 100 when nothing was lost and 50 when nothing moved', () => {
    close(rsi([1, 2, 3, 4], 2), [null, null, 100, 100]);
    close(rsi([5, 5, 5], 2), [null, null, 50]);
  });
});

describe('macd', () => {
  it('is the fast EMA minus the slow EMA, with an EMA signal line', () => {
    // EMA(2), k = 2/3: i1 3; i2 6·2/3 + 3/3 = 5; i3 16/3 + 5/3 = 7; i4 8/3 + 7/3 = 5; i5 4/3 + 5/3 = 3
    // EMA(3), k = 1/2: i2 4; i3 6; i4 5; i5 3.5
    // MACD: i2 1; i3 1; i4 0; i5 −0.5
    // signal EMA(2) of MACD from i2: i3 mean(1, 1) = 1; i4 0 + 1/3 = 1/3; i5 −1/3 + 1/9 = −2/9
    const out = macd([2, 4, 6, 8, 4, 2], 2, 3, 2);
    close(out.macd, [null, null, 1, 1, 0, -0.5]);
    close(out.signal, [null, null, null, 1, 1 / 3, -2 / 9]);
    close(out.histogram, [null, null, null, 0, -1 / 3, -5 / 18]);
  });
  it('refuses a fast period that is not shorter than the slow one', () => {
    expect(() => macd([1, 2, 3], 3, 3, 2)).toThrow(/fast period \(3\) must be shorter/);
  });
});

describe('bollingerBands', () => {
  it('puts the bands k population standard deviations around the SMA', () => {
    // window (1, 2, 3): mean 2, variance (1 + 0 + 1)/3 = 2/3, sd 0.81650; bands 2 ± 1.63299
    const sd = Math.sqrt(2 / 3);
    const out = bollingerBands([1, 2, 3, 4, 5], 3, 2);
    close(out.middle, [null, null, 2, 3, 4]);
    close(out.upper, [null, null, 2 + 2 * sd, 3 + 2 * sd, 4 + 2 * sd]);
    close(out.lower, [null, null, 2 - 2 * sd, 3 - 2 * sd, 4 - 2 * sd]);
  });
});

describe('stochastic', () => {
  it('places the close within the high-low range of the window', () => {
    // i2: HH 5, LL 1, close 5 → 100; i3: HH 6, LL 2, close 4 → 50; %D(2) at i3 = 75
    const out = stochastic([3, 4, 5, 6], [1, 2, 3, 4], [2, 3, 5, 4], 3, 2, 1);
    close(out.k, [null, null, 100, 50]);
    close(out.d, [null, null, null, 75]);
  });
  it('smooths %K and answers 50 for an empty range', () => {
    const flat = stochastic([2, 2, 2, 2], [2, 2, 2, 2], [2, 2, 2, 2], 2, 1, 2);
    close(flat.k, [null, null, 50, 50]);
  });
});

describe('averageTrueRange', () => {
  it("averages true ranges from the second candle with Wilder's smoothing", () => {
    // TR1 = max(12−9, |12−9|, |9−9|) = 3; TR2 = max(2, |13−11|, |11−11|) = 2; TR3 = max(2, |12−12|, |10−12|) = 2
    // ATR(2) i2 = (3 + 2)/2 = 2.5; i3 = (2.5·1 + 2)/2 = 2.25
    close(averageTrueRange([10, 12, 13, 12], [8, 9, 11, 10], [9, 11, 12, 11], 2), [null, null, 2.5, 2.25]);
  });
});
