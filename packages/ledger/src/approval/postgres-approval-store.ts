import { randomUUID } from 'node:crypto';
import type { LedgerConnection } from '../database/ledger-connection.js';
import { ledgerErrorFromPg } from '../database/pool-ledger-connection.js';
import type { StoreSessions, StoreStatements } from '../database/store-sessions.js';
import { LedgerError } from '../ledger-error.js';
import type {
  ApprovalBinding,
  ApprovalDecideResult,
  ApprovalJson,
  ApprovalListFilter,
  ApprovalRecord,
  ApprovalRecorder,
  ApprovalRequestInput,
  ApprovalStatus,
  ApprovalStore,
  ApprovalVote,
} from './approval-store.js';

/** The channel every change of an approval request is notified on (migration `0012_approvals.sql`). */
export const APPROVAL_CHANNEL = 'tollgate_approvals';

/** Options of {@link openApprovalStore}. */
export interface ApprovalStoreOptions {
  /** `application_name` of the store's PostgreSQL sessions (default `tollgate-approvals`). */
  readonly applicationName?: string;
  /** The most PostgreSQL sessions the store opens besides its LISTEN session (default 4). */
  readonly maxConnections?: number;
  /** How often the LISTEN session is probed, to notice a silent connection (default 5000 ms). */
  readonly heartbeatMs?: number;
}

/**
 * Opens the {@link ApprovalStore} of a ledger database (PostgreSQL or PGlite; migration
 * `0012_approvals.sql`) on sessions of its own. The connection stays the caller's: close the
 * store, then the connection.
 *
 * @example
 * const connection = await connectLedger({ databaseUrl })
 * const approvals = openApprovalStore(connection)
 * const stop = await approvals.subscribe((id) => wake(id))
 * @throws LedgerError `ledger.closed` or `ledger.invalid_options`.
 */
export function openApprovalStore(connection: LedgerConnection, options: ApprovalStoreOptions = {}): PostgresApprovalStore {
  return new PostgresApprovalStore(
    connection.openStoreSessions({
      applicationName: options.applicationName ?? 'tollgate-approvals',
      ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
      ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
    }),
  );
}

interface RequestRow {
  id: string;
  server: string;
  tool: string;
  args_sha256: string;
  agent_id: string;
  policy_revision: string | null;
  policy_digest: string;
  rule: string;
  session_id: string | null;
  call_id: string;
  args: ApprovalJson;
  reason: string;
  approvers: string[] | null;
  min_approvals: number;
  requested_at: Date;
  expires_at: Date;
  status: ApprovalStatus;
  recorded: boolean;
  decided_at: Date | null;
  consumed_at: Date | null;
  consumed_by_call: string | null;
  closed_at: Date | null;
  votes: Array<{ approver: string; decision: 'grant' | 'deny'; reason: string | null; at: string }>;
}

const COLUMNS = `r.id, r.server, r.tool, r.args_sha256, r.agent_id, r.policy_revision, r.policy_digest, r.rule,
  r.session_id, r.call_id, r.args, r.reason, r.approvers, r.min_approvals, r.requested_at, r.expires_at,
  r.status, r.recorded, r.decided_at, r.consumed_at, r.consumed_by_call, r.closed_at`;
const VOTES = `coalesce((SELECT json_agg(json_build_object('approver', v.approver, 'decision', v.decision, 'reason', v.reason, 'at', v.voted_at)
  ORDER BY v.position) FROM approval_votes v WHERE v.request_id = r.id), '[]'::json) AS votes`;
const SELECT_RECORD = `SELECT ${COLUMNS}, ${VOTES} FROM approval_requests r`;

// The binding of the unique index approval_requests_current_binding, written the same way so
// that both the index and ON CONFLICT recognise it.
const BINDING_MATCHES = `r.server = $1 AND r.tool = $2 AND r.args_sha256 = $3 AND r.agent_id = $4 AND r.policy_digest = $5
  AND r.rule = $6 AND coalesce(r.policy_revision, '') = coalesce($7::text, '') AND (r.policy_revision IS NULL) = ($7::text IS NULL)`;
