import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { LedgerError, describeError, type LedgerErrorCode } from '../ledger-error.js';
import {
  resolveStoreSessionOptions,
  type LedgerBackend,
  type LedgerConnection,
  type OpenPipelineTransaction,
  type OpenTransaction,
  type PipelinedResult,
  type PipelinedStatement,
  type ResolvedStoreSessionOptions,
  type StatementResult,
} from './ledger-connection.js';
import type { LedgerDatabase } from './ledger-schema.js';
import type { StoreSessionOptions, StoreSessions } from './store-sessions.js';

const INT8_OID = 20;

/**
 * Type parsers of the ledger's connections: `bigint` (sequence numbers, counts) as a JS
 * number, which is exact up to 2^53; everything else as `pg` parses it. Set per pool, never
 * globally, so other users of `pg` in the process are unaffected.
 */
export const LEDGER_PG_TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
} as unknown as pg.CustomTypesConfig;

// SQLSTATE classes and codes that mean "the database is not there right now".
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '57014', '08000', '08001', '08003', '08004', '08006']);
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** Classifies an error from `pg`: unreachable or timed out, schema missing, or anything else. */
export function classifyPgError(error: unknown): LedgerErrorCode {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (code === '42P01' || code === '42883') return 'ledger.not_migrated';
    if (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_NODE_CODES.has(code)) return 'ledger.unavailable';
  }
  const message = error instanceof Error ? error.message : String(error);
  if (/timeout|terminated|Connection ended|not queryable|ECONNREFUSED|ECONNRESET|closed/i.test(message)) {
    return 'ledger.unavailable';
  }
  return 'ledger.write_failed';
}

/** A {@link LedgerError} for a failed statement, saying where the database is. */
export function ledgerErrorFromPg(error: unknown, location: string, doing: string): LedgerError {
  if (error instanceof LedgerError) return error;
  const code = classifyPgError(error);
  const detail = describeError(error);
  const message =
    code === 'ledger.unavailable'
      ? `ledger database ${location} is unavailable while ${doing}: ${detail}`
      : code === 'ledger.not_migrated'
        ? `ledger database ${location} has no ledger schema (${detail}); run \`tollgate ledger migrate\``
        : `ledger database ${location} refused ${doing}: ${detail}`;
  return new LedgerError(code, message, { cause: error });
}

/**
 * A `COPY … FROM STDIN` statement for `pg`'s client. It sends the query, the data (one chunk)
 * and the end of the data at once, without waiting for the server's CopyInResponse: the server
 * reads them in order, and if the statement fails before copying starts it ignores the data
 * (protocol: CopyData and CopyDone outside a COPY are accepted and ignored). That saves a round
 * trip per batch. It settles when the server is ready again, or fails.
 */
class CopyFromStdin implements pg.Submittable {
  readonly done: Promise<number>;
  #resolve: (rows: number) => void = () => {};
  #reject: (error: unknown) => void = () => {};
  #rows = 0;
  #failed = false;

