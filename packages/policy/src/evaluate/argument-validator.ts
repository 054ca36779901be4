import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';

const require = createRequire(import.meta.url);

/**
 * The verdict of {@link ArgumentValidator.validate}. `nonFinite` lists the paths of numbers
 * that are not finite (JSON such as `1e999` parses to Infinity), which no schema keyword
 * catches and which the ledger cannot record as they are.
 */
export type ArgumentCheck =
  | { readonly valid: true }
  | { readonly valid: false; readonly message: string; readonly errors: readonly string[]; readonly nonFinite?: readonly string[] };

/**
 * One problem with a call's arguments, located in them: what {@link ArgumentValidator.explain}
 * returns, so that a tool pointing at the arguments as written (a test file's `args`) can put
 * each problem where it is.
 */
export interface ArgumentIssue {
  /** The argument's path, as the message names it: `args.amount`, `args.legs[2].qty`; `args` for the whole. */
  readonly path: string;
  /** JSON pointer of the value (or the key, see `at`) inside the arguments object; `''` for the whole. */
  readonly pointer: string;
  /** Point at the member's key (an argument the tool does not take) or at the value. */
  readonly at: 'key' | 'value';
  /** The problem in words, the same as in a decision's `errors`: `args.amount must be number`. */
  readonly message: string;
}

type AjvInstance = { compile(schema: unknown): ValidateFunction };
type AjvCtor = new (options: Record<string, unknown>) => AjvInstance;

const VALID: ArgumentCheck = Object.freeze({ valid: true });
const MAX_REPORTED = 5;

/**
 * Validates tool arguments against the tool's `inputSchema` with ajv: no type coercion, no
 * defaults written into the arguments, every error collected. Numbers must be finite
 * wherever they are (before the schema is consulted): Infinity satisfies `type: number`,
 * but it is no JSON value, so it could neither be compared honestly nor recorded. Each schema is compiled once
 * (cached by the schema object, so a reloaded tool list compiles afresh). Draft 2020-12 and
 * 2019-09 schemas are compiled as 2020-12, everything else as draft-07 (what most MCP
 * servers emit). A schema that does not compile fails closed: every call is invalid.
 *
 * @example
 * const check = new ArgumentValidator().validate(tool.inputSchema, { amount: '5' });
 * if (!check.valid) console.log(check.message); // 'args.amount must be number'
 */
export class ArgumentValidator {
  readonly #cache = new WeakMap<object, ValidateFunction | Error>();
  #draft07: AjvInstance | undefined;
  #draft2020: AjvInstance | undefined;

  /** Checks `args` (undefined counts as `{}`) against `schema`. */
  validate(schema: object, args: unknown): ArgumentCheck {
    const nonFinite = nonFinitePaths(args);
    if (nonFinite.length > 0) {
      const errors = nonFinite.map((path) => `${path} is not a finite number`);
      return { valid: false, message: `${errors.slice(0, MAX_REPORTED).join('; ')} (a JSON number too large for a double, such as 1e999, parses to Infinity)`, errors, nonFinite };
    }
    const fn = this.#compiled(schema);
    if (fn instanceof Error) {
      return { valid: false, message: `the tool's input schema cannot be used, so no call is accepted: ${fn.message}`, errors: [fn.message] };
    }
    if (fn(args ?? {})) return VALID;
    const errors = (fn.errors ?? []).map(describe);
    const shown = errors.slice(0, MAX_REPORTED).join('; ');
    return { valid: false, message: errors.length > MAX_REPORTED ? `${shown}; and ${errors.length - MAX_REPORTED} more` : shown, errors };
  }

  /**
   * The problems {@link validate} finds, each located in the arguments (empty when they are
   * valid): the same checks and words, for reports that point at where a problem is.
   *
   * @example
   * new ArgumentValidator().explain(schema, { amount: '5' })
   * // [{ path: 'args.amount', pointer: '/amount', at: 'value', message: 'args.amount must be number' }]
   */
  explain(schema: object, args: unknown): ArgumentIssue[] {
    const nonFinite = nonFiniteLocations(args);
    if (nonFinite.length > 0) return nonFinite.map(({ path, pointer }) => ({ path, pointer, at: 'value' as const, message: `${path} is not a finite number` }));
    const fn = this.#compiled(schema);
    if (fn instanceof Error) return [{ path: 'args', pointer: '', at: 'value', message: `the tool's input schema cannot be used, so no call is accepted: ${fn.message}` }];
    if (fn(args ?? {})) return [];
    return (fn.errors ?? []).map(locate);
  }

