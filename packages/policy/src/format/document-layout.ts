/**
 * How one kind of node is laid out by the formatter:
 * - `order`: the keys in their canonical order; keys not named keep their relative order after them.
 * - `fields`: the layout of the value under a named key.
 * - `each`: the layout of every member (array items, or the values of a map such as `tools`).
 * - `style`: `block` always spreads a non-empty container over lines, one member a line;
 *   `line` keeps it on one line when it fits the width, else spreads it. Nodes without a
 *   layout (arguments, operands) are `line`. A node is on one line only when all of its
 *   descendants may be.
 */
export interface NodeLayout {
  readonly order?: readonly string[];
  readonly fields?: Readonly<Record<string, NodeLayout>>;
  readonly each?: NodeLayout;
  readonly style?: 'block' | 'line';
  /** A `line` array with more items than this is spread, one item a line (and so is its parent). */
  readonly lineMax?: number;
}

/** The kinds of document the formatter knows: policies and policy test files. */
export type FormattedKind = 'policy' | 'test-file';

const CONDITION: NodeLayout = { style: 'line', order: ['path', 'op', 'value', 'flags', 'on_deny'] };
const CONDITIONS: NodeLayout = { style: 'block', each: CONDITION };
/** A rule's conditions: one line for at most one condition, else one condition a line. */
const RULE_CONDITIONS: NodeLayout = { style: 'line', lineMax: 1, each: CONDITION };
const LIMIT: NodeLayout = { style: 'line', order: ['id', 'counter', 'max', 'window', 'scope', 'increment_from', 'on_deny'] };
const LIMITS: NodeLayout = { style: 'block', each: LIMIT };
const DENY_RULE: NodeLayout = { style: 'line', order: ['id', 'description', 'conditions', 'on_deny'], fields: { conditions: RULE_CONDITIONS } };
const APPROVE_RULE: NodeLayout = {
  style: 'line',
  order: ['id', 'description', 'conditions', 'reason', 'approvers', 'timeout'],
  fields: { conditions: RULE_CONDITIONS },
};
const TOOL_RULE: NodeLayout = {
  style: 'block',
  order: ['description', 'shadow', 'action', 'reason', 'require', 'deny_if', 'approve_if', 'limits', 'rate_limit'],
  fields: {
    require: CONDITIONS,
    deny_if: { style: 'block', each: DENY_RULE },
    approve_if: { style: 'block', each: APPROVE_RULE },
    limits: LIMITS,
    rate_limit: { style: 'line', order: ['max', 'window', 'scope', 'counter'] },
  },
};

/**
 * The canonical layout of a policy: the top level in the order a reader needs it (what it is,
 * the default, shadow, what is hidden, server-wide limits, then the tools in the file's own
 * order), each tool rule in evaluation order (DESIGN §2), one condition or limit a line.
 */
export const POLICY_LAYOUT: NodeLayout = {
  style: 'block',
  order: ['$schema', 'version', 'description', 'default', 'shadow', 'hide', 'all_tools', 'tools'],
  fields: {
    all_tools: { style: 'block', order: ['limits'], fields: { limits: LIMITS } },
    tools: { style: 'block', each: TOOL_RULE },
  },
};

const EXPECTATION: NodeLayout = {
  style: 'line',
  order: ['effect', 'rule', 'reason_contains', 'shadow'],
  fields: { shadow: { style: 'line', order: ['effect', 'rule', 'reason_contains'] } },
};
const TEST_CALL: NodeLayout = {
  style: 'line',
  order: ['tool', 'args', 'agent', 'session'],
  fields: { agent: { style: 'line', order: ['id', 'labels'] } },
};

/**
 * The canonical layout of a policy test file: the policy, then the cases; a case reads
 * name, clock, approval, call, expectation; a sequence step reads clock, approval, call,
 * repeat count, expectation. Calls and expectations stay on one line when they fit.
 */
export const TEST_FILE_LAYOUT: NodeLayout = {
  style: 'block',
  order: ['$schema', 'policy', 'cases'],
  fields: {
    cases: {
      style: 'block',
      each: {
        style: 'block',
        order: ['name', 'at', 'approved', 'call', 'expect', 'sequence'],
        fields: {
          call: TEST_CALL,
          expect: EXPECTATION,
          sequence: {
            style: 'block',
            each: { style: 'block', order: ['at', 'approved', 'call', 'repeat', 'expect'], fields: { call: TEST_CALL, expect: EXPECTATION } },
          },
        },
      },
    },
  },
};

/** The layout of a document kind. */
export function layoutOf(kind: FormattedKind): NodeLayout {
  return kind === 'policy' ? POLICY_LAYOUT : TEST_FILE_LAYOUT;
}

/** The layout under `key` of a node laid out by `layout` (undefined: no layout, i.e. data). */
export function childLayout(layout: NodeLayout | undefined, key: string | number): NodeLayout | undefined {
  if (!layout) return undefined;
  if (typeof key === 'string' && layout.fields?.[key]) return layout.fields[key];
  return layout.each;
}

/**
 * The keys of an object in canonical order: the layout's named keys first, in its order,
 * then the others in the order they were written.
 */
export function orderedKeys<K extends string>(keys: readonly K[], layout: NodeLayout | undefined): K[] {
  const order = layout?.order;
  if (!order) return [...keys];
  const rank = (k: string): number => {
    const i = order.indexOf(k);
    return i < 0 ? order.length : i;
  };
  return keys
    .map((k, i) => ({ k, i }))
    .sort((a, b) => rank(a.k) - rank(b.k) || a.i - b.i)
    .map((e) => e.k);
}
