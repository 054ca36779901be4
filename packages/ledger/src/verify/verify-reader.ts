import { sql, type Insertable, type Kysely } from 'kysely';
import type { SignedCheckpoint } from '../checkpoint/checkpoint-signer.js';
import { readStoredCheckpoints } from '../checkpoint/checkpoint-store.js';
import type { LedgerConnection } from '../database/ledger-connection.js';
import type { LedgerDatabase, LedgerVerificationsTable } from '../database/ledger-schema.js';
import { ledgerErrorFromPg } from '../database/pool-ledger-connection.js';
import type { JsonObject, LedgerEventRow, LedgerEventType } from '../event/ledger-event.js';
import type { LedgerError } from '../ledger-error.js';
import { toEventRow } from '../query/event-row.js';

/** A writer registered in `ledger_strands`. */
export interface RegisteredStrand {
  host: string;
  pid: number;
  label: string | null;
  startedAt: Date;
}

/** The columns of an approval's events that the approval checks read. */
export interface ApprovalEvent {
  event_id: string;
  occurred_at: string;
  /** `occurred_at` in ms since the epoch. */
  at: number;
  strand_id: string;
  seq: number;
  event_type: LedgerEventType;
  call_id: string | null;
  agent_id: string | null;
  server: string | null;
  tool: string | null;
  args_sha256: string | null;
  approval_id: string;
  approver: string | null;
  /** Read for `approval.requested` only: its `expires_at` and `min_approvals`. */
  detail: JsonObject | null;
}

/** An allowed call with no recorded outcome. */
export interface MissingOutcome {
  call_id: string;
  decided_at: string;
  agent_id: string | null;
  server: string | null;
  tool: string | null;
  strand_id: string;
  seq: number;
  event_id: string;
}

/** A {@link MissingOutcome} as the `audit_allowed_without_outcome` view returns it. */
export type AllowedWithoutOutcomeRow = Omit<MissingOutcome, 'decided_at'> & { decided_at: Date };

/** The row `verify --record` writes to `ledger_verifications`. */
export type VerificationRecord = Insertable<LedgerVerificationsTable>;

/** The events that decide an approval request. */
export const APPROVAL_VOTES: readonly LedgerEventType[] = ['approval.granted', 'approval.denied', 'approval.expired'];

/**
 * Everything `verifyLedger` reads from the ledger's database, and the one place it does: the
 * stored checkpoints, the registered strands, every event once in (strand, seq) order page by
 * page, the approvals' events by approval id in one snapshot, the allowed calls without an
 * outcome, and the few lookups that diagnose a broken link. Each read names what it was doing
 * when the database fails (`ledgerErrorFromPg`).
 */
export class VerifyReader {
  constructor(
    private readonly connection: LedgerConnection,
    private readonly pageSize: number,
  ) {}

  /** Every checkpoint in `ledger_checkpoints`, oldest first; a malformed row as its error. */
  storedCheckpoints(): Promise<Array<SignedCheckpoint | LedgerError>> {
    return readStoredCheckpoints(this.connection);
  }

  /** The strands registered in `ledger_strands`, by strand id. */
  async strands(): Promise<Map<string, RegisteredStrand>> {
    try {
      const rows = await this.connection.db.selectFrom('ledger_strands').select(['strand_id', 'host', 'pid', 'label', 'started_at']).execute();
      return new Map(rows.map((r) => [r.strand_id, { host: r.host, pid: r.pid, label: r.label, startedAt: r.started_at }]));
    } catch (error) {
      throw this.failed(error, 'reading the strands');
    }
  }

  /** Every event, a page at a time, ordered by strand and seq: memory does not grow with the ledger. */
  async *eventPages(): AsyncGenerator<LedgerEventRow[]> {
    let cursor: { strandId: string; seq: number } | undefined;
    for (;;) {
      let page: LedgerEventRow[];
      try {
        let query = this.connection.db.selectFrom('ledger_events').selectAll().orderBy('strand_id').orderBy('seq').limit(this.pageSize);
        if (cursor) {
          const { strandId, seq } = cursor;
          query = query.where((eb) => eb(eb.refTuple('strand_id', 'seq'), '>', eb.tuple(strandId, seq as never)));
        }
        page = (await query.execute()).map(toEventRow);
      } catch (error) {
        throw this.failed(error, 'reading events');
      }
      yield page;
      if (page.length < this.pageSize) return;
      const last = page[page.length - 1]!;
      cursor = { strandId: last.strand_id, seq: last.seq };
    }
  }

  /** The first event of `strandId` (lowest seq) whose hash is `hash`. */
  async eventWithHash(strandId: string, hash: string): Promise<{ seq: number; event_id: string } | undefined> {
    try {
      return await this.connection.db
        .selectFrom('ledger_events')
        .select(['seq', 'event_id'])
        .where('strand_id', '=', strandId)
        .where('hash', '=', hash)
        .orderBy('seq')
        .limit(1)
        .executeTakeFirst();
    } catch (error) {
      throw this.failed(error, 'diagnosing a broken link');
    }
  }

