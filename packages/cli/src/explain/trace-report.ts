import type { DecisionTrace, TraceEvaluation, TraceLimit, TraceShadowMode, TraceStep } from '@tollgate/policy';

/**
 * Where a limit's counter value before the call came from: `fresh` (an ad-hoc `tollgate eval`:
 * counters start empty, in memory), `ledger` (re-derived from the earlier decisions recorded in
 * the ledger that counted in the same counter and window), or `unknown` (the ledger cannot tell;
 * the value shown is an assumption, given in `why`).
 */
export type CounterSource =
  | { readonly source: 'fresh' }
  | { readonly source: 'ledger'; readonly decisions: number }
  | { readonly source: 'unknown'; readonly why: string };

/** A traced limit with where its counter came from. */
export type ReportedLimit = TraceLimit & { readonly counter_source: CounterSource };

/** A traced step whose limits carry their counter source. */
export type ReportedStep = Omit<TraceStep, 'limits'> & { readonly limits?: readonly ReportedLimit[] };

/** A traced evaluation, as the CLI reports it. */
export interface ReportedEvaluation extends Omit<TraceEvaluation, 'steps'> {
  readonly steps: readonly ReportedStep[];
}

/** The trace part of `tollgate eval --explain` and `tollgate explain` reports. */
export interface TraceReport {
  readonly shadow_mode: TraceShadowMode;
  /** The evaluation whose verdict is the enforced decision. */
  readonly enforced: ReportedEvaluation;
  /** The would-be evaluation of what is in shadow mode; null when none ran. */
  readonly shadow: ReportedEvaluation | null;
}

/** The trace of a decision as the CLI reports it, each limit marked with where its counter came from. */
export function traceReportOf(trace: DecisionTrace, counterSource: (limit: TraceLimit) => CounterSource): TraceReport {
  const evaluation = (e: TraceEvaluation): ReportedEvaluation => ({
    verdict: e.verdict,
    steps: e.steps.map((s) => {
      const { limits, ...rest } = s;
      return limits ? { ...rest, limits: limits.map((l) => ({ ...l, counter_source: counterSource(l) })) } : rest;
    }),
  });
  return { shadow_mode: trace.shadow_mode, enforced: evaluation(trace.enforced), shadow: trace.shadow ? evaluation(trace.shadow) : null };
}
