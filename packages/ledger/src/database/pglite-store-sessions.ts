import type { PGlite } from '@electric-sql/pglite';
import { LedgerError, describeError } from '../ledger-error.js';
import type { LedgerConnection, StatementResult } from './ledger-connection.js';
import { checkChannel, type StoreListenHandlers, type StoreSessions, type StoreStatements } from './store-sessions.js';

/** A queue that runs one section at a time, in the order they asked. */
class SerialLock {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(work, work);
    this.#tail = next.catch(() => {});
    return next;
  }
}

// One lock per PGlite database, whichever connections and stores share it: a PGlite data
// directory is held by one process (its lock file), so this process-wide lock is a lock on
// the whole database.
const LOCKS = new WeakMap<PGlite, SerialLock>();

function lockOf(pglite: PGlite): SerialLock {
  let lock = LOCKS.get(pglite);
  if (!lock) {
    lock = new SerialLock();
    LOCKS.set(pglite, lock);
  }
  return lock;
}

/**
 * {@link StoreSessions} on PGlite: statements go through the ledger connection's one session,
 * exclusive sections queue on the database's in-process lock, and LISTEN is PGlite's own
 * `listen()` (notifications of this process, the only one that can open the database).
 */
export class PgliteStoreSessions implements StoreSessions {
  readonly backend = 'pglite' as const;
  readonly location: string;
  readonly #pglite: PGlite;
  readonly #connection: LedgerConnection;
  readonly #lock: SerialLock;
  readonly #unlisten = new Set<() => Promise<void>>();
  readonly #onClosed: () => void;
  #closed = false;

  /** `closed` is called once the sessions are closed. */
  constructor(pglite: PGlite, connection: LedgerConnection, closed: () => void = () => {}) {
    this.#pglite = pglite;
    this.#connection = connection;
    this.#onClosed = closed;
    this.#lock = lockOf(pglite);
    this.location = connection.location;
  }

  execute<R extends object = Record<string, unknown>>(text: string, values: readonly unknown[] = []): Promise<StatementResult<R>> {
    this.#checkOpen();
    return this.#connection.execute<R>(text, values);
  }

  exclusive<T>(work: (statements: StoreStatements) => Promise<T>): Promise<T> {
    this.#checkOpen();
    return this.#lock.run(() => work({ query: (text, values = []) => this.execute(text, values) }));
  }

  async listen(channel: string, handlers: StoreListenHandlers): Promise<() => Promise<void>> {
    checkChannel(channel);
    this.#checkOpen();
    let unlisten: () => Promise<void>;
    try {
      unlisten = await this.#pglite.listen(channel, (payload) => handlers.notify(payload));
    } catch (error) {
      throw new LedgerError('ledger.unavailable', `cannot LISTEN on ${channel} in the embedded ledger at ${this.location}: ${describeError(error)}`, {
        cause: error,
      });
    }
    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopped ??= (async () => {
        this.#unlisten.delete(stop);
        // A database that is closed already listens to nobody.
        if (!this.#pglite.closed) await unlisten().catch(() => {});
      })();
      return stopped;
    };
    this.#unlisten.add(stop);
    return stop;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const stop of [...this.#unlisten]) await stop();
    this.#onClosed();
  }

  #checkOpen(): void {
    if (this.#closed) throw new LedgerError('ledger.closed', `the store's sessions on the embedded ledger at ${this.location} are closed`);
  }
}