const CURRENT_SQL = `${SELECT_RECORD} WHERE ${BINDING_MATCHES} AND r.closed_at IS NULL`;
const OPEN_SQL = `INSERT INTO approval_requests AS r (server, tool, args_sha256, agent_id, policy_digest, rule, policy_revision,
  id, session_id, call_id, args, reason, approvers, min_approvals, requested_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13::text[], $14, $15, $16)
ON CONFLICT (server, tool, args_sha256, agent_id, policy_digest, rule, coalesce(policy_revision, ''), (policy_revision IS NULL))
  WHERE closed_at IS NULL DO NOTHING
RETURNING ${COLUMNS}, '[]'::json AS votes`;
const GET_SQL = `${SELECT_RECORD} WHERE r.id = $1`;
const LIST_SQL = `${SELECT_RECORD} ORDER BY r.requested_at DESC, r.id DESC LIMIT $1`;
const LIST_STATUS_SQL = `${SELECT_RECORD} WHERE r.status = $2 ORDER BY r.requested_at DESC, r.id DESC LIMIT $1`;
const MARK_RECORDED_SQL = 'UPDATE approval_requests SET recorded = true WHERE id = $1 AND NOT recorded AND closed_at IS NULL RETURNING id';
const LOCK_SQL = 'SELECT id FROM approval_requests WHERE id = $1 FOR UPDATE';
const VOTE_SQL = `WITH vote AS (
  INSERT INTO approval_votes (request_id, approver, position, decision, reason, voted_at) VALUES ($1, $2, $3, $4, $5, $6)
)
UPDATE approval_requests SET status = $7, decided_at = $8 WHERE id = $1`;
const CONSUME_SQL = `UPDATE approval_requests SET status = 'consumed', consumed_at = $3, consumed_by_call = $2, closed_at = $3
WHERE id = $1 AND status = 'granted' AND expires_at > $3 RETURNING id`;
const RELEASE_SQL = `UPDATE approval_requests r SET status = 'granted', consumed_at = NULL, consumed_by_call = NULL, closed_at = NULL
WHERE r.id = $1 AND r.status = 'consumed' AND r.consumed_by_call = $2
  AND NOT EXISTS (
    SELECT 1 FROM approval_requests c
    WHERE c.closed_at IS NULL AND c.server = r.server AND c.tool = r.tool AND c.args_sha256 = r.args_sha256
      AND c.agent_id = r.agent_id AND c.policy_digest = r.policy_digest AND c.rule = r.rule
      AND c.policy_revision IS NOT DISTINCT FROM r.policy_revision)`;
const DUE_SQL = `SELECT id FROM approval_requests WHERE status IN ('pending', 'granted') AND expires_at <= $1
ORDER BY expires_at, id LIMIT $2`;
const LOCK_DUE_SQL = `SELECT id FROM approval_requests WHERE id = $1 AND status IN ('pending', 'granted') AND expires_at <= $2
FOR UPDATE SKIP LOCKED`;
const EXPIRE_SQL = "UPDATE approval_requests SET status = 'expired', decided_at = $2 WHERE id = $1";
const RETIRE_SQL = `UPDATE approval_requests SET closed_at = $2
WHERE id = $1 AND closed_at IS NULL AND (status IN ('denied', 'expired') OR (status = 'pending' AND NOT recorded)) RETURNING id`;
// After a lost LISTEN session: every current request, and whatever else changed while it was lost.
const RESYNC_SQL = 'SELECT id FROM approval_requests WHERE closed_at IS NULL OR updated_at >= now() - make_interval(secs => $1)';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SHA256 = /^[0-9a-f]{64}$/;
const STATUSES: readonly ApprovalStatus[] = ['pending', 'granted', 'denied', 'expired', 'consumed'];
const EXPIRE_BATCH = 500;
const OPEN_ATTEMPTS = 5;
// How far before a lost LISTEN session's outage a resync looks, for the clocks of the replicas.
const RESYNC_MARGIN_S = 60;
const RESYNC_ATTEMPTS = 5;

