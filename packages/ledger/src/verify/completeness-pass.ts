import type { MissingOutcome, VerifyReader } from './verify-reader.js';

export type { MissingOutcome } from './verify-reader.js';

/** What the completeness pass found: how many allowed calls have no outcome, and the first of them. */
export interface CompletenessFindings {
  count: number;
  sample: MissingOutcome[];
}

/**
 * The completeness pass: every call that was allowed, and so forwarded, has an outcome. A call
 * without one is not a fault of the chain (the gateway stopped mid-call, or the outcome was
 * removed — which the chain pass reports as a gap), so it does not make the report fail. It
 * reads the `audit_allowed_without_outcome` view, the one auditors query, so both count alike.
 */
export class CompletenessPass {
  /** @param sampleSize How many of the calls to list (all are counted). */
  constructor(private readonly sampleSize: number) {}

  /** Counts the allowed calls without an outcome and lists the first, by decision time. */
  async run(reader: VerifyReader): Promise<CompletenessFindings> {
    const { count, sample } = await reader.allowedWithoutOutcome(this.sampleSize);
    return { count, sample: sample.map((r) => ({ ...r, decided_at: r.decided_at.toISOString() })) };
  }
}
