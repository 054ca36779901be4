import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { LedgerConnection, OpenPipelineTransaction, OpenTransaction, PipelinedStatement } from '../database/ledger-connection.js';
import { ledgerErrorFromPg } from '../database/pool-ledger-connection.js';
import { ArgumentRedactor, type RedactionRule } from '../event/argument-redactor.js';
import { prepareEvent, type PreparedEvent } from '../event/event-builder.js';
import { GENESIS_HASH, eventHash } from '../event/event-hash.js';
import type { AppendedEvent, LedgerEventInput } from '../event/ledger-event.js';
import { LedgerError } from '../ledger-error.js';
import { countingStatements } from '../limits/counter-statements.js';
import {
  COPY_EVENTS_SQL,
  INSERT_BATCH_SQL,
  INSERT_FIRST_BATCH_SQL,
  REGISTER_STRAND_SQL,
  STRAND_HEAD_SQL,
  batchCopyData,
  batchParameters,
  insertStatements,
  registrationParameters,
  type ChainedEvent,
  type StrandRegistration,
} from './batch-statement.js';
import type { AppendOptions, CountedEvent, LedgerHealth, LedgerSink } from './ledger-sink.js';

export type { AppendOptions, CountedEvent } from './ledger-sink.js';

/** A batch as the writer's observer sees it. */
export interface LedgerBatchInfo {
  strandId: string;
  /** Sequence number of the batch's first event. */
  firstSeq: number;
  /** Sequence number of the batch's last event. */
  lastSeq: number;
  /** Number of events in the batch. */
  size: number;
}

/**
 * Hooks for metrics and logs around each batch. They run synchronously on the writer's path
 * and must not throw (anything they throw is ignored).
 */
export interface LedgerWriterObserver {
  /** A batch is about to be sent. */
  batchStarted?(batch: LedgerBatchInfo): void;
  /** A batch committed; its `append()` calls resolve right after. */
  batchCommitted?(batch: LedgerBatchInfo & { durationMs: number }): void;
  /** A batch failed; its `append()` calls (and those queued behind it) reject with `error`. */
  batchFailed?(batch: LedgerBatchInfo & { durationMs: number }, error: LedgerError): void;
}

/** Options of a {@link LedgerWriter}. */
export interface LedgerWriterOptions {
  /** The strand's id (a UUID); default a new random one: one strand per writer. */
  strandId?: string;
  /** A label stored with the strand, e.g. the gateway's instance name. */
  label?: string;
  /** The clock that stamps events without an `at`; default `() => new Date()`. */
  clock?: () => Date;
  /** Most events in one batch (default 256). */
  maxBatchSize?: number;
  /** How long the first event of an idle writer waits for company before its batch is sent (default 2 ms). */
  maxBatchDelayMs?: number;
  /**
   * How long an event appended with `{ defer: true }` (an outcome nobody waits for) may wait for
   * an event that someone waits for, to be committed in its batch instead of in one of its own
   * (default 5 ms). Deferred events never hold up the others; `flush()` and `close()` send them at once.
   */
  maxDeferMs?: number;
  /** Argument values to keep out of the ledger, by JSON pointer. */
  redact?: readonly RedactionRule[];
  /** Metrics and logging hooks. */
  observer?: LedgerWriterObserver;
  /** How {@link LedgerWriter.health} probes the database. */
  health?: {
    /** How long one probe may take before the ledger counts as down (default 1000 ms). */
    timeoutMs?: number;
    /**
     * How long an answer (a probe's, or a batch's) stands before the next call probes again
     * (default 1000 ms): however often readiness is asked, the database sees at most one probe
     * per this time, and never two at once.
     */
    cacheMs?: number;
  };
}

/** What the writer last learned about the database, and when (`performance.now()`). */
interface HealthEvidence {
  at: number;
  error: LedgerError | null;
  source: 'batch' | 'probe';
}

interface Pending {
  /** The event, or undefined while it waits for its counters ({@link counted}). */
  prepared: PreparedEvent | undefined;
  counted: CountedEvent | undefined;
  /** Nobody waits for it: it may ride with the next event someone does wait for. */
  deferred: boolean;
  chained: ChainedEvent | undefined;
  resolve: (event: AppendedEvent) => void;
  reject: (error: LedgerError) => void;
}

interface InFlightBatch {
  entries: Pending[];
  info: LedgerBatchInfo;
  started: number;
}

