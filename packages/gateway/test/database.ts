import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL server tests use (trust auth, user postgres). */
export const PG_ADMIN_URL = process.env.TOLLGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh, uniquely named test database and its URL; `drop()` removes it. */
export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  query<R extends object = Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

/** Creates `tollgate_test_<random>` on the test server. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `tollgate_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  return {
    name,
    url,
    async query<R extends object>(text: string, values?: unknown[]) {
      return (await pool.query(text, values)).rows as R[];
    },
    async drop() {
      await pool.end();
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
