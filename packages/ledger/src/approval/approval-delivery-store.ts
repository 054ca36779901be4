/**
 * Where the webhook notifications of approval events are kept (`approvals.notify`): every
 * delivery of an event to a receiver and every attempt at it, shared by every gateway replica
 * on one database. The database decides who delivers: a delivery is created by exactly one
 * replica (insert-or-skip on its approval, event, approver and receiver), and each attempt is
 * claimed by exactly one replica (a lease), so an event is sent once however many replicas
 * see it, and a delivery a stopped replica left unfinished is finished by another.
 */

/** The approval events a receiver may be told of. */
export type ApprovalDeliveryEvent = 'requested' | 'granted' | 'denied' | 'expired';

/** Every {@link ApprovalDeliveryEvent}, in the order of a request's life. */
export const APPROVAL_DELIVERY_EVENTS: readonly ApprovalDeliveryEvent[] = Object.freeze(['requested', 'granted', 'denied', 'expired']);

/** How a body is laid out: Tollgate's JSON, or a Slack incoming-webhook message. */
export type ApprovalDeliveryFormat = 'json' | 'slack';

/** Where a delivery is: waiting for (or in) an attempt, delivered, given up, or never attempted. */
export type ApprovalDeliveryStatus = 'pending' | 'delivered' | 'failed' | 'dropped';

/** What a delivery is: one event of one approval request, for one receiver. */
export interface ApprovalDeliveryInput {
  /** The delivery id (a UUID): sent as `X-Tollgate-Delivery` with every attempt. */
  readonly id: string;
  readonly approvalId: string;
  readonly event: ApprovalDeliveryEvent;
  /** Who voted, for `granted` and `denied` (each vote is told); null for the others. */
  readonly approver: string | null;
  /** The receiver's id in the gateway configuration. */
  readonly receiver: string;
  readonly format: ApprovalDeliveryFormat;
  /** The body, sent unchanged at every attempt. */
  readonly payload: string;
  /** The most attempts before the delivery fails (1 or more). */
  readonly maxAttempts: number;
}

/** An attempt a replica holds the lease of: it alone may make it, until the lease ends. */
export interface ClaimedDelivery {
  readonly id: string;
  readonly approvalId: string;
  readonly event: ApprovalDeliveryEvent;
  readonly approver: string | null;
  readonly receiver: string;
  readonly payload: string;
  /** This attempt's number, from 1. */
  readonly attempt: number;
  readonly maxAttempts: number;
}

/** How one attempt went, as the delivering replica measured it. */
export interface ApprovalDeliveryAttempt {
  readonly attempt: number;
  /** When it started (the delivering replica's clock). */
  readonly startedAt: Date;
  readonly durationMs: number;
  /** The HTTP status it was answered with; null when it got no answer. */
  readonly statusCode: number | null;
  /** Why it failed (a refused connection, a timeout, a non-2xx answer); null when it succeeded. */
  readonly error: string | null;
  /** The replica that made it. */
  readonly replica: string;
}

/** What follows an attempt: it was delivered, another attempt after a delay, or the delivery failed. */
export type ApprovalDeliveryNext =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'retry'; readonly delayMs: number }
  | { readonly kind: 'failed' };

/** A delivery as the store holds it, with its finished attempts. */
export interface ApprovalDeliveryRecord extends Pick<ApprovalDeliveryInput, 'id' | 'approvalId' | 'event' | 'approver' | 'receiver' | 'format'> {
  readonly status: ApprovalDeliveryStatus;
  /** True while a replica holds the lease of an attempt (pending only). */
  readonly inProgress: boolean;
  readonly maxAttempts: number;
  readonly createdAt: Date;
  /** When the next attempt is due (pending only). */
  readonly nextAttemptAt: Date | null;
  /** When it was delivered, failed or dropped. */
  readonly finishedAt: Date | null;
  /** Why it was dropped or failed without an attempt of its own (e.g. a full queue). */
  readonly note: string | null;
  /** Every finished attempt, oldest first. */
  readonly attempts: readonly ApprovalDeliveryAttempt[];
}

/**
 * The deliveries of approval events, shared by every replica (PostgreSQL; PGlite for the
 * embedded ledger). Every method is atomic across replicas. Times of leases and schedules are
 * the database's, so replicas whose clocks differ still agree on who may attempt what.
 */
export interface ApprovalDeliveryStore {
  /**
   * Creates a delivery — unless one exists for its approval, event, approver and receiver
   * (then undefined: another replica, or an earlier call, has it). With `claim`, the creator
   * holds the lease of the first attempt (for `claim.leaseMs`); without, the delivery is due at
   * once for whichever replica sweeps first.
   */
  create(input: ApprovalDeliveryInput, claim?: { readonly owner: string; readonly leaseMs: number }): Promise<ClaimedDelivery | undefined>;
  /**
   * Records a delivery that will never be attempted (the replica's queue was full), with why.
   * False when the delivery exists already.
   */
  drop(input: ApprovalDeliveryInput, note: string): Promise<boolean>;
  /**
   * Claims up to `limit` attempts that are due and that nobody holds, of deliveries to these
   * receivers, oldest due first; each for `leaseMs`. Two replicas never claim the same attempt.
   * Also fails the deliveries whose last attempt was claimed and never finished (the replica
   * stopped in the middle of it) once that lease has ended.
   */
  claimDue(receivers: readonly string[], owner: string, leaseMs: number, limit: number): Promise<ClaimedDelivery[]>;
  /**
   * Records a claimed attempt's result and what follows. The attempt is recorded whatever
   * happened since; the delivery moves on only while `owner` still holds the claim.
   */
  finish(claim: ClaimedDelivery, owner: string, attempt: Omit<ApprovalDeliveryAttempt, 'attempt' | 'replica'>, next: ApprovalDeliveryNext): Promise<void>;
  /** Every delivery of an approval request, oldest first, with its attempts. */
  list(approvalId: string): Promise<ApprovalDeliveryRecord[]>;
  /** Fails with `ledger.not_migrated` (naming `tollgate ledger migrate`) when the tables are missing. */
  check(): Promise<void>;
  /** Releases the store's own connections (not the ledger connection it was built on). */
  close(): Promise<void>;
}
