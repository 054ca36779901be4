/** A JSON value: what arguments, results and event details may hold. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };

/** Every event type the ledger records, in the order of a call's life. */
export const LEDGER_EVENT_TYPES = [
  'decision',
  'outcome',
  'approval.requested',
  'approval.granted',
  'approval.denied',
  'approval.expired',
  'policy.activated',
  'policy.rejected',
] as const;

/** The type of a ledger event (DESIGN §7). */
export type LedgerEventType = (typeof LEDGER_EVENT_TYPES)[number];

/** The effects a policy decision can have (DESIGN §2). */
export const DECISION_EFFECTS = ['allow', 'deny', 'approval_required', 'hidden'] as const;

/** The effect of a policy decision: `allow | deny | approval_required | hidden`. */
export type DecisionEffect = (typeof DECISION_EFFECTS)[number];

/** How a forwarded call ended. */
export const OUTCOME_STATUSES = ['ok', 'error', 'timeout', 'cancelled'] as const;

/**
 * How a forwarded call ended: `ok` (the upstream answered, even with a tool-level
 * `isError` result — put that in `detail`), `error` (transport or protocol failure),
 * `timeout`, or `cancelled` (the agent went away).
 */
export type OutcomeStatus = (typeof OUTCOME_STATUSES)[number];

/** Fields every event input may carry. */
export interface LedgerEventBase {
  /** When it happened; defaults to the writer's clock. Stored with millisecond precision. */
  at?: Date;
  /** Type-specific extra facts (limit counters, `retry_after`, error text); stored as JSON and hashed. */
  detail?: JsonObject | null;
}

/** The call an event is about: which agent called which tool of which server. */
export interface LedgerCallIdentity {
  /** Links the events of one call: its decision(s), approval events and outcome. */
  callId: string;
  /** The agent's id (from its bearer token, or the stdio gateway's configured agent). */
  agentId: string;
  /** The MCP session, when there is one. */
  sessionId?: string | null;
  /** The upstream server's name in the gateway config (e.g. `ccxt`). */
  server: string;
  /** The tool's name as the upstream knows it (without the `<server>__` prefix). */
  tool: string;
}

/**
 * A policy decision about one `tools/call`. The gateway writes it before it forwards an
 * allowed call (and must not forward when `append()` rejects: fail closed).
 *
 * @example
 * await sink.append({
 *   type: 'decision', callId, agentId: 'trader-1', sessionId, server: 'ccxt', tool: 'cancel_order',
 *   args: { exchange_id: 'binance', id: '42' },
 *   effect: decision.effect, rule: decision.rule, reason: decision.reason,
 *   policyRevision: decision.revision, policyDigest: decision.digest,
 * })
 */
export interface DecisionEventInput extends LedgerEventBase, LedgerCallIdentity {
  type: 'decision';
  /**
   * The arguments exactly as the agent sent them. The ledger stores them with the configured
   * JSON pointers redacted and records the SHA-256 of their full canonical form (RFC 8785).
   */
  args: JsonValue;
  /** The decision's effect. */
  effect: DecisionEffect;
  /** The stable id of the rule that decided (e.g. `tools.cancel_order.deny_if[0]`), or null for a plain allow. */
  rule: string | null;
  /** The decision's human-readable reason. */
  reason: string;
  /** The policy revision that decided, or null for a policy loaded without one (e.g. from a directory). */
  policyRevision: string | null;
  /**
   * Hex SHA-256 digest of the policy that decided; null only for a refusal the gateway made
   * with no policy in force (rule `gateway.no_policy`). An allow always names its policy.
   */
  policyDigest: string | null;
  /** When a granted approval let this call through: that approval's id. */
  approvalId?: string | null;
  /**
   * What a policy or tool rule in shadow mode would have decided (the decision's
   * `shadow.effect`), when one was evaluated; stored as `shadow_effect`.
   */
  shadowEffect?: DecisionEffect | null;
  /** The rule that would have decided in shadow mode (`shadow.rule`); stored as `shadow_rule`. */
  shadowRule?: string | null;
}

