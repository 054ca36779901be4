import { connectLedger } from './database/connect-ledger.js';
import type { LedgerConnection, LedgerConnectionOptions } from './database/ledger-connection.js';
import type { AppendedEvent, LedgerEventInput } from './event/ledger-event.js';
import { migrateLedger } from './migration/ledger-migrator.js';
import type { LedgerHealth, LedgerSink } from './writer/ledger-sink.js';
import { LedgerWriter, type AppendOptions, type LedgerWriterOptions } from './writer/ledger-writer.js';

/** Options of {@link openLedgerSink}: where the ledger is, how to write, and whether to migrate first. */
export interface OpenLedgerSinkOptions extends LedgerConnectionOptions, LedgerWriterOptions {
  /** Apply pending migrations before writing (what the embedded ledger wants on first use). */
  migrate?: boolean;
  /** The migrations directory, when migrating; default the repository's `migrations/`. */
  migrationsDir?: string;
}

/** A {@link LedgerSink} that owns its connection: `close()` settles the writer, then disconnects. */
export interface OpenedLedgerSink extends LedgerSink {
  readonly writer: LedgerWriter;
  readonly connection: LedgerConnection;
  /** The writer's {@link LedgerWriter.health}: whether the ledger can record events now. */
  health(): Promise<LedgerHealth>;
}

/**
 * Connects to the ledger (PostgreSQL or the embedded PGlite), optionally migrates it, and
 * returns a sink with a new strand: what the gateway records through.
 *
 * @example
 * const sink = await openLedgerSink({ databaseUrl: config.ledger?.database_url, migrate: !config.ledger?.database_url,
 *   redact: [{ tool: 'withdraw_cryptocurrency', pointers: ['/address'] }] })
 */
export async function openLedgerSink(options: OpenLedgerSinkOptions = {}): Promise<OpenedLedgerSink> {
  const connection = await connectLedger(options);
  try {
    if (options.migrate) await migrateLedger(connection, options.migrationsDir === undefined ? {} : { migrationsDir: options.migrationsDir });
    const writer = new LedgerWriter(connection, options);
    return {
      writer,
      connection,
      append: (event: LedgerEventInput, options?: AppendOptions): Promise<AppendedEvent> => writer.append(event, options),
      health: (): Promise<LedgerHealth> => writer.health(),
      close: async () => {
        try {
          await writer.close();
        } finally {
          await connection.close();
        }
      },
    };
  } catch (error) {
    await connection.close();
    throw error;
  }
}
