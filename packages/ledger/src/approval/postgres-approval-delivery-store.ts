import type { LedgerConnection } from '../database/ledger-connection.js';
import { ledgerErrorFromPg } from '../database/pool-ledger-connection.js';
import type { StoreSessions } from '../database/store-sessions.js';
import { LedgerError, describeError } from '../ledger-error.js';
import {
  APPROVAL_DELIVERY_EVENTS,
  type ApprovalDeliveryAttempt,
  type ApprovalDeliveryEvent,
  type ApprovalDeliveryFormat,
  type ApprovalDeliveryInput,
  type ApprovalDeliveryNext,
  type ApprovalDeliveryRecord,
  type ApprovalDeliveryStatus,
  type ApprovalDeliveryStore,
  type ClaimedDelivery,
} from './approval-delivery-store.js';

/** Options of {@link openApprovalDeliveryStore}. */
export interface ApprovalDeliveryStoreOptions {
  /** `application_name` of the store's PostgreSQL sessions (default `tollgate-deliveries`). */
  readonly applicationName?: string;
  /** The most PostgreSQL sessions the store opens (default 2). */
  readonly maxConnections?: number;
}

/**
 * Opens the {@link ApprovalDeliveryStore} of a ledger database (PostgreSQL or PGlite; migration
 * `0014_approval_deliveries.sql`) on sessions of its own. The connection stays the caller's:
 * close the store, then the connection.
 *
 * @example
 * const deliveries = openApprovalDeliveryStore(connection);
 * await deliveries.check();
 * const claim = await deliveries.create(input, { owner: 'replica-a', leaseMs: 11_000 });
 * @throws LedgerError `ledger.closed` or `ledger.invalid_options`.
 */
export function openApprovalDeliveryStore(connection: LedgerConnection, options: ApprovalDeliveryStoreOptions = {}): PostgresApprovalDeliveryStore {
  return new PostgresApprovalDeliveryStore(
    connection.openStoreSessions({
      applicationName: options.applicationName ?? 'tollgate-deliveries',
      maxConnections: options.maxConnections ?? 2,
    }),
  );
}

interface ClaimRow {
  id: string;
  approval_id: string;
  event: ApprovalDeliveryEvent;
  approver: string;
  receiver: string;
  payload: string;
  attempts: number;
  max_attempts: number;
}

interface DeliveryRow {
  id: string;
  approval_id: string;
  event: ApprovalDeliveryEvent;
  approver: string;
  receiver: string;
  format: ApprovalDeliveryFormat;
  status: ApprovalDeliveryStatus;
  in_progress: boolean;
  max_attempts: number;
  created_at: Date;
  next_attempt_at: Date | null;
  finished_at: Date | null;
  note: string | null;
  attempt_log: Array<{ attempt: number; started_at: string; duration_ms: number; status_code: number | null; error: string | null; replica: string }>;
}

