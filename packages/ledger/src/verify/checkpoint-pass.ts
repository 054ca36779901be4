import { canonicalJson } from '@tollgate/policy';
import { checkSignature, type SignedCheckpoint } from '../checkpoint/checkpoint-signer.js';
import type { LedgerEventRow } from '../event/ledger-event.js';
import { LedgerError } from '../ledger-error.js';
import { spellDuration, spellGrace } from './duration-text.js';
import type { RegisteredStrand } from './verify-reader.js';
import { problem, type VerifyProblem } from './verify-problem.js';

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

const NONE: readonly never[] = [];

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

/** A head a checkpoint signed: the event at `seq` must still have `hash`. */
interface Expectation {
  seq: number;
  hash: string;
  checkpointId: string;
}

/** How far the sweep over the current strand's bounds has got, and what it found. */
interface PeriodState {
  strandId: string;
  registered: RegisteredStrand | undefined;
  /** This strand's bounds, by `coveredSeq`, and how far the sweep over them has got. */
  bounds: StrandBound[];
  boundIndex: number;
  /** The latest period that bounds the current seq, once one does. */
  bound: CheckpointPeriod | undefined;
  /** The first backdated event of the strand, how many there are and the last one's seq. */
  backdated: VerifyProblem | undefined;
  backdatedCount: number;
  backdatedLastSeq: number;
}

/**
 * The checkpoint pass: first fed the checkpoints (the database's, then the files'), it checks
 * each one's signature, key and copy; then, fed every event of each strand in seq order, that
 * every strand still holds the heads the checkpoints signed (not rewritten, not cut short) and
 * that no event a checkpoint does not cover is dated inside the period it bounds (backdated).
 */
export class CheckpointPass {
  /** The checkpoints as verified, in the order given. */
  readonly checkpoints: CheckpointSummary[] = [];
  private readonly expectations = new Map<string, Expectation[]>();
  // One period per signed checkpoint, however many copies of it were given.
  private readonly periods = new Map<string, CheckpointPeriod>();
  private byLimit: CheckpointPeriod[] = [];
  private readonly listedIn = new Map<string, StrandBound[]>();
  private state: PeriodState | undefined;

  /**
   * @param trusted The key ids checkpoints must be signed by; empty: any key.
   * @param graceMs How long before a checkpoint an event it does not cover may be dated.
   * @param report Where each problem goes.
   */
  constructor(
    private readonly trusted: ReadonlySet<string>,
    private readonly graceMs: number,
    private readonly report: (problem: VerifyProblem) => void,
  ) {}

