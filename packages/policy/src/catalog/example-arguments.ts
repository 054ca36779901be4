/**
 * Example values from JSON Schemas: the arguments a generated test case calls a tool with.
 * Pure and deterministic: the same schema always gives the same value.
 */

type Schema = Readonly<Record<string, unknown>>;

const MAX_DEPTH = 12;

// Strings tried, in order, against a `pattern` when the schema gives no example of its own.
const PATTERN_CANDIDATES = [
  'example', 'EXAMPLE', 'Example', 'example-1', 'example_1', 'BTC/USDT', 'BTC/USDT:USDT', 'BTC', 'abc', 'ABC', 'a', 'A', '1', '42', 'a1',
  'a/1', 'feature/1', 'a-1', 'a.b', '1.0', 'https://example.com', 'agent@example.com', '2026-01-01', '2026-01-01T00:00:00Z', '00000000-0000-4000-8000-000000000000', '0x0',
];

const FORMAT_EXAMPLES: Readonly<Record<string, string>> = {
  'date-time': '2026-01-01T00:00:00Z',
  date: '2026-01-01',
  time: '00:00:00Z',
  email: 'agent@example.com',
  'idn-email': 'agent@example.com',
  hostname: 'example.com',
  'idn-hostname': 'example.com',
  ipv4: '192.0.2.1',
  ipv6: '2001:db8::1',
  uri: 'https://example.com/',
  'uri-reference': 'https://example.com/',
  iri: 'https://example.com/',
  url: 'https://example.com/',
  uuid: '00000000-0000-4000-8000-000000000000',
  duration: 'PT1M',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A value that fits a JSON Schema, for a generated test call: `const`, then the first `enum`
 * value, then `default`, then the first of `examples`, else one built from the type — the
 * smallest number within `minimum`/`maximum`/`multipleOf`, a string of the schema's `format`
 * or one of a few common shapes that match its `pattern`, padded to `minLength`, an array of
 * `minItems` examples, an object with its required properties. Local `$ref`s are followed;
 * `anyOf`/`oneOf` take their first branch; `allOf` members are merged.
 *
 * @param root The document `$ref`s point into (the tool's whole input schema).
 * @example exampleValue({ type: 'integer', minimum: 3 }) // 3
 */
export function exampleValue(schema: unknown, root: unknown = schema): unknown {
  return new ExampleBuilder(isObject(root) ? root : {}).value(schema, 0);
}

/**
 * Arguments for one call of a tool: an object with a value for each required property of
 * its input schema (see {@link exampleValue}); `{}` when nothing is required.
 *
 * @example exampleArguments({ type: 'object', properties: { symbol: { type: 'string' } }, required: ['symbol'] }) // { symbol: 'example' }
 */
export function exampleArguments(inputSchema: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const value = exampleValue(inputSchema, inputSchema);
  return isObject(value) ? value : {};
}

class ExampleBuilder {
  constructor(private readonly root: Schema) {}

  value(raw: unknown, depth: number): unknown {
    if (!isObject(raw) || depth > MAX_DEPTH) return null;
    const schema = this.resolve(raw, depth);
    if ('const' in schema) return schema.const;
    if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
    if ('default' in schema && schema.default !== undefined) return schema.default;
    if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
    const branches = Array.isArray(schema.anyOf) ? schema.anyOf : Array.isArray(schema.oneOf) ? schema.oneOf : undefined;
    if (branches && branches.length > 0) {
      // The first branch that is not just `null` gives the more telling example.
      const chosen = branches.find((b) => !(isObject(b) && b.type === 'null')) ?? branches[0];
      return this.value(chosen, depth + 1);
    }
    switch (this.typeOf(schema)) {
      case 'string':
        return this.string(schema);
      case 'integer':
        return this.number(schema, true);
      case 'number':
        return this.number(schema, false);
      case 'boolean':
        return false;
      case 'null':
        return null;
      case 'array':
        return this.array(schema, depth);
      default:
        return this.object(schema, depth);
    }
  }

  /** Follows `$ref` and merges `allOf` into one schema. */
  private resolve(schema: Schema, depth: number): Schema {
    let out: Record<string, unknown> = { ...schema };
    if (typeof schema.$ref === 'string') {
      const target = this.deref(schema.$ref);
      delete out.$ref;
      if (target && depth < MAX_DEPTH) out = { ...this.resolve(target, depth + 1), ...out };
    }
    if (Array.isArray(schema.allOf)) {
      delete out.allOf;
      for (const member of schema.allOf) {
        if (!isObject(member) || depth >= MAX_DEPTH) continue;
        const m = this.resolve(member, depth + 1);
        out = {
          ...m,
          ...out,
          properties: { ...(isObject(m.properties) ? m.properties : {}), ...(isObject(out.properties) ? out.properties : {}) },
          required: [...new Set([...(Array.isArray(m.required) ? m.required : []), ...(Array.isArray(out.required) ? out.required : [])])],
        };
      }
    }
    return out;
  }

  private deref(ref: string): Schema | undefined {
    if (!ref.startsWith('#')) return undefined;
    let node: unknown = this.root;
    for (const raw of ref.slice(1).split('/').filter((s) => s.length > 0)) {
      const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      if (!isObject(node)) return undefined;
      node = node[key];
    }
    return isObject(node) ? node : undefined;
  }

  private typeOf(schema: Schema): string {
    const t = schema.type;
    if (typeof t === 'string') return t;
    if (Array.isArray(t)) {
      const first = t.find((x) => x !== 'null') ?? t[0];
      if (typeof first === 'string') return first;
    }
    if (isObject(schema.properties) || Array.isArray(schema.required)) return 'object';
    if (schema.items !== undefined || schema.prefixItems !== undefined) return 'array';
    if (typeof schema.pattern === 'string' || typeof schema.format === 'string' || typeof schema.minLength === 'number') return 'string';
    if (typeof schema.minimum === 'number' || typeof schema.maximum === 'number') return 'number';
    return 'object';
  }

  private string(schema: Schema): string {
    const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
    const max = typeof schema.maxLength === 'number' ? schema.maxLength : Infinity;
    const fit = (s: string): string => {
      let out = s.length > 0 ? s : 'x';
      while (out.length < min) out += out;
      return out.slice(0, Math.min(max, Math.max(min, s.length)));
    };
    const formatted = typeof schema.format === 'string' ? FORMAT_EXAMPLES[schema.format] : undefined;
    if (typeof schema.pattern === 'string') {
      let re: RegExp | undefined;
      try {
        re = new RegExp(schema.pattern, 'u');
      } catch {
        re = undefined;
      }
      if (re) {
        for (const candidate of formatted ? [formatted, ...PATTERN_CANDIDATES] : PATTERN_CANDIDATES) {
          const s = fit(candidate);
          if (re.test(s)) return s;
        }
      }
    }
    return fit(formatted ?? 'example');
  }

  private number(schema: Schema, integer: boolean): number {
    const step = typeof schema.multipleOf === 'number' && schema.multipleOf > 0 ? schema.multipleOf : integer ? 1 : undefined;
    let low = -Infinity;
    let lowOpen = false;
    if (typeof schema.minimum === 'number') low = schema.minimum;
    if (typeof schema.exclusiveMinimum === 'number' && schema.exclusiveMinimum >= low) {
      low = schema.exclusiveMinimum;
      lowOpen = true;
    }
    let high = Infinity;
    let highOpen = false;
    if (typeof schema.maximum === 'number') high = schema.maximum;
    if (typeof schema.exclusiveMaximum === 'number' && schema.exclusiveMaximum <= high) {
      high = schema.exclusiveMaximum;
      highOpen = true;
    }
    // 1 is the most ordinary count or amount; otherwise the smallest value the bounds allow.
    let value = 1;
    const fits = (v: number): boolean => (lowOpen ? v > low : v >= low) && (highOpen ? v < high : v <= high);
    if (!fits(value)) {
      if (Number.isFinite(low)) value = lowOpen ? (Number.isFinite(high) && step === undefined ? (low + high) / 2 : low + (step ?? 1)) : low;
      else if (Number.isFinite(high)) value = highOpen ? high - (step ?? 1) : high;
    }
    if (step !== undefined) {
      const snapped = Math.ceil(value / step) * step;
      value = fits(snapped) ? snapped : Math.floor(value / step) * step;
    }
    if (integer) value = Math.round(value);
    return Object.is(value, -0) ? 0 : value;
  }

  private array(schema: Schema, depth: number): unknown[] {
    const min = typeof schema.minItems === 'number' ? schema.minItems : 0;
    const prefix = Array.isArray(schema.prefixItems) ? schema.prefixItems : Array.isArray(schema.items) ? schema.items : [];
    const items = Array.isArray(schema.items) ? schema.additionalItems : schema.items;
    const out: unknown[] = [];
    for (let i = 0; i < min; i++) out.push(this.value(i < prefix.length ? prefix[i] : items, depth + 1));
    return out;
  }

  private object(schema: Schema, depth: number): Record<string, unknown> {
    const properties = isObject(schema.properties) ? schema.properties : {};
    const out: Record<string, unknown> = {};
    for (const name of Array.isArray(schema.required) ? schema.required : []) {
      if (typeof name !== 'string' || name in out) continue;
      const property = properties[name];
      const fallback = isObject(schema.additionalProperties) ? schema.additionalProperties : { type: 'string' };
      out[name] = this.value(property ?? fallback, depth + 1);
    }
    return out;
  }
}