interface Head {
  seq: number;
  hash: string;
}

// Callers woken per turn of the event loop after a commit.
const WAKE_SLICE = 16;
// Batches up to this size are one INSERT (PostgreSQL: in one round trip); larger ones a COPY.
const COPY_FROM = 64;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The ledger's batched, hash-chained writer: one strand per writer (one per gateway process).
 *
 * - Each event is chained when its batch is formed, in `append()` order: `seq` is the next
 *   number of the strand and `hash = SHA-256(prev_hash || canonical(event))`.
 * - Group commit: events appended while the writer is idle wait at most `maxBatchDelayMs`
 *   (or until `maxBatchSize` are waiting); events appended while a batch commits go in the
 *   next one. Deferred events (`append(e, { defer: true })`) wait up to `maxDeferMs` to ride
 *   with an event someone waits for. On PostgreSQL a small batch of an idle writer is one
 *   INSERT in one round trip (autocommit); a batch formed while another commits, or a large
 *   one (COPY), goes in a transaction committed after it; on PGlite every batch is one
 *   `INSERT … SELECT FROM unnest(…)` in its own transaction.
 * - Counted decisions ({@link LedgerWriter.appendCounted}, PostgreSQL): the batch's transaction checks and
 *   increments their limit counters, then builds and chains the decisions from the answers.
 * - `append()` resolves only after its batch committed. When a batch fails, it (and a batch
 *   already chained onto it) rejects, the strand's head rolls back to the last committed event
 *   (re-read from the database, in case the failed commit in fact went through) and nothing
 *   partial is visible. Queued events go on in the next batch.
 * - Commits happen in strand order, so the chain never depends on an uncommitted batch.
 */
export class LedgerWriter implements LedgerSink {
  /** The strand this writer appends to. */
  readonly strandId: string;
  readonly #connection: LedgerConnection;
  readonly #clock: () => Date;
  readonly #maxBatchSize: number;
  readonly #maxBatchDelayMs: number;
  readonly #maxDeferMs: number;
  readonly #redactor: ArgumentRedactor;
  readonly #observer: LedgerWriterObserver;
  readonly #registration: StrandRegistration;

  #committed: Head = { seq: 0, hash: GENESIS_HASH };
  #tentative: Head = { seq: 0, hash: GENESIS_HASH };
  #registered = false;
  #registering = false;
  #needsResync = false;
  #lastFailure: LedgerError = new LedgerError('ledger.write_failed', 'an earlier batch failed');
  #queue: Pending[] = [];
  /** Entries of {@link #queue} that someone waits for. */
  #waited = 0;
  #flushing = 0;
  /** Deferred events have waited `maxDeferMs`: the queue goes with the next batch. */
  #deferDue = false;
  #timer: NodeJS.Timeout | undefined;
  #deferTimer: NodeJS.Timeout | undefined;
  #pump: Promise<void> | undefined;
  #closing = false;
  readonly #probeTimeoutMs: number;
  readonly #probeCacheMs: number;
  #evidence: HealthEvidence | undefined;
  #probe: Promise<void> | undefined;