  /** The `event_id` or `prev_hash` of the event at `seq` of `strandId`, or null when there is none. */
  async columnAt(strandId: string, seq: number, column: 'event_id' | 'prev_hash'): Promise<string | null> {
    try {
      const row = await this.connection.db
        .selectFrom('ledger_events')
        .select(column)
        .where('strand_id', '=', strandId)
        .where('seq', '=', seq as never)
        .executeTakeFirst();
      return (row as Record<typeof column, string> | undefined)?.[column] ?? null;
    } catch (error) {
      throw this.failed(error, 'diagnosing a broken link');
    }
  }

  /**
   * The approvals' events (requests, votes, expiries, and allowed calls that name an approval),
   * ordered by approval id, then time, strand and seq, page by page, handing `check` each
   * approval's events in turn: one approval's events are held at a time.
   */
  async approvalEvents(check: (events: ApprovalEvent[]) => void): Promise<void> {
    try {
      // One snapshot for every page: a vote committed between two pages, but sorted before the
      // cursor by its (skewed) time, would otherwise be missed, and a call that used it reported.
      await this.connection.db
        .transaction()
        .setIsolationLevel('repeatable read')
        .setAccessMode('read only')
        .execute((trx) => this.readApprovalEvents(trx, check));
    } catch (error) {
      throw this.failed(error, 'reading the approval events');
    }
  }

  private async readApprovalEvents(db: Kysely<LedgerDatabase>, check: (events: ApprovalEvent[]) => void): Promise<void> {
    let group: ApprovalEvent[] = [];
    let cursor: ApprovalEvent | undefined;
    for (;;) {
      let query = db
        .selectFrom('ledger_events')
        .select([
          'event_id',
          'occurred_at',
          'strand_id',
          'seq',
          'event_type',
          'call_id',
          'agent_id',
          'server',
          'tool',
          'args_sha256',
          'approval_id',
          'approver',
          // A decision's detail (its limits) is not needed: only a request's.
          sql<JsonObject | null>`CASE WHEN event_type = 'approval.requested' THEN detail END`.as('detail'),
        ])
        .where('approval_id', 'is not', null)
        .where((eb) =>
          eb.or([
            eb('event_type', 'in', [...APPROVAL_VOTES, 'approval.requested']),
            eb.and([eb('event_type', '=', 'decision'), eb('effect', '=', 'allow')]),
          ]),
        )
        .orderBy('approval_id')
        .orderBy('occurred_at')
        .orderBy('strand_id')
        .orderBy('seq')
        .limit(this.pageSize);
      if (cursor) {
        const { approval_id: id, occurred_at: at, strand_id: strand, seq } = cursor;
        query = query
          .where('approval_id', '>=', id)
          .where((eb) =>
            eb(eb.refTuple('approval_id', 'occurred_at', 'strand_id', 'seq'), '>', eb.tuple(id, at as never, strand, seq as never)),
          );
      }
      const page: ApprovalEvent[] = (await query.execute()).map((row) => ({
        ...row,
        approval_id: row.approval_id!,
        occurred_at: row.occurred_at.toISOString(),
        at: row.occurred_at.getTime(),
      }));
      for (const event of page) {
        if (group.length > 0 && group[0]!.approval_id !== event.approval_id) {
          check(group);
          group = [];
        }
        group.push(event);
      }
      if (page.length < this.pageSize) break;
      cursor = page[page.length - 1]!;
    }
    if (group.length > 0) check(group);
  }

  /** How many allowed calls have no outcome, and the first `sampleSize` of them by decision time. */
  async allowedWithoutOutcome(sampleSize: number): Promise<{ count: number; sample: AllowedWithoutOutcomeRow[] }> {
    try {
      const count = await sql<{ n: number }>`SELECT count(*) AS n FROM audit_allowed_without_outcome`.execute(this.connection.db);
      const sample = await sql<AllowedWithoutOutcomeRow>`SELECT call_id, decided_at, agent_id, server, tool, strand_id, seq, event_id
       FROM audit_allowed_without_outcome ORDER BY decided_at, event_id LIMIT ${sampleSize}`.execute(this.connection.db);
      return { count: count.rows[0]?.n ?? 0, sample: sample.rows };
    } catch (error) {
      throw this.failed(error, 'looking for allowed calls without an outcome');
    }
  }

  /** Writes the row of `verify --record` (needs INSERT on `ledger_verifications`). */
  async recordVerification(record: VerificationRecord): Promise<void> {
    try {
      await this.connection.db.insertInto('ledger_verifications').values(record).execute();
    } catch (error) {
      throw this.failed(error, 'recording the verification');
    }
  }

  private failed(error: unknown, doing: string): LedgerError {
    return ledgerErrorFromPg(error, this.connection.location, doing);
  }
}
