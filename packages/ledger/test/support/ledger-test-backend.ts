import type { PGlite } from '@electric-sql/pglite';
import { connectLedger, migrateLedger, type LedgerBackend, type LedgerConnection } from '../../src/index.js';
import { openMigratedPglite } from './pglite-test-template.js';
import { asSuperuser, createTestDatabase, type TestDatabase } from './postgres-test-database.js';

/** A migrated, empty ledger for one test, on a real database. */
export interface TestLedger {
  backend: LedgerBackend;
  connection: LedgerConnection;
  /** Runs SQL as a superuser (PostgreSQL: on a session of its own; PGlite: its one session). */
  superuser<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]>;
  /**
   * Runs statements as a superuser with the ledger's append-only triggers disabled, in one
   * transaction — what someone tampering with the database would do.
   */
  tamper(...statements: string[]): Promise<void>;
  /** A second connection to the same ledger (PGlite has one session: the same one). */
  reconnect(): Promise<LedgerConnection>;
  dispose(): Promise<void>;
}

/** One backend the conformance suite runs on. */
export interface TestBackend {
  name: LedgerBackend;
  /** Prepares what every test copies (a migrated template). */
  setup(): Promise<void>;
  open(): Promise<TestLedger>;
  teardown(): Promise<void>;
}

const TABLES = ['ledger_events', 'ledger_strands', 'ledger_checkpoints', 'ledger_verifications'];

function tamperScript(statements: string[]): string {
  const toggle = (what: 'DISABLE' | 'ENABLE') => TABLES.map((t) => `ALTER TABLE ${t} ${what} TRIGGER USER;`).join('\n');
  return `BEGIN;\n${toggle('DISABLE')}\n${statements.map((s) => `${s};`).join('\n')}\n${toggle('ENABLE')}\nCOMMIT;`;
}

/** PostgreSQL on the machine's server: each test gets a copy of a migrated template database. */
export function postgresBackend(): TestBackend {
  let template: TestDatabase | undefined;
  return {
    name: 'postgres',
    async setup() {
      template = await createTestDatabase();
      const connection = await connectLedger({ databaseUrl: template.url });
      await migrateLedger(connection);
      await connection.close();
    },
    async open() {
      const database = await createTestDatabase(template!.name);
      const connection = await connectLedger({ databaseUrl: database.url });
      const extra: LedgerConnection[] = [];
      return {
        backend: 'postgres',
        connection,
        superuser: async <R>(text: string, values: unknown[] = []) => {
          const result: unknown = await asSuperuser(database.url, text, values);
          // Several statements answer with one result each: return the last one's rows.
          const last = (Array.isArray(result) ? result[result.length - 1] : result) as { rows?: R[] } | undefined;
          return last?.rows ?? [];
        },
        tamper: async (...statements: string[]) => {
          await asSuperuser(database.url, tamperScript(statements));
        },
        reconnect: async () => {
          const other = await connectLedger({ databaseUrl: database.url });
          extra.push(other);
          return other;
        },
        dispose: async () => {
          for (const c of extra) await c.close();
          await connection.close();
          await database.drop();
        },
      };
    },
    async teardown() {
      await template?.drop();
    },
  };
}

/** PGlite in memory: each test loads a fresh copy of a migrated data directory. */
export function pgliteBackend(): TestBackend {
  return {
    name: 'pglite',
    async setup() {
      await (await openMigratedPglite()).close();
    },
    async open() {
      const pglite: PGlite = await openMigratedPglite();
      const connection = await connectLedger({ pglite });
      return {
        backend: 'pglite',
        connection,
        superuser: async <R>(text: string, values: unknown[] = []) => (await connection.execute(text, values)).rows as R[],
        tamper: async (...statements: string[]) => {
          await connection.execute(tamperScript(statements));
        },
        reconnect: async () => connection,
        dispose: async () => {
          await connection.close();
          await pglite.close();
        },
      };
    },
    async teardown() {},
  };
}
