import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { LedgerConnection } from '../database/ledger-connection.js';
import { ledgerErrorFromPg } from '../database/pg-client.js';
import { ArgumentRedactor, type RedactionRule } from '../event/argument-redactor.js';
import { prepareEvent, type PreparedEvent } from '../event/event-builder.js';
import { GENESIS_HASH, eventHash } from '../event/event-hash.js';
import type { AppendedEvent, LedgerEventInput } from '../event/ledger-event.js';
import { LedgerError } from '../ledger-error.js';
import {
  INSERT_BATCH_SQL,
  INSERT_FIRST_BATCH_SQL,
  STRAND_HEAD_SQL,
  batchParameters,
  type ChainedEvent,
  type StrandRegistration,
} from './batch-statement.js';
import type { LedgerSink } from './ledger-sink.js';

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
  /** Argument values to keep out of the ledger, by JSON pointer. */
  redact?: readonly RedactionRule[];
  /** Metrics and logging hooks. */
  observer?: LedgerWriterObserver;
}

interface Pending {
  prepared: PreparedEvent;
  chained: ChainedEvent | undefined;
  resolve: (event: AppendedEvent) => void;
  reject: (error: LedgerError) => void;
}

interface Head {
  seq: number;
  hash: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The ledger's batched, hash-chained writer: one strand per writer (one per gateway process).
 *
 * - Each event is chained as it is appended: `seq` is the next number of the strand and
 *   `hash = SHA-256(prev_hash || canonical(event))`.
 * - Group commit: events appended while the writer is idle wait at most `maxBatchDelayMs`
 *   (or until `maxBatchSize` are waiting); events appended while a batch commits go in the
 *   next one. A batch is one multi-row INSERT in its own transaction.
 * - `append()` resolves only after its batch committed. When a batch fails, it and every
 *   event queued behind it reject, the strand's head rolls back to the last committed event
 *   (re-read from the database, in case the failed commit in fact went through) and nothing
 *   partial is visible. Later appends continue the strand.
 * - Batches are sent one at a time, so the chain never depends on an uncommitted batch.
 */
export class LedgerWriter implements LedgerSink {
  /** The strand this writer appends to. */
  readonly strandId: string;
  readonly #connection: LedgerConnection;
  readonly #clock: () => Date;
  readonly #maxBatchSize: number;
  readonly #maxBatchDelayMs: number;
  readonly #redactor: ArgumentRedactor;
  readonly #observer: LedgerWriterObserver;
  readonly #registration: StrandRegistration;

  #committed: Head = { seq: 0, hash: GENESIS_HASH };
  #tentative: Head = { seq: 0, hash: GENESIS_HASH };
  #registered = false;
  #needsResync = false;
  #queue: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #pump: Promise<void> | undefined;
  #closing = false;

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
  append(event: LedgerEventInput): Promise<AppendedEvent> {
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
      const entry: Pending = { prepared, chained: undefined, resolve, reject };
      if (!this.#needsResync) this.#chain(entry);
      this.#queue.push(entry);
      this.#schedule();
    });
  }

  /** Sends whatever is queued now and waits until every event appended so far has settled. */
  async flush(): Promise<void> {
    while (this.#queue.length > 0 || this.#pump) {
      this.#startPump();
      await this.#pump;
    }
  }

  /** Settles everything appended so far, then refuses new events. Does not close the connection. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.flush();
  }

  #chain(entry: Pending): void {
    const { fields, argsJson, detailJson } = entry.prepared;
    const seq = this.#tentative.seq + 1;
    const chained = { ...fields, strand_id: this.strandId, seq, prev_hash: this.#tentative.hash, hash: '' };
    chained.hash = eventHash(chained.prev_hash, chained, argsJson, detailJson);
    entry.chained = { row: chained, argsJson, detailJson };
    this.#tentative = { seq, hash: chained.hash };
  }

  #schedule(): void {
    if (this.#pump) return; // the running pump sends it next
    if (this.#queue.length >= this.#maxBatchSize || this.#maxBatchDelayMs === 0) {
      this.#startPump();
    } else {
      this.#timer ??= setTimeout(() => this.#startPump(), this.#maxBatchDelayMs);
    }
  }

  #startPump(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#pump || this.#queue.length === 0) return;
    this.#pump = this.#run().finally(() => {
      this.#pump = undefined;
      // Something appended during the last await that the loop did not take.
      if (this.#queue.length > 0) this.#schedule();
    });
  }

  async #run(): Promise<void> {
    while (this.#queue.length > 0) {
      if (this.#needsResync && !(await this.#resync())) continue;
      // Events that arrived while the previous batch committed have waited long enough.
      const batch = this.#queue.splice(0, this.#maxBatchSize);
      await this.#commit(batch);
    }
  }

  async #commit(batch: Pending[]): Promise<void> {
    const chained = batch.map((entry) => entry.chained!);
    const rows = chained.map((c) => c.row);
    const info: LedgerBatchInfo = {
      strandId: this.strandId,
      firstSeq: rows[0]!.seq,
      lastSeq: rows[rows.length - 1]!.seq,
      size: rows.length,
    };
    this.#notify(() => this.#observer.batchStarted?.(info));
    const started = performance.now();
    try {
      if (this.#registered) {
        await this.#connection.execute(INSERT_BATCH_SQL, batchParameters(this.strandId, chained));
      } else {
        await this.#connection.execute(INSERT_FIRST_BATCH_SQL, batchParameters(this.strandId, chained, this.#registration));
        this.#registered = true;
      }
    } catch (cause) {
      const error = ledgerErrorFromPg(cause, this.#connection.location, `committing ${rows.length} ledger events of strand ${this.strandId}`);
      // Everything queued behind the failed batch is chained onto it: it fails too.
      const waiting = this.#queue.splice(0);
      this.#tentative = { ...this.#committed };
      this.#needsResync = true;
      this.#notify(() => this.#observer.batchFailed?.({ ...info, durationMs: performance.now() - started }, error));
      for (const entry of batch) entry.reject(error);
      for (const entry of waiting) entry.reject(error);
      return;
    }
    const last = rows[rows.length - 1]!;
    this.#committed = { seq: last.seq, hash: last.hash };
    this.#notify(() => this.#observer.batchCommitted?.({ ...info, durationMs: performance.now() - started }));
    // Wake the callers after the loop has sent the next batch (it continues in this
    // microtask), so their work overlaps that batch's commit instead of delaying it.
    setImmediate(() => {
      for (const entry of batch) {
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
    });
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
      for (const entry of this.#queue.splice(0)) entry.reject(error);
      return false;
    }
    this.#tentative = { ...this.#committed };
    this.#needsResync = false;
    for (const entry of this.#queue) this.#chain(entry);
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
