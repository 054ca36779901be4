import { parsePath } from '../compile/path-expression.js';
import { isJsonObject, jsonEqual } from '../json-value.js';
import type { CatalogTool } from './catalog.js';

// What lint asks of a tool's input schema: the types, enum values and requiredness of the
// value at an argument path (`args.order.legs[0].side`), through properties, pattern and
// additional properties, items and prefix items, and the compositions (allOf, anyOf, oneOf,
// $ref within the schema), within fixed bounds on the work it does.

/** A JSON Schema type name. */
export type SchemaType = 'string' | 'number' | 'integer' | 'boolean' | 'null' | 'array' | 'object';

const SCHEMA_TYPES: ReadonlySet<string> = new Set(['string', 'number', 'integer', 'boolean', 'null', 'array', 'object']);

/** One step of an argument path resolved against an input schema. */
export interface ArgumentStep {
  /** The property name or array index of this step. */
  readonly segment: string | number;
  /** The types the value at this step may have; null when the schema does not say. */
  readonly types: readonly SchemaType[] | null;
  /** Whether every valid call must have this step (the property is required, or the index is below minItems). */
  readonly required: boolean;
}

/**
 * Where an argument path leads in a tool's input schema:
 * - `found`: the schema describes the value (its `types`, maybe an `enum`);
 * - `open`: the path enters a part of the schema that does not describe its contents
 *   (no `properties`, an untyped value, `additionalProperties: true`), so nothing is known below;
 * - `unknown`: the schema rules the path out at step `failedAt` (see `problem`).
 */
export interface ArgumentResolution {
  readonly status: 'found' | 'open' | 'unknown';
  /** The steps resolved, in order (for `unknown`, the steps before the failing one). */
  readonly steps: readonly ArgumentStep[];
  /** Types of the value at the end of the path; null when unknown or open. */
  readonly types: readonly SchemaType[] | null;
  /** Every value the argument may take, when the schema lists them (`enum`/`const`). */
  readonly enum?: readonly unknown[];
  /** For arrays: the types their elements may have; null when the schema does not say. */
  readonly itemTypes: readonly SchemaType[] | null;
  /** True when every step is required: a valid call always carries the value. */
  readonly required: boolean;
  /** For `unknown`: the index of the segment the schema rules out. */
  readonly failedAt?: number;
  /** For `unknown`: why. */
  readonly problem?: 'no-such-property' | 'not-an-object' | 'not-an-array' | 'index-out-of-range';
  /** For `no-such-property`: the property names the schema does list there (for suggestions). */
  readonly known?: readonly string[];
  /** For `not-an-object`/`not-an-array`: the types the value there has. */
  readonly actual?: readonly SchemaType[];
}

// A conjunction of schemas that all apply to one value; a union of these is one value's schema.
type Alternative = readonly Record<string, unknown>[];

const MAX_ALTERNATIVES = 64;
const MAX_DEPTH = 24;
const MAX_EXPANSIONS = 2000;

class Expander {
  /** Schema nodes one resolution may expand; recursive unions could otherwise take exponential time. */
  #budget = MAX_EXPANSIONS;

  constructor(readonly root: Readonly<Record<string, unknown>>) {}

