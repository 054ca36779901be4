import { LedgerError } from '../ledger-error.js';
import type { JsonValue } from './ledger-event.js';

/** What a redacted value is replaced with. */
export const REDACTED = '[REDACTED]';

/**
 * Which argument values to keep out of the ledger. Each pointer is an RFC 6901 JSON pointer
 * into the call's arguments (`/password`, `/auth/token`, `/orders/0/note`); the segment `*`
 * matches every key of an object or every element of an array (`/orders/*\/note`). A rule
 * without `server` or `tool` applies to every server or tool.
 *
 * @example { tool: 'withdraw_cryptocurrency', pointers: ['/address', '/params/*'] }
 */
export interface RedactionRule {
  server?: string;
  tool?: string;
  pointers: readonly string[];
}

interface CompiledRule {
  server: string | undefined;
  tool: string | undefined;
  paths: string[][];
}

/**
 * Replaces the values at configured JSON pointers with {@link REDACTED} before arguments are
 * stored. The digest the ledger records is always of the full arguments, so an auditor who
 * holds the original arguments can still prove which call was made.
 */
export class ArgumentRedactor {
  readonly #rules: CompiledRule[];

  /** @throws LedgerError `ledger.invalid_options` naming the rule and pointer that is malformed. */
  constructor(rules: readonly RedactionRule[] = []) {
    this.#rules = rules.map((rule, i) => compileRule(rule, i));
  }

  /** True when no rule is configured (arguments are stored as given). */
  get empty(): boolean {
    return this.#rules.length === 0;
  }

  /** The arguments of a call to `tool` on `server` with every matching pointer redacted; the input is not changed. */
  redact(server: string | null, tool: string | null, args: JsonValue): JsonValue {
    let out = args;
    for (const rule of this.#rules) {
      if (rule.server !== undefined && rule.server !== server) continue;
      if (rule.tool !== undefined && rule.tool !== tool) continue;
      for (const path of rule.paths) out = redactPath(out, path, 0);
    }
    return out;
  }
}

function compileRule(rule: RedactionRule, index: number): CompiledRule {
  const where = `redaction rule [${index}]`;
  if (rule === null || typeof rule !== 'object') {
    throw new LedgerError('ledger.invalid_options', `${where}: expected an object with "pointers"`);
  }
  for (const key of ['server', 'tool'] as const) {
    const value = rule[key];
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      throw new LedgerError('ledger.invalid_options', `${where}: "${key}" must be a non-empty string`);
    }
  }
  if (!Array.isArray(rule.pointers) || rule.pointers.length === 0) {
    throw new LedgerError('ledger.invalid_options', `${where}: "pointers" must be a non-empty list of JSON pointers`);
  }
  return {
    server: rule.server,
    tool: rule.tool,
    paths: rule.pointers.map((pointer, j) => parsePointer(pointer, `${where} pointer [${j}]`)),
  };
}

/** Splits an RFC 6901 JSON pointer into its unescaped reference tokens. */
export function parsePointer(pointer: string, where = 'JSON pointer'): string[] {
  if (typeof pointer !== 'string') {
    throw new LedgerError('ledger.invalid_options', `${where}: expected a string, got ${typeof pointer}`);
  }
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) {
    throw new LedgerError(
      'ledger.invalid_options',
      `${where} "${pointer}": a JSON pointer starts with "/" (RFC 6901), e.g. "/${pointer}"`,
    );
  }
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~[^01]|~$/.test(token)) {
        throw new LedgerError(
          'ledger.invalid_options',
          `${where} "${pointer}": "~" must be escaped as "~0" ("/" as "~1")`,
        );
      }
      return token.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

function redactPath(value: JsonValue, path: readonly string[], depth: number): JsonValue {
  if (depth === path.length) return REDACTED;
  const token = path[depth]!;
  if (Array.isArray(value)) {
    if (token === '*') {
      let copy: JsonValue[] | undefined;
      value.forEach((item, i) => {
        const next = redactPath(item, path, depth + 1);
        if (next !== item) (copy ??= value.slice())[i] = next;
      });
      return copy ?? value;
    }
    if (!/^(0|[1-9][0-9]*)$/.test(token)) return value;
    const i = Number(token);
    if (i >= value.length) return value;
    const next = redactPath(value[i]!, path, depth + 1);
    if (next === value[i]) return value;
    const copy = value.slice();
    copy[i] = next;
    return copy;
  }
  if (value !== null && typeof value === 'object') {
    const keys = token === '*' ? Object.keys(value) : Object.hasOwn(value, token) ? [token] : [];
    let copy: { [key: string]: JsonValue } | undefined;
    for (const key of keys) {
      const item = value[key]!;
      const next = redactPath(item, path, depth + 1);
      if (next !== item) (copy ??= { ...value })[key] = next;
    }
    return copy ?? value;
  }
  return value;
}
