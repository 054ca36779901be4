import { GENESIS_HASH, eventHash } from '../event/event-hash.js';
import type { LedgerEventRow } from '../event/ledger-event.js';
import type { RegisteredStrand, VerifyReader } from './verify-reader.js';
import { eventProblem, problem, type VerifyProblem } from './verify-problem.js';

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

/** Where the chain of the strand being read has got to. */
interface ChainState {
  strandId: string;
  expectedSeq: number;
  prevHash: string;
  events: number;
  first: LedgerEventRow;
  last: LedgerEventRow | undefined;
  lastHadProblem: boolean;
  /** The hash of the previous event's content as stored (what its hash should be). */
  prevComputed: string;
  /** The previous event's `hash_mismatch`, amended once the next event shows which part changed. */
  lastHashProblem: VerifyProblem | undefined;
  /** The hash of the current event's content. */
  computed: string;
}

/** Broken links diagnosed with lookups (the rest are reported as found); bounds verify's extra queries. */
const MAX_DIAGNOSES = 25;

/**
 * The chain pass: fed every event of each strand in seq order, it checks that sequence numbers
 * run 1, 2, 3… without gaps or repeats, that each `prev_hash` is the hash of the event before
 * and each `hash` is SHA-256(prev_hash || canonical(event)), and that every strand with events
 * is registered and every registered one has events. A broken link is diagnosed (altered,
 * reordered, inserted, rewritten and re-hashed) with a few lookups through the reader.
 */
export class ChainPass {
  /** The strands read so far, in order. */
  readonly strands: StrandSummary[] = [];
  private state: ChainState | undefined;
  private diagnoses = 0;
  /** Registered strands not yet seen among the events. */
  private readonly unseen: Map<string, RegisteredStrand>;

  constructor(
    private readonly reader: VerifyReader,
    private readonly registry: ReadonlyMap<string, RegisteredStrand>,
  ) {
    this.unseen = new Map(registry);
  }

  /** Starts a strand at its first stored event. */
  startStrand(first: LedgerEventRow): void {
    this.state = {
      strandId: first.strand_id,
      expectedSeq: 1,
      prevHash: GENESIS_HASH,
      events: 0,
      first,
      last: undefined,
      lastHadProblem: false,
      prevComputed: GENESIS_HASH,
      lastHashProblem: undefined,
      computed: GENESIS_HASH,
    };
  }

  /** Checks the next event of the current strand; returns its fault, if any. */
  check(row: LedgerEventRow): Promise<VerifyProblem | undefined> {
    const s = this.state!;
    s.events += 1;
    s.computed = eventHash(row.prev_hash, row);
    return this.checkEvent(s, row, s.computed);
  }

  /**
   * Moves past the event just checked, continuing from what is stored, so one fault is reported
   * once rather than on every later event. `found`: this pass's fault at it; `hadProblem`:
   * whether any pass found one (an event after a faulty one is not diagnosed as inserted).
   */
  advance(row: LedgerEventRow, found: VerifyProblem | undefined, hadProblem: boolean): void {
    const s = this.state!;
    s.expectedSeq = Math.max(s.expectedSeq, row.seq + 1);
    s.prevHash = row.hash;
    s.prevComputed = s.computed;
    s.last = row;
    s.lastHadProblem = hadProblem;
    s.lastHashProblem = found?.kind === 'hash_mismatch' && found.cause === 'altered' ? found : undefined;
  }

  /** The strand's registration in `ledger_strands`, if it has one. */
  registered(strandId: string): RegisteredStrand | undefined {
    return this.registry.get(strandId);
  }

  /** The last event of the current strand, once one was read. */
  get last(): LedgerEventRow | undefined {
    return this.state?.last;
  }

  /** The fault of the strand as a whole once read: events of a strand no writer registered. */
  unregistered(): VerifyProblem | undefined {
    const s = this.state!;
    if (this.registry.has(s.strandId)) return undefined;
    return problem(
      'unregistered_strand',
      'forged',
      s.strandId,
      s.first.seq,
      s.first.event_id,
      null,
      `strand ${s.strandId} has ${s.events} events but no writer registered it in ledger_strands: its events were inserted outside the writer`,
    );
  }

  /** Closes the current strand: its summary, `ok` when no pass found a fault in it. */
  finishStrand(problems: number): void {
    const s = this.state!;
    const registered = this.registry.get(s.strandId);
    this.strands.push({
      strand_id: s.strandId,
      events: s.events,
      head_seq: s.last?.seq ?? 0,
      head_hash: s.last?.hash ?? GENESIS_HASH,
      registered: registered !== undefined,
      host: registered?.host ?? null,
      pid: registered?.pid ?? null,
      label: registered?.label ?? null,
      ok: problems === 0,
    });
    this.unseen.delete(s.strandId);
    this.state = undefined;
  }