  /** Every alternative a schema allows, with $ref, allOf, anyOf and oneOf expanded; null when too complex to tell. */
  expand(schema: unknown, depth = 0): Alternative[] | null {
    if (schema === false) return [];
    if (!isJsonObject(schema)) return [[]];
    if (depth > MAX_DEPTH || --this.#budget < 0) return null;
    let alts: Alternative[] | null = [[schema]];
    if (typeof schema.$ref === 'string') {
      const target = this.deref(schema.$ref);
      alts = product(alts, target === undefined ? [[]] : this.expand(target, depth + 1));
    }
    if (Array.isArray(schema.allOf)) {
      for (const member of schema.allOf) {
        if (alts === null || alts.length === 0) return alts;
        alts = product(alts, this.expand(member, depth + 1));
      }
    }
    for (const key of ['anyOf', 'oneOf'] as const) {
      const members = schema[key];
      if (!Array.isArray(members)) continue;
      if (alts === null || alts.length === 0) return alts;
      const union: Alternative[] = [];
      for (const member of members) {
        const m = this.expand(member, depth + 1);
        if (m === null) return null;
        union.push(...m);
        if (union.length > MAX_ALTERNATIVES) return null;
      }
      alts = product(alts, union);
    }
    return alts;
  }

  /** Resolves a reference inside the tool's own schema (`#`, `#/$defs/x`, `#/definitions/x`, any local pointer). */
  deref(ref: string): unknown {
    if (!ref.startsWith('#')) return undefined;
    let v: unknown = this.root;
    let fragment = ref.slice(1);
    try {
      fragment = decodeURIComponent(fragment);
    } catch {
      return undefined;
    }
    if (fragment === '') return v;
    if (!fragment.startsWith('/')) return undefined;
    for (const raw of fragment.slice(1).split('/')) {
      const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (Array.isArray(v) && /^\d+$/.test(key)) v = v[Number(key)];
      else if (isJsonObject(v) && Object.hasOwn(v, key)) v = v[key];
      else return undefined;
    }
    return v;
  }
}

function product(left: Alternative[] | null, right: Alternative[] | null): Alternative[] | null {
  if (left === null || right === null) return null;
  if (left.length * right.length > MAX_ALTERNATIVES) return null;
  const out: Alternative[] = [];
  for (const l of left) for (const r of right) out.push([...l, ...r]);
  return out;
}

function jsonSchemaTypeOf(v: unknown): SchemaType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v === 'string' ? 'string' : typeof v === 'boolean' ? 'boolean' : 'object';
}

function intersectTypes(a: Set<SchemaType> | null, b: Set<SchemaType>): Set<SchemaType> {
  if (a === null) return b;
  const out = new Set<SchemaType>();
  for (const t of a) {
    if (b.has(t)) out.add(t);
    else if (t === 'integer' && b.has('number')) out.add('integer');
    else if (t === 'number' && b.has('integer')) out.add('integer');
  }
  return out;
}

/** The types a conjunction allows (null: any), from `type`, `const` and `enum`. */
function alternativeTypes(alt: Alternative): Set<SchemaType> | null {
  let types: Set<SchemaType> | null = null;
  for (const s of alt) {
    const t = s.type;
    if (typeof t === 'string' || Array.isArray(t)) {
      const listed = new Set<SchemaType>();
      for (const x of typeof t === 'string' ? [t] : t) if (typeof x === 'string' && SCHEMA_TYPES.has(x)) listed.add(x as SchemaType);
      types = intersectTypes(types, listed);
    }
    const values = constOrEnum(s);
    if (values) types = intersectTypes(types, new Set(values.map(jsonSchemaTypeOf)));
  }
  return types;
}

function constOrEnum(s: Record<string, unknown>): unknown[] | undefined {
  if (Object.hasOwn(s, 'const')) return [s.const];
  return Array.isArray(s.enum) ? s.enum : undefined;
}

function alternativeEnum(alt: Alternative): unknown[] | undefined {
  let values: unknown[] | undefined;
  for (const s of alt) {
    const v = constOrEnum(s);
    if (!v) continue;
    values = values === undefined ? [...v] : values.filter((x) => v.some((y) => jsonEqual(x, y)));
  }
  return values;
}

function allows(types: Set<SchemaType> | null, type: SchemaType): boolean {
  return types === null || types.has(type) || (type === 'number' && types.has('integer'));
}

function typeList(types: Set<SchemaType> | null): SchemaType[] | null {
  return types === null ? null : [...types].sort();
}

function unionTypes(sets: readonly (Set<SchemaType> | null)[]): Set<SchemaType> | null {
  const out = new Set<SchemaType>();
  for (const s of sets) {
    if (s === null) return null;
    for (const t of s) out.add(t);
  }
  return out;
}

function matchesPattern(pattern: string, key: string): boolean {
  try {
    return new RegExp(pattern, 'u').test(key);
  } catch {
    return false;
  }
}

interface StepOutcome {
  readonly next: Alternative[];
  readonly required: boolean;
  readonly open: boolean;
}