/** Carries a failure of a caller's recorder through the store's error handling unchanged. */
class RecorderFailure {
  constructor(readonly error: unknown) {}
}

/**
 * The {@link ApprovalStore} in the ledger's database, on PostgreSQL (every replica) and on
 * PGlite (the embedded ledger) alike. Tables `approval_requests` and `approval_votes`
 * (migration `0012_approvals.sql`); every change of a request NOTIFYs `tollgate_approvals`
 * from a trigger, so nothing that changes a row can forget to wake the replicas.
 *
 * Atomic across replicas: opening relies on the unique index of current requests
 * (`INSERT … ON CONFLICT DO NOTHING`, then the winner's row); using a grant is one
 * conditional `UPDATE`; a vote and an expiry lock the request's row (`FOR UPDATE`, in a
 * transaction of the store's own session on PostgreSQL; the database's lock on PGlite),
 * run the caller's recorder — the ledger append — and only then change the row, in one
 * statement, and commit, which is when the notification goes out. If the recorder fails,
 * nothing changes. If the process dies after the recorder but before the commit, the ledger
 * holds an event whose change was lost (a vote that can be cast again, an expiry that will be
 * recorded again); never the reverse.
 */
export class PostgresApprovalStore implements ApprovalStore {
  readonly #sessions: StoreSessions;
  readonly #listeners = new Set<(approvalId: string) => void>();
  #listening: Promise<() => Promise<void>> | undefined;
  #closed = false;

  /** Builds the store on sessions of its own; {@link openApprovalStore} is the usual way. */
  constructor(sessions: StoreSessions) {
    this.#sessions = sessions;
  }

  async current(binding: ApprovalBinding): Promise<ApprovalRecord | undefined> {
    checkBinding(binding);
    const rows = await this.#run('reading the current approval request', (q) => q(CURRENT_SQL, bindingValues(binding)));
    return rows[0] && toRecord(rows[0]);
  }

