/**
 * Where approval requests live (DESIGN §5): the state that every gateway replica on one
 * database shares, so that a request opened on one replica can be granted through another's
 * admin API and wake the call held on a third. The ledger keeps the record of every
 * transition (`approval.requested`, `approval.granted`, `approval.denied`,
 * `approval.expired`); this store keeps the current state, and never tells anyone of a
 * transition before the ledger event that records it is committed (the `record` callbacks
 * below run inside the store's transaction, with the request's row locked).
 */

/** A JSON value, as arguments hold them. */
export type ApprovalJson = null | boolean | number | string | ApprovalJson[] | { [key: string]: ApprovalJson };

/** Where a request is in its life. */
export type ApprovalStatus = 'pending' | 'granted' | 'denied' | 'expired' | 'consumed';

/**
 * What an approval is for: exactly one call, as the policy revision that asked for it saw it.
 * Two calls with the same binding are the same call; any difference (another argument value,
 * another agent, a new policy revision) needs its own approval.
 */
export interface ApprovalBinding {
  /** The upstream's name in the gateway configuration. */
  readonly server: string;
  /** The tool's own name at the upstream. */
  readonly tool: string;
  /** Hex SHA-256 of the RFC 8785 canonical JSON of the full (unredacted) arguments. */
  readonly argsSha256: string;
  /** The requesting agent. */
  readonly agentId: string;
  readonly policyRevision: string | null;
  /** Hex SHA-256 of the policy that asked for approval. */
  readonly policyDigest: string;
  /** The rule that asked for approval (`tools.cancel_order.action`, an `approve_if` id, …). */
  readonly rule: string;
}

/** What {@link ApprovalStore.open} needs to open a request. */
export interface ApprovalRequestInput extends ApprovalBinding {
  /** The session and call that opened it. */
  readonly sessionId: string | null;
  readonly callId: string;
  /** The arguments as approvers may see them: redacted as in the ledger. */
  readonly args: ApprovalJson;
  /** Why approval is needed (the rule's reason). */
  readonly reason: string;
  /** Approver ids or groups allowed to decide; null = any configured approver. */
  readonly approvers: readonly string[] | null;
  /** Distinct approvers whose grants are needed (1 or more). */
  readonly minApprovals: number;
  readonly requestedAt: Date;
  readonly expiresAt: Date;
}

/** One approver's decision on a request. */
export interface ApprovalVote {
  readonly approver: string;
  readonly decision: 'grant' | 'deny';
  readonly reason: string | null;
  readonly at: Date;
}

/** A request as the store holds it. */
export interface ApprovalRecord extends ApprovalRequestInput {
  /** A UUID. */
  readonly id: string;
  readonly status: ApprovalStatus;
  /** Every vote so far, oldest first. */
  readonly votes: readonly ApprovalVote[];
  /** When it became granted, denied or expired. */
  readonly decidedAt: Date | null;
  /** When its grant was used, and by which call. */
  readonly consumedAt: Date | null;
  readonly consumedByCall: string | null;
  /** Whether its `approval.requested` ledger event is committed (only then may it be decided). */
  readonly recorded: boolean;
  /**
   * When it stopped being the current request of its binding: its grant was used, or its
   * denial or expiry was reported to a call, or it was abandoned before its
   * `approval.requested` event could be recorded. Null while it is current.
   */
  readonly closedAt: Date | null;
}

/** The outcome of {@link ApprovalStore.decide}. */
export type ApprovalDecideResult =
  | { readonly ok: true; readonly record: ApprovalRecord }
  | { readonly ok: false; readonly reason: 'not_found' | 'not_recorded' | 'already_decided' | 'expired' | 'duplicate_vote' | 'self_approval'; readonly record?: ApprovalRecord };

/** Filters of {@link ApprovalStore.list}. */
export interface ApprovalListFilter {
  readonly status?: ApprovalStatus;
  /** Most records returned, newest first (default 100). */
  readonly limit?: number;
}

/**
 * Writes the ledger event of a transition; runs inside the store's transaction, with the
 * request's row locked, and is given the record as it will be once the transition commits.
 * If it throws, nothing changes and the store's method rejects with its error. It must not
 * call the store.
 */
export type ApprovalRecorder = (record: ApprovalRecord) => Promise<void>;

/**
 * Approval state shared by every replica (PostgreSQL; PGlite for the embedded ledger).
 * Every method is atomic across replicas.
 */
export interface ApprovalStore {
  /** The current request (not closed) of a binding, if any. */
  current(binding: ApprovalBinding): Promise<ApprovalRecord | undefined>;
  /**
   * Opens a request for the binding — or, when one is current, joins it (`created: false`).
   * Two replicas opening the same binding at once get the same request.
   */
  open(input: ApprovalRequestInput): Promise<{ readonly record: ApprovalRecord; readonly created: boolean }>;
  /** Marks a request's `approval.requested` event as committed; from then on it may be decided. */
  markRecorded(id: string): Promise<void>;
  get(id: string): Promise<ApprovalRecord | undefined>;
  list(filter?: ApprovalListFilter): Promise<ApprovalRecord[]>;
  /**
   * Adds one approver's vote. A deny decides the request (denied); grants decide it once
   * `minApprovals` distinct approvers granted. Refuses a vote on a request that is not
   * recorded, already decided, or expired (at `now`), a second vote by the same approver, and
   * a vote by the requesting agent itself. `record` writes the ledger event of the vote
   * (`approval.granted` / `approval.denied`) before anything is changed or anyone is woken.
   */
  decide(id: string, vote: ApprovalVote, now: Date, record: ApprovalRecorder): Promise<ApprovalDecideResult>;
  /**
   * Uses a granted, unexpired (at `now`), unused request's grant for the call `callId`: true
   * for exactly one caller across every replica; the request is then consumed and closed.
   */
  consume(id: string, callId: string, now: Date): Promise<boolean>;
  /**
   * Gives a consumed grant back when the call it was used for did not run after all (e.g. a
   * limit denied it): the request is granted and current again — unless an identical call has
   * opened a new request meanwhile, which then stands. Does nothing for another call's grant.
   */
  release(id: string, callId: string): Promise<void>;
  /**
   * Expires every pending or granted-but-unused request whose expiry is at or before `now`;
   * `record` writes each one's `approval.expired` event first — except for a request whose
   * `approval.requested` event was never recorded, whose expiry is not recorded either (in the
   * ledger an `approval.expired` always follows its request). Returns what it expired (a
   * request another replica expired first is not returned twice).
   */
  expire(now: Date, record: ApprovalRecorder): Promise<ApprovalRecord[]>;
  /**
   * Retires a denied or expired request once a call has been told (the next identical call
   * opens a new one); retiring it again does nothing. Also abandons a pending request whose
   * `approval.requested` event could not be recorded, so that the binding is not held by a
   * request nobody can decide (it can then never be recorded).
   * @throws LedgerError `ledger.approval_conflict` for a request that is pending (and recorded)
   *   or granted, `ledger.approval_not_found` for an unknown id.
   */
  retire(id: string, now: Date): Promise<void>;
  /**
   * Calls `listener` with a request's id whenever its state changes, on any replica
   * (PostgreSQL LISTEN/NOTIFY; within the process for the embedded ledger). Resolves once
   * listening, with a function that stops. A listener may also hear an id whose state did not
   * change — after a lost connection every current request is announced again, since changes
   * may have been missed — so it re-reads the record rather than trusting the announcement.
   */
  subscribe(listener: (approvalId: string) => void): Promise<() => Promise<void>>;
  /** Releases the store's own connections (not the ledger connection it was built on). */
  close(): Promise<void>;
}