  /** After the last event: registered strands with no events left. */
  finish(): VerifyProblem[] {
    return [...this.unseen.keys()].map((strandId) =>
      problem('missing_strand', 'deleted', strandId, null, null, null, `strand ${strandId} is registered in ledger_strands but has no events: they were removed`),
    );
  }

  /**
   * Whether `row` links to the event before it. A broken link is reported at the event whose
   * stored link is wrong, saying what it links to and what it should, unless the evidence
   * shows the fault is the previous event's (its content changed and re-hashed, or its stored
   * hash replaced): that event is named instead, once.
   */
  private async checkLink(s: ChainState, row: LedgerEventRow, computed: string): Promise<VerifyProblem | undefined> {
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
      return eventProblem('broken_link', 'altered', row, `${where}: its prev_hash is ${row.prev_hash}, but the first event of a strand must have a prev_hash of 64 zeros${only}`);
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
      return eventProblem('broken_link', 'altered', row, `${mismatch}; its own hash was computed over the hash of ${before}, so its prev_hash was changed after it was written`);
    }
    if (this.diagnoses >= MAX_DIAGNOSES) return eventProblem('broken_link', 'unknown', row, mismatch);
    this.diagnoses += 1;
    const target = await this.reader.eventWithHash(row.strand_id, row.prev_hash);
    if (target && target.seq > row.seq) {
      return eventProblem('broken_link', 'reordered', row, `${where}: it links to the event now at seq ${target.seq} (event ${target.event_id}): sequence numbers were swapped or reordered`);
    }
    if (target && target.seq < row.seq - 1 && !s.lastHadProblem) {
      const firstInserted = target.seq + 1;
      const insertedId = firstInserted === previous.seq ? previous.event_id : await this.reader.columnAt(row.strand_id, firstInserted, 'event_id');
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
      return eventProblem('broken_link', 'unknown', row, `${mismatch}; it links to seq ${target.seq} (event ${target.event_id})`);
    }
    if (computed === row.hash) {
      // This event matches its hash. If the next event links to that hash, this event is as
      // it was written (its hash covers its prev_hash): the previous one was rewritten.
      const next = await this.reader.columnAt(row.strand_id, row.seq + 1, 'prev_hash');
      if (next === row.hash) {
        return eventProblem(
          'broken_link',
          'altered',
          previous,
          `strand ${previous.strand_id} ${before}: changed and re-hashed after it was written — seq ${row.seq} (event ${row.event_id}) still links to ` +
            `its original hash ${row.prev_hash}, which no event has any more, and seq ${row.seq + 1} links to seq ${row.seq}, so seq ${row.seq} is as written`,
        );
      }
      return eventProblem(
        'broken_link',
        'altered',
        row,
        `${mismatch}, and no event has the hash it links to: ${before} was changed and re-hashed after this event was written, ` +
          `or this event's prev_hash was changed and it was re-hashed${next === null ? ' (it is the head of its strand, so nothing after it tells which)' : `; seq ${row.seq + 1} does not link to it either`}`,
      );
    }
    return eventProblem('broken_link', 'altered', row, `${mismatch}, no event has the hash it links to, and its own hash does not match its content: it was changed after it was written`);
  }

  /** The fault at `row`, in the order checked: its seq, its link, its hash. */
  private async checkEvent(s: ChainState, row: LedgerEventRow, computed: string): Promise<VerifyProblem | undefined> {
    const where = `strand ${row.strand_id} seq ${row.seq} (event ${row.event_id})`;
    if (row.seq > s.expectedSeq) {
      const missing = row.seq - s.expectedSeq === 1 ? `event ${s.expectedSeq} is` : `events ${s.expectedSeq}..${row.seq - 1} are`;
      return eventProblem('sequence_gap', 'deleted', row, `${where}: ${missing} missing before it (removed from the ledger)`);
    }
    if (row.seq < s.expectedSeq) {
      return eventProblem('sequence_duplicate', 'inserted', row, `${where}: seq ${row.seq} appears more than once`);
    }
    const link = await this.checkLink(s, row, computed);
    if (link) return link;
    if (computed !== row.hash) {
      for (const seq of [row.seq - 1, row.seq + 1]) {
        if (seq >= 1 && eventHash(row.prev_hash, { ...row, seq }) === row.hash) {
          return eventProblem('hash_mismatch', 'renumbered', row, `${where}: it was written as seq ${seq}: sequence numbers were changed`);
        }
      }
      return eventProblem('hash_mismatch', 'altered', row, `${where}: its hash does not match its content: its content or its hash was changed after it was written, or it was forged`);
    }
    return undefined;
  }
}
