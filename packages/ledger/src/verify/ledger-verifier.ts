import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { canonicalJson } from '@tollgate/policy';
import { checkSignature, readCheckpointFile, readTrustedKey, type SignedCheckpoint } from '../checkpoint/checkpoint-signer.js';
import { readStoredCheckpoints } from '../checkpoint/checkpoint-store.js';
import type { LedgerBackend, LedgerConnection } from '../database/ledger-connection.js';
import { ledgerErrorFromPg } from '../database/pool-ledger-connection.js';
import { GENESIS_HASH, eventHash } from '../event/event-hash.js';
import type { LedgerEventRow } from '../event/ledger-event.js';
import { LedgerError } from '../ledger-error.js';
import { toEventRow } from '../query/event-row.js';
import { DEFAULT_APPROVAL_GRACE_MS, verifyApprovals, type ApprovalSummary } from './approval-verifier.js';
import { spellDuration, spellGrace } from './duration-text.js';
import { problem, type VerifyProblem, type VerifyProblemCause, type VerifyProblemKind } from './verify-problem.js';

export type { VerifyProblem, VerifyProblemCause, VerifyProblemKind } from './verify-problem.js';

/**
 * How long before a checkpoint's `created_at` an event it does not cover may be dated, by
 * default (60 s). A writer stamps an event when it is appended and commits it later: behind
 * the batch in flight, through a reconnect and a resync after a failed batch, and its own COPY
 * and COMMIT, each bounded by the statement timeout (5 s by default) plus a second — about
 * 40 s at worst with the defaults. The rest covers clock skew between the gateways' hosts and
 * the host that took the checkpoint. An event dated earlier than this before a checkpoint that
 * does not cover it was not in flight when the checkpoint was taken: it was backdated.
 */
export const DEFAULT_CHECKPOINT_GRACE_MS = 60_000;

/** One strand as verified. */
export interface StrandSummary {
  strand_id: string;
  events: number;
  head_seq: number;
  head_hash: string;
  registered: boolean;
  host: string | null;
  pid: number | null;
  label: string | null;
  ok: boolean;
}