/** How a call that was allowed and forwarded ended. Written after the upstream answered. */
export interface OutcomeEventInput extends LedgerEventBase, LedgerCallIdentity {
  type: 'outcome';
  /** How the call ended. */
  status: OutcomeStatus;
  /** Time from forwarding to the answer, in milliseconds. */
  durationMs: number;
  /** Hex SHA-256 of the canonical JSON of the result, when there was one. */
  resultSha256?: string | null;
  /** For `error`, `timeout` and `cancelled`: what happened. */
  reason?: string | null;
}

/** A call held for a human approval (DESIGN §5); recorded before anyone is notified. */
export interface ApprovalRequestedEventInput extends LedgerEventBase, LedgerCallIdentity {
  type: 'approval.requested';
  /** The approval request's id. */
  approvalId: string;
  /** The arguments to approve; redacted and digested like a decision's. */
  args: JsonValue;
  /** The rule that asked for approval. */
  rule: string | null;
  /** Why approval is needed. */
  reason: string;
  /** The policy revision that asked for approval. */
  policyRevision: string | null;
  /** Hex SHA-256 digest of that policy. */
  policyDigest: string;
  /** When the request expires; stored in `detail.expires_at`. */
  expiresAt: Date;
}

/** The resolution of an approval request: granted, denied, or expired. */
export interface ApprovalResolvedEventInput extends LedgerEventBase {
  type: 'approval.granted' | 'approval.denied' | 'approval.expired';
  /** The approval request's id. */
  approvalId: string;
  /** The held call's id, when known. */
  callId?: string | null;
  /** The agent that made the request (the requester). */
  agentId: string;
  /** The requester's session. */
  sessionId?: string | null;
  /** The request's server. */
  server: string;
  /** The request's tool. */
  tool: string;
  /** Hex SHA-256 of the canonical arguments the approver saw (the request's digest). */
  argsSha256: string;
  /** Who approved or denied; null for `approval.expired`. */
  approver: string | null;
  /** The approver's comment, or why it expired. */
  reason?: string | null;
}

/** A policy bundle the gateway activated, or refused (and kept the last good one). */
export interface PolicyEventInput extends LedgerEventBase {
  type: 'policy.activated' | 'policy.rejected';
  /** The server the policy governs, or null for a bundle covering every server. */
  server?: string | null;
  /** The bundle's revision, when it could be read. */
  policyRevision: string | null;
  /** Hex SHA-256 digest of the policy or bundle, when it could be read. */
  policyDigest: string | null;
  /** For `policy.rejected`: why it was refused. */
  reason?: string | null;
}

/**
 * Everything the gateway records: a plain, typed object per event type. The writer adds the
 * event id, time, strand, sequence and hash chain.
 */
export type LedgerEventInput =
  | DecisionEventInput
  | OutcomeEventInput
  | ApprovalRequestedEventInput
  | ApprovalResolvedEventInput
  | PolicyEventInput;

/** What `append()` resolves with once the event's batch is committed. */
export interface AppendedEvent {
  /** The event's id (a UUIDv7, time-ordered). */
  eventId: string;
  /** The writer's strand. */
  strandId: string;
  /** The event's place in its strand, from 1. */
  seq: number;
  /** The hash of the event before it in the strand (64 zeros for the first). */
  prevHash: string;
  /** The event's hash: SHA-256(prevHash || canonical(event)). */
  hash: string;
  /** When it happened, ISO 8601 with milliseconds. */
  occurredAt: string;
}

/**
 * How one column of `ledger_events` is typed and read: `Row` in a {@link LedgerEventRow} (what
 * queries, exports and the hash chain see); `Read` and `Write` what the database driver returns
 * and takes, when they differ from `Row` (`Plain` false: Kysely sees `ColumnType<Read, Write,
 * never>`, never updated); and the facts that turn a stored value into a row's.
 */
export interface LedgerEventColumn<Row, Read = Row, Write = Read, Plain extends boolean = boolean> {
  /** The stored `Date` becomes ISO 8601 UTC with milliseconds in a row. */
  readonly time: boolean;
  /** Stored as `jsonb`; canonical JSON in a CSV export. */
  readonly json: boolean;
  /**
   * Left out of a row, and of the canonical form the hash covers, when null: a column added
   * after events were first chained (migration 0011), so every event hashed before it existed
   * still verifies. Optional in {@link LedgerEventRow}.
   */
  readonly omittedWhenNull: boolean;
  /** Type-level only, never set: the column's types. */
  readonly types?: { row: Row; read: Read; write: Write; plain: Plain };
}

