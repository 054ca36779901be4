// The `limit` and `since` arguments of the demo exchange's list methods, checked and
// applied the way CCXT pages its results.
import { DemoExchangeError } from './exchange-error.js';

/**
 * `limit` checked and capped at `max`, or `fallback` when it is not given.
 *
 * @param name how the argument is called in the error message.
 * @throws DemoExchangeError (`request.bad`) when `limit` is not a positive integer.
 */
export function clampLimit(limit: number | undefined, fallback: number, max: number, name: string): number {
  if (limit === undefined) return fallback;
  if (!Number.isInteger(limit) || limit < 1) throw new DemoExchangeError('request.bad', `${name} must be a positive integer, got ${limit}`);
  return Math.min(limit, max);
}

/** @throws DemoExchangeError (`request.bad`) when `since` is given and is not epoch milliseconds. */
export function checkSince(since: number | undefined): void {
  if (since !== undefined && (!Number.isInteger(since) || since < 0)) {
    throw new DemoExchangeError('request.bad', `since must be a non-negative integer of epoch milliseconds, got ${since}`);
  }
}

/**
 * CCXT's paging of entries already filtered by `since`: with `since`, the first `limit`
 * entries; without, the latest `limit`; everything when `limit` is not given.
 *
 * @example pickPage([1, 2, 3], undefined, 2) // [2, 3]
 */
export function pickPage<T>(entries: T[], since: number | undefined, limit: number | undefined): T[] {
  if (limit === undefined || entries.length <= limit) return entries;
  return since === undefined ? entries.slice(-limit) : entries.slice(0, limit);
}
