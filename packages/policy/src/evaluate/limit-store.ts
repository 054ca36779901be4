/** One counter a call would add to, as handed to a {@link LimitStore}. */
export interface LimitRequest {
  /** Identifies the counter within its scope and window length; stores key state by it. */
  readonly key: string;
  /** What this call adds: 1, or a spend amount. */
  readonly amount: number;
  readonly max: number;
  /** Start of the current window (epoch ms); a counter from an older window counts as 0. */
  readonly windowStart: number;
  /** End of the current window (epoch ms). */
  readonly windowEnd: number;
}

/** What a {@link LimitStore} answers for a set of requests. */
export interface LimitResult {
  /** Index of the first request that would exceed its max, or -1 when all were admitted and incremented. */
  readonly exceeded: number;
  /** Each counter's value: after the increment when admitted; the current value when not. */
  readonly used: readonly number[];
}

/**
 * Where limit counters live. `acquire` is all-or-nothing: when every request fits
 * (`used + amount <= max`) all are incremented together, atomically; otherwise none is.
 * In-memory for tests and one process; PostgreSQL (one atomic statement) for replicas,
 * which returns a promise — use `CompiledPolicy.decideAsync` with such a store.
 */
export interface LimitStore {
  acquire(requests: readonly LimitRequest[], now: number): LimitResult | Promise<LimitResult>;
}

interface Counter {
  windowStart: number;
  windowEnd: number;
  used: number;
}

/**
 * A {@link LimitStore} in process memory. Synchronous, so `decide` stays synchronous.
 * Counters of ended windows are swept as the map grows, so memory follows the number of
 * live counters, not the number of agents or sessions ever seen.
 */
export class MemoryLimitStore implements LimitStore {
  readonly #counters = new Map<string, Counter>();
  #sweepAt = 4096;

  acquire(requests: readonly LimitRequest[], now: number): LimitResult {
    const used = new Array<number>(requests.length);
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      const c = this.#counters.get(r.key);
      const current = c !== undefined && c.windowStart === r.windowStart ? c.used : 0;
      // Every earlier request on the same key in this call adds to this one too.
      let pending = 0;
      for (let j = 0; j < i; j++) if (requests[j]!.key === r.key) pending += requests[j]!.amount;
      if (current + pending + r.amount > r.max) {
        used[i] = current + pending;
        return { exceeded: i, used: fill(used, requests, this.#counters, i) };
      }
      used[i] = current + pending + r.amount;
    }
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      const c = this.#counters.get(r.key);
      if (c !== undefined && c.windowStart === r.windowStart) c.used += r.amount;
      else this.#counters.set(r.key, { windowStart: r.windowStart, windowEnd: r.windowEnd, used: r.amount });
    }
    if (this.#counters.size >= this.#sweepAt) this.#sweep(now);
    return { exceeded: -1, used };
  }

  /** The counter's value in the window starting at `windowStart` (0 when it has none). */
  peek(key: string, windowStart: number): number {
    const c = this.#counters.get(key);
    return c !== undefined && c.windowStart === windowStart ? c.used : 0;
  }

  /** Forgets every counter. */
  clear(): void {
    this.#counters.clear();
  }

  #sweep(now: number): void {
    for (const [key, c] of this.#counters) if (c.windowEnd <= now) this.#counters.delete(key);
    this.#sweepAt = Math.max(4096, this.#counters.size * 2);
  }
}

function fill(used: number[], requests: readonly LimitRequest[], counters: Map<string, Counter>, from: number): number[] {
  for (let i = from + 1; i < requests.length; i++) {
    const r = requests[i]!;
    const c = counters.get(r.key);
    used[i] = c !== undefined && c.windowStart === r.windowStart ? c.used : 0;
  }
  return used;
}
