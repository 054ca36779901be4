import pg from 'pg';
import { LedgerError, describeError } from '../ledger-error.js';
import type { StoreListenHandlers } from './store-sessions.js';

/** How a {@link PostgresNotificationListener} reaches the database. */
export interface NotificationListenerOptions {
  /** The client's configuration (connection string, timeouts, `application_name`). */
  readonly client: pg.ClientConfig;
  /** Where the database is, for messages. */
  readonly location: string;
  readonly channel: string;
  readonly handlers: StoreListenHandlers;
  /** How often the session is probed with `SELECT 1` (which must answer within as long). */
  readonly heartbeatMs: number;
  /** How long connecting and LISTEN may take. */
  readonly timeoutMs: number;
}

const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 2000;

/**
 * A PostgreSQL session of its own that LISTENs on one channel and stays listening: when the
 * connection is lost (the server restarted, an administrator terminated it, the network went
 * silent — caught by a periodic probe) it reconnects with a growing delay (50 ms up to 2 s),
 * LISTENs again, and tells its owner through `resync` that notifications may have been missed.
 */
export class PostgresNotificationListener {
  readonly #options: NotificationListenerOptions;
  #client: pg.Client | undefined;
  #closed = false;
  #lostAt = 0;
  #retry: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #probing = false;

  constructor(options: NotificationListenerOptions) {
    this.#options = options;
  }

  /**
   * Connects and LISTENs.
   * @throws LedgerError `ledger.unavailable` when that fails.
   */
  async start(): Promise<void> {
    try {
      await this.#open();
    } catch (error) {
      throw new LedgerError(
        'ledger.unavailable',
        `cannot LISTEN on ${this.#options.channel} at ${this.#options.location}: ${describeError(error)}`,
        { cause: error },
      );
    }
  }

  /** Stops listening and closes the session. */
  async stop(): Promise<void> {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    const client = this.#client;
    this.#client = undefined;
    if (client) await endQuietly(client);
  }

  async #open(): Promise<void> {
    const { channel, handlers, timeoutMs } = this.#options;
    const client = new pg.Client(this.#options.client);
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    client.on('notification', (message) => {
      if (this.#client === client && message.channel === channel) handlers.notify(message.payload ?? '');
    });
    try {
      await within(client.connect(), timeoutMs, 'connecting');
      await within(client.query(`LISTEN ${channel}`), timeoutMs, 'LISTEN');
    } catch (error) {
      client.removeAllListeners('end');
      void endQuietly(client);
      throw error;
    }
    if (this.#closed) {
      await endQuietly(client);
      return;
    }
    this.#client = client;
    this.#startHeartbeat(client);
  }

  #startHeartbeat(client: pg.Client): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    const { heartbeatMs } = this.#options;
    this.#heartbeat = setInterval(() => {
      if (this.#probing || this.#client !== client) return;
      this.#probing = true;
      within(client.query('SELECT 1'), heartbeatMs, 'the heartbeat')
        .catch(() => this.#lost(client))
        .finally(() => {
          this.#probing = false;
        });
    }, heartbeatMs);
    this.#heartbeat.unref();
  }

  #lost(client: pg.Client): void {
    if (this.#closed || this.#client !== client) return;
    this.#client = undefined;
    this.#lostAt = Date.now();
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    void endQuietly(client);
    this.#reconnect(FIRST_RETRY_MS);
  }

  #reconnect(delayMs: number): void {
    if (this.#closed) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#open().then(
        () => {
          if (!this.#closed) this.#options.handlers.resync?.(Date.now() - this.#lostAt);
        },
        () => this.#reconnect(Math.min(delayMs * 2, MAX_RETRY_MS)),
      );
    }, delayMs);
    this.#retry.unref();
  }
}

async function endQuietly(client: pg.Client): Promise<void> {
  try {
    await within(client.end(), 1000, 'closing');
  } catch {
    // A server that does not answer does not say goodbye either: drop the socket.
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  }
}

/** `promise`, or a rejection once `ms` passed without an answer. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  promise.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`${what}: no answer within ${ms} ms`), { code: 'ETIMEDOUT' })), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