/** A column the driver reads and writes as its row type. */
function column<Row>(): LedgerEventColumn<Row, Row, Row, true> {
  return Object.freeze({ time: false, json: false, omittedWhenNull: false });
}

/** A column whose stored form differs from its row's: a time, a JSON document, a `bigint`. */
function storedColumn<Row, Read, Write>(facts: { time?: true; json?: true } = {}): LedgerEventColumn<Row, Read, Write, false> {
  return Object.freeze({ time: facts.time ?? false, json: facts.json ?? false, omittedWhenNull: false });
}

/** A column added after events were first chained: left out of rows and hashes when null. */
function nullOmittedColumn<Row>(): LedgerEventColumn<Row | null, Row | null, Row | null, true> & { readonly omittedWhenNull: true } {
  return Object.freeze({ time: false, json: false, omittedWhenNull: true as const });
}

/**
 * The one declaration of a `ledger_events` row, in table order: {@link LedgerEventRow},
 * Kysely's `LedgerEventsTable` and {@link LEDGER_EVENT_COLUMNS} are all derived from it, so a new
 * column is one entry here (plus its migration, and the writer that fills it).
 */
export const LEDGER_EVENT_TABLE = Object.freeze({
  event_id: column<string>(),
  /** ISO 8601 UTC with milliseconds. */
  occurred_at: storedColumn<string, Date, string>({ time: true }),
  strand_id: column<string>(),
  seq: storedColumn<number, number, number>(),
  prev_hash: column<string>(),
  hash: column<string>(),
  event_type: column<LedgerEventType>(),
  call_id: column<string | null>(),
  agent_id: column<string | null>(),
  session_id: column<string | null>(),
  server: column<string | null>(),
  tool: column<string | null>(),
  /** Arguments with redacted pointers replaced by `"[REDACTED]"`. */
  args: storedColumn<JsonValue | null, JsonValue | null, string | null>({ json: true }),
  args_sha256: column<string | null>(),
  effect: column<DecisionEffect | null>(),
  rule: column<string | null>(),
  reason: column<string | null>(),
  policy_revision: column<string | null>(),
  policy_digest: column<string | null>(),
  approval_id: column<string | null>(),
  approver: column<string | null>(),
  outcome_status: column<OutcomeStatus | null>(),
  duration_ms: column<number | null>(),
  result_sha256: column<string | null>(),
  detail: storedColumn<JsonObject | null, JsonObject | null, string | null>({ json: true }),
  /**
   * For a decision with something in shadow mode: the would-be effect. Null in the table
   * otherwise (and for every event written before migration 0011); rows read from the ledger
   * leave the key out when it is null, as the hash does, so that the chain recipe
   * `SHA-256(prev_hash || canonical(row minus prev_hash and hash))` holds for every row.
   */
  shadow_effect: nullOmittedColumn<DecisionEffect>(),
  /** The rule that would have decided in shadow mode; left out like `shadow_effect` when null (also for a would-be plain allow). */
  shadow_rule: nullOmittedColumn<string>(),
});

type EventColumns = typeof LEDGER_EVENT_TABLE;
type RowType<C> = C extends LedgerEventColumn<infer Row, unknown, unknown, boolean> ? Row : never;
type OmittedKeys = { [K in keyof EventColumns]: EventColumns[K] extends { readonly omittedWhenNull: true } ? K : never }[keyof EventColumns];

/** A column name of `ledger_events`. */
export type LedgerEventColumnName = keyof EventColumns;

/**
 * One row of `ledger_events`, with the column names of the table: what queries and exports
 * return, and (minus `prev_hash` and `hash`) what the hash chain covers. Derived from
 * {@link LEDGER_EVENT_TABLE}.
 */
export type LedgerEventRow = {
  -readonly [K in keyof EventColumns as K extends OmittedKeys ? never : K]: RowType<EventColumns[K]>;
} & {
  -readonly [K in keyof EventColumns as K extends OmittedKeys ? K : never]?: RowType<EventColumns[K]>;
};

/** The columns of `ledger_events`, in table order. */
export const LEDGER_EVENT_COLUMNS: readonly LedgerEventColumnName[] = Object.freeze(Object.keys(LEDGER_EVENT_TABLE) as LedgerEventColumnName[]);
