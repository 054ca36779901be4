// Packs every workspace package with `pnpm pack` into one directory (default dist/packages):
// tollgate-policy-<v>.tgz, tollgate-ledger-<v>.tgz, tollgate-gateway-<v>.tgz,
// tollgate-demo-exchange-<v>.tgz and tollgate-cli-<v>.tgz — the standalone CLI, which installs
// with nothing else: `npm install --global ./tollgate-cli-<v>.tgz`. pnpm writes the real
// versions of workspace:* dependencies into each packed package.json. Run `pnpm build` first.
//
//   node scripts/pack-packages.mjs [destination]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const destination = resolve(process.argv[2] ?? join(root, 'dist', 'packages'));
mkdirSync(destination, { recursive: true });
for (const dir of readdirSync(join(root, 'packages')).sort()) {
  const pkgDir = join(root, 'packages', dir);
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  if (pkg.private) continue;
  const out = execFileSync('pnpm', ['pack', '--pack-destination', destination], { cwd: pkgDir, encoding: 'utf8' });
  const tarball = out.trim().split('\n').filter((l) => l.endsWith('.tgz')).at(-1);
  console.log(`${pkg.name}@${pkg.version}: ${tarball}`);
}