  async open(input: ApprovalRequestInput): Promise<{ readonly record: ApprovalRecord; readonly created: boolean }> {
    checkRequest(input);
    const values = [
      ...bindingValues(input),
      randomUUID(),
      input.sessionId,
      input.callId,
      JSON.stringify(input.args),
      input.reason,
      input.approvers === null ? null : [...input.approvers],
      input.minApprovals,
      input.requestedAt,
      input.expiresAt,
    ];
    return this.#run('opening an approval request', async (q) => {
      // The current request may close between the failed insert and the read: then try again.
      for (let attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
        const inserted = await q(OPEN_SQL, values);
        if (inserted[0]) return { record: toRecord(inserted[0]), created: true };
        const current = await q(CURRENT_SQL, bindingValues(input));
        if (current[0]) return { record: toRecord(current[0]), created: false };
      }
      throw new LedgerError(
        'ledger.approval_conflict',
        `could not open an approval request for ${input.server}/${input.tool}: the current request of its binding kept changing (${OPEN_ATTEMPTS} attempts)`,
      );
    });
  }

  async markRecorded(id: string): Promise<void> {
    await this.#run('marking an approval request recorded', async (q) => {
      if (UUID.test(id) && (await q(MARK_RECORDED_SQL, [id]))[0]) return;
      const record = UUID.test(id) ? (await q(GET_SQL, [id]))[0] : undefined;
      if (!record) throw notFound(id);
      if (record.closed_at !== null && !record.recorded) {
        throw new LedgerError('ledger.approval_conflict', `approval request ${id} was abandoned (retired) before it was recorded`);
      }
      // Recorded already: nothing to do.
    });
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    if (!UUID.test(id)) return undefined;
    const rows = await this.#run('reading an approval request', (q) => q(GET_SQL, [id]));
    return rows[0] && toRecord(rows[0]);
  }

  async list(filter: ApprovalListFilter = {}): Promise<ApprovalRecord[]> {
    const limit = filter.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      throw new LedgerError('ledger.invalid_approval', `approval list: "limit" must be an integer from 1 to 10000 (got ${String(limit)})`);
    }
    if (filter.status !== undefined && !STATUSES.includes(filter.status)) {
      throw new LedgerError('ledger.invalid_approval', `approval list: "status" must be one of ${STATUSES.join(', ')} (got ${JSON.stringify(filter.status)})`);
    }
    const rows = await this.#run('listing approval requests', (q) =>
      filter.status === undefined ? q(LIST_SQL, [limit]) : q(LIST_STATUS_SQL, [limit, filter.status]),
    );
    return rows.map(toRecord);
  }

  async decide(id: string, vote: ApprovalVote, now: Date, record: ApprovalRecorder): Promise<ApprovalDecideResult> {
    checkVote(vote);
    checkTime(now, 'now');
    if (!UUID.test(id)) return { ok: false, reason: 'not_found' };
    return this.#exclusive('deciding an approval request', async (q) => {
      if (!(await q(LOCK_SQL, [id]))[0]) return { ok: false, reason: 'not_found' };
      // Read after the lock, in a statement of its own, so that it sees every vote committed before.
      const row = (await q(GET_SQL, [id]))[0]!;
      const current = toRecord(row);
      const refusal = refuseVote(current, vote, now);
      if (refusal) return { ok: false, reason: refusal, record: current };

      const votes = [...current.votes, { approver: vote.approver, decision: vote.decision, reason: vote.reason, at: vote.at }];
      const grants = votes.filter((v) => v.decision === 'grant').length;
      const status: ApprovalStatus = vote.decision === 'deny' ? 'denied' : grants >= current.minApprovals ? 'granted' : 'pending';
      const next: ApprovalRecord = { ...current, votes, status, decidedAt: status === 'pending' ? null : now };
      await recordWith(record, next);
      await q(VOTE_SQL, [id, vote.approver, votes.length, vote.decision, vote.reason, vote.at, status, next.decidedAt]);
      return { ok: true, record: next };
    });
  }

  async consume(id: string, callId: string, now: Date): Promise<boolean> {
    checkText(callId, 'callId', 'approval consume');
    checkTime(now, 'now');
    if (!UUID.test(id)) return false;
    const rows = await this.#run('using an approval', (q) => q(CONSUME_SQL, [id, callId, now]));
    return rows.length === 1;
  }

  async release(id: string, callId: string): Promise<void> {
    checkText(callId, 'callId', 'approval release');
    if (!UUID.test(id)) return;
    try {
      await this.#sessions.execute(RELEASE_SQL, [id, callId]);
    } catch (error) {
      // An identical call opened a new request in the meantime: that one stands, and the grant
      // of this one stays used.
      if ((error as { code?: unknown }).code === '23505') return;
      throw ledgerErrorFromPg(error, this.#sessions.location, 'giving an approval back');
    }
  }

  async expire(now: Date, record: ApprovalRecorder): Promise<ApprovalRecord[]> {
    checkTime(now, 'now');
    const expired: ApprovalRecord[] = [];
    for (;;) {
      const due = await this.#run('finding expired approval requests', (q) => q<{ id: string }>(DUE_SQL, [now, EXPIRE_BATCH]));
      let progressed = false;
      for (const { id } of due) {
        // Each request in its own section: a recorder that fails leaves the others' expiries,
        // already recorded, in place.
        const done = await this.#exclusive('expiring an approval request', async (q) => {
          // A request another replica is expiring (or deciding) right now is skipped.
          if (!(await q(LOCK_DUE_SQL, [id, now]))[0]) return undefined;
          const current = toRecord((await q(GET_SQL, [id]))[0]!);
          const next: ApprovalRecord = { ...current, status: 'expired', decidedAt: now };
          // A request whose approval.requested never made it to the ledger is not on the
          // record, so neither is its expiry: an approval.expired would follow no request.
          if (current.recorded) await recordWith(record, next);
          await q(EXPIRE_SQL, [id, now]);
          return next;
        });
        if (done) {
          expired.push(done);
          progressed = true;
        }
      }
      if (due.length < EXPIRE_BATCH || !progressed) return expired;
    }
  }

  async retire(id: string, now: Date): Promise<void> {
    checkTime(now, 'now');
    await this.#run('retiring an approval request', async (q) => {
      if (UUID.test(id) && (await q(RETIRE_SQL, [id, now]))[0]) return;
      const row = UUID.test(id) ? (await q(GET_SQL, [id]))[0] : undefined;
      if (!row) throw notFound(id);
      if (row.closed_at !== null) return;
      throw new LedgerError(
        'ledger.approval_conflict',
        `approval request ${id} is ${row.status}: only a denied or expired request, or one never recorded, can be retired`,
      );
    });
  }

  async subscribe(listener: (approvalId: string) => void): Promise<() => Promise<void>> {
    this.#listeners.add(listener);
    try {
      this.#listening ??= this.#sessions.listen(APPROVAL_CHANNEL, {
        notify: (payload) => this.#emit(payload),
        resync: (outageMs) => void this.#resync(outageMs),
      });
      await this.#listening;
    } catch (error) {
      this.#listeners.delete(listener);
      this.#listening = undefined;
      throw error;
    }
    let stopped = false;
    return async () => {
      if (stopped) return;
      stopped = true;
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0 && this.#listening) {
        const listening = this.#listening;
        this.#listening = undefined;
        await (await listening)();
      }
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    this.#listening = undefined;
    await this.#sessions.close();
  }

  #emit(approvalId: string): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(approvalId);
      } catch {
        // One listener's failure must not keep the others from hearing.
      }
    }
  }

  async #resync(outageMs: number): Promise<void> {
    // The store's other sessions may have been lost with the listening one: a failed read
    // drops its session, and the next attempt opens a new one.
    for (let attempt = 0; attempt < RESYNC_ATTEMPTS && !this.#closed; attempt++) {
      try {
        const { rows } = await this.#sessions.execute<{ id: string }>(RESYNC_SQL, [outageMs / 1000 + RESYNC_MARGIN_S]);
        for (const { id } of rows) this.#emit(id);
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt).unref());
      }
    }
    // Still unreachable: the listening session will be lost too, and resync again once back.
  }

  /** Runs statements outside an exclusive section; failures become LedgerErrors saying what was being done. */
  async #run<T>(doing: string, work: (q: Query) => Promise<T>): Promise<T> {
    try {
      return await work((text, values) => this.#sessions.execute(text, values).then((r) => r.rows as never));
    } catch (error) {
      throw ledgerErrorFromPg(error, this.#sessions.location, doing);
    }
  }

  async #exclusive<T>(doing: string, work: (q: Query) => Promise<T>): Promise<T> {
    try {
      return await this.#sessions.exclusive((statements: StoreStatements) =>
        work((text, values) => statements.query(text, values).then((r) => r.rows as never)),
      );
    } catch (error) {
      if (error instanceof RecorderFailure) throw error.error;
      throw ledgerErrorFromPg(error, this.#sessions.location, doing);
    }
  }
}