  #compiled(schema: object): ValidateFunction | Error {
    let fn = this.#cache.get(schema);
    if (fn === undefined) {
      try {
        const { $schema, ...rest } = schema as { $schema?: unknown };
        const modern = typeof $schema === 'string' && /(2020-12|2019-09)/.test($schema);
        fn = (modern ? this.#ajv2020() : this.#ajv07()).compile(rest);
      } catch (error) {
        fn = error instanceof Error ? error : new Error(String(error));
      }
      this.#cache.set(schema, fn);
    }
    return fn;
  }

  #ajv07(): AjvInstance {
    if (!this.#draft07) {
      const Ajv = (require('ajv') as { default: AjvCtor }).default;
      this.#draft07 = new Ajv(OPTIONS);
    }
    return this.#draft07;
  }

  #ajv2020(): AjvInstance {
    if (!this.#draft2020) {
      const Ajv2020 = (require('ajv/dist/2020') as { default: AjvCtor }).default;
      this.#draft2020 = new Ajv2020(OPTIONS);
    }
    return this.#draft2020;
  }
}

// Upstream schemas are not ours to lint: unknown keywords and formats are tolerated, but values
// are never coerced or defaulted, so what is validated is exactly what is forwarded.
const OPTIONS = Object.freeze({ allErrors: true, strict: false, coerceTypes: false, useDefaults: false, removeAdditional: false, validateFormats: false, allowUnionTypes: true });

/**
 * The paths (`args.price`, `args.legs[2].qty`) of every number in `value` that is not finite,
 * Walks with its own stack, so a deeply nested value cannot overflow it.
 */
export function nonFinitePaths(value: unknown): string[] {
  return nonFiniteLocations(value).map((l) => l.path);
}

interface Location {
  readonly path: string;
  readonly pointer: string;
}

function nonFiniteLocations(value: unknown): Location[] {
  const found: Location[] = [];
  if (typeof value === 'number') return Number.isFinite(value) ? found : [{ path: 'args', pointer: '' }];
  if (value === null || typeof value !== 'object') return found;
  const stack: Array<{ v: unknown } & Location> = [{ v: value, path: 'args', pointer: '' }];
  while (stack.length > 0) {
    const { v, path, pointer } = stack.pop()!;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) push(stack, found, v[i], `${path}[${i}]`, `${pointer}/${i}`);
    } else {
      const keys = Object.keys(v as object);
      for (let i = keys.length - 1; i >= 0; i--) push(stack, found, (v as Record<string, unknown>)[keys[i]!], `${path}.${keys[i]!}`, `${pointer}/${escapeToken(keys[i]!)}`);
    }
  }
  return found;
}

function push(stack: Array<{ v: unknown } & Location>, found: Location[], v: unknown, path: string, pointer: string): void {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) found.push({ path, pointer });
  } else if (v !== null && typeof v === 'object') stack.push({ v, path, pointer });
}

function escapeToken(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * A copy of `value` with every non-finite number replaced by its name as a string
 * (`"Infinity"`, `"-Infinity"`, `"NaN"`), so a refused call's arguments can still be
 * recorded and digested (RFC 8785 has no representation for them).
 */
export function finiteCopy(value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(finiteCopy);
  const out: Record<string, unknown> = {};
  // defineProperty: an own `__proto__` key (JSON.parse makes one) must stay a plain key.
  for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: finiteCopy(v), enumerable: true, writable: true, configurable: true });
  return out;
}

function pathOf(instancePath: string): string {
  return instancePath === '' ? 'args' : `args${instancePath.split('/').slice(1).map((t) => (/^\d+$/.test(t) ? `[${t}]` : `.${t.replace(/~1/g, '/').replace(/~0/g, '~')}`)).join('')}`;
}

function locate(e: ErrorObject): ArgumentIssue {
  const path = pathOf(e.instancePath);
  const message = describe(e);
  if (e.keyword === 'additionalProperties') {
    const key = String((e.params as Record<string, unknown>).additionalProperty);
    return { path: `${path}.${key}`, pointer: `${e.instancePath}/${escapeToken(key)}`, at: 'key', message };
  }
  if (e.keyword === 'required') return { path: `${path}.${String((e.params as Record<string, unknown>).missingProperty)}`, pointer: e.instancePath, at: 'value', message };
  return { path, pointer: e.instancePath, at: 'value', message };
}

function describe(e: ErrorObject): string {
  const path = pathOf(e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `${path}.${String(params.missingProperty)} is required`;
    case 'additionalProperties':
      return `${path}.${String(params.additionalProperty)} is not an argument of this tool`;
    case 'type':
      return `${path} must be ${String(params.type).replace(/,/g, ' or ')}`;
    case 'enum':
      return `${path} must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `${path} ${e.message ?? 'is invalid'}`;
  }
}
