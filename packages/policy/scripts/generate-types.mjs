#!/usr/bin/env node
// Generates src/generated/*.ts from the JSON Schemas in schema/, the single source of the
// language. `--check` exits 1 when the checked-in files differ from what the schemas give.
import { readFile, writeFile, rename } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { compile } from 'json-schema-to-typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const targets = [
  { schema: 'schema/policy.schema.json', out: 'src/generated/policy-types.ts' },
  { schema: 'schema/test.schema.json', out: 'src/generated/test-file-types.ts' },
];

/** Returns the TypeScript source json-schema-to-typescript gives for one schema file. */
export async function generate(schemaFile) {
  const schema = JSON.parse(await readFile(root + schemaFile, 'utf8'));
  return compile(schema, schema.title, {
    bannerComment: `/* Generated from ${schemaFile} by scripts/generate-types.mjs. Do not edit. */`,
    additionalProperties: false,
    unreachableDefinitions: true,
    strictIndexSignatures: true,
    format: true,
    style: { singleQuote: true, printWidth: 100 },
    cwd: root + 'schema',
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  let drift = false;
  for (const { schema, out } of targets) {
    const source = await generate(schema);
    const current = await readFile(root + out, 'utf8').catch(() => '');
    if (current === source) continue;
    if (check) {
      drift = true;
      console.error(`${out} is out of date with ${schema}: run \`pnpm -C packages/policy gen:types\`.`);
    } else {
      await writeFile(root + out + '.tmp', source);
      await rename(root + out + '.tmp', root + out);
    }
  }
  process.exit(drift ? 1 : 0);
}