const CLAIM_COLUMNS = 'id, approval_id, event, approver, receiver, payload, attempts, max_attempts';
// A claimed first attempt: attempts = 1 and a lease; an unclaimed delivery: due now, no lease.
const CREATE_SQL = `INSERT INTO approval_deliveries
  (id, approval_id, event, approver, receiver, format, payload, max_attempts, status, attempts, next_attempt_at, lease_owner, lease_until)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', CASE WHEN $9::text IS NULL THEN 0 ELSE 1 END, now(), $9::text,
  CASE WHEN $9::text IS NULL THEN NULL ELSE now() + make_interval(secs => $10) END)
ON CONFLICT (approval_id, event, approver, receiver) DO NOTHING
RETURNING ${CLAIM_COLUMNS}`;
const DROP_SQL = `INSERT INTO approval_deliveries
  (id, approval_id, event, approver, receiver, format, payload, max_attempts, status, attempts, finished_at, note)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'dropped', 0, now(), $9)
ON CONFLICT (approval_id, event, approver, receiver) DO NOTHING
RETURNING id`;
// A delivery whose last attempt was claimed and never finished: nobody may attempt it again.
const GIVE_UP_SQL = `UPDATE approval_deliveries SET status = 'failed', next_attempt_at = NULL, finished_at = now(),
  lease_owner = NULL, lease_until = NULL,
  note = 'the last attempt was cut off (the replica making it stopped) and was not finished'
WHERE status = 'pending' AND attempts >= max_attempts AND lease_until <= now() AND receiver = ANY($1::text[])`;
// SKIP LOCKED: a row another replica is claiming right now is left to it. The due rows are
// picked (and locked) once, in a materialized CTE, so LIMIT bounds what is claimed; the outer
// conditions are checked again on each row as it is once locked.
const CLAIM_DUE_SQL = `WITH due AS MATERIALIZED (
    SELECT id FROM approval_deliveries
    WHERE status = 'pending' AND attempts < max_attempts AND next_attempt_at <= now()
      AND (lease_until IS NULL OR lease_until <= now()) AND receiver = ANY($1::text[])
    ORDER BY next_attempt_at, id
    LIMIT $4
    FOR UPDATE SKIP LOCKED)
UPDATE approval_deliveries d
SET attempts = d.attempts + 1, lease_owner = $2, lease_until = now() + make_interval(secs => $3)
FROM due
WHERE d.id = due.id
  AND d.status = 'pending' AND d.attempts < d.max_attempts AND (d.lease_until IS NULL OR d.lease_until <= now())
RETURNING ${CLAIM_COLUMNS.split(', ').map((c) => `d.${c}`).join(', ')}`;
// One statement (PGlite commits each statement as it runs): the attempt is always recorded; the
// delivery moves on only while this replica holds the claim of this very attempt.
const FINISH_SQL = `WITH recorded AS (
  INSERT INTO approval_delivery_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, replica)
  VALUES ($1, $2, $3, $4, $5, $6, $7)
  ON CONFLICT (delivery_id, attempt) DO NOTHING
)
UPDATE approval_deliveries SET
  status = $8,
  next_attempt_at = CASE WHEN $8 = 'pending' THEN now() + make_interval(secs => $9) END,
  finished_at = CASE WHEN $8 = 'pending' THEN NULL ELSE now() END,
  lease_owner = NULL,
  lease_until = NULL
WHERE id = $1 AND status = 'pending' AND attempts = $2 AND lease_owner = $7`;
const LIST_SQL = `SELECT d.id, d.approval_id, d.event, d.approver, d.receiver, d.format, d.status,
  (d.lease_until IS NOT NULL AND d.lease_until > now()) AS in_progress, d.max_attempts, d.created_at,
  d.next_attempt_at, d.finished_at, d.note,
  coalesce((SELECT json_agg(json_build_object('attempt', a.attempt, 'started_at', a.started_at, 'duration_ms', a.duration_ms,
    'status_code', a.status_code, 'error', a.error, 'replica', a.replica) ORDER BY a.attempt)
    FROM approval_delivery_attempts a WHERE a.delivery_id = d.id), '[]'::json) AS attempt_log
FROM approval_deliveries d WHERE d.approval_id = $1 ORDER BY d.created_at, d.id`;
const CHECK_SQL = 'SELECT 1 FROM approval_deliveries, approval_delivery_attempts LIMIT 0';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FORMATS: readonly ApprovalDeliveryFormat[] = ['json', 'slack'];
const MAX_ATTEMPTS = 100;
const MAX_TEXT = 2000;

/**
 * The {@link ApprovalDeliveryStore} in the ledger's database, on PostgreSQL (every replica) and
 * on PGlite (the embedded ledger) alike: tables `approval_deliveries` and
 * `approval_delivery_attempts` (migration `0014_approval_deliveries.sql`). Every method is one
 * statement, so it is atomic on both backends: creating is `INSERT … ON CONFLICT DO NOTHING` on
 * the delivery's unique key; claiming is a conditional `UPDATE` of due, unleased rows picked
 * `FOR UPDATE SKIP LOCKED`; finishing records the attempt and moves the delivery on in one
 * statement that checks the claim is still this replica's.
 */
export class PostgresApprovalDeliveryStore implements ApprovalDeliveryStore {
  readonly #sessions: StoreSessions;

  /** Builds the store on sessions of its own; {@link openApprovalDeliveryStore} is the usual way. */
  constructor(sessions: StoreSessions) {
    this.#sessions = sessions;
  }