/** One checkpoint as verified. */
export interface CheckpointSummary {
  checkpoint_id: string;
  /** `database`, or the file it was read from. */
  source: string;
  created_at: string;
  key_id: string;
  /** Whether its key is among the trusted keys; null when no trusted keys were given. */
  trusted: boolean | null;
  strands: number;
  ok: boolean;
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

/** The result of {@link verifyLedger}. */
export interface VerifyReport {
  /** True when every strand and checkpoint is intact (missing outcomes do not count). */
  ok: boolean;
  backend: LedgerBackend;
  location: string;
  verified_at: string;
  duration_ms: number;
  /** Events checked. */
  events: number;
  strands: StrandSummary[];
  checkpoints: CheckpointSummary[];
  /** The problems found, in ledger order, at most `maxProblems`. */
  problems: VerifyProblem[];
  /** How many problems there were in all. */
  problem_count: number;
  /** The first bad event: what `tollgate ledger verify` names. */
  first_problem: VerifyProblem | null;
  /** Allowed calls with no outcome (the gateway stopped mid-call, or an outcome was removed). */
  missing_outcomes: { count: number; sample: MissingOutcome[] };
  /** The approvals checked across every strand, and how many problems they had. */
  approvals: ApprovalSummary;
  /** The row written to `ledger_verifications`, when `record` was set. */
  verification_id: string | null;
}

/** Options of {@link verifyLedger}. */
export interface VerifyLedgerOptions {
  /** Checkpoint files (from `tollgate ledger checkpoint --out`) to check as well as the database's. */
  checkpointFiles?: readonly string[];
  /** Already-read checkpoints to check, labelled by their source. */
  checkpoints?: ReadonlyArray<{ checkpoint: SignedCheckpoint; source: string }>;
  /** Ed25519 public keys (PEM SPKI files) checkpoints must be signed by. */
  trustedKeyFiles?: readonly string[];
  /** Record the result in `ledger_verifications` (needs INSERT). */
  record?: boolean;
  /** Events read per query (default 5000). */
  pageSize?: number;
  /** Problems kept in the report (default 100; all are counted). */
  maxProblems?: number;
  /** Allowed-without-outcome calls listed (default 20; all are counted). */
  missingOutcomeSample?: number;
  /** The clock for `verified_at`. */
  clock?: () => Date;
  /**
   * How long before a checkpoint was taken an event it does not cover may be dated and still
   * count as in flight at the time (default {@link DEFAULT_CHECKPOINT_GRACE_MS}). Raise it
   * with the writers' statement timeout, or for clocks that drift apart; 0 for a ledger whose
   * writers were all stopped when its checkpoints were taken.
   */
  checkpointGraceMs?: number;
  /**
   * How far out of order the events of one approval may be dated (a grant before its request,
   * a use before its grants or after its expiry) and still count as in order (default
   * {@link DEFAULT_APPROVAL_GRACE_MS}): the clocks of the replicas that stamped them differ.
   * Raise it for clocks that drift further apart; 0 for a single gateway.
   */
  approvalGraceMs?: number;
}

/** The period a checkpoint bounds: every event dated before `limit` must be one it covers. */
interface CheckpointPeriod {
  checkpointId: string;
  createdAt: string;
  /** `created_at` less the grace, in ms since the epoch. */
  limit: number;
  /** The head seq it signed for each strand it lists. */
  heads: Map<string, number>;
}

/** A strand's bounds: for events beyond `coveredSeq`, the latest period they may not be dated in. */
interface StrandBound {
  coveredSeq: number;
  period: CheckpointPeriod;
}

interface Expectation {
  seq: number;
  hash: string;
  checkpointId: string;
}

interface StrandState {
  strandId: string;
  expectedSeq: number;
  prevHash: string;
  events: number;
  first: LedgerEventRow | undefined;
  last: LedgerEventRow | undefined;
  lastHadProblem: boolean;
  /** The hash of the previous event's content as stored (what its hash should be). */
  prevComputed: string;
  /** The previous event's `hash_mismatch`, amended once the next event shows which part changed. */
  lastHashProblem: VerifyProblem | undefined;
  /** This strand's bounds, by `coveredSeq`, and how far the sweep over them has got. */
  bounds: StrandBound[];
  boundIndex: number;
  /** The latest period that bounds the current seq, once one does. */
  bound: CheckpointPeriod | undefined;
  /** The first backdated event of the strand, how many there are and the last one's seq. */
  backdated: VerifyProblem | undefined;
  backdatedCount: number;
  backdatedLastSeq: number;
  problems: number;
}

const MAX_DIAGNOSES = 25;

/**
 * Recomputes every strand of the ledger and checks every checkpoint: sequence numbers run
 * 1, 2, 3… without gaps, each `prev_hash` is the hash of the event before, each `hash` is
 * SHA-256(prev_hash || canonical(event)), each checkpoint is validly signed (by a trusted
 * key, when given) and still a prefix of its strands; and, across all strands, that every
 * approval was requested before it was decided, never granted by its requester, and used at
 * most once, unexpired, for the call it was requested for, after enough distinct grants
 * (`verifyApprovals`). Also reports allowed calls without an outcome. Reads the ledger page
 * by page, so memory does not grow with its size.
 *
 * @example
 * const report = await verifyLedger(connection, { checkpointFiles: ['ledger/checkpoint.json'] })
 * if (!report.ok) console.error(report.first_problem)
 */
export async function verifyLedger(connection: LedgerConnection, options: VerifyLedgerOptions = {}): Promise<VerifyReport> {
  const clock = options.clock ?? (() => new Date());
  const started = performance.now();
  const verifiedAt = clock();
  const pageSize = options.pageSize ?? 5000;
  const maxProblems = options.maxProblems ?? 100;
  if (!Number.isInteger(pageSize) || pageSize < 1) {
    throw new LedgerError('ledger.invalid_options', `verify: "pageSize" must be a positive integer (got ${String(options.pageSize)})`);
  }
  const graceMs = options.checkpointGraceMs ?? DEFAULT_CHECKPOINT_GRACE_MS;
  if (!Number.isInteger(graceMs) || graceMs < 0) {
    throw new LedgerError(
      'ledger.invalid_options',
      `verify: "checkpointGraceMs" must be an integer number of milliseconds >= 0 (got ${String(options.checkpointGraceMs)})`,
    );
  }
  const approvalGraceMs = options.approvalGraceMs ?? DEFAULT_APPROVAL_GRACE_MS;
  if (!Number.isInteger(approvalGraceMs) || approvalGraceMs < 0) {
    throw new LedgerError(
      'ledger.invalid_options',
      `verify: "approvalGraceMs" must be an integer number of milliseconds >= 0 (got ${String(options.approvalGraceMs)})`,
    );
  }
  const trusted = new Set((options.trustedKeyFiles ?? []).map((file) => readTrustedKey(file).keyId));
  const fileCheckpoints = [
    ...(options.checkpoints ?? []),
    ...(options.checkpointFiles ?? []).map((file) => ({ checkpoint: readCheckpointFile(file), source: file })),
  ];

  const problems: VerifyProblem[] = [];
  let problemCount = 0;
  const report = (problem: VerifyProblem): void => {
    problemCount += 1;
    if (problems.length < maxProblems) problems.push(problem);
  };

  const fail = (error: unknown, doing: string): never => {
    throw ledgerErrorFromPg(error, connection.location, doing);
  };

  // Checkpoints: the database's, then the files'.
  const checkpoints: CheckpointSummary[] = [];
  const expectations = new Map<string, Expectation[]>();
  const stored = await readStoredCheckpoints(connection);
  const storedById = new Map<string, SignedCheckpoint>();
  // One period per signed checkpoint, however many copies of it were given.
  const periods = new Map<string, CheckpointPeriod>();
  const consider = (checkpoint: SignedCheckpoint, source: string): void => {
    const invalid = checkSignature(checkpoint);
    const isTrusted = trusted.size === 0 ? null : trusted.has(checkpoint.key_id);
    const where = `checkpoint ${checkpoint.checkpoint_id} (${source})`;
    let ok = true;
    if (invalid) {
      ok = false;
      report(problem('checkpoint_invalid', 'forged', null, null, null, checkpoint.checkpoint_id, `${where}: ${invalid}`));
    } else if (isTrusted === false) {
      ok = false;
      report(
        problem('checkpoint_untrusted', 'forged', null, null, null, checkpoint.checkpoint_id, `${where} is signed by key ${checkpoint.key_id}, which is not trusted`),
      );
    }
    if (!invalid) {
      for (const head of checkpoint.heads) {
        const list = expectations.get(head.strand_id) ?? [];
        list.push({ seq: head.seq, hash: head.hash, checkpointId: checkpoint.checkpoint_id });
        expectations.set(head.strand_id, list);
      }
      const createdAt = Date.parse(checkpoint.created_at);
      if (!Number.isFinite(createdAt)) {
        ok = false;
        report(problem('checkpoint_invalid', 'forged', null, null, null, checkpoint.checkpoint_id, `${where}: its created_at ${JSON.stringify(checkpoint.created_at)} is not a time`));
      } else if (isTrusted !== false) {
        // An untrusted checkpoint (reported above) bounds no period: anyone could have signed it.
        periods.set(`${checkpoint.checkpoint_id} ${checkpoint.signature}`, {
          checkpointId: checkpoint.checkpoint_id,
          createdAt: new Date(createdAt).toISOString(),
          limit: createdAt - graceMs,
          heads: new Map(checkpoint.heads.map((h) => [h.strand_id, h.seq])),
        });
      }
    }
    checkpoints.push({
      checkpoint_id: checkpoint.checkpoint_id,
      source,
      created_at: checkpoint.created_at,
      key_id: checkpoint.key_id,
      trusted: isTrusted,
      strands: checkpoint.heads.length,
      ok,
    });
  };
  for (const entry of stored) {
    if (entry instanceof LedgerError) {
      report(problem('checkpoint_invalid', 'altered', null, null, null, null, entry.message));
      continue;
    }
    storedById.set(entry.checkpoint_id, entry);
    consider(entry, 'database');
  }
  for (const { checkpoint, source } of fileCheckpoints) {
    const copy = storedById.get(checkpoint.checkpoint_id);
    if (!copy) {
      report(
        problem(
          'checkpoint_missing',
          'deleted',
          null,
          null,
          null,
          checkpoint.checkpoint_id,
          `checkpoint ${checkpoint.checkpoint_id} from ${source} is not in ledger_checkpoints: it was removed from the database, or the file belongs to another ledger`,
        ),
      );
    } else if (canonicalJson(copy) !== canonicalJson(checkpoint)) {
      report(
        problem(
          'checkpoint_conflict',
          'altered',
          null,
          null,
          null,
          checkpoint.checkpoint_id,
          `checkpoint ${checkpoint.checkpoint_id} in ${source} differs from the copy in ledger_checkpoints`,
        ),
      );
    }
    consider(checkpoint, source);
  }

  // Registered strands.
  let registry: Map<string, { host: string; pid: number; label: string | null; startedAt: Date }>;
  try {
    const rows = await connection.db.selectFrom('ledger_strands').select(['strand_id', 'host', 'pid', 'label', 'started_at']).execute();
    registry = new Map(rows.map((r) => [r.strand_id, { host: r.host, pid: r.pid, label: r.label, startedAt: r.started_at }]));
  } catch (error) {
    return fail(error, 'reading the strands');
  }

  // Each strand's bounds: every checkpoint that lists it (for events beyond the head it
  // signed), and the latest checkpoint that does not (for all its events).
  const byLimit = [...periods.values()].sort((a, b) => b.limit - a.limit);
  const listedIn = new Map<string, StrandBound[]>();
  for (const period of periods.values()) {
    for (const [strandId, seq] of period.heads) {
      const list = listedIn.get(strandId) ?? [];
      list.push({ coveredSeq: seq, period });
      listedIn.set(strandId, list);
    }
  }
  const boundsOf = (strandId: string): StrandBound[] => {
    const bounds = [...(listedIn.get(strandId) ?? [])];
    const unlisted = byLimit.find((p) => !p.heads.has(strandId));
    if (unlisted) bounds.push({ coveredSeq: 0, period: unlisted });
    return bounds.sort((a, b) => a.coveredSeq - b.coveredSeq);
  };

  /**
   * Whether `row` is dated inside the period of a checkpoint that does not cover it. The
   * sweep keeps, for the current seq, the latest checkpoint whose coverage of the strand ends
   * before it; the problem names the earliest such checkpoint taken after the event's date.
   */
  const checkPeriod = (s: StrandState, row: LedgerEventRow): void => {
    while (s.boundIndex < s.bounds.length && s.bounds[s.boundIndex]!.coveredSeq < row.seq) {
      const { period } = s.bounds[s.boundIndex]!;
      if (!s.bound || period.limit > s.bound.limit) s.bound = period;
      s.boundIndex += 1;
    }
    if (!s.bound) return;
    const dated = Date.parse(row.occurred_at);
    if (!(dated < s.bound.limit)) return;
    s.backdatedCount += 1;
    s.backdatedLastSeq = row.seq;
    if (s.backdated) return;
    let named = s.bound;
    for (const period of periods.values()) {
      if ((period.heads.get(row.strand_id) ?? 0) < row.seq && period.limit > dated && period.limit < named.limit) named = period;
    }
    const covered = named.heads.get(row.strand_id);
    const registered = registry.get(row.strand_id);
    const strandNote = registered
      ? `, registered in ledger_strands as started at ${registered.startedAt.toISOString()}`
      : ', and not registered in ledger_strands either';
    const what =
      covered === undefined
        ? `it does not list strand ${row.strand_id} at all${strandNote}`
        : `it covers strand ${row.strand_id} only up to seq ${covered}`;
    const found = problem(
      'checkpoint_backdated',
      'backdated',
      row.strand_id,
      row.seq,
      row.event_id,
      named.checkpointId,
      `strand ${row.strand_id} seq ${row.seq} (event ${row.event_id}) is dated ${row.occurred_at}, ${spellDuration(named.limit + graceMs - dated)} before checkpoint ${named.checkpointId} ` +
        `was taken at ${named.createdAt}, but ${what}: it was written after the checkpoint and dated back into the period the checkpoint bounds ` +
        `(events in flight when a checkpoint is taken may be dated up to ${spellGrace(graceMs)} before it)`,
    );
    s.backdated = found;
    s.problems += 1;
    report(found);
  };

  const strands: StrandSummary[] = [];
  let events = 0;
  let diagnoses = 0;
  let state: StrandState | undefined;

  const finishStrand = (s: StrandState): void => {
    const registered = registry.get(s.strandId);
    if (!registered) {
      report(
        problem(
          'unregistered_strand',
          'forged',
          s.strandId,
          s.first?.seq ?? null,
          s.first?.event_id ?? null,
          null,
          `strand ${s.strandId} has ${s.events} events but no writer registered it in ledger_strands: its events were inserted outside the writer`,
        ),
      );
      s.problems += 1;
    }
    for (const exp of expectations.get(s.strandId) ?? []) {
      if (s.last === undefined || exp.seq > s.last.seq) {
        const lastSeq = s.last?.seq ?? 0;
        report(
          problem(
            'checkpoint_truncated',
            'truncated',
            s.strandId,
            lastSeq === 0 ? null : lastSeq,
            s.last?.event_id ?? null,
            exp.checkpointId,
            `strand ${s.strandId} ends at seq ${lastSeq} but checkpoint ${exp.checkpointId} signed its head at seq ${exp.seq}: ` +
              `events ${lastSeq + 1}..${exp.seq} were cut from its tail`,
          ),
        );
        s.problems += 1;
      }
    }
    if (s.backdated && s.backdatedCount > 1) {
      const more = s.backdatedCount - 1;
      s.backdated.message += `; so ${more === 1 ? 'is 1 later event' : `are ${more} later events`} of the strand, up to seq ${s.backdatedLastSeq}`;
    }
    expectations.delete(s.strandId);
    strands.push({
      strand_id: s.strandId,
      events: s.events,
      head_seq: s.last?.seq ?? 0,
      head_hash: s.last?.hash ?? GENESIS_HASH,
      registered: registered !== undefined,
      host: registered?.host ?? null,
      pid: registered?.pid ?? null,
      label: registered?.label ?? null,
      ok: s.problems === 0,
    });
    registry.delete(s.strandId);
  };

  const lookupByHash = async (strandId: string, hash: string): Promise<{ seq: number; event_id: string } | undefined> => {
    try {
      const row = await connection.db
        .selectFrom('ledger_events')
        .select(['seq', 'event_id'])
        .where('strand_id', '=', strandId)
        .where('hash', '=', hash)
        .orderBy('seq')
        .limit(1)
        .executeTakeFirst();
      return row;
    } catch (error) {
      return fail(error, 'diagnosing a broken link');
    }
  };
  const lookupBySeq = async (strandId: string, seq: number): Promise<string | null> => {
    try {
      const row = await connection.db
        .selectFrom('ledger_events')
        .select('event_id')
        .where('strand_id', '=', strandId)
        .where('seq', '=', seq as never)
        .executeTakeFirst();
      return row?.event_id ?? null;
    } catch (error) {
      return fail(error, 'diagnosing a broken link');
    }
  };

  const lookupPrevHash = async (strandId: string, seq: number): Promise<string | null> => {
    try {
      const row = await connection.db
        .selectFrom('ledger_events')
        .select('prev_hash')
        .where('strand_id', '=', strandId)
        .where('seq', '=', seq as never)
        .executeTakeFirst();
      return row?.prev_hash ?? null;
    } catch (error) {
      return fail(error, 'diagnosing a broken link');
    }
  };

  /**
   * Whether `row` links to the event before it. A broken link is reported at the event whose
   * stored link is wrong, saying what it links to and what it should, unless the evidence
   * shows the fault is the previous event's (its content changed and re-hashed, or its stored
   * hash replaced): that event is named instead, once.
   */
  const checkLink = async (s: StrandState, row: LedgerEventRow, computed: string): Promise<VerifyProblem | undefined> => {
    const where = `strand ${row.strand_id} seq ${row.seq} (event ${row.event_id})`;
    const previous = s.last;
    if (row.prev_hash === s.prevHash) {
      // The previous event's hash did not match its content; this event still links to that
      // stored hash, so the hash is as written and the content was changed.
      if (s.lastHashProblem && previous) {
        s.lastHashProblem.message += `; seq ${row.seq} (event ${row.event_id}) still links to its stored hash, so its content was changed after it was written`;
      }
      return undefined;
    }
    if (row.seq === 1 || previous === undefined) {
      const only = eventHash(GENESIS_HASH, row) === row.hash ? ': its own hash was computed over 64 zeros, so its prev_hash was changed after it was written' : '';
      return problem(
        'broken_link',
        'altered',
        row.strand_id,
        row.seq,
        row.event_id,
        null,
        `${where}: its prev_hash is ${row.prev_hash}, but the first event of a strand must have a prev_hash of 64 zeros${only}`,
      );
    }
    const before = `seq ${previous.seq} (event ${previous.event_id})`;
    const mismatch = `${where}: its prev_hash ${row.prev_hash} does not match the hash of ${before}, ${previous.hash}`;
    if (previous.hash !== s.prevComputed && row.prev_hash === s.prevComputed) {
      // The previous event's stored hash was replaced (reported there); this event links to
      // the hash of that event's content, so both are as written.
      if (s.lastHashProblem) {
        s.lastHashProblem.message += `; seq ${row.seq} (event ${row.event_id}) links to the hash of its content (${row.prev_hash}), so its content is as written and its stored hash was replaced`;
      }
      return undefined;
    }
    if (eventHash(previous.hash, row) === row.hash) {
      return problem(
        'broken_link',
        'altered',
        row.strand_id,
        row.seq,
        row.event_id,
        null,
        `${mismatch}; its own hash was computed over the hash of ${before}, so its prev_hash was changed after it was written`,
      );
    }
    if (diagnoses >= MAX_DIAGNOSES) return problem('broken_link', 'unknown', row.strand_id, row.seq, row.event_id, null, mismatch);
    diagnoses += 1;
    const target = await lookupByHash(row.strand_id, row.prev_hash);
    if (target && target.seq > row.seq) {
      return problem(
        'broken_link',
        'reordered',
        row.strand_id,
        row.seq,
        row.event_id,
        null,
        `${where}: it links to the event now at seq ${target.seq} (event ${target.event_id}): sequence numbers were swapped or reordered`,
      );
    }
    if (target && target.seq < row.seq - 1 && !s.lastHadProblem) {
      const firstInserted = target.seq + 1;
      const insertedId = firstInserted === previous.seq ? previous.event_id : await lookupBySeq(row.strand_id, firstInserted);
      const span = firstInserted === row.seq - 1 ? `seq ${firstInserted}` : `seq ${firstInserted}..${row.seq - 1}`;
      return problem(
        'broken_link',
        'inserted',
        row.strand_id,
        firstInserted,
        insertedId,
        null,
        `strand ${row.strand_id} seq ${firstInserted} (event ${insertedId ?? 'unknown'}): inserted into the chain — the event written after seq ${target.seq} ` +
          `(now seq ${row.seq}, event ${row.event_id}) links straight to seq ${target.seq}, so ${span} was not there when it was written`,
      );
    }
    if (target) {
      return problem('broken_link', 'unknown', row.strand_id, row.seq, row.event_id, null, `${mismatch}; it links to seq ${target.seq} (event ${target.event_id})`);
    }
    if (computed === row.hash) {
      // This event matches its hash. If the next event links to that hash, this event is as
      // it was written (its hash covers its prev_hash): the previous one was rewritten.
      const next = await lookupPrevHash(row.strand_id, row.seq + 1);
      if (next === row.hash) {
        return problem(
          'broken_link',
          'altered',
          previous.strand_id,
          previous.seq,
          previous.event_id,
          null,
          `strand ${previous.strand_id} ${before}: changed and re-hashed after it was written — seq ${row.seq} (event ${row.event_id}) still links to ` +
            `its original hash ${row.prev_hash}, which no event has any more, and seq ${row.seq + 1} links to seq ${row.seq}, so seq ${row.seq} is as written`,
        );
      }
      return problem(
        'broken_link',
        'altered',
        row.strand_id,
        row.seq,
        row.event_id,
        null,
        `${mismatch}, and no event has the hash it links to: ${before} was changed and re-hashed after this event was written, ` +
          `or this event's prev_hash was changed and it was re-hashed${next === null ? ' (it is the head of its strand, so nothing after it tells which)' : `; seq ${row.seq + 1} does not link to it either`}`,
      );
    }
    return problem(
      'broken_link',
      'altered',
      row.strand_id,
      row.seq,
      row.event_id,
      null,
      `${mismatch}, no event has the hash it links to, and its own hash does not match its content: it was changed after it was written`,
    );
  };

  const checkEvent = async (s: StrandState, row: LedgerEventRow, computed: string): Promise<VerifyProblem | undefined> => {
    const where = `strand ${row.strand_id} seq ${row.seq} (event ${row.event_id})`;
    if (row.seq > s.expectedSeq) {
      const missing = row.seq - s.expectedSeq === 1 ? `event ${s.expectedSeq} is` : `events ${s.expectedSeq}..${row.seq - 1} are`;
      return problem('sequence_gap', 'deleted', row.strand_id, row.seq, row.event_id, null, `${where}: ${missing} missing before it (removed from the ledger)`);
    }
    if (row.seq < s.expectedSeq) {
      return problem('sequence_duplicate', 'inserted', row.strand_id, row.seq, row.event_id, null, `${where}: seq ${row.seq} appears more than once`);
    }
    const link = await checkLink(s, row, computed);
    if (link) return link;
    if (computed !== row.hash) {
      for (const seq of [row.seq - 1, row.seq + 1]) {
        if (seq >= 1 && eventHash(row.prev_hash, { ...row, seq }) === row.hash) {
          return problem(
            'hash_mismatch',
            'renumbered',
            row.strand_id,
            row.seq,
            row.event_id,
            null,
            `${where}: it was written as seq ${seq}: sequence numbers were changed`,
          );
        }
      }
      return problem(
        'hash_mismatch',
        'altered',
        row.strand_id,
        row.seq,
        row.event_id,
        null,
        `${where}: its hash does not match its content: its content or its hash was changed after it was written, or it was forged`,
      );
    }
    return undefined;
  };

  let cursor: { strandId: string; seq: number } | undefined;
  for (;;) {
    let page: LedgerEventRow[];
    try {
      let query = connection.db.selectFrom('ledger_events').selectAll().orderBy('strand_id').orderBy('seq').limit(pageSize);
      if (cursor) {
        const { strandId, seq } = cursor;
        query = query.where((eb) => eb(eb.refTuple('strand_id', 'seq'), '>', eb.tuple(strandId, seq as never)));
      }
      page = (await query.execute()).map(toEventRow);
    } catch (error) {
      return fail(error, 'reading events');
    }
    for (const row of page) {
      events += 1;
      if (!state || state.strandId !== row.strand_id) {
        if (state) finishStrand(state);
        state = {
          strandId: row.strand_id,
          expectedSeq: 1,
          prevHash: GENESIS_HASH,
          events: 0,
          first: row,
          last: undefined,
          lastHadProblem: false,
          prevComputed: GENESIS_HASH,
          lastHashProblem: undefined,
          bounds: boundsOf(row.strand_id),
          boundIndex: 0,
          bound: undefined,
          backdated: undefined,
          backdatedCount: 0,
          backdatedLastSeq: 0,
          problems: 0,
        };
      }
      state.events += 1;
      const computed = eventHash(row.prev_hash, row);
      const found = await checkEvent(state, row, computed);
      let hadProblem = found !== undefined;
      if (found) report(found);
      for (const exp of expectations.get(row.strand_id) ?? []) {
        if (exp.seq === row.seq && exp.hash !== row.hash) {
          hadProblem = true;
          report(
            problem(
              'checkpoint_mismatch',
              'altered',
              row.strand_id,
              row.seq,
              row.event_id,
              exp.checkpointId,
              `strand ${row.strand_id} seq ${row.seq} (event ${row.event_id}): checkpoint ${exp.checkpointId} signed hash ${exp.hash} for this place, the ledger now has ${row.hash}: the strand was rewritten`,
            ),
          );
        }
      }
      if (hadProblem) state.problems += 1;
      checkPeriod(state, row);
      // Continue from what is stored, so one fault is reported once rather than on every later event.
      state.expectedSeq = Math.max(state.expectedSeq, row.seq + 1);
      state.prevHash = row.hash;
      state.prevComputed = computed;
      state.last = row;
      state.lastHadProblem = hadProblem;
      state.lastHashProblem = found?.kind === 'hash_mismatch' && found.cause === 'altered' ? found : undefined;
    }
    if (page.length < pageSize) break;
    const last = page[page.length - 1]!;
    cursor = { strandId: last.strand_id, seq: last.seq };
  }
  if (state) finishStrand(state);

  // Registered strands with no events left, and checkpointed strands that vanished.
  for (const [strandId] of registry) {
    report(problem('missing_strand', 'deleted', strandId, null, null, null, `strand ${strandId} is registered in ledger_strands but has no events: they were removed`));
  }
  for (const [strandId, list] of expectations) {
    for (const exp of list) {
      report(
        problem(
          'checkpoint_truncated',
          'truncated',
          strandId,
          null,
          null,
          exp.checkpointId,
          `strand ${strandId} has no events but checkpoint ${exp.checkpointId} signed its head at seq ${exp.seq}: the whole strand was removed`,
        ),
      );
    }
  }

  const approvals = await verifyApprovals(connection, { graceMs: approvalGraceMs, pageSize }, report);
  const missingOutcomes = await readMissingOutcomes(connection, options.missingOutcomeSample ?? 20);
  const ordered = orderProblems(problems);
  const result: VerifyReport = {
    ok: problemCount === 0,
    backend: connection.backend,
    location: connection.location,
    verified_at: verifiedAt.toISOString(),
    duration_ms: Math.round(performance.now() - started),
    events,
    strands,
    checkpoints,
    problems: ordered,
    problem_count: problemCount,
    first_problem: ordered.find((p) => p.event_id !== null) ?? ordered[0] ?? null,
    missing_outcomes: missingOutcomes,
    approvals,
    verification_id: null,
  };
  if (options.record) {
    result.verification_id = randomUUID();
    try {
      await connection.db
        .insertInto('ledger_verifications')
        .values({
          verification_id: result.verification_id,
          verified_at: result.verified_at,
          ok: result.ok,
          strands: strands.length,
          events,
          checkpoints: checkpoints.length,
          problems: problemCount,
          missing_outcomes: missingOutcomes.count,
          first_problem: result.first_problem ? JSON.stringify(result.first_problem) : null,
          report: JSON.stringify({ ...result, verification_id: result.verification_id }),
        })
        .execute();
    } catch (error) {
      return fail(error, 'recording the verification');
    }
  }
  return result;
}

async function readMissingOutcomes(connection: LedgerConnection, sampleSize: number): Promise<VerifyReport['missing_outcomes']> {
  try {
    const count = await sql<{ n: number }>`SELECT count(*) AS n FROM audit_allowed_without_outcome`.execute(connection.db);
    const sample = await sql<{
      call_id: string;
      decided_at: Date;
      agent_id: string | null;
      server: string | null;
      tool: string | null;
      strand_id: string;
      seq: number;
      event_id: string;
    }>`SELECT call_id, decided_at, agent_id, server, tool, strand_id, seq, event_id
       FROM audit_allowed_without_outcome ORDER BY decided_at, event_id LIMIT ${sampleSize}`.execute(connection.db);
    return {
      count: count.rows[0]?.n ?? 0,
      sample: sample.rows.map((r) => ({ ...r, decided_at: r.decided_at.toISOString() })),
    };
  } catch (error) {
    throw ledgerErrorFromPg(error, connection.location, 'looking for allowed calls without an outcome');
  }
}

/** Event-level problems in ledger order (strand, seq); checkpoint-level ones after. */
function orderProblems(problems: VerifyProblem[]): VerifyProblem[] {
  return [...problems].sort((a, b) => {
    if (a.strand_id === null || b.strand_id === null) return a.strand_id === null ? (b.strand_id === null ? 0 : 1) : -1;
    if (a.strand_id !== b.strand_id) return a.strand_id < b.strand_id ? -1 : 1;
    return (a.seq ?? Number.MAX_SAFE_INTEGER) - (b.seq ?? Number.MAX_SAFE_INTEGER);
  });
}
