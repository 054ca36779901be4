import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { connectLedger, defaultMigrationsDir, migrateLedger, readMigrationFiles, writeFileAtomically } from '../../src/index.js';

let memo: Promise<Blob> | undefined;

/**
 * A migrated PGlite data directory as a tarball. Creating a PGlite database takes seconds, so
 * it is made once and cached on disk, keyed by the migrations' checksums and PGlite's version;
 * each test then loads a fresh copy of it in well under a second.
 */
export function migratedPgliteTemplate(): Promise<Blob> {
  memo ??= (async () => {
    const files = readMigrationFiles(defaultMigrationsDir());
    const version = (JSON.parse(readFileSync(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url), 'utf8')) as { version: string })
      .version;
    const key = createHash('sha256')
      .update(version)
      .update(files.map((f) => `${f.name}:${f.sha256}`).join('\n'))
      .digest('hex')
      .slice(0, 16);
    const dir = join(tmpdir(), 'tollgate-test-cache');
    const file = join(dir, `pglite-ledger-${key}.tar`);
    if (existsSync(file)) return new Blob([readFileSync(file)]);
    const pglite = await PGlite.create();
    const connection = await connectLedger({ pglite });
    await migrateLedger(connection);
    await connection.close();
    const dump = await pglite.dumpDataDir('none');
    await pglite.close();
    await writeFileAtomically(file, new Uint8Array(await dump.arrayBuffer()));
    return dump;
  })();
  return memo;
}

/** A new in-memory PGlite holding a migrated, empty ledger. Close it when done. */
export async function openMigratedPglite(): Promise<PGlite> {
  return PGlite.create({ loadDataDir: await migratedPgliteTemplate() });
}