  constructor(
    private readonly text: string,
    private readonly data: string,
  ) {
    this.done = new Promise<number>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  submit(connection: pg.Connection): void {
    const wire = connection as unknown as { query(text: string): void; sendCopyFromChunk(chunk: Buffer): void; endCopyFrom(): void };
    wire.query(this.text);
    wire.sendCopyFromChunk(Buffer.from(this.data, 'utf8'));
    wire.endCopyFrom();
  }

  handleCopyInResponse(): void {
    // The data was sent with the query.
  }

  handleCommandComplete(message: { text: string }): void {
    const match = /^COPY (\d+)/.exec(message.text);
    if (match) this.#rows = Number(match[1]);
  }

  handleReadyForQuery(): void {
    if (!this.#failed) this.#resolve(this.#rows);
  }

  handleError(error: unknown): void {
    this.#failed = true;
    this.#reject(error);
  }

  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
}

/** The part of `pg`'s connection a {@link StatementPipeline} writes to. */
interface WireConnection {
  parse(message: { name: string; text: string; types: never[] }): void;
  bind(message: { portal: string; statement: string; values: readonly (string | null)[] }): void;
  describe(message: { type: 'P'; name: string }): void;
  execute(message: { portal: string; rows: number }): void;
  sync(): void;
  parsedStatements: Record<string, string>;
  stream: { cork?: () => void; uncork?: () => void };
}

/**
 * Several statements in one round trip for `pg`'s client (extended protocol): for each, Parse
 * (only the first time a named statement is used on the session), Bind, Describe and Execute;
 * then one Sync. The server runs them in order in one implicit transaction (or in the open
 * one) and stops at the first error. Rows come back in text form; the caller parses them.
 */
class StatementPipeline implements pg.Submittable {
  readonly done: Promise<PipelinedResult[]>;
  #resolve: (results: PipelinedResult[]) => void = () => {};
  #reject: (error: unknown) => void = () => {};
  readonly #results: PipelinedResult[] = [];
  #fields: string[] = [];
  #rows: Array<Record<string, string | null>> = [];
  #failed = false;
  #parsed: string[] = [];
  #wire: WireConnection | undefined;

  constructor(private readonly statements: readonly PipelinedStatement[]) {
    this.done = new Promise<PipelinedResult[]>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  submit(connection: pg.Connection): void {
    const wire = connection as unknown as WireConnection;
    wire.stream.cork?.();
    try {
      for (const s of this.statements) {
        if (s.name === '' || wire.parsedStatements[s.name] === undefined) {
          wire.parse({ name: s.name, text: s.text, types: [] });
          if (s.name !== '') {
            wire.parsedStatements[s.name] = s.text;
            this.#parsed.push(s.name);
          }
        }
        wire.bind({ portal: '', statement: s.name, values: s.values });
        wire.describe({ type: 'P', name: '' });
        wire.execute({ portal: '', rows: 0 });
      }
      wire.sync();
    } finally {
      wire.stream.uncork?.();
    }
    this.#wire = wire;
  }

  handleRowDescription(message: { fields: Array<{ name: string }> }): void {
    this.#fields = message.fields.map((f) => f.name);
  }

  handleDataRow(message: { fields: Array<string | null> }): void {
    const row: Record<string, string | null> = {};
    for (let i = 0; i < this.#fields.length; i++) row[this.#fields[i]!] = message.fields[i] ?? null;
    this.#rows.push(row);
  }

  handleCommandComplete(message: { text: string }): void {
    const count = /(\d+)$/.exec(message.text);
    this.#results.push({ rows: this.#rows, rowCount: count ? Number(count[1]) : this.#rows.length });
    this.#rows = [];
    this.#fields = [];
  }

  handleEmptyQuery(): void {
    this.#results.push({ rows: [], rowCount: 0 });
  }

  handleReadyForQuery(): void {
    if (!this.#failed) this.#resolve(this.#results);
  }

  handleError(error: unknown): void {
    this.#failed = true;
    // A statement parsed in this pipeline may not exist on the session after an error.
    if (this.#wire) for (const name of this.#parsed) delete this.#wire.parsedStatements[name];
    this.#reject(error);
  }

  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {}
  handleCopyData(): void {}
}

const BEGIN: PipelinedStatement = { name: 'tollgate_begin', text: 'BEGIN', values: [] };
const COMMIT: PipelinedStatement = { name: 'tollgate_commit', text: 'COMMIT', values: [] };

interface PoolConnectionParts {
  backend: LedgerBackend;
  location: string;
  /** Pool behind Kysely: queries, migrations, verify, export. */
  queryPool: pg.Pool;
  /** Pool behind `execute()`: the writer's bounded-time statements. */
  writePool: pg.Pool;
  /** Client-side limit on one `execute()`; 0 for none. */
  executeTimeoutMs: number;
  /** Whether a client that failed is destroyed (PostgreSQL) or kept (PGlite's single session). */
  discardFailedClients: boolean;
  /**
   * Whether close() first waits until the session has run everything sent on it (PGlite): a
   * statement that fails rejects at the error, before the rest of its pipeline (Bind …
   * Sync) has run, and PGlite's pg adapter runs those messages later, past PGlite's own
   * locks, so closing PGlite under them leaves its protocol loop spinning forever.
   */
  settleBeforeClose: boolean;
  /** Whether COPY FROM STDIN works on this backend. */
  supportsCopy: boolean;
  /** Whether several statements can be sent in one round trip (extended protocol) on this backend. */
  supportsPipeline: boolean;
  /**
   * Opens a store's sessions on this database (see {@link LedgerConnection.openStoreSessions});
   * they call `closed` once they are closed.
   */
  openStoreSessions: (connection: LedgerConnection, options: ResolvedStoreSessionOptions, closed: () => void) => StoreSessions;
  /** Runs after both pools have ended. */
  onClose: () => Promise<void>;
}

/** A {@link LedgerConnection} over `pg` pools; both backends use it. */
export class PoolLedgerConnection implements LedgerConnection {
  readonly backend: LedgerBackend;
  readonly location: string;
  readonly db: Kysely<LedgerDatabase>;
  readonly supportsCopy: boolean;
  readonly supportsPipeline: boolean;
  readonly #parts: PoolConnectionParts;
  readonly #stores = new Set<StoreSessions>();
  #closed: Promise<void> | undefined;
  #probing: Promise<void> | undefined;

  constructor(parts: PoolConnectionParts) {
    this.#parts = parts;
    this.backend = parts.backend;
    this.location = parts.location;
    this.supportsCopy = parts.supportsCopy;
    this.supportsPipeline = parts.supportsPipeline;
    this.db = new Kysely<LedgerDatabase>({ dialect: new PostgresDialect({ pool: parts.queryPool }) });
  }

  async execute<R extends object = Record<string, unknown>>(text: string, values: readonly unknown[] = []): Promise<StatementResult<R>> {
    return this.#bounded(async (client) => {
      const result: unknown = await client.query<R>({ text, values: values as unknown[] });
      // A string of several statements answers with one result each: report the last.
      const last = (Array.isArray(result) ? result[result.length - 1] : result) as pg.QueryResult<R> | undefined;
      return { rows: last?.rows ?? [], rowCount: last?.rowCount ?? 0 };
    });
  }

  async copyInTransaction(copyStatement: string, data: string, prelude?: { text: string; values: readonly unknown[] }): Promise<OpenTransaction> {
    if (!this.supportsCopy) throw new LedgerError('ledger.invalid_options', `COPY FROM STDIN is not available on the ${this.backend} ledger`);
    const client = await this.#acquire();
    await this.#step(client, async () => {
      if (prelude) {
        await client.query('BEGIN');
        await client.query({ text: prelude.text, values: prelude.values as unknown[] });
      }
      // One simple query opens the transaction and starts the COPY.
      const copy = new CopyFromStdin(prelude ? copyStatement : `BEGIN;\n${copyStatement}`, data);
      client.query(copy);
      await copy.done;
    });
    let settled = false;
    const settle = async (statement: 'COMMIT' | 'ROLLBACK'): Promise<void> => {
      if (settled) throw new LedgerError('ledger.write_failed', `the transaction was already ${statement === 'COMMIT' ? 'settled' : 'ended'}`);
      settled = true;
      await this.#step(client, () => client.query(statement));
      client.release();
    };
    return { commit: () => settle('COMMIT'), rollback: () => settle('ROLLBACK') };
  }

  async pipeline(statements: readonly PipelinedStatement[]): Promise<PipelinedResult[]> {
    if (!this.supportsPipeline) throw new LedgerError('ledger.invalid_options', `statement pipelines are not available on the ${this.backend} ledger`);
    return this.#bounded((client) => runPipeline(client, statements));
  }

  async pipelineInTransaction(statements: readonly PipelinedStatement[]): Promise<OpenPipelineTransaction> {
    if (!this.supportsPipeline) throw new LedgerError('ledger.invalid_options', `statement pipelines are not available on the ${this.backend} ledger`);
    const client = await this.#acquire();
    const opened = await this.#step(client, () => runPipeline(client, [BEGIN, ...statements]));
    let settled = false;
    const settle = (): void => {
      if (settled) throw new LedgerError('ledger.write_failed', 'the transaction was already settled');
      settled = true;
    };
    return {
      results: opened.slice(1),
      commit: async (more = []) => {
        settle();
        const results = await this.#step(client, () => runPipeline(client, [...more, COMMIT]));
        client.release();
        return results.slice(0, more.length);
      },
      rollback: async () => {
        settle();
        await this.#step(client, () => client.query('ROLLBACK'));
        client.release();
      },
    };
  }

  async probe(timeoutMs: number): Promise<void> {
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
      throw new LedgerError('ledger.invalid_options', `ledger probe: the timeout must be a positive integer of milliseconds (got ${String(timeoutMs)})`);
    }
    if (this.#closed) throw new LedgerError('ledger.closed', `ledger connection to ${this.location} is closed`);
    if (this.#probing) {
      throw new LedgerError('ledger.unavailable', `ledger database ${this.location} is unavailable: it has not answered the previous probe yet`);
    }
    const { queryPool, discardFailedClients } = this.#parts;
    let held: { client: pg.PoolClient; release: (error?: Error) => void } | undefined;
    let connected = false;
    const hold = (client: pg.PoolClient) => {
      connected = true;
      let released = false;
      held = {
        client,
        release: (error) => {
          if (released) return;
          released = true;
          held = undefined;
          client.release(error);
        },
      };
      return held;
    };
    const work = (async (): Promise<ProbeRow> => {
      const { client, release } = hold(await queryPool.connect());
      try {
        const result: unknown = await client.query(probeStatement(timeoutMs));
        release();
        const rows = (Array.isArray(result) ? result : [result]).flatMap((r: pg.QueryResult) => r.rows ?? []) as ProbeRow[];
        const row = rows.find((r) => 'in_recovery' in r);
        if (!row) throw new Error('the probe returned no answer');
        return row;
      } catch (error) {
        if (discardFailedClients) release(error as Error);
        else {
          // The one PGlite session must not stay inside the probe's failed transaction.
          await client.query('ROLLBACK').catch(() => {});
          release();
        }
        throw error;
      }
    })();
    this.#probing = work.then(
      () => undefined,
      () => undefined,
    );
    void this.#probing.finally(() => {
      this.#probing = undefined;
    });
    let timer: NodeJS.Timeout | undefined;
    let row: ProbeRow;
    try {
      row = await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            // A server that does not answer: drop the connection now (PostgreSQL) rather than
            // when TCP gives up. A connection still being opened ends at connectTimeoutMs.
            if (discardFailedClients) held?.release(new Error('the probe timed out'));
            reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
          }, timeoutMs);
        }),
      ]);
    } catch (error) {
      if (!connected && !(error instanceof LedgerError) && (error as { code?: unknown }).code !== 'ETIMEDOUT') {
        // Whatever the server said when it refused the connection, the ledger is not there.
        throw new LedgerError('ledger.unavailable', `ledger database ${this.location} is unavailable: cannot connect (${describeError(error)})`, { cause: error });
      }
      throw ledgerErrorFromPg(error, this.location, 'checking that it can record events');
    } finally {
      clearTimeout(timer);
    }
    if (row.in_recovery) {
      throw new LedgerError('ledger.unavailable', `ledger database ${this.location} is a standby in recovery: it cannot record events; point the ledger at the primary`);
    }
    if (row.read_only) {
      throw new LedgerError('ledger.unavailable', `ledger database ${this.location} is read-only (transaction_read_only is on): it cannot record events`);
    }
    if (!row.may_insert) {
      throw new LedgerError(
        'ledger.write_failed',
        `ledger database ${this.location} does not let this user insert into ledger_events; grant it tollgate_writer (see docs/ledger.md)`,
      );
    }
  }

  openStoreSessions(options: StoreSessionOptions = {}): StoreSessions {
    if (this.#closed) throw new LedgerError('ledger.closed', `ledger connection to ${this.location} is closed`);
    const sessions = this.#parts.openStoreSessions(this, resolveStoreSessionOptions(options), () => this.#stores.delete(sessions));
    this.#stores.add(sessions);
    return sessions;
  }

  async #acquire(): Promise<pg.PoolClient> {
    if (this.#closed) throw new LedgerError('ledger.closed', `ledger connection to ${this.location} is closed`);
    return this.#parts.writePool.connect();
  }

  /**
   * One step of work on a held connection within `executeTimeoutMs`. A connection that failed
   * or timed out mid-step may be half-broken (or still waiting on a dead server): on
   * PostgreSQL it is destroyed, which also rolls back whatever transaction it had open.
   */
  async #step<T>(client: pg.PoolClient, work: () => Promise<T>): Promise<T> {
    const { executeTimeoutMs, discardFailedClients } = this.#parts;
    let timer: NodeJS.Timeout | undefined;
    try {
      const running = work();
      // If the timer wins, the work may still fail later; that failure is already reported.
      running.catch(() => {});
      return executeTimeoutMs > 0
        ? await Promise.race([
            running,
            new Promise<never>((_, reject) => {
              timer = setTimeout(
                () => reject(Object.assign(new Error(`no answer within ${executeTimeoutMs} ms`), { code: 'ETIMEDOUT' })),
                executeTimeoutMs,
              );
            }),
          ])
        : await running;
    } catch (error) {
      if (discardFailedClients) {
        client.release(error as Error);
      } else {
        // The one PGlite session must not stay inside a failed transaction.
        await client.query('ROLLBACK').catch(() => {});
        client.release();
      }
      throw error;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** Runs work on a connection of the write pool, bounded like {@link #step}, and returns the connection. */
  async #bounded<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#acquire();
    const result = await this.#step(client, () => work(client));
    client.release();
    return result;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const sessions of [...this.#stores]) await sessions.close().catch(() => {});
      if (this.#parts.settleBeforeClose) await this.#settle();
      await this.db.destroy(); // ends the query pool
      if (this.#parts.writePool !== this.#parts.queryPool) await this.#parts.writePool.end();
      await this.#parts.onClose();
    })();
    return this.#closed;
  }

  /**
   * Waits for the single session to finish what was sent on it: a statement queued behind a
   * failed one runs only once the session is ready again (pg waits for the failed pipeline's
   * ReadyForQuery), and ending the pool does not wait for that by itself.
   */
  async #settle(): Promise<void> {
    await this.#parts.queryPool.query('SELECT 1').catch(() => {
      // A session that cannot answer has nothing left to run either.
    });
  }
}

/** Sends a {@link StatementPipeline} on a held client and waits for all of it. */
function runPipeline(client: pg.PoolClient, statements: readonly PipelinedStatement[]): Promise<PipelinedResult[]> {
  const pipeline = new StatementPipeline(statements);
  client.query(pipeline);
  return pipeline.done;
}

interface ProbeRow {
  in_recovery: boolean;
  read_only: boolean;
  may_insert: boolean;
}

/**
 * The probe, one simple query in its own transaction: the server gives up after the same time
 * as the client. Reading `ledger_events` (no rows) waits behind a lock that would block the
 * writer's inserts; the last statement says whether an insert could go through.
 */
function probeStatement(timeoutMs: number): string {
  return `BEGIN;
SET LOCAL statement_timeout = ${timeoutMs};
SELECT 1 FROM ledger_events LIMIT 0;
SELECT pg_is_in_recovery() AS in_recovery, current_setting('transaction_read_only') = 'on' AS read_only,
  has_table_privilege('ledger_events', 'INSERT') AS may_insert;
COMMIT;`;
}

/** Keeps errors of idle or checked-out clients (a server restart) from crashing the process. */
export function quietPool(pool: pg.Pool): pg.Pool {
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}
