import { MemoryLimitStore, type LimitStore } from '@tollgate/policy';
import { openApprovalDeliveryStore, type PostgresApprovalDeliveryStore } from './approval/postgres-approval-delivery-store.js';
import { openApprovalStore, type PostgresApprovalStore } from './approval/postgres-approval-store.js';
import { connectLedger } from './database/connect-ledger.js';
import type { LedgerConnection, LedgerConnectionOptions } from './database/ledger-connection.js';
import type { AppendedEvent, LedgerEventInput } from './event/ledger-event.js';
import { openLimitStore, type LimitStoreLogger, type PostgresLimitStore } from './limits/postgres-limit-store.js';
import { migrateLedger } from './migration/ledger-migrator.js';
import type { LedgerHealth, LedgerSink } from './writer/ledger-sink.js';
import { LedgerWriter, type AppendOptions, type CountedEvent, type LedgerWriterOptions } from './writer/ledger-writer.js';

/** Options of {@link openLedgerServices}. */
export interface OpenLedgerServicesOptions extends LedgerConnectionOptions, LedgerWriterOptions {
  /** Apply pending migrations first (what the embedded ledger wants on first use). */
  readonly migrate?: boolean;
  /** The migrations directory, when migrating; default the repository's `migrations/`. */
  readonly migrationsDir?: string;
  /**
   * Where limit counters live: `postgres` in the ledger's database (PostgreSQL, shared by every
   * replica on it, or the embedded ledger, shared by the processes that share its directory),
   * `memory` in this process.
   */
  readonly limits: 'memory' | 'postgres';
  /** Where the limit store reports a failed sweep. */
  readonly logger?: LimitStoreLogger;
}

/**
 * Everything a gateway records to and keeps its shared state in, on one ledger database:
 * the writer of its strand (its decision sink), its limit counters, its approval requests and
 * the webhook deliveries of their events.
 */
export interface LedgerServices {
  readonly connection: LedgerConnection;
  /**
   * The strand's writer as a sink: records events (resolving once each is committed) and says
   * whether it can now; with limits in a PostgreSQL server's ledger it also counts a decision's limits in the
   * transaction that records it (`appendCounted`), which a gateway then uses instead of `limits`.
   */
  readonly sink: LedgerSink & { health(): Promise<LedgerHealth> };
  readonly writer: LedgerWriter;
  readonly limits: LimitStore;
  readonly approvals: PostgresApprovalStore;
  /** Webhook deliveries of approval events (`approvals.notify`); its tables are checked only when used. */
  readonly deliveries: PostgresApprovalDeliveryStore;
  /** Settles every appended event, then closes the stores and the connection. */
  close(): Promise<void>;
}

/**
 * Opens the ledger (PostgreSQL, or the embedded PGlite ledger without a URL), migrates it when
 * asked, and builds on its connection the writer of a new strand, the limit store and the
 * approval store: what the composition root hands a gateway. Whatever was opened is closed
 * again when a later step fails.
 *
 * @throws LedgerError `ledger.unavailable`, `ledger.not_migrated`, `ledger.locked`, `ledger.invalid_options`.
 * @example
 * const services = await openLedgerServices({ databaseUrl, migrate: false, limits: 'postgres', label: 'gateway' });
 * try { … } finally { await services.close(); }
 */
export async function openLedgerServices(options: OpenLedgerServicesOptions): Promise<LedgerServices> {
  const connection = await connectLedger(options);
  let limits: PostgresLimitStore | undefined;
  let approvals: PostgresApprovalStore | undefined;
  let deliveries: PostgresApprovalDeliveryStore | undefined;
  try {
    if (options.migrate) await migrateLedger(connection, options.migrationsDir === undefined ? {} : { migrationsDir: options.migrationsDir });
    const writer = new LedgerWriter(connection, options);
    if (options.limits === 'postgres') {
      limits = openLimitStore(connection, options.logger ? { logger: options.logger } : {});
      // The counters' table must exist by now (after a migration, if one ran).
      await limits.check();
    }
    approvals = openApprovalStore(connection);
    deliveries = openApprovalDeliveryStore(connection);
    const deliveryStore = deliveries;
    const limitStore: LimitStore = limits ?? new MemoryLimitStore();
    const opened = approvals;
    const postgresLimits = limits;
    return {
      connection,
      writer,
      limits: limitStore,
      approvals: opened,
      deliveries: deliveryStore,
      sink: {
        append: (event: LedgerEventInput, appendOptions?: AppendOptions): Promise<AppendedEvent> => writer.append(event, appendOptions),
        // Counters in PostgreSQL are counted in the transaction that records the decision.
        ...(postgresLimits && connection.supportsPipeline ? { appendCounted: (counted: CountedEvent): Promise<AppendedEvent> => writer.appendCounted(counted) } : {}),
        health: (): Promise<LedgerHealth> => writer.health(),
        close: () => writer.close(),
      },
      close: async () => {
        try {
          await writer.close();
        } finally {
          await opened.close().catch(() => undefined);
          await deliveryStore.close().catch(() => undefined);
          await postgresLimits?.close().catch(() => undefined);
          await connection.close();
        }
      },
    };
  } catch (error) {
    await approvals?.close().catch(() => undefined);
    await deliveries?.close().catch(() => undefined);
    await limits?.close().catch(() => undefined);
    await connection.close();
    throw error;
  }
}
