import { resolve } from 'node:path';
import pg from 'pg';
import { LedgerError, describeError } from '../ledger-error.js';
import { EmbeddedLedgerHost, SOCKET_PORT } from './embedded-ledger-host.js';
import type { LedgerConnection, ResolvedConnectionSettings } from './ledger-connection.js';
import { LEDGER_PG_TYPES } from './pool-ledger-connection.js';
import { openPgConnection } from './postgres-connection.js';

/** How long opening waits for another process that is creating the ledger (initdb takes seconds). */
const OPEN_TIMEOUT_MS = 30_000;

/**
 * A `pg` pool whose every checkout first makes sure some process serves the embedded ledger —
 * after the serving process went away, this one may have to take over — and whose failed
 * connections make the host check again.
 */
class HostedPool extends pg.Pool {
  readonly #host: EmbeddedLedgerHost;

  constructor(config: pg.PoolConfig, host: EmbeddedLedgerHost) {
    super(config);
    this.#host = host;
    this.on('error', () => host.suspect());
    this.on('connect', (client) => {
      client.on('error', () => host.suspect());
      client.on('end', () => host.suspect());
    });
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): void;
  override connect(
    callback?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void,
  ): Promise<pg.PoolClient> | void {
    const ready = this.#host.ready();
    if (!callback) {
      return ready.then(() =>
        super.connect().catch((error: unknown) => {
          this.#host.suspect();
          throw error;
        }),
      );
    }
    ready.then(
      () =>
        super.connect((error, client, done) => {
          if (error) this.#host.suspect();
          callback(error, client, done);
        }),
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)), undefined, () => {}),
    );
  }
}

/**
 * Opens the embedded ledger in `dataDir` so that other processes can open it at the same time:
 * through this process's {@link EmbeddedLedgerHost} (which serves the directory itself when no
 * other process does) as a PostgreSQL client of the serving process's socket.
 *
 * @throws LedgerError `ledger.not_found` (no ledger there, and `create` is false),
 * `ledger.locked`, `ledger.untrusted`, `ledger.unavailable`.
 */
export async function connectSharedPglite(dataDir: string, settings: ResolvedConnectionSettings, create: boolean): Promise<LedgerConnection> {
  const host = await EmbeddedLedgerHost.open(resolve(dataDir), {
    create,
    openTimeoutMs: Math.max(OPEN_TIMEOUT_MS, settings.connectTimeoutMs),
    connectTimeoutMs: settings.connectTimeoutMs,
  });
  const base: pg.PoolConfig = {
    host: host.socketDir,
    port: SOCKET_PORT,
    user: 'tollgate',
    database: 'ledger',
    password: async () => host.password(),
    connectionTimeoutMillis: settings.connectTimeoutMs,
    application_name: settings.applicationName,
    types: LEDGER_PG_TYPES,
  };
  const { connection, queryPool } = openPgConnection({
    backend: 'pglite',
    location: host.dataDir,
    base,
    settings,
    // The server refuses COPY FROM STDIN: PGlite cannot wait for its data.
    supportsCopy: false,
    // The server runs a connection's messages up to each Sync whole, but a pipeline's failed
    // statement would leave the rest to PGlite's own error recovery: batches go one statement
    // at a time here, as on PGlite in-process.
    supportsPipeline: false,
    exclusive: 'advisory-lock',
    createPool: (config) => new HostedPool(config, host),
    onClose: () => host.release(),
  });
  try {
    await queryPool.query('SELECT 1');
  } catch (error) {
    await connection.close();
    if (error instanceof LedgerError) throw error;
    throw new LedgerError('ledger.unavailable', `cannot connect to the embedded ledger at ${host.dataDir}: ${describeError(error)}`, { cause: error });
  }
  return connection;
}