  /**
   * Checks the database's checkpoints (a malformed row is its error), then the files', each
   * against the database's copy; then prepares every strand's bounds.
   */
  readCheckpoints(stored: ReadonlyArray<SignedCheckpoint | LedgerError>, files: ReadonlyArray<{ checkpoint: SignedCheckpoint; source: string }>): void {
    const storedById = new Map<string, SignedCheckpoint>();
    for (const entry of stored) {
      if (entry instanceof LedgerError) {
        this.report(problem('checkpoint_invalid', 'altered', null, null, null, null, entry.message));
        continue;
      }
      storedById.set(entry.checkpoint_id, entry);
      this.consider(entry, 'database');
    }
    for (const { checkpoint, source } of files) {
      const copy = storedById.get(checkpoint.checkpoint_id);
      if (!copy) {
        this.report(
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
        this.report(
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
      this.consider(checkpoint, source);
    }
    // Each strand's bounds: every checkpoint that lists it (for events beyond the head it
    // signed), and the latest checkpoint that does not (for all its events).
    this.byLimit = [...this.periods.values()].sort((a, b) => b.limit - a.limit);
    for (const period of this.periods.values()) {
      for (const [strandId, seq] of period.heads) {
        const list = this.listedIn.get(strandId) ?? [];
        list.push({ coveredSeq: seq, period });
        this.listedIn.set(strandId, list);
      }
    }
  }

  private consider(checkpoint: SignedCheckpoint, source: string): void {
    const invalid = checkSignature(checkpoint);
    const isTrusted = this.trusted.size === 0 ? null : this.trusted.has(checkpoint.key_id);
    const where = `checkpoint ${checkpoint.checkpoint_id} (${source})`;
    let ok = true;
    if (invalid) {
      ok = false;
      this.report(problem('checkpoint_invalid', 'forged', null, null, null, checkpoint.checkpoint_id, `${where}: ${invalid}`));
    } else if (isTrusted === false) {
      ok = false;
      this.report(
        problem('checkpoint_untrusted', 'forged', null, null, null, checkpoint.checkpoint_id, `${where} is signed by key ${checkpoint.key_id}, which is not trusted`),
      );
    }
    if (!invalid) {
      for (const head of checkpoint.heads) {
        const list = this.expectations.get(head.strand_id) ?? [];
        list.push({ seq: head.seq, hash: head.hash, checkpointId: checkpoint.checkpoint_id });
        this.expectations.set(head.strand_id, list);
      }
      const createdAt = Date.parse(checkpoint.created_at);
      if (!Number.isFinite(createdAt)) {
        ok = false;
        this.report(
          problem('checkpoint_invalid', 'forged', null, null, null, checkpoint.checkpoint_id, `${where}: its created_at ${JSON.stringify(checkpoint.created_at)} is not a time`),
        );
      } else if (isTrusted !== false) {
        // An untrusted checkpoint (reported above) bounds no period: anyone could have signed it.
        this.periods.set(`${checkpoint.checkpoint_id} ${checkpoint.signature}`, {
          checkpointId: checkpoint.checkpoint_id,
          createdAt: new Date(createdAt).toISOString(),
          limit: createdAt - this.graceMs,
          heads: new Map(checkpoint.heads.map((h) => [h.strand_id, h.seq])),
        });
      }
    }
    this.checkpoints.push({
      checkpoint_id: checkpoint.checkpoint_id,
      source,
      created_at: checkpoint.created_at,
      key_id: checkpoint.key_id,
      trusted: isTrusted,
      strands: checkpoint.heads.length,
      ok,
    });
  }

  /** Starts a strand (`registered` in `ledger_strands`, or not): the bounds its events are checked against. */
  startStrand(strandId: string, registered: RegisteredStrand | undefined): void {
    const bounds = [...(this.listedIn.get(strandId) ?? [])];
    const unlisted = this.byLimit.find((p) => !p.heads.has(strandId));
    if (unlisted) bounds.push({ coveredSeq: 0, period: unlisted });
    bounds.sort((a, b) => a.coveredSeq - b.coveredSeq);
    this.state = { strandId, registered, bounds, boundIndex: 0, bound: undefined, backdated: undefined, backdatedCount: 0, backdatedLastSeq: 0 };
  }

  /** The checkpoints that signed a different hash for `row`'s place: the strand was rewritten. */
  checkHeads(row: LedgerEventRow): readonly VerifyProblem[] {
    let found: VerifyProblem[] | undefined;
    for (const exp of this.expectations.get(row.strand_id) ?? NONE) {
      if (exp.seq === row.seq && exp.hash !== row.hash) {
        (found ??= []).push(
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
    return found ?? NONE;
  }

  /**
   * Whether `row` is dated inside the period of a checkpoint that does not cover it. The
   * sweep keeps, for the current seq, the latest checkpoint whose coverage of the strand ends
   * before it; the problem names the earliest such checkpoint taken after the event's date.
   * Returns the strand's first backdated event only; the later ones are counted in its message.
   */
  checkPeriod(row: LedgerEventRow): VerifyProblem | undefined {
    const s = this.state!;
    while (s.boundIndex < s.bounds.length && s.bounds[s.boundIndex]!.coveredSeq < row.seq) {
      const { period } = s.bounds[s.boundIndex]!;
      if (!s.bound || period.limit > s.bound.limit) s.bound = period;
      s.boundIndex += 1;
    }
    if (!s.bound) return undefined;
    const dated = Date.parse(row.occurred_at);
    if (!(dated < s.bound.limit)) return undefined;
    s.backdatedCount += 1;
    s.backdatedLastSeq = row.seq;
    if (s.backdated) return undefined;
    let named = s.bound;
    for (const period of this.periods.values()) {
      if ((period.heads.get(row.strand_id) ?? 0) < row.seq && period.limit > dated && period.limit < named.limit) named = period;
    }
    const covered = named.heads.get(row.strand_id);
    const { registered } = s;
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
      `strand ${row.strand_id} seq ${row.seq} (event ${row.event_id}) is dated ${row.occurred_at}, ${spellDuration(named.limit + this.graceMs - dated)} before checkpoint ${named.checkpointId} ` +
        `was taken at ${named.createdAt}, but ${what}: it was written after the checkpoint and dated back into the period the checkpoint bounds ` +
        `(events in flight when a checkpoint is taken may be dated up to ${spellGrace(this.graceMs)} before it)`,
    );
    s.backdated = found;
    return found;
  }

  /**
   * Closes a strand that ended at `last`: the checkpoints that signed a head beyond it (its tail
   * was cut), each a problem.
   */
  finishStrand(last: LedgerEventRow | undefined): VerifyProblem[] {
    const s = this.state!;
    const found: VerifyProblem[] = [];
    for (const exp of this.expectations.get(s.strandId) ?? []) {
      if (last === undefined || exp.seq > last.seq) {
        const lastSeq = last?.seq ?? 0;
        found.push(
          problem(
            'checkpoint_truncated',
            'truncated',
            s.strandId,
            lastSeq === 0 ? null : lastSeq,
            last?.event_id ?? null,
            exp.checkpointId,
            `strand ${s.strandId} ends at seq ${lastSeq} but checkpoint ${exp.checkpointId} signed its head at seq ${exp.seq}: ` +
              `events ${lastSeq + 1}..${exp.seq} were cut from its tail`,
          ),
        );
      }
    }
    if (s.backdated && s.backdatedCount > 1) {
      const more = s.backdatedCount - 1;
      s.backdated.message += `; so ${more === 1 ? 'is 1 later event' : `are ${more} later events`} of the strand, up to seq ${s.backdatedLastSeq}`;
    }
    this.expectations.delete(s.strandId);
    this.state = undefined;
    return found;
  }

  /** After the last event: the strands checkpoints signed that have no events at all. */
  finish(): VerifyProblem[] {
    const found: VerifyProblem[] = [];
    for (const [strandId, list] of this.expectations) {
      for (const exp of list) {
        found.push(
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
    return found;
  }
}