  /** @throws LedgerError `ledger.invalid_options` naming the option that is wrong. */
  constructor(connection: LedgerConnection, options: LedgerWriterOptions = {}) {
    this.#connection = connection;
    this.strandId = options.strandId ?? randomUUID();
    if (!UUID.test(this.strandId)) {
      throw new LedgerError('ledger.invalid_options', `ledger writer: "strandId" must be a lowercase UUID (got ${JSON.stringify(this.strandId)})`);
    }
    this.#clock = options.clock ?? (() => new Date());
    this.#maxBatchSize = options.maxBatchSize ?? 256;
    if (!Number.isInteger(this.#maxBatchSize) || this.#maxBatchSize < 1 || this.#maxBatchSize > 10_000) {
      throw new LedgerError('ledger.invalid_options', `ledger writer: "maxBatchSize" must be an integer from 1 to 10000 (got ${String(options.maxBatchSize)})`);
    }
    this.#maxBatchDelayMs = options.maxBatchDelayMs ?? 2;
    if (!Number.isFinite(this.#maxBatchDelayMs) || this.#maxBatchDelayMs < 0 || this.#maxBatchDelayMs > 1000) {
      throw new LedgerError('ledger.invalid_options', `ledger writer: "maxBatchDelayMs" must be from 0 to 1000 (got ${String(options.maxBatchDelayMs)})`);
    }
    this.#maxDeferMs = options.maxDeferMs ?? 5;
    if (!Number.isFinite(this.#maxDeferMs) || this.#maxDeferMs < 0 || this.#maxDeferMs > 1000) {
      throw new LedgerError('ledger.invalid_options', `ledger writer: "maxDeferMs" must be from 0 to 1000 (got ${String(options.maxDeferMs)})`);
    }
    this.#probeTimeoutMs = options.health?.timeoutMs ?? 1000;
    this.#probeCacheMs = options.health?.cacheMs ?? 1000;
    for (const [key, value, min] of [
      ['timeoutMs', this.#probeTimeoutMs, 1],
      ['cacheMs', this.#probeCacheMs, 0],
    ] as const) {
      if (!Number.isInteger(value) || value < min || value > 60_000) {
        throw new LedgerError('ledger.invalid_options', `ledger writer: "health.${key}" must be an integer from ${min} to 60000 (got ${String(value)})`);
      }
    }
    this.#redactor = new ArgumentRedactor(options.redact ?? []);
    this.#observer = options.observer ?? {};
    this.#registration = {
      strandId: this.strandId,
      startedAt: this.#clock().toISOString(),
      host: hostname(),
      pid: process.pid,
      label: options.label ?? null,
    };
  }

  /** The last committed event of the strand (`seq` 0 and the genesis hash before the first). */
  get head(): { seq: number; hash: string } {
    return { ...this.#committed };
  }

  /** How many appended events are waiting for their batch to commit. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Records one event. Resolves once its batch is committed; rejects with a `LedgerError`
   * (`ledger.invalid_event` at once for a malformed event; `ledger.unavailable`,
   * `ledger.not_migrated` or `ledger.write_failed` when its batch fails; `ledger.closed`
   * after `close()`).
   */
  append(event: LedgerEventInput, options?: AppendOptions): Promise<AppendedEvent> {
    if (this.#closing) {
      return Promise.reject(new LedgerError('ledger.closed', `ledger writer for strand ${this.strandId} is closed`));
    }
    let prepared: PreparedEvent;
    try {
      prepared = prepareEvent(event, this.#clock(), this.#redactor);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<AppendedEvent>((resolve, reject) => {
      this.#enqueue({ prepared, counted: undefined, deferred: options?.defer === true, chained: undefined, resolve, reject });
    });
  }

  /**
   * Counts a decision's limits and records the decision they lead to, in one transaction
   * (PostgreSQL): the batch's transaction checks and increments the counters (in
   * `limit_counters`, shared with every replica) and inserts the event `counted.event(results)`
   * builds, chained like any other — so a counter never moves without its decision on the
   * record, nor the other way round, and both cost one commit. Resolves once committed; rejects
   * like {@link append} (nothing counted, nothing recorded).
   *
   * @throws LedgerError `ledger.invalid_options` on a backend without statement pipelines (PGlite).
   * @example
   * let decision
   * await writer.appendCounted({ limits: step.limits, event: (results) => eventOf(decision = step.finish(results)) })
   */
  appendCounted(counted: CountedEvent): Promise<AppendedEvent> {
    if (this.#closing) {
      return Promise.reject(new LedgerError('ledger.closed', `ledger writer for strand ${this.strandId} is closed`));
    }
    if (!this.#connection.supportsPipeline) {
      return Promise.reject(new LedgerError('ledger.invalid_options', `the ${this.#connection.backend} ledger cannot count limits with its events; keep limit counters in memory`));
    }
    return new Promise<AppendedEvent>((resolve, reject) => {
      this.#enqueue({ prepared: undefined, counted, deferred: false, chained: undefined, resolve, reject });
    });
  }

  #enqueue(entry: Pending): void {
    this.#queue.push(entry);
    if (!entry.deferred) this.#waited++;
    this.#schedule();
  }

  /**
   * Whether this writer can record events now, for readiness probes. Answers from the latest
   * evidence when it is younger than `health.cacheMs`: a batch that committed (ok), a batch
   * that failed with nothing committed since (down, with its error), or an earlier probe.
   * Otherwise it probes the database (`LedgerConnection.probe`: reachable, writable,
   * `ledger_events` insertable) within `health.timeoutMs`; concurrent calls share one probe.
   * Never rejects.
   *
   * @example
   * const health = await writer.health()
   * if (!health.ok) res.writeHead(503).end(health.reason)
   */
  async health(): Promise<LedgerHealth> {
    if (this.#closing) {
      return { ok: false, reason: `ledger writer for strand ${this.strandId} is closed`, code: 'ledger.closed', source: 'closed', ageMs: 0 };
    }
    const fresh = this.#evidence;
    if (fresh && performance.now() - fresh.at < this.#probeCacheMs) return this.#healthOf(fresh);
    this.#probe ??= this.#runProbe().finally(() => {
      this.#probe = undefined;
    });
    await this.#probe;
    return this.#healthOf(this.#evidence!);
  }

  async #runProbe(): Promise<void> {
    // A probe counts from when it started: a batch that failed while it ran is newer.
    const started = performance.now();
    try {
      await this.#connection.probe(this.#probeTimeoutMs);
      this.#record({ at: started, error: null, source: 'probe' });
    } catch (cause) {
      const error = cause instanceof LedgerError ? cause : ledgerErrorFromPg(cause, this.#connection.location, 'checking that it can record events');
      this.#record({ at: started, error, source: 'probe' });
    }
  }

  #record(evidence: HealthEvidence): void {
    if (!this.#evidence || evidence.at >= this.#evidence.at) this.#evidence = evidence;
  }

  #healthOf(evidence: HealthEvidence): LedgerHealth {
    const ageMs = Math.max(0, Math.round(performance.now() - evidence.at));
    if (!evidence.error) return { ok: true, reason: null, code: null, source: evidence.source, ageMs };
    const reason =
      evidence.source === 'batch'
        ? `the last batch of strand ${this.strandId} failed and nothing has committed since: ${evidence.error.message}`
        : evidence.error.message;
    return { ok: false, reason, code: evidence.error.code, source: evidence.source, ageMs };
  }

  /** Sends whatever is queued now and waits until every event appended so far has settled. */
  async flush(): Promise<void> {
    this.#flushing++;
    try {
      while (this.#queue.length > 0 || this.#pump) {
        this.#startPump();
        await this.#pump;
      }
    } finally {
      this.#flushing--;
    }
  }

  /** Settles everything appended so far, then refuses new events. Does not close the connection. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.flush();
  }

  #chain(entry: Pending): void {
    const { fields: row, argsJson, detailJson } = entry.prepared!;
    // The prepared row is this entry's own: chain it in place.
    row.strand_id = this.strandId;
    row.seq = this.#tentative.seq + 1;
    row.prev_hash = this.#tentative.hash;
    row.hash = eventHash(row.prev_hash, row, argsJson, detailJson);
    entry.chained = { row, argsJson, detailJson };
    this.#tentative = { seq: row.seq, hash: row.hash };
  }

  #schedule(): void {
    if (this.#pump) return; // the running pump sends it next
    if (this.#queue.length === 0) return;
    if (!this.#sendable()) {
      // Only deferred events: they wait for company, but not for long.
      this.#deferTimer ??= setTimeout(() => {
        this.#deferTimer = undefined;
        // They have waited long enough: they go in the next batch, whenever the loop takes one.
        this.#deferDue = true;
        this.#startPump();
      }, this.#maxDeferMs);
      return;
    }
    if (this.#queue.length >= this.#maxBatchSize || this.#maxBatchDelayMs === 0) {
      this.#startPump();
    } else {
      this.#timer ??= setTimeout(() => this.#startPump(), this.#maxBatchDelayMs);
    }
  }

  /** Whether the queue should be sent now: someone waits for an event in it, it is full, or everything is being flushed. */
  #sendable(): boolean {
    return this.#waited > 0 || this.#deferDue || this.#flushing > 0 || this.#closing || this.#queue.length >= this.#maxBatchSize || this.#maxDeferMs === 0;
  }

  #startPump(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#pump || this.#queue.length === 0) return;
    if (!this.#sendable()) return this.#schedule();
    if (this.#deferTimer) {
      clearTimeout(this.#deferTimer);
      this.#deferTimer = undefined;
    }
    this.#pump = this.#run().finally(() => {
      this.#pump = undefined;
      // Something appended during the last await that the loop did not take.
      if (this.#queue.length > 0) this.#schedule();
    });
  }

  /** The next batch: the oldest queued events, in append order. */
  #take(): Pending[] {
    const entries = this.#queue.splice(0, this.#maxBatchSize);
    for (const e of entries) if (!e.deferred) this.#waited--;
    if (this.#queue.length === 0) this.#deferDue = false;
    return entries;
  }

  async #run(): Promise<void> {
    if (this.#connection.supportsPipeline) return this.#runPipelined();
    while (this.#queue.length > 0 && this.#sendable()) {
      if (this.#needsResync && !(await this.#resync())) continue;
      // Events that arrived while the previous batch committed have waited long enough.
      const entries = this.#take();
      for (const e of entries) this.#chain(e);
      const batch = this.#start(entries);
      try {
        const chained = batch.entries.map((e) => e.chained!);
        if (this.#registered) {
          await this.#connection.execute(INSERT_BATCH_SQL, batchParameters(this.strandId, chained));
        } else {
          await this.#connection.execute(INSERT_FIRST_BATCH_SQL, batchParameters(this.strandId, chained, this.#registration));
        }
      } catch (cause) {
        this.#fail(batch, cause);
        continue;
      }
      this.#succeed(batch);
    }
  }

  /**
   * PostgreSQL. A batch goes one of three ways:
   * - the writer is idle, the batch small and with no counters: one INSERT (with the strand's
   *   registration, on its first batch) in one round trip, in autocommit — one commit;
   * - with counters ({@link appendCounted}): BEGIN and the counters' statements in one round
   *   trip, then — once their answers have decided the events and chained them — the INSERT and
   *   COMMIT in another;
   * - a commit is already on its way, or the batch is large (a COPY): the events go in a
   *   transaction of their own while the previous batch commits, and it commits only once that
   *   one did, or rolls back (its appends rejected) if it did not.
   * So commits happen in strand order, a strand never has a batch without the one before it, and
   * the write-ahead-log flush of one batch overlaps the work of the next.
   */
  async #runPipelined(): Promise<void> {
    let committing: Promise<boolean> | undefined;
    while (this.#queue.length > 0 && this.#sendable()) {
      if (this.#needsResync) {
        if (committing) await committing;
        committing = undefined;
        if (!(await this.#resync())) continue;
      }
      const entries = this.#take();
      const registration = this.#registered || this.#registering ? undefined : this.#registration;
      if (registration) this.#registering = true;
      const counted = entries.some((e) => e.counted !== undefined);
      let open: OpenTransaction | OpenPipelineTransaction;
      let batch: InFlightBatch;
      let insert: PipelinedStatement[] | undefined;
      try {
        if (counted) {
          const counting = countingStatements(entries.filter((e) => e.counted).map((e) => e.counted!.limits));
          const tx = await this.#connection.pipelineInTransaction(counting.statements);
          open = tx;
          try {
            const results = counting.read(tx.results, 0);
            let next = 0;
            for (const e of entries) {
              if (e.counted) e.prepared = prepareEvent(e.counted.event(results[next++]!), this.#clock(), this.#redactor);
            }
          } catch (cause) {
            await tx.rollback().catch(() => {});
            throw cause;
          }
          for (const e of entries) this.#chain(e);
          batch = this.#start(entries);
          insert = insertStatements(this.strandId, entries.map((e) => e.chained!), registration);
        } else {
          for (const e of entries) this.#chain(e);
          batch = this.#start(entries);
          const chained = entries.map((e) => e.chained!);
          if (entries.length < COPY_FROM) {
            const statements = insertStatements(this.strandId, chained, registration);
            if (!committing) {
              // Nothing ahead of it: one round trip, one commit.
              committing = this.#settled(batch, this.#connection.pipeline(statements));
              continue;
            }
            open = await this.#connection.pipelineInTransaction(statements);
          } else {
            const prelude = registration ? { text: REGISTER_STRAND_SQL, values: registrationParameters(registration) } : undefined;
            open = await this.#connection.copyInTransaction(COPY_EVENTS_SQL, batchCopyData(chained), prelude);
          }
        }
      } catch (cause) {
        if (committing) await committing;
        committing = undefined;
        this.#failEntries(entries, cause);
        continue;
      }
      if (committing) {
        const previousCommitted = await committing;
        committing = undefined;
        if (!previousCommitted) {
          // Chained onto a batch that did not commit: it must not commit either.
          await open.rollback().catch(() => {});
          this.#fail(batch, this.#lastFailure);
          continue;
        }
      }
      const commit = insert ? (open as OpenPipelineTransaction).commit(insert) : open.commit();
      committing = this.#settled(batch, commit);
    }
    if (committing) await committing;
  }

  #start(entries: Pending[]): InFlightBatch {
    const first = entries[0]!.chained!.row;
    const last = entries[entries.length - 1]!.chained!.row;
    const info: LedgerBatchInfo = { strandId: this.strandId, firstSeq: first.seq, lastSeq: last.seq, size: entries.length };
    this.#notify(() => this.#observer.batchStarted?.(info));
    return { entries, info, started: performance.now() };
  }

  /** Settles the batch when its commit does: true when it committed. */
  #settled(batch: InFlightBatch, commit: Promise<unknown>): Promise<boolean> {
    return commit.then(
      () => {
        this.#succeed(batch);
        return true;
      },
      (cause: unknown) => {
        this.#fail(batch, cause);
        return false;
      },
    );
  }

  #succeed(batch: InFlightBatch): void {
    const last = batch.entries[batch.entries.length - 1]!.chained!.row;
    this.#committed = { seq: last.seq, hash: last.hash };
    this.#registered = true;
    this.#registering = false;
    this.#record({ at: performance.now(), error: null, source: 'batch' });
    this.#notify(() => this.#observer.batchCommitted?.({ ...batch.info, durationMs: performance.now() - batch.started }));
    // Wake the callers after the loop has sent the next batch (it continues in this
    // microtask), a slice at a time, so that their work overlaps that batch's commit and the
    // database's answers are read between slices instead of after all of them.
    const entries = batch.entries;
    const wake = (from: number): void => {
      const to = Math.min(from + WAKE_SLICE, entries.length);
      for (let i = from; i < to; i++) {
        const entry = entries[i]!;
        const row = entry.chained!.row;
        entry.resolve({
          eventId: row.event_id,
          strandId: row.strand_id,
          seq: row.seq,
          prevHash: row.prev_hash,
          hash: row.hash,
          occurredAt: row.occurred_at,
        });
      }
      if (to < entries.length) setImmediate(wake, to);
    };
    setImmediate(wake, 0);
  }

  /** A batch failed: its appends reject and the head rolls back to the last commit. */
  #fail(batch: InFlightBatch, cause: unknown): void {
    const error = this.#failEntries(batch.entries, cause);
    this.#notify(() => this.#observer.batchFailed?.({ ...batch.info, durationMs: performance.now() - batch.started }, error));
  }

