import { describe, expect, it } from 'vitest';
import { retryDelayMs } from './retry-schedule.js';

const DEFAULTS = { backoffMs: 20_000, maxBackoffMs: 300_000 };

describe('retryDelayMs', () => {
  it('doubles from the backoff up to the cap: the defaults give 6 attempts over about 10 minutes', () => {
    const waits = [1, 2, 3, 4, 5].map((failed) => retryDelayMs(failed, DEFAULTS, () => 0.5));
    expect(waits).toEqual([20_000, 40_000, 80_000, 160_000, 300_000]);
    expect(waits.reduce((a, b) => a + b, 0)).toBe(600_000);
    expect(retryDelayMs(12, DEFAULTS, () => 0.5)).toBe(300_000);
  });

  it('spreads each wait by 20% either way', () => {
    expect(retryDelayMs(2, DEFAULTS, () => 0)).toBe(32_000);
    expect(retryDelayMs(2, DEFAULTS, () => 0.999_999)).toBe(48_000);
    const seen = new Set(Array.from({ length: 50 }, () => retryDelayMs(1, { backoffMs: 1000, maxBackoffMs: 1000 })));
    expect(seen.size).toBeGreaterThan(10);
    for (const wait of seen) {
      expect(wait).toBeGreaterThanOrEqual(800);
      expect(wait).toBeLessThanOrEqual(1200);
    }
  });
});
