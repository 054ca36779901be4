import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import pg from 'pg';
import { LedgerError, describeError } from '../ledger-error.js';
import { EmbeddedLedgerLock } from './embedded-ledger-lock.js';
import type { LedgerConnection, ResolvedConnectionSettings } from './ledger-connection.js';
import { LEDGER_PG_TYPES, PoolLedgerConnection, quietPool } from './pool-ledger-connection.js';
import { PgliteStoreSessions } from './pglite-store-sessions.js';

const MEMORY = 'memory://';

/**
 * Opens a PGlite ledger for this process alone: in memory (`memory://`), an open PGlite
 * instance, or (where the embedded ledger cannot be shared: Windows) a data directory, held
 * through `<dataDir>.lock` — PGlite is a single-process database and two writers would corrupt
 * it. Elsewhere a data directory is opened shared (`connectSharedPglite`).
 *
 * @throws LedgerError `ledger.locked` when another live process holds the data directory,
 * `ledger.not_found` when there is none and `create` is false, `ledger.unavailable` when PGlite
 * cannot open it.
 */
export async function connectPglite(source: string | PGlite, _settings: ResolvedConnectionSettings, create = true): Promise<LedgerConnection> {
  let pglite: PGlite;
  let owned = false;
  let releaseLock = (): void => {};
  let location: string;
  if (typeof source === 'string') {
    const inMemory = source.startsWith(MEMORY);
    const dataDir = inMemory ? source : resolve(source);
    location = inMemory ? source : dataDir;
    if (!inMemory) {
      if (!create && !existsSync(join(dataDir, 'PG_VERSION'))) {
        throw new LedgerError('ledger.not_found', `there is no embedded ledger at ${dataDir} (nothing was created there)`);
      }
      mkdirSync(dirname(dataDir), { recursive: true });
      const attempt = new EmbeddedLedgerLock(dataDir).acquire();
      if (!attempt.acquired) {
        throw new LedgerError(
          'ledger.locked',
          `the embedded ledger at ${dataDir} is in use by ${attempt.holder ? `process ${attempt.holder.pid}` : 'another process'}; stop it, or run the gateway and the CLI against PostgreSQL with --database-url`,
        );
      }
      releaseLock = attempt.release;
    }
    try {
      pglite = await PGlite.create(inMemory ? undefined : dataDir);
    } catch (error) {
      releaseLock();
      throw new LedgerError('ledger.unavailable', `cannot open the embedded ledger at ${location}: ${describeError(error)}`, {
        cause: error,
      });
    }
    owned = true;
  } else {
    pglite = source;
    location = pglite.dataDir ?? MEMORY;
  }

  // PGlite is one session: a pool of one connection serialises every statement and keeps a
  // transaction's statements together.
  const pool = (): pg.Pool => quietPool(new pg.Pool({ ...createPgConfig(pglite), types: LEDGER_PG_TYPES }));
  const queryPool = pool();
  return new PoolLedgerConnection({
    backend: 'pglite',
    location,
    queryPool,
    // The same single session: the writer's statements queue behind queries.
    writePool: queryPool,
    executeTimeoutMs: 0,
    discardFailedClients: false,
    settleBeforeClose: true,
    supportsCopy: false,
    supportsPipeline: false,
    openStoreSessions: (connection, _options, closed) => new PgliteStoreSessions(pglite, connection, closed),
    onClose: async () => {
      if (owned) await pglite.close();
      releaseLock();
    },
  });
}
