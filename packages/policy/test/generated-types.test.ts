import { readFile } from 'node:fs/promises';
import { expect, test } from 'vitest';
// @ts-expect-error The generator is a plain ESM script without type declarations.
import { generate } from '../scripts/generate-types.mjs';

const pairs = [
  ['schema/policy.schema.json', 'src/generated/policy-types.ts'],
  ['schema/test.schema.json', 'src/generated/test-file-types.ts'],
] as const;

test.each(pairs)('the checked-in types match %s', async (schema, out) => {
  const expected: string = await generate(schema);
  const current = await readFile(new URL(`../${out}`, import.meta.url), 'utf8');
  // If this fails, run `pnpm -C packages/policy gen:types` and commit the result.
  expect(current).toBe(expected);
});
