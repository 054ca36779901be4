import { DEFAULT_EMBEDDED_DIR, resolveConnectionSettings, type LedgerConnection, type LedgerConnectionOptions } from './ledger-connection.js';

/**
 * Opens the ledger's database: PostgreSQL when `databaseUrl` is given, else the embedded
 * PGlite ledger (created on first use unless `create` is false). PostgreSQL is probed once, so
 * an unreachable server fails here with a clear `ledger.unavailable` error rather than on the
 * first write.
 *
 * An embedded ledger directory is shared: the first process to open it serves it to the others
 * over the PostgreSQL protocol on a Unix domain socket, and hands over when it goes away (see
 * `EmbeddedLedgerHost`). `memory://` and an open `pglite` instance are this process's alone.
 *
 * The one place that knows every backend: `ledger-connection.ts` declares the contract and
 * imports none of them, and each implementation imports only that contract.
 *
 * @example
 * const connection = await connectLedger({ databaseUrl: process.env.TOLLGATE_DATABASE_URL })
 * try { await migrateLedger(connection) } finally { await connection.close() }
 * @throws LedgerError `ledger.unavailable`, `ledger.locked`, `ledger.not_found`, `ledger.untrusted`
 * or `ledger.invalid_options`.
 */
export async function connectLedger(options: LedgerConnectionOptions = {}): Promise<LedgerConnection> {
  const settings = resolveConnectionSettings(options);
  if (options.databaseUrl !== undefined && options.databaseUrl !== '') {
    const { connectPostgres } = await import('./postgres-connection.js');
    return connectPostgres(options.databaseUrl, settings);
  }
  const source = options.pglite ?? options.dataDir ?? DEFAULT_EMBEDDED_DIR;
  if (typeof source === 'string' && !source.startsWith('memory://') && process.platform !== 'win32') {
    const { connectSharedPglite } = await import('./shared-pglite-connection.js');
    return connectSharedPglite(source, settings, options.create ?? true);
  }
  const { connectPglite } = await import('./pglite-connection.js');
  return connectPglite(source, settings, options.create ?? true);
}