interface StepFailure {
  readonly problem: NonNullable<ArgumentResolution['problem']>;
  readonly known?: readonly string[];
  readonly actual?: readonly SchemaType[];
}

function propertyStep(x: Expander, alts: readonly Alternative[], key: string): StepOutcome | StepFailure | null {
  const next: Alternative[] = [];
  let required = true;
  let open = false;
  let survivors = 0;
  let unknown = false;
  const known = new Set<string>();
  const actual = new Set<SchemaType>();
  for (const alt of alts) {
    const types = alternativeTypes(alt);
    if (!allows(types, 'object')) {
      for (const t of types ?? []) actual.add(t);
      continue;
    }
    let sub: Alternative[] | null = [[]];
    let found = false;
    let closed = false;
    let listed = false;
    let explicitlyOpen = false;
    for (const s of alt) {
      const props = isJsonObject(s.properties) ? s.properties : undefined;
      if (props) {
        listed = true;
        for (const k of Object.keys(props)) known.add(k);
      }
      if (props && Object.hasOwn(props, key)) {
        sub = product(sub, x.expand(props[key]));
        found = true;
        continue;
      }
      let matched = false;
      if (isJsonObject(s.patternProperties)) {
        listed = true;
        for (const [pattern, schema] of Object.entries(s.patternProperties)) {
          if (matchesPattern(pattern, key)) {
            sub = product(sub, x.expand(schema));
            matched = true;
          }
        }
      }
      if (matched) {
        found = true;
        continue;
      }
      const extra = s.additionalProperties;
      if (extra === false) closed = true;
      else if (isJsonObject(extra)) {
        sub = product(sub, x.expand(extra));
        found = true;
      } else if (extra === true) explicitlyOpen = true;
    }
    if (sub === null) return null;
    const requiredHere = alt.some((s) => Array.isArray(s.required) && s.required.includes(key));
    if (closed || (!found && listed && !explicitlyOpen)) {
      unknown = true;
      continue;
    }
    survivors++;
    if (!requiredHere) required = false;
    if (found) next.push(...sub);
    else {
      open = true;
      next.push([]);
    }
  }
  if (survivors === 0) {
    if (unknown) return { problem: 'no-such-property', known: [...known].sort() };
    return { problem: 'not-an-object', actual: [...actual].sort() };
  }
  if (next.length > MAX_ALTERNATIVES) return null;
  return { next, required, open };
}

function indexStep(x: Expander, alts: readonly Alternative[], index: number): StepOutcome | StepFailure | null {
  const next: Alternative[] = [];
  let required = true;
  let open = false;
  let survivors = 0;
  let outOfRange = false;
  const actual = new Set<SchemaType>();
  for (const alt of alts) {
    const types = alternativeTypes(alt);
    if (!allows(types, 'array')) {
      for (const t of types ?? []) actual.add(t);
      continue;
    }
    let sub: Alternative[] | null = [[]];
    let found = false;
    let closed = false;
    let minItems = 0;
    for (const s of alt) {
      if (typeof s.minItems === 'number') minItems = Math.max(minItems, s.minItems);
      if (typeof s.maxItems === 'number' && s.maxItems <= index) closed = true;
      // Draft 2020-12 spells tuples prefixItems + items; draft-07 spells them items[] + additionalItems.
      const tuple = Array.isArray(s.prefixItems) ? s.prefixItems : Array.isArray(s.items) ? s.items : undefined;
      const rest = Array.isArray(s.prefixItems) ? s.items : Array.isArray(s.items) ? s.additionalItems : s.items;
      if (tuple && index < tuple.length) {
        sub = product(sub, x.expand(tuple[index]));
        found = true;
      } else if (rest === false) {
        closed = true;
      } else if (isJsonObject(rest)) {
        sub = product(sub, x.expand(rest));
        found = true;
      }
    }
    if (sub === null) return null;
    if (closed) {
      outOfRange = true;
      continue;
    }
    survivors++;
    if (!(minItems > index)) required = false;
    if (found) next.push(...sub);
    else {
      open = true;
      next.push([]);
    }
  }
  if (survivors === 0) return outOfRange ? { problem: 'index-out-of-range' } : { problem: 'not-an-array', actual: [...actual].sort() };
  if (next.length > MAX_ALTERNATIVES) return null;
  return { next, required, open };
}

