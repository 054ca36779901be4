import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import pg from 'pg';
import { LedgerError, describeError } from '../ledger-error.js';
import type { LedgerConnection, ResolvedConnectionSettings } from './ledger-connection.js';
import { LEDGER_PG_TYPES, PoolLedgerConnection, quietPool } from './pool-ledger-connection.js';
import { PgliteStoreSessions } from './pglite-store-sessions.js';

const MEMORY = 'memory://';

/**
 * Opens the embedded PGlite ledger (creating its data directory on first use) or wraps an
 * open PGlite instance. A data directory is held by one process at a time through
 * `<dataDir>.lock`: PGlite is a single-process database and two writers would corrupt it.
 *
 * @throws LedgerError `ledger.locked` when another live process holds the data directory,
 * `ledger.unavailable` when PGlite cannot open it.
 */
export async function connectPglite(source: string | PGlite, _settings: ResolvedConnectionSettings): Promise<LedgerConnection> {
  let pglite: PGlite;
  let owned = false;
  let releaseLock = (): void => {};
  let location: string;
  if (typeof source === 'string') {
    const inMemory = source.startsWith(MEMORY);
    const dataDir = inMemory ? source : resolve(source);
    location = inMemory ? source : dataDir;
    if (!inMemory) {
      mkdirSync(dirname(dataDir), { recursive: true });
      releaseLock = acquireLock(`${dataDir}.lock`, dataDir);
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

function acquireLock(lockPath: string, dataDir: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        try {
          unlinkSync(lockPath);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new LedgerError('ledger.unavailable', `cannot lock the embedded ledger at ${dataDir}: ${describeError(error)}`, {
          cause: error,
        });
      }
      const holder = readHolder(lockPath);
      if (holder !== undefined && isAlive(holder)) {
        const who = holder === process.pid ? 'this process (it is already open)' : `process ${holder}`;
        throw new LedgerError(
          'ledger.locked',
          `the embedded ledger at ${dataDir} is in use by ${who}; stop it, or run the gateway and the CLI against PostgreSQL with --database-url`,
        );
      }
      // The holder died without unlocking (killed): the lock is stale.
      try {
        unlinkSync(lockPath);
      } catch {
        // Someone else removed it first; try again.
      }
    }
  }
  throw new LedgerError('ledger.locked', `the embedded ledger at ${dataDir} is being opened by another process; try again`);
}

function readHolder(lockPath: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(lockPath, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