type Query = <R extends object = RequestRow>(text: string, values: readonly unknown[]) => Promise<R[]>;

async function recordWith(record: ApprovalRecorder, next: ApprovalRecord): Promise<void> {
  try {
    await record(next);
  } catch (error) {
    throw new RecorderFailure(error);
  }
}

function refuseVote(current: ApprovalRecord, vote: ApprovalVote, now: Date): Exclude<ApprovalDecideResult, { ok: true }>['reason'] | undefined {
  if (current.status === 'expired' || (current.status === 'pending' && current.expiresAt.getTime() <= now.getTime())) return 'expired';
  if (current.status !== 'pending') return 'already_decided';
  if (!current.recorded || current.closedAt !== null) return 'not_recorded';
  if (vote.approver === current.agentId) return 'self_approval';
  if (current.votes.some((v) => v.approver === vote.approver)) return 'duplicate_vote';
  return undefined;
}

function bindingValues(b: ApprovalBinding): unknown[] {
  return [b.server, b.tool, b.argsSha256, b.agentId, b.policyDigest, b.rule, b.policyRevision];
}

function toRecord(row: RequestRow): ApprovalRecord {
  return {
    id: row.id,
    server: row.server,
    tool: row.tool,
    argsSha256: row.args_sha256,
    agentId: row.agent_id,
    policyRevision: row.policy_revision,
    policyDigest: row.policy_digest,
    rule: row.rule,
    sessionId: row.session_id,
    callId: row.call_id,
    args: row.args,
    reason: row.reason,
    approvers: row.approvers,
    minApprovals: row.min_approvals,
    requestedAt: row.requested_at,
    expiresAt: row.expires_at,
    status: row.status,
    votes: row.votes.map((v) => ({ approver: v.approver, decision: v.decision, reason: v.reason, at: new Date(v.at) })),
    decidedAt: row.decided_at,
    consumedAt: row.consumed_at,
    consumedByCall: row.consumed_by_call,
    recorded: row.recorded,
    closedAt: row.closed_at,
  };
}