  /**
   * Entries that will not commit: they reject, and the strand's head rolls back to the last
   * committed event (re-read before the next batch, in case the failed commit went through).
   * Events still queued are not chained yet and go in the next batch.
   */
  #failEntries(entries: readonly Pending[], cause: unknown): LedgerError {
    const error =
      cause instanceof LedgerError
        ? cause
        : ledgerErrorFromPg(cause, this.#connection.location, `committing ${entries.length} ledger events of strand ${this.strandId}`);
    this.#lastFailure = error;
    this.#record({ at: performance.now(), error, source: 'batch' });
    this.#tentative = { ...this.#committed };
    this.#needsResync = true;
    this.#registering = false;
    for (const entry of entries) entry.reject(error);
    return error;
  }

  /**
   * After a failure the writer cannot know whether the failed commit reached the database
   * (the connection may have died after COMMIT was sent): read the strand's real head and
   * chain the waiting events onto it.
   */
  async #resync(): Promise<boolean> {
    try {
      const result = await this.#connection.execute<{ registered: boolean; seq: number | null; hash: string | null }>(STRAND_HEAD_SQL, [this.strandId]);
      const row = result.rows[0];
      this.#registered = row?.registered === true;
      this.#committed = row && row.seq !== null && row.hash !== null ? { seq: row.seq, hash: row.hash } : { seq: 0, hash: GENESIS_HASH };
    } catch (cause) {
      const error = ledgerErrorFromPg(cause, this.#connection.location, `reading the head of strand ${this.strandId}`);
      this.#record({ at: performance.now(), error, source: 'batch' });
      for (const entry of this.#queue.splice(0)) entry.reject(error);
      this.#waited = 0;
      return false;
    }
    this.#tentative = { ...this.#committed };
    this.#needsResync = false;
    return true;
  }

  #notify(call: () => void): void {
    try {
      call();
    } catch {
      // Observers are for metrics and logs; they cannot break the ledger.
    }
  }
}
