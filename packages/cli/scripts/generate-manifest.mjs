// Writes oclif.manifest.json after `tsc`: the command list with every command's flags,
// args and help text, so `tollgate --help` and command lookup do not import each command
// module at startup. It does what `oclif manifest` does, with the @oclif/core this package
// already depends on (the `oclif` tool itself needs Node 22 from v5 on and pulls in the
// AWS SDK). The build script runs it; a stale manifest is rebuilt by `pnpm build`.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Plugin, settings } from '@oclif/core';
import { writeFileAtomically } from '@tollgate/ledger/atomic-file-writer';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Read the compiled commands in dist/, never src/ through a TypeScript loader.
settings.enableAutoTranspile = false;
const plugin = new Plugin({ root, type: 'core', isRoot: true, ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true });
await plugin.load();
const manifest = { ...plugin.manifest };
const target = join(root, 'oclif.manifest.json');
await writeFileAtomically(target, `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`wrote ${Object.keys(manifest.commands).length} commands to oclif.manifest.json`);
