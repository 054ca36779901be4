/**
 * Where the demo exchange reads the time: order timestamps, the current candle, the
 * order book's mid price and option expiries all come from it, so a fixed clock makes
 * every answer reproducible.
 *
 * @example const clock: Clock = { now: () => Date.parse('2025-01-01T00:00:00Z') };
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/**
 * A clock that only moves when told to, for tests and scripted demos.
 *
 * @example const clock = manualClock('2025-01-01T00:00:00Z'); clock.advance(60_000);
 */
export interface ManualClock extends Clock {
  /** Moves the clock forward (or back, with a negative number) by `ms` milliseconds. */
  advance(ms: number): void;
  /** Sets the clock to an absolute time (epoch milliseconds or an ISO 8601 string). */
  set(time: number | string): void;
}

/**
 * Creates a {@link ManualClock} starting at `start` (epoch milliseconds or ISO 8601).
 *
 * @throws RangeError when `start` is not a valid time.
 */
export function manualClock(start: number | string): ManualClock {
  let current = toEpochMs(start, 'manualClock(start)');
  return {
    now: () => current,
    advance(ms: number) {
      if (!Number.isFinite(ms)) throw new RangeError(`manualClock.advance: ${ms} is not a finite number of milliseconds`);
      current += ms;
    },
    set(time: number | string) {
      current = toEpochMs(time, 'manualClock.set(time)');
    },
  };
}

function toEpochMs(time: number | string, where: string): number {
  const ms = typeof time === 'number' ? time : Date.parse(time);
  if (!Number.isFinite(ms)) throw new RangeError(`${where}: ${JSON.stringify(time)} is not a valid time`);
  return ms;
}
