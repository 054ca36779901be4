/** A small, valid policy: reads allowed, big refunds denied, wipes denied outright. */
export const SHOP_POLICY = {
  version: '1',
  default: 'deny',
  tools: {
    read_order: {},
    refund: {
      deny_if: [
        {
          conditions: [{ path: 'args.amount', op: 'gt', value: 100 }],
          on_deny: 'Refunds over 100 need a manager.',
        },
      ],
    },
    wipe: { action: 'deny', reason: 'Never wipe the shop.' },
  },
};

/** The catalog of the shop server, as `tollgate catalog pull` would snapshot it. */
export const SHOP_CATALOG = {
  tools: [
    { name: 'read_order', inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } },
    { name: 'refund', inputSchema: { type: 'object', properties: { amount: { type: 'number' } }, required: ['amount'] } },
    { name: 'wipe', inputSchema: { type: 'object', properties: {} } },
  ],
};

/** Tests that hit every rule of {@link SHOP_POLICY} and pass. */
export const SHOP_TESTS_FULL = {
  policy: 'policy.json',
  cases: [
    { name: 'orders are readable', call: { tool: 'read_order', args: { id: '1' } }, expect: 'allow' },
    { name: 'a small refund is allowed', call: { tool: 'refund', args: { amount: 5 } }, expect: 'allow' },
    {
      name: 'a big refund needs a manager',
      call: { tool: 'refund', args: { amount: 500 } },
      expect: { effect: 'deny', rule: 'tools.refund.deny_if[0]', reason_contains: 'manager' },
    },
    { name: 'wipe is denied', call: { tool: 'wipe' }, expect: { effect: 'deny', rule: 'tools.wipe.action' } },
    { name: 'unknown tools are denied', call: { tool: 'drop_tables' }, expect: { effect: 'deny', rule: 'default' } },
  ],
};

/** Passing tests that leave `tools.wipe.action` and `default` uncovered. */
export const SHOP_TESTS_PARTIAL = {
  cases: [
    { name: 'orders are readable', call: { tool: 'read_order', args: { id: '1' } }, expect: 'allow' },
    { name: 'a small refund is allowed', call: { tool: 'refund', args: { amount: 5 } }, expect: 'allow' },
    {
      name: 'a big refund needs a manager',
      call: { tool: 'refund', args: { amount: 500 } },
      expect: { effect: 'deny', reason_contains: 'manager' },
    },
  ],
};

/** One passing and one failing case: the failing one expects a small refund to be denied. */
export const SHOP_TESTS_FAILING = {
  cases: [
    { name: 'orders are readable', call: { tool: 'read_order', args: { id: '1' } }, expect: 'allow' },
    {
      name: 'small refunds need a manager too',
      call: {
        tool: 'refund',
        args: { amount: 5 },
        agent: { id: 'clerk-7', labels: { team: 'front-desk' } },
        session: { id: 'sess-42' },
      },
      expect: { effect: 'deny', rule: 'tools.refund.deny_if[0]', reason_contains: 'manager' },
    },
  ],
};

/** A policy that breaks the schema three times, each on its own line. */
export const SCHEMA_INVALID_POLICY = `{
  "version": "2",
  "default": "maybe",
  "tools": { "x": { "action": "nope" } }
}
`;

/** A policy file that is not well-formed JSON (the closing braces are missing). */
export const MALFORMED_POLICY = `{
  "version": "1",
  "default": "deny",
  "tools": { "x": {}
`;