function notFound(id: string): LedgerError {
  return new LedgerError('ledger.approval_not_found', `there is no approval request ${JSON.stringify(id)}`);
}

function invalid(where: string, field: string, expected: string, got: unknown): LedgerError {
  const shown = got instanceof Date ? String(got) : JSON.stringify(got) ?? String(got);
  return new LedgerError('ledger.invalid_approval', `${where}: "${field}" must be ${expected} (got ${shown})`);
}

function checkText(value: unknown, field: string, where: string): void {
  if (typeof value !== 'string' || value === '') throw invalid(where, field, 'a non-empty string', value);
}

function checkTime(value: unknown, field: string, where = 'approval store'): void {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalid(where, field, 'a valid Date', value);
}

function checkBinding(b: ApprovalBinding, where = 'approval binding'): void {
  for (const field of ['server', 'tool', 'agentId', 'rule'] as const) checkText(b[field], field, where);
  for (const field of ['argsSha256', 'policyDigest'] as const) {
    if (typeof b[field] !== 'string' || !SHA256.test(b[field])) throw invalid(where, field, '64 lowercase hex digits (a SHA-256)', b[field]);
  }
  if (b.policyRevision !== null && (typeof b.policyRevision !== 'string' || b.policyRevision === '')) {
    throw invalid(where, 'policyRevision', 'a non-empty string or null', b.policyRevision);
  }
}

function checkRequest(input: ApprovalRequestInput): void {
  const where = 'approval request';
  checkBinding(input, where);
  checkText(input.callId, 'callId', where);
  if (input.sessionId !== null && typeof input.sessionId !== 'string') throw invalid(where, 'sessionId', 'a string or null', input.sessionId);
  if (typeof input.reason !== 'string') throw invalid(where, 'reason', 'a string', input.reason);
  if (input.args === undefined || JSON.stringify(input.args) === undefined) throw invalid(where, 'args', 'a JSON value', input.args);
  if (input.approvers !== null) {
    if (!Array.isArray(input.approvers) || input.approvers.length === 0 || input.approvers.some((a) => typeof a !== 'string' || a === '')) {
      throw invalid(where, 'approvers', 'null or a non-empty list of non-empty strings', input.approvers);
    }
  }
  if (!Number.isInteger(input.minApprovals) || input.minApprovals < 1) throw invalid(where, 'minApprovals', 'an integer >= 1', input.minApprovals);
  checkTime(input.requestedAt, 'requestedAt', where);
  checkTime(input.expiresAt, 'expiresAt', where);
  if (input.expiresAt.getTime() <= input.requestedAt.getTime()) {
    throw invalid(where, 'expiresAt', `later than requestedAt (${input.requestedAt.toISOString()})`, input.expiresAt.toISOString());
  }
}

function checkVote(vote: ApprovalVote): void {
  const where = 'approval vote';
  checkText(vote.approver, 'approver', where);
  if (vote.decision !== 'grant' && vote.decision !== 'deny') throw invalid(where, 'decision', '"grant" or "deny"', vote.decision);
  if (vote.reason !== null && typeof vote.reason !== 'string') throw invalid(where, 'reason', 'a string or null', vote.reason);
  checkTime(vote.at, 'at', where);
}
