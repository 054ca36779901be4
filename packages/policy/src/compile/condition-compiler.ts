import type { ToolCall } from '../evaluate/decision.js';
import type { Condition, Operator } from '../generated/policy-types.js';
import { jsonEqual, jsonType, type JsonType } from '../json-value.js';
import { MISSING, parsePath } from './path-expression.js';
import { compileRegex } from './regex-compiler.js';

/** A condition's outcome: it holds, it does not, or the value was too long to match safely. */
export const Outcome = {
  False: 0,
  True: 1,
  /** A string longer than the pattern-input bound reached a regex: the caller denies (fail closed). */
  TooLong: 2,
} as const;
/** One of {@link Outcome}'s values. */
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** A compiled condition: evaluates one call with no allocation. */
export interface CompiledCondition {
  readonly path: string;
  readonly op: Operator;
  readonly test: (call: ToolCall) => Outcome;
  /** `args.amount lte 1000`: the condition in words, for generated reasons. */
  readonly text: string;
}

/** Compile-time options of conditions. */
export interface ConditionOptions {
  /** Longest string a regex is run on; longer values make the condition {@link Outcome.TooLong}. */
  readonly maxPatternInput: number;
}

/**
 * Compiles one schema-valid condition (DESIGN §2): a missing path makes every operator
 * false except `exists`; comparisons never coerce, and a type mismatch is false —
 * for `neq` and `not_in` too, so that a value of an unexpected type never satisfies a
 * condition by accident.
 *
 * A `regex` runs on the linear-time engine of {@link compileRegex}: matching takes time
 * linear in the value's length (at most `maxPatternInput` characters) for every pattern.
 *
 * @throws SyntaxError for an invalid regex, and its subclass RegexSupportError for a valid
 *   ECMAScript pattern the linear-time engine cannot run (the compiler reports both as TG100).
 */
export function compileCondition(condition: Condition, options: ConditionOptions): CompiledCondition {
  const path = parsePath(condition.path);
  const get = path.get;
  const op = condition.op;
  const value = condition.value as unknown;
  const text = op === 'exists' && value === undefined ? `${condition.path} exists` : `${condition.path} ${op} ${JSON.stringify(value)}`;
  const make = (test: (v: unknown) => boolean): CompiledCondition => ({
    path: condition.path,
    op,
    text,
    test: (call) => {
      const v = get(call);
      return v !== MISSING && test(v) ? Outcome.True : Outcome.False;
    },
  });
  switch (op) {
    case 'eq':
      return make(isScalar(value) ? (v) => v === value : (v) => jsonEqual(v, value));
    case 'neq': {
      const type = jsonType(value);
      return make((v) => jsonType(v) === type && !jsonEqual(v, value));
    }
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      const kind = typeof value;
      const cmp = comparator(op, value as number | string);
      return make((v) => typeof v === kind && cmp(v as number | string));
    }
    case 'in':
    case 'not_in': {
      const members = value as unknown[];
      const scalars = new Set(members.filter(isScalar));
      const composites = members.filter((m) => !isScalar(m));
      const types = new Set<JsonType>(members.map(jsonType));
      const has = (v: unknown): boolean => (isScalar(v) ? scalars.has(v) : composites.some((m) => jsonEqual(m, v)));
      return make(op === 'in' ? has : (v) => types.has(jsonType(v)) && !has(v));
    }
    case 'exists': {
      const want = value === undefined ? true : value === true;
      return {
        path: condition.path,
        op,
        text,
        test: (call) => ((get(call) !== MISSING) === want ? Outcome.True : Outcome.False),
      };
    }
    case 'regex': {
      const re = compileRegex(value as string, condition.flags ?? '', { maxInput: options.maxPatternInput });
      const max = options.maxPatternInput;
      return {
        path: condition.path,
        op,
        text,
        test: (call) => {
          const v = get(call);
          if (typeof v !== 'string') return Outcome.False;
          if (v.length > max) return Outcome.TooLong;
          return re.test(v) ? Outcome.True : Outcome.False;
        },
      };
    }
    case 'contains':
      if (typeof value === 'string') {
        return make((v) => (typeof v === 'string' ? v.includes(value) : Array.isArray(v) && v.includes(value)));
      }
      return make((v) => Array.isArray(v) && v.some((e) => jsonEqual(e, value)));
  }
}

function isScalar(v: unknown): v is string | number | boolean | null {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

function comparator(op: 'lt' | 'lte' | 'gt' | 'gte', b: number | string): (a: number | string) => boolean {
  switch (op) {
    case 'lt':
      return (a) => a < b;
    case 'lte':
      return (a) => a <= b;
    case 'gt':
      return (a) => a > b;
    case 'gte':
      return (a) => a >= b;
  }
}