function elementTypes(x: Expander, alts: readonly Alternative[]): Set<SchemaType> | null {
  const sets: (Set<SchemaType> | null)[] = [];
  for (const alt of alts) {
    if (!allows(alternativeTypes(alt), 'array')) continue;
    const schemas: unknown[] = [];
    for (const s of alt) {
      if (Array.isArray(s.prefixItems)) schemas.push(...s.prefixItems);
      if (Array.isArray(s.items)) schemas.push(...s.items);
      else if (s.items !== undefined) schemas.push(s.items);
      if (Array.isArray(s.items) && s.additionalItems !== undefined) schemas.push(s.additionalItems);
    }
    if (schemas.length === 0) return null;
    for (const schema of schemas) {
      const expanded = x.expand(schema);
      if (expanded === null) return null;
      for (const e of expanded) sets.push(alternativeTypes(e));
    }
  }
  return unionTypes(sets);
}

const UNKNOWN_SHAPE: ArgumentResolution = Object.freeze({ status: 'open', steps: [], types: null, itemTypes: null, required: false });

/**
 * Resolves an argument path (`args.order.legs[0].qty`, or its segments) in a tool's input
 * schema: follows `properties`, `patternProperties`, `additionalProperties`, `items`,
 * `prefixItems` (and draft-07 tuples), local `$ref`s (`#/$defs/…`, `#/definitions/…`), and
 * unions (`anyOf`/`oneOf`, and `allOf` as an intersection). Reports the types at the end,
 * the enum when there is one, and whether every step is required. A path the schema does
 * not describe (no `properties` listed, an untyped value) is `open`, not `unknown`; a
 * schema too complex to expand (more than 64 alternatives, deep recursion) is `open` too.
 *
 * @example
 * resolveArgumentPath(tool, 'args.amount') // { status: 'found', types: ['number'], required: true, … }
 */
export function resolveArgumentPath(tool: Pick<CatalogTool, 'inputSchema'>, path: string | readonly (string | number)[]): ArgumentResolution {
  let segments: readonly (string | number)[];
  if (typeof path === 'string') {
    try {
      const parsed = parsePath(path);
      if (parsed.root !== 'args') return UNKNOWN_SHAPE;
      segments = parsed.segments;
    } catch {
      return UNKNOWN_SHAPE;
    }
  } else {
    segments = path;
  }
  const x = new Expander(tool.inputSchema);
  const expanded = x.expand(tool.inputSchema);
  if (expanded === null) return UNKNOWN_SHAPE;
  let alts: Alternative[] = expanded;
  const steps: ArgumentStep[] = [];
  let required = true;
  let open = false;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const outcome: StepOutcome | StepFailure | null = typeof segment === 'number' ? indexStep(x, alts, segment) : propertyStep(x, alts, segment);
    if (outcome === null) return { status: 'open', steps, types: null, itemTypes: null, required: false };
    if ('problem' in outcome) {
      return {
        status: 'unknown',
        steps,
        types: null,
        itemTypes: null,
        required: false,
        failedAt: i,
        problem: outcome.problem,
        ...(outcome.known ? { known: outcome.known } : {}),
        ...(outcome.actual ? { actual: outcome.actual } : {}),
      };
    }
    alts = outcome.next;
    required &&= outcome.required;
    open ||= outcome.open;
    steps.push({ segment, types: open ? null : typeList(unionTypes(alts.map(alternativeTypes))), required: outcome.required });
  }
  if (open) return { status: 'open', steps, types: null, itemTypes: null, required };
  const types = unionTypes(alts.map(alternativeTypes));
  const enums = alts.map(alternativeEnum);
  const allEnumerated = enums.length > 0 && enums.every((e) => e !== undefined);
  const values: unknown[] = [];
  if (allEnumerated) for (const e of enums) for (const v of e!) if (!values.some((w) => jsonEqual(w, v))) values.push(v);
  return {
    status: 'found',
    steps,
    types: typeList(types),
    ...(allEnumerated ? { enum: values } : {}),
    itemTypes: typeList(elementTypes(x, alts)),
    required,
  };
}
