import type { ArgumentResolution, SchemaType } from '../../catalog/argument-path-resolver.js';
import { jsonType } from '../../json-value.js';
import { parsePath } from '../../compile/path-expression.js';
import { closestName } from '../name-suggestion.js';
import type { LintContext } from '../lint-context.js';

/** What the condition and limit rules say of an argument path and of JSON Schema types. */

export function reportUnknownArgument(ctx: LintContext, pointer: string, tool: string, path: string, r: ArgumentResolution, prefix = ''): void {
  let segments: readonly (string | number)[];
  try {
    segments = parsePath(path).segments;
  } catch {
    return;
  }
  const i = r.failedAt ?? 0;
  const segment = segments[i];
  const parent = pathText(segments.slice(0, i));
  const known = r.known ?? [];
  let message: string;
  let hint: string | undefined;
  switch (r.problem) {
    case 'not-an-object':
      message = `${path}: ${parent} is ${describeTypes(r.actual ?? [])}, not an object, so it has no "${String(segment)}"`;
      break;
    case 'not-an-array':
      message = `${path}: ${parent} is ${describeTypes(r.actual ?? [])}, not an array, so it has no [${String(segment)}]`;
      break;
    case 'index-out-of-range':
      message = `${path}: the input schema of "${tool}" allows no item at ${parent}[${String(segment)}]`;
      break;
    default: {
      message = i === 0 ? `tool "${tool}" has no argument "${String(segment)}" in ${ctx.catalogName}` : `${path}: ${parent} has no property "${String(segment)}" in the input schema of "${tool}"`;
      const suggestion = closestName(String(segment), known);
      hint = suggestion
        ? `did you mean "${suggestion}"?`
        : known.length > 0
          ? `${i === 0 ? 'its arguments are' : 'its properties are'}: ${known.slice(0, 12).join(', ')}${known.length > 12 ? ', …' : ''}`
          : `${i === 0 ? 'the tool takes no arguments' : 'it has no properties'}`;
    }
  }
  ctx.report('TG201', pointer, prefix + message, { ...(hint ? { hint } : {}) });
}

export function pathSegments(path: string): readonly (string | number)[] {
  try {
    return parsePath(path).segments;
  } catch {
    return [];
  }
}

export function pathText(segments: readonly (string | number)[]): string {
  let out = 'args';
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : `.${s}`;
  return out;
}

export function fits(value: unknown, types: readonly SchemaType[]): boolean {
  const t = jsonType(value);
  if (t === 'number') return types.includes('number') || (types.includes('integer') && Number.isInteger(value));
  if (t === 'other') return false;
  return types.includes(t);
}

const ARTICLE: Record<SchemaType, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'a boolean',
  null: 'null',
  array: 'an array',
  object: 'an object',
};

/** "a string", "a number or a string"; `plural` gives "strings"; `bare` drops the article. */
export function describeTypes(types: readonly SchemaType[], plural = false, bare = false): string {
  if (types.length === 0) return plural ? 'values of no type' : 'of no possible type';
  const words = types.map((t) => (plural ? (t === 'null' ? 'nulls' : `${t}s`) : bare ? ARTICLE[t].replace(/^an? /, '') : ARTICLE[t]));
  return words.length === 1 ? words[0]! : `${words.slice(0, -1).join(', ')} or ${words.at(-1)!}`;
}

export function describeValue(value: unknown): string {
  const t = jsonType(value);
  if (t === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return t === 'other' ? 'not a JSON value' : ARTICLE[t];
}
