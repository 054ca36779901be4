import { canonicalJson, sha256Hex } from '../src/canonical-json.js';
import type { BundleSourceFile } from '../src/bundle/bundle-builder.js';
import type { PolicyBundle } from '../src/bundle/bundle-format.js';

/** A small shop policy: reads allowed, refunds capped, wipes denied. */
export const SHOP_POLICY = {
  version: '1',
  default: 'deny',
  tools: {
    read_order: {},
    refund: {
      deny_if: [{ id: 'big-refund', conditions: [{ path: 'args.amount', op: 'gt', value: 100 }], on_deny: 'Refunds above 100 need a manager.' }],
      rate_limit: { max: 2, window: 'minute' },
    },
    wipe: { action: 'deny', reason: 'Never.' },
  },
};

/** The same policy as YAML, keys in another order. */
export const SHOP_POLICY_YAML = `tools:
  wipe: { reason: Never., action: deny }
  refund:
    rate_limit: { window: minute, max: 2 }
    deny_if:
      - conditions: [ { value: 100, op: gt, path: args.amount } ]
        on_deny: Refunds above 100 need a manager.
        id: big-refund
  read_order: {}
default: deny
version: "1"
`;

/** The shop's catalog. */
export const SHOP_CATALOG = {
  server: 'shop',
  tools: [
    { name: 'read_order', inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } },
    { name: 'refund', inputSchema: { type: 'object', properties: { id: { type: 'string' }, amount: { type: 'number' } }, required: ['id', 'amount'] } },
    { name: 'wipe', inputSchema: { type: 'object', properties: {} } },
  ],
};

/** Tests of the shop policy, all passing. */
export const SHOP_TESTS = {
  policy: 'policy.json',
  cases: [
    { name: 'reads are fine', call: { tool: 'read_order', args: { id: '1' } }, expect: 'allow' },
    { name: 'a big refund is denied', call: { tool: 'refund', args: { id: '1', amount: 500 } }, expect: { effect: 'deny', rule: 'big-refund' } },
    {
      name: 'two refunds a minute',
      sequence: [
        { call: { tool: 'refund', args: { id: '1', amount: 5 } }, repeat: 2, expect: 'allow' },
        { call: { tool: 'refund', args: { id: '1', amount: 5 } }, expect: { effect: 'deny', reason_contains: 'rate' } },
      ],
    },
    { name: 'no wipes', call: { tool: 'wipe', args: {} }, expect: { effect: 'deny', reason_contains: 'Never' } },
  ],
};

/** Pretty JSON text of a value. */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** The files of a one-server repository: policy, catalog, tests. */
export function shopFiles(): BundleSourceFile[] {
  return [
    { path: 'policies/shop/policy.json', text: jsonText(SHOP_POLICY) },
    { path: 'policies/shop/catalog.json', text: jsonText(SHOP_CATALOG) },
    { path: 'policies/shop/shop.test.json', text: jsonText(SHOP_TESTS) },
  ];
}

/** The fixed build time of fixture bundles. */
export const BUILT_AT = new Date('2026-11-24T12:00:00.000Z');

/**
 * A copy of a bundle with one file's content replaced and the manifest's hash of it updated,
 * as a signer would see a bundle built from that content (so only later checks can refuse it).
 */
export function withFile(bundle: PolicyBundle, path: string, value: unknown): PolicyBundle {
  const entry = bundle.manifest.files[path]!;
  return {
    ...bundle,
    manifest: { ...bundle.manifest, files: { ...bundle.manifest.files, [path]: { ...entry, sha256: sha256Hex(canonicalJson(value)) } } },
    files: { ...bundle.files, [path]: value },
    signatures: [],
  };
}

/** A policy of `tools` tools, each with a condition, a limit and a test case: for timing. */
export function largeRepository(tools: number): BundleSourceFile[] {
  const policy: { version: string; default: string; tools: Record<string, unknown> } = { version: '1', default: 'deny', tools: {} };
  const catalog: { server: string; tools: unknown[] } = { server: 'big', tools: [] };
  const cases: unknown[] = [];
  for (let i = 0; i < tools; i++) {
    const name = `tool_${i}`;
    policy.tools[name] = {
      require: [{ path: 'args.exchange_id', op: 'in', value: ['binance', 'kraken'] }],
      deny_if: [{ conditions: [{ path: 'args.amount', op: 'gt', value: 1000 + i }] }],
      limits: [{ counter: `c${i}`, max: 10, window: 'minute' }],
    };
    catalog.tools.push({
      name,
      description: `Tool number ${i}.`,
      inputSchema: { type: 'object', properties: { exchange_id: { type: 'string' }, amount: { type: 'number' } }, required: ['exchange_id', 'amount'] },
    });
    cases.push({ name: `${name} allows a small amount`, call: { tool: name, args: { exchange_id: 'binance', amount: 1 } }, expect: 'allow' });
    cases.push({ name: `${name} denies a large amount`, call: { tool: name, args: { exchange_id: 'binance', amount: 5000 + i } }, expect: 'deny' });
  }
  return [
    { path: 'policies/big/policy.json', text: jsonText(policy) },
    { path: 'policies/big/catalog.json', text: jsonText(catalog) },
    { path: 'policies/big/big.test.json', text: jsonText({ cases }) },
  ];
}
