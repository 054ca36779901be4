import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';

const require = createRequire(import.meta.url);

/** The verdict of {@link ArgumentValidator.validate}. */
export type ArgumentCheck = { readonly valid: true } | { readonly valid: false; readonly message: string; readonly errors: readonly string[] };

type AjvInstance = { compile(schema: unknown): ValidateFunction };
type AjvCtor = new (options: Record<string, unknown>) => AjvInstance;

const VALID: ArgumentCheck = Object.freeze({ valid: true });
const MAX_REPORTED = 5;

/**
 * Validates tool arguments against the tool's `inputSchema` with ajv: no type coercion, no
 * defaults written into the arguments, every error collected. Each schema is compiled once
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
    const fn = this.#compiled(schema);
    if (fn instanceof Error) {
      return { valid: false, message: `the tool's input schema cannot be used, so no call is accepted: ${fn.message}`, errors: [fn.message] };
    }
    if (fn(args ?? {})) return VALID;
    const errors = (fn.errors ?? []).map(describe);
    const shown = errors.slice(0, MAX_REPORTED).join('; ');
    return { valid: false, message: errors.length > MAX_REPORTED ? `${shown}; and ${errors.length - MAX_REPORTED} more` : shown, errors };
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

function describe(e: ErrorObject): string {
  const path = e.instancePath === '' ? 'args' : `args${e.instancePath.split('/').slice(1).map((t) => (/^\d+$/.test(t) ? `[${t}]` : `.${t.replace(/~1/g, '/').replace(/~0/g, '~')}`)).join('')}`;
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
