/** What kind of fault `verifyLedger` found. */
export type VerifyProblemKind =
  /** An event's stored hash does not match its content. */
  | 'hash_mismatch'
  /** An event's prev_hash is not the hash of the event before it. */
  | 'broken_link'
  /** Sequence numbers skip: events are missing. */
  | 'sequence_gap'
  /** A sequence number appears twice. */
  | 'sequence_duplicate'
  /** Events of a strand no writer registered in `ledger_strands`. */
  | 'unregistered_strand'
  /** A registered strand has no events left. */
  | 'missing_strand'
  /** A checkpoint's signature or key id is wrong. */
  | 'checkpoint_invalid'
  /** A checkpoint is signed by a key that is not among the trusted keys. */
  | 'checkpoint_untrusted'
  /** A strand is shorter than a checkpoint says it was: its tail was cut. */
  | 'checkpoint_truncated'
  /** The event at a checkpoint's head has a different hash than the checkpoint signed. */
  | 'checkpoint_mismatch'
  /** A checkpoint file is not in `ledger_checkpoints`. */
  | 'checkpoint_missing'
  /** A checkpoint file and the database's copy of the same checkpoint differ. */
  | 'checkpoint_conflict'
  /**
   * An event dated inside a checkpoint's period (before the checkpoint was taken, less the
   * grace) that the checkpoint does not cover: a strand it does not list, or a seq beyond the
   * head it signed. It was written after the checkpoint and dated back into its period.
   */
  | 'checkpoint_backdated'
  /**
   * An `approval.granted`, `approval.denied` or `approval.expired` with no `approval.requested`
   * of its approval id, or dated before it (beyond the approval grace).
   */
  | 'approval_unrequested'
  /** A second `approval.requested` with an approval id already requested. */
  | 'approval_duplicate_request'
  /** An approval granted by the agent that requested it. */
  | 'approval_self_granted'
  /**
   * An allowed call naming an approval that was never requested, was denied, or had fewer
   * than its `min_approvals` distinct grants before the call.
   */
  | 'approval_ungranted'
  /** An allowed call naming an approval already used by another allowed call. */
  | 'approval_reused'
  /** An allowed call naming an approval after the approval expired (beyond the approval grace). */
  | 'approval_expired_use'
  /** An allowed call naming an approval requested for another call (server, tool, agent or arguments). */
  | 'approval_mismatch';

/** The likely tampering behind a problem. */
export type VerifyProblemCause =
  | 'altered'
  | 'deleted'
  | 'inserted'
  | 'reordered'
  | 'renumbered'
  | 'truncated'
  | 'forged'
  /**
   * Dated earlier than it can have happened: written after a checkpoint but dated inside its
   * period, or an approval's decision dated before its request.
   */
  | 'backdated'
  /**
   * A call ran, or a grant was given, that the approval rules forbid: the events are chained
   * soundly, so they were written by a gateway at fault or forged by someone with the writer's
   * rights.
   */
  | 'unauthorized'
  | 'unknown';

/** One fault, naming the event (strand, sequence, event id) where it shows. */
export interface VerifyProblem {
  kind: VerifyProblemKind;
  cause: VerifyProblemCause;
  strand_id: string | null;
  seq: number | null;
  event_id: string | null;
  checkpoint_id: string | null;
  /** The approval a problem of an `approval_*` kind is about; null for the others. */
  approval_id: string | null;
  message: string;
}

/** A problem that is not about an approval (`approval_id` null). */
export function problem(
  kind: VerifyProblemKind,
  cause: VerifyProblemCause,
  strandId: string | null,
  seq: number | null,
  eventId: string | null,
  checkpointId: string | null,
  message: string,
): VerifyProblem {
  return { kind, cause, strand_id: strandId, seq, event_id: eventId, checkpoint_id: checkpointId, approval_id: null, message };
}

/** A problem found at one event. */
export function eventProblem(
  kind: VerifyProblemKind,
  cause: VerifyProblemCause,
  row: { readonly strand_id: string; readonly seq: number; readonly event_id: string },
  message: string,
): VerifyProblem {
  return problem(kind, cause, row.strand_id, row.seq, row.event_id, null, message);
}
