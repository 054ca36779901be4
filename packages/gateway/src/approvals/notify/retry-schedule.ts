/** How long a webhook waits between attempts. */
export interface RetrySchedule {
  /** The wait after the first failed attempt (ms). */
  readonly backoffMs: number;
  /** The longest wait (ms). */
  readonly maxBackoffMs: number;
}

/**
 * The wait after failed attempt `failed` (from 1): `backoffMs` doubled for each attempt after
 * the first, at most `maxBackoffMs`, then spread by ±20% so that receivers coming back after an
 * outage are not hit by every replica's retries at the same moment. `random` is in [0, 1).
 *
 * @example
 * retryDelayMs(3, { backoffMs: 20_000, maxBackoffMs: 300_000 }, () => 0.5) // 80_000
 */
export function retryDelayMs(failed: number, schedule: RetrySchedule, random: () => number = Math.random): number {
  const base = Math.min(schedule.maxBackoffMs, schedule.backoffMs * 2 ** Math.max(0, failed - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}
