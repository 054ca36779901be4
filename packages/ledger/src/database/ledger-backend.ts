/** Which database holds the ledger. */
export type LedgerBackend = 'postgres' | 'pglite';

/**
 * The outcome of one statement run on a backend (`LedgerConnection.execute`,
 * `StoreSessions.execute`). Beside {@link LedgerBackend} in a file of its own, below both
 * contracts, so that neither the connection's nor the store sessions' interface file imports the other's.
 */
export interface StatementResult<R> {
  rows: R[];
  rowCount: number;
}
