// Copies the repository's migrations/ into dist/migrations after `tsc`, so the published
// package carries the SQL it applies: defaultMigrationsDir() looks for the nearest
// migrations/ above the compiled module, which is dist/migrations in the package and the
// repository's own migrations/ when running from src/ (tests).
import { cp, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(root, '..', '..', 'migrations');
const to = join(root, 'dist', 'migrations');
await rm(to, { recursive: true, force: true });
await cp(from, to, { recursive: true, filter: (path) => !/(^|\/)\.[^/]+$/.test(path) });
const files = (await readdir(to)).filter((f) => f.endsWith('.sql'));
console.log(`copied ${files.length} migrations to dist/migrations`);
