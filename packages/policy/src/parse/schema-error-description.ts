import type { ErrorObject } from 'ajv';
import type { Diagnostic } from '../diagnostic.js';
import { closestName } from '../lint/name-suggester.js';
import { valueAtPointer, type SourceDocument } from './source-document.js';

/** One schema error in words, and the node it is about. */
export interface SchemaErrorDescription {
  readonly pointer: string;
  readonly message: string;
  /** Point at the member's key (an unknown key) or at its value. */
  readonly at: 'key' | 'value';
}

/** What a caller tells {@link describeSchemaErrors} about its own document kind. */
export interface SchemaErrorWording {
  /** How a JSON pointer is named in messages (e.g. `/tools/x` or `upstreams.web`). */
  readonly where: (pointer: string) => string;
  /** Messages for `pattern` failures: the first whose test matches the pointer says what the value must be. */
  readonly patterns?: ReadonlyArray<readonly [RegExp, string]>;
  /** Wording for particular errors; undefined falls back to the shared wording. */
  readonly special?: (error: ErrorObject, context: { readonly where: string; readonly shown: string }) => SchemaErrorDescription | undefined;
  /**
   * Words users write for a value an `enum` allows, by pointer (the first whose test matches):
   * `"op": "greater"` is then answered with `did you mean "gt"?` (see `closestName`).
   */
  readonly synonyms?: ReadonlyArray<readonly [RegExp, Readonly<Record<string, string>>]>;
}

/** `; did you mean "x"?` when `closestName` finds one, else nothing. */
function didYouMean(input: unknown, candidates: readonly unknown[], synonyms?: Readonly<Record<string, string>>): string {
  if (typeof input !== 'string') return '';
  const names = candidates.filter((c): c is string => typeof c === 'string');
  const suggestion = closestName(input, names, synonyms);
  return suggestion === undefined ? '' : `; did you mean "${suggestion}"?`;
}

function escapeToken(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Says one ajv error in words: the caller's special wording first, then the shared one. */
export function describeSchemaError(e: ErrorObject, root: unknown, wording: SchemaErrorWording): SchemaErrorDescription {
  const p = e.instancePath;
  const params = e.params as Record<string, unknown>;
  const actual = valueAtPointer(root, p);
  const shown = actual === undefined ? '' : ` (got ${JSON.stringify(actual)?.slice(0, 60)})`;
  const where = wording.where(p);
  const special = wording.special?.(e, { where, shown });
  if (special) return special;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      // The keys the object may hold: known when the validator was built with ajv's `verbose`.
      const allowed = Object.keys((e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties ?? {});
      return { pointer: `${p}/${escapeToken(key)}`, message: `unknown key "${key}" in ${where}${didYouMean(key, allowed)}`, at: 'key' };
    }
    case 'required':
      return { pointer: p, message: `${where} is missing the required key "${String(params.missingProperty)}"`, at: 'value' };
    case 'enum': {
      const allowed = params.allowedValues as unknown[];
      const synonyms = wording.synonyms?.find(([test]) => test.test(p))?.[1];
      return { pointer: p, message: `${where} must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}${shown}${didYouMean(actual, allowed, synonyms)}`, at: 'value' };
    }
    case 'const':
      return { pointer: p, message: `${where} must be ${JSON.stringify(params.allowedValue)}${shown}`, at: 'value' };
    case 'type':
      return { pointer: p, message: `${where} must be of type ${String(params.type).replace(/,/g, ' or ')}${shown}`, at: 'value' };
    case 'pattern': {
      const rule = wording.patterns?.find(([test]) => test.test(p));
      return { pointer: p, message: `${where} ${rule ? rule[1] : (e.message ?? 'does not match its pattern')}${shown}`, at: 'value' };
    }
    case 'minItems':
      return { pointer: p, message: `${where} must list at least ${String(params.limit)} item(s)`, at: 'value' };
    case 'minProperties':
      return { pointer: p, message: `${where} must not be empty`, at: 'value' };
    default:
      return { pointer: p, message: `${where} ${e.message ?? 'is invalid'}${shown}`, at: 'value' };
  }
}

/**
 * Describes a list of ajv errors once each (an identical message at the same node is said
 * once) and locates them in their document.
 */
export function describeSchemaErrors(
  errors: readonly ErrorObject[],
  document: SourceDocument,
  wording: SchemaErrorWording,
): Array<SchemaErrorDescription & Pick<Diagnostic, 'file' | 'line' | 'column'>> {
  const seen = new Set<string>();
  const out: Array<SchemaErrorDescription & Pick<Diagnostic, 'file' | 'line' | 'column'>> = [];
  for (const e of errors) {
    const d = describeSchemaError(e, document.value, wording);
    const key = `${d.pointer}\u0000${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const pos = document.positionOf(d.pointer, d.at);
    out.push({ ...d, file: document.file, line: pos.line, column: pos.column });
  }
  return out;
}