  async create(input: ApprovalDeliveryInput, claim?: { readonly owner: string; readonly leaseMs: number }): Promise<ClaimedDelivery | undefined> {
    checkInput(input);
    if (claim) {
      checkText(claim.owner, 'owner', 'approval delivery claim');
      checkLease(claim.leaseMs);
    }
    const rows = await this.#run<ClaimRow>('creating an approval delivery', CREATE_SQL, [
      ...inputValues(input),
      claim?.owner ?? null,
      claim ? claim.leaseMs / 1000 : 0,
    ]);
    const row = rows[0];
    return row && toClaim(row);
  }

  async drop(input: ApprovalDeliveryInput, note: string): Promise<boolean> {
    checkInput(input);
    checkText(note, 'note', 'approval delivery');
    const rows = await this.#run('recording a dropped approval delivery', DROP_SQL, [...inputValues(input), note.slice(0, MAX_TEXT)]);
    return rows.length === 1;
  }

  async claimDue(receivers: readonly string[], owner: string, leaseMs: number, limit: number): Promise<ClaimedDelivery[]> {
    checkText(owner, 'owner', 'approval delivery claim');
    checkLease(leaseMs);
    if (!Number.isInteger(limit) || limit < 0 || limit > 1000) throw invalid('approval delivery claim', 'limit', 'an integer from 0 to 1000', limit);
    if (!Array.isArray(receivers) || receivers.some((r) => typeof r !== 'string' || r === '')) {
      throw invalid('approval delivery claim', 'receivers', 'a list of non-empty strings', receivers);
    }
    if (receivers.length === 0 || limit === 0) return [];
    await this.#run('giving up cut-off approval deliveries', GIVE_UP_SQL, [[...receivers]]);
    const rows = await this.#run<ClaimRow>('claiming due approval deliveries', CLAIM_DUE_SQL, [[...receivers], owner, leaseMs / 1000, limit]);
    return rows.map(toClaim);
  }

  async finish(claim: ClaimedDelivery, owner: string, attempt: Omit<ApprovalDeliveryAttempt, 'attempt' | 'replica'>, next: ApprovalDeliveryNext): Promise<void> {
    const where = 'approval delivery attempt';
    if (!UUID.test(claim.id)) throw invalid(where, 'id', 'a UUID', claim.id);
    if (!Number.isInteger(claim.attempt) || claim.attempt < 1) throw invalid(where, 'attempt', 'an integer >= 1', claim.attempt);
    checkText(owner, 'owner', where);
    if (!(attempt.startedAt instanceof Date) || Number.isNaN(attempt.startedAt.getTime())) throw invalid(where, 'startedAt', 'a valid Date', attempt.startedAt);
    if (!Number.isFinite(attempt.durationMs) || attempt.durationMs < 0) throw invalid(where, 'durationMs', 'a number >= 0', attempt.durationMs);
    if (attempt.statusCode !== null && (!Number.isInteger(attempt.statusCode) || attempt.statusCode < 100 || attempt.statusCode > 599)) {
      throw invalid(where, 'statusCode', 'an HTTP status from 100 to 599, or null', attempt.statusCode);
    }
    if (attempt.error !== null && (typeof attempt.error !== 'string' || attempt.error === '')) throw invalid(where, 'error', 'a non-empty string or null', attempt.error);
    if (attempt.statusCode === null && attempt.error === null) throw invalid(where, 'error', 'the reason of an attempt that got no answer', attempt.error);
    if (next.kind === 'retry' && (!Number.isFinite(next.delayMs) || next.delayMs < 0)) throw invalid(where, 'delayMs', 'a number >= 0', next.delayMs);
    const status: ApprovalDeliveryStatus = next.kind === 'delivered' ? 'delivered' : next.kind === 'failed' ? 'failed' : 'pending';
    await this.#run('recording an approval delivery attempt', FINISH_SQL, [
      claim.id,
      claim.attempt,
      attempt.startedAt,
      Math.round(attempt.durationMs),
      attempt.statusCode,
      attempt.error === null ? null : attempt.error.slice(0, MAX_TEXT),
      owner,
      status,
      next.kind === 'retry' ? next.delayMs / 1000 : 0,
    ]);
  }

  async list(approvalId: string): Promise<ApprovalDeliveryRecord[]> {
    if (!UUID.test(approvalId)) return [];
    const rows = await this.#run<DeliveryRow>('listing approval deliveries', LIST_SQL, [approvalId]);
    return rows.map(toRecord);
  }

  async check(): Promise<void> {
    try {
      await this.#sessions.execute(CHECK_SQL);
    } catch (error) {
      if (/does not exist/.test(describeError(error))) {
        throw new LedgerError(
          'ledger.not_migrated',
          `the ledger database ${this.#sessions.location} has no approval delivery tables (migration 0014_approval_deliveries.sql): run \`tollgate ledger migrate\``,
          { cause: error },
        );
      }
      throw ledgerErrorFromPg(error, this.#sessions.location, 'checking the approval delivery tables');
    }
  }

  async close(): Promise<void> {
    await this.#sessions.close();
  }

  async #run<R extends object = Record<string, unknown>>(doing: string, text: string, values: readonly unknown[]): Promise<R[]> {
    try {
      return (await this.#sessions.execute<R>(text, values)).rows as R[];
    } catch (error) {
      throw ledgerErrorFromPg(error, this.#sessions.location, doing);
    }
  }
}

function inputValues(input: ApprovalDeliveryInput): unknown[] {
  return [input.id, input.approvalId, input.event, input.approver ?? '', input.receiver, input.format, input.payload, input.maxAttempts];
}

/** Which delivery a row is: of which approval event, by whom, to which receiver. */
function deliveryOf(row: ClaimRow | DeliveryRow): Pick<ApprovalDeliveryRecord, 'id' | 'approvalId' | 'event' | 'approver' | 'receiver'> {
  return { id: row.id, approvalId: row.approval_id, event: row.event, approver: row.approver === '' ? null : row.approver, receiver: row.receiver };
}

function toClaim(row: ClaimRow): ClaimedDelivery {
  return {
    ...deliveryOf(row),
    payload: row.payload,
    attempt: row.attempts,
    maxAttempts: row.max_attempts,
  };
}

function toRecord(row: DeliveryRow): ApprovalDeliveryRecord {
  return {
    ...deliveryOf(row),
    format: row.format,
    status: row.status,
    inProgress: row.in_progress,
    maxAttempts: row.max_attempts,
    createdAt: row.created_at,
    nextAttemptAt: row.next_attempt_at,
    finishedAt: row.finished_at,
    note: row.note,
    attempts: row.attempt_log.map((a) => ({
      attempt: a.attempt,
      startedAt: new Date(a.started_at),
      durationMs: a.duration_ms,
      statusCode: a.status_code,
      error: a.error,
      replica: a.replica,
    })),
  };
}

function invalid(where: string, field: string, expected: string, got: unknown): LedgerError {
  const shown = got instanceof Date ? String(got) : (JSON.stringify(got) ?? String(got));
  return new LedgerError('ledger.invalid_delivery', `${where}: "${field}" must be ${expected} (got ${shown})`);
}

function checkText(value: unknown, field: string, where: string): void {
  if (typeof value !== 'string' || value === '') throw invalid(where, field, 'a non-empty string', value);
}

function checkLease(leaseMs: unknown): void {
  if (typeof leaseMs !== 'number' || !Number.isFinite(leaseMs) || leaseMs <= 0) throw invalid('approval delivery claim', 'leaseMs', 'a number of milliseconds > 0', leaseMs);
}

function checkInput(input: ApprovalDeliveryInput): void {
  const where = 'approval delivery';
  if (typeof input.id !== 'string' || !UUID.test(input.id)) throw invalid(where, 'id', 'a UUID', input.id);
  if (typeof input.approvalId !== 'string' || !UUID.test(input.approvalId)) throw invalid(where, 'approvalId', 'a UUID', input.approvalId);
  if (!APPROVAL_DELIVERY_EVENTS.includes(input.event)) throw invalid(where, 'event', `one of ${APPROVAL_DELIVERY_EVENTS.join(', ')}`, input.event);
  const vote = input.event === 'granted' || input.event === 'denied';
  if (vote) checkText(input.approver, 'approver', `${where} of a ${input.event} event`);
  else if (input.approver !== null) throw invalid(`${where} of a ${input.event} event`, 'approver', 'null (only votes have an approver)', input.approver);
  checkText(input.receiver, 'receiver', where);
  if (!FORMATS.includes(input.format)) throw invalid(where, 'format', `one of ${FORMATS.join(', ')}`, input.format);
  if (typeof input.payload !== 'string') throw invalid(where, 'payload', 'a string', input.payload);
  if (!Number.isInteger(input.maxAttempts) || input.maxAttempts < 1 || input.maxAttempts > MAX_ATTEMPTS) {
    throw invalid(where, 'maxAttempts', `an integer from 1 to ${MAX_ATTEMPTS}`, input.maxAttempts);
  }
}
