/**
 * Timing of decision engines: throughput over a whole stream, per-decision latency with
 * `process.hrtime.bigint` around each decision, per-decision latency from small timed
 * batches, and the cost of the timer itself.
 */

/**
 * Decides calls `from` (inclusive) to `to` (exclusive) of a prepared stream and returns
 * how many were allowed. One kernel per engine keeps each engine's call site monomorphic.
 */
export type DecisionKernel = (from: number, to: number) => number;

/** Distribution summary of a set of samples, in nanoseconds. */
export interface LatencySummary {
  readonly samples: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

/** Throughput of several timed passes over a stream. */
export interface ThroughputResult {
  /** Decisions per second of each timed pass, in run order. */
  readonly passes: readonly number[];
  readonly best: number;
  readonly median: number;
  /** Allowed calls in one pass (every pass must agree). */
  readonly allowed: number;
}

/** Keeps results observable, so that no engine's work can be optimised away. */
let sink = 0;

/** The sum of every kernel result seen; printed by the benchmark so the work stays observable. */
export function observed(): number {
  return sink;
}

/** The value at quantile `q` (0..1) of ascending-sorted samples (nearest rank). */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** Summarises samples (nanoseconds). */
export function summarize(samples: Float64Array): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  return {
    samples: sorted.length,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    p999: quantile(sorted, 0.999),
    max: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
    mean: sorted.length > 0 ? sum / sorted.length : Number.NaN,
  };
}

/** One engine's part in {@link measureThroughputInterleaved}. */
export interface ThroughputPlan {
  /**
   * Called before every pass, outside the timing (a stateful engine resets its counters
   * there); returns the kernel for that pass.
   */
  readonly prepare: () => DecisionKernel;
  /** Untimed passes first, so that the code is optimised before it is timed. */
  readonly warmup: number;
  /** Timed passes. */
  readonly passes: number;
}

/**
 * Throughput of several engines over a stream of `size` calls. After every engine's
 * warm-up, the timed passes run in `rounds` rounds, each engine's passes spread evenly
 * over them, so that load from elsewhere on the machine falls on every engine alike
 * instead of on whichever happened to run at the time.
 */
export function measureThroughputInterleaved(plans: readonly ThroughputPlan[], size: number, rounds: number): ThroughputResult[] {
  for (const plan of plans) for (let w = 0; w < plan.warmup; w++) sink += plan.prepare()(0, size);
  const rates = plans.map((): number[] => []);
  const allowed = plans.map(() => -1);
  for (let r = 0; r < rounds; r++) {
    plans.forEach((plan, e) => {
      const from = Math.ceil((r * plan.passes) / rounds);
      const to = Math.ceil(((r + 1) * plan.passes) / rounds);
      for (let p = from; p < to; p++) {
        const kernel = plan.prepare();
        const t0 = process.hrtime.bigint();
        const n = kernel(0, size);
        const t1 = process.hrtime.bigint();
        sink += n;
        if (allowed[e] !== -1 && n !== allowed[e]) throw new Error(`pass ${p} allowed ${n} calls, an earlier pass ${allowed[e]}: the engine is not deterministic`);
        allowed[e] = n;
        rates[e]!.push(size / (Number(t1 - t0) / 1e9));
      }
    });
  }
  return rates.map((passes, e) => {
    const sorted = [...passes].sort((a, b) => a - b);
    return { passes, best: sorted[sorted.length - 1]!, median: sorted[Math.floor((sorted.length - 1) / 2)]!, allowed: allowed[e]! };
  });
}

/** Times every decision on its own: `hrtime.bigint()`, one decision, `hrtime.bigint()`. Includes the timer's cost. */
export function samplePerCall(kernel: DecisionKernel, size: number): Float64Array {
  const out = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    const t0 = process.hrtime.bigint();
    sink += kernel(i, i + 1);
    const t1 = process.hrtime.bigint();
    out[i] = Number(t1 - t0);
  }
  return out;
}

/**
 * Times consecutive groups of `batch` decisions and divides by `batch`: the timer's cost
 * is spread over the group, at the price of averaging within it (a slow decision inside a
 * group is diluted by its neighbours).
 */
export function sampleBatched(kernel: DecisionKernel, size: number, batch: number): Float64Array {
  const groups = Math.floor(size / batch);
  const out = new Float64Array(groups);
  for (let g = 0; g < groups; g++) {
    const from = g * batch;
    const t0 = process.hrtime.bigint();
    sink += kernel(from, from + batch);
    const t1 = process.hrtime.bigint();
    out[g] = Number(t1 - t0) / batch;
  }
  return out;
}

/** The timer's own cost: {@link samplePerCall} around a kernel that decides nothing. */
export function sampleTimerCost(size: number): Float64Array {
  return samplePerCall((from, to) => to - from - 1, size);
}
