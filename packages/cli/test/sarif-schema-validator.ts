import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import AjvDraft04 from 'ajv-draft-04';
import ajvFormats from 'ajv-formats';

/**
 * A validator for the official SARIF 2.1.0 JSON schema (rtm.5, the OASIS standard's), as
 * Microsoft's SARIF SDK ships it in `@microsoft/jest-sarif`. The schema is draft-04, hence
 * ajv-draft-04; its patterns are ECMA-262 without the `u` flag (one has a bare `]`).
 */
export async function sarifSchemaValidator(): Promise<{ (data: unknown): boolean; errors?: unknown[] | null }> {
  const require = createRequire(import.meta.url);
  const path = join(require.resolve('@microsoft/jest-sarif/package.json'), '..', 'lib', 'schemas', 'sarif-2.1.0-rtm.5.json');
  const schema = JSON.parse(await readFile(path, 'utf8')) as object;
  const ajv = new AjvDraft04.default({ allErrors: true, strict: false, unicodeRegExp: false });
  ajvFormats.default(ajv);
  return ajv.compile(schema);
}
