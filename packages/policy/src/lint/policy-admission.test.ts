import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BUILT_AT, jsonText, SHOP_CATALOG, SHOP_POLICY, SHOP_POLICY_YAML, shopFiles, withFile } from '../../test/bundle-fixtures.js';
import { buildBundle } from '../bundle/bundle-builder.js';
import { BundleError } from '../bundle/bundle-error.js';
import type { PolicyBundle } from '../bundle/bundle-format.js';
import { signBundle } from '../bundle/bundle-signer.js';
import { verifyBundle } from '../bundle/bundle-verifier.js';
import { generateSigningKey } from '../bundle/signing-key.js';
import { parseCatalog } from '../catalog/catalog.js';
import { formatDiagnostic } from '../diagnostic.js';
import { admitPolicy, policyFileConflict } from './policy-admission.js';
import { POLICY_FILE_NAMES } from '../policy-repository-layout.js';
import { lintPolicy } from './policy-linter.js';

const REPO = new URL('../../../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, REPO), 'utf8');

/** The shop policy with a ReDoS-prone regex on an order id. */
const REDOS_POLICY = { ...SHOP_POLICY, tools: { ...SHOP_POLICY.tools, read_order: { require: [{ path: 'args.id', op: 'regex', value: '^(a+)+$' }] } } };
const REDOS_TEXT = jsonText(REDOS_POLICY);
const CATALOG = { text: jsonText(SHOP_CATALOG), file: 'policies/shop/catalog.json' };
const FILE = 'policies/shop/policy.json';

/** Policies lint finds errors in, each with what a source must refuse it for. */
const REFUSED: readonly [what: string, text: string, code: string][] = [
  ['a ReDoS-prone regex', REDOS_TEXT, 'TG101'],
  ['a tool the catalog does not have', jsonText({ ...SHOP_POLICY, tools: { ...SHOP_POLICY.tools, refnud: {} } }), 'TG200'],
  ['an argument the tool does not have', jsonText({ ...SHOP_POLICY, tools: { ...SHOP_POLICY.tools, read_order: { require: [{ path: 'args.order', op: 'exists' }] } } }), 'TG201'],
  ['a condition that can never hold', jsonText({ ...SHOP_POLICY, tools: { ...SHOP_POLICY.tools, read_order: { require: [{ path: 'args.id', op: 'gt', value: 5 }] } } }), 'TG202'],
  ['a lookbehind', jsonText({ ...SHOP_POLICY, tools: { ...SHOP_POLICY.tools, read_order: { require: [{ path: 'args.id', op: 'regex', value: '(?<=x)y' }] } } }), 'TG100'],
  ['a zero limit', jsonText({ ...SHOP_POLICY, tools: { ...SHOP_POLICY.tools, read_order: { rate_limit: { max: 0, window: 'minute' } } } }), 'TG102'],
  ['a schema error', jsonText({ ...SHOP_POLICY, default: 'maybe' }), 'TG010'],
  ['a syntax error', '{ "version": "1", ', 'TG001'],
];

describe('admitPolicy', () => {
  it('admits a lint-clean policy, compiled with the given options', () => {
    const admitted = admitPolicy({ text: read('policies/ccxt/policy.json'), file: 'policies/ccxt/policy.json', catalog: { text: read('policies/ccxt/catalog.json'), file: 'policies/ccxt/catalog.json' } }, { server: 'ccxt', revision: 7 });
    expect(admitted.errors).toEqual([]);
    expect(admitted.policy?.server).toBe('ccxt');
    expect(admitted.policy?.revision).toBe(7);
    expect(admitted.policy?.decide({ tool: 'set_trading_leverage', args: {} }).effect).toBe('hidden');
  });

  it.each(REFUSED)('refuses %s with lint\'s code and file:line:col', (_what, text, code) => {
    const admitted = admitPolicy({ text, file: FILE, catalog: CATALOG });
    expect(admitted.policy).toBeUndefined();
    expect(admitted.errors.map((d) => d.code)).toContain(code);
    // Exactly lint's error findings: the sources and `tollgate lint` cannot drift apart.
    const { catalog } = parseCatalog(CATALOG.text, CATALOG.file);
    const linted = lintPolicy(text, FILE, { catalog: catalog!, catalogFile: CATALOG.file });
    expect(admitted.errors.map(formatDiagnostic)).toEqual(linted.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic));
  });

  it('places the ReDoS finding where lint does', () => {
    const admitted = admitPolicy({ text: REDOS_TEXT, file: FILE, catalog: CATALOG });
    const line = REDOS_TEXT.split('\n').findIndex((l) => l.includes('^(a+)+$')) + 1;
    expect(admitted.errors).toHaveLength(1);
    expect(formatDiagnostic(admitted.errors[0]!)).toMatch(new RegExp(`^policies/shop/policy\\.json:${line}:\\d+: error TG101 regex "\\^\\(a\\+\\)\\+\\$" is open to catastrophic backtracking`));
  });

  it('without a catalog, the catalog checks are skipped (as lint does); with an invalid one, it is refused (TG206)', () => {
    const unknownTool = jsonText({ ...SHOP_POLICY, tools: { ...SHOP_POLICY.tools, refnud: {} } });
    expect(admitPolicy({ text: unknownTool, file: FILE }).policy).toBeDefined();
    const broken = admitPolicy({ text: jsonText(SHOP_POLICY), file: FILE, catalog: { text: '{ "tools": "none" }', file: CATALOG.file } });
    expect(broken.policy).toBeUndefined();
    expect(broken.errors.map((d) => [d.code, d.file])).toEqual([['TG206', CATALOG.file]]);
  });

  it('a warning does not refuse a policy', () => {
    const warned = jsonText({ ...SHOP_POLICY, tools: { ...SHOP_POLICY.tools, read_order: { deny_if: [{ conditions: [{ path: 'args.id', op: 'in', value: [] }] }] } } });
    const admitted = admitPolicy({ text: warned, file: FILE, catalog: CATALOG });
    expect(admitted.diagnostics.map((d) => d.code)).toContain('TG106');
    expect(admitted.policy).toBeDefined();
  });

  it('refuses a policy whose directory holds another policy file (TG004), placed on the one readers would pick', () => {
    const admitted = admitPolicy({ text: SHOP_POLICY_YAML, file: 'policies/shop/policy.yaml', siblings: ['policies/shop/policy.json'] });
    expect(admitted.policy).toBeUndefined();
    expect(admitted.errors.map(formatDiagnostic)).toEqual([
      'policies/shop/policy.json:1:1: error TG004 the server directory has 2 policy files (policy.json, policy.yaml): it must hold exactly one, and which of them would be enforced is ambiguous, so none is (keep one policy file per server directory: delete policies/shop/policy.yaml, or policies/shop/policy.json)',
    ]);
  });
});

describe('policyFileConflict', () => {
  it('orders by the one list of policy file names', () => {
    expect(POLICY_FILE_NAMES).toEqual(['policy.json', 'policy.yaml', 'policy.yml']);
    expect(policyFileConflict(['p/x/policy.yml', 'p/x/policy.yaml'])?.file).toBe('p/x/policy.yaml');
    expect(policyFileConflict(['p/x/policy.yml'])).toBeUndefined();
  });
});

describe('bundles admit their policies as lint does', () => {
  const key = generateSigningKey();
  const input = (files = shopFiles()) => ({ files, revision: 3, gitCommit: 'b'.repeat(40), createdAt: BUILT_AT, expiresAt: null });
  const buildError = (files: ReturnType<typeof shopFiles>): BundleError => {
    try {
      buildBundle(input(files));
    } catch (error) {
      if (error instanceof BundleError) return error;
      throw error;
    }
    throw new Error('the bundle was built');
  };

  it('bundle build refuses the ReDoS policy (TG101) and two policy files for one server (TG004)', () => {
    const redos = buildError(shopFiles().map((f) => (f.path === FILE ? { ...f, text: REDOS_TEXT } : f)));
    expect(redos.diagnostics.map((d) => d.code)).toEqual(['TG101']);
    expect(redos.message).toContain(`${FILE}:`);
    const two = buildError([...shopFiles(), { path: 'policies/shop/policy.yaml', text: SHOP_POLICY_YAML }]);
    expect(two.diagnostics.map((d) => [d.code, d.file])).toEqual([['TG004', FILE]]);
  });

  it('bundle build checks a policy against its catalog (TG200)', () => {
    const error = buildError(shopFiles().map((f) => (f.path === FILE ? { ...f, text: jsonText({ ...SHOP_POLICY, tools: { ...SHOP_POLICY.tools, refnud: {} } }) } : f)));
    expect(error.diagnostics.map((d) => d.code)).toEqual(['TG200']);
  });

  it('bundle verify refuses a signed bundle whose policy lint rejects, with the code; a lint-clean one is accepted', () => {
    const options = { trust: [{ public_key: key.publicKeyPem }], threshold: 1, now: BUILT_AT.getTime() + 1000 };
    expect(verifyBundle(signBundle(buildBundle(input()), key.privateKeyPem), options).ok).toBe(true);
    const bad = signBundle(withFile(buildBundle(input()), FILE, REDOS_POLICY), key.privateKeyPem);
    const v = verifyBundle(bad, options);
    if (v.ok) throw new Error('accepted');
    expect(v.refusal.code).toBe('policy.invalid');
    expect(v.refusal.diagnostics?.map((d) => [d.code, d.file, d.pointer])).toEqual([['TG101', FILE, '/tools/read_order/require/0/value']]);
    expect(v.refusal.message).toMatch(/^policies\/shop\/policy\.json:1:\d+: error TG101 regex "\^\(a\+\)\+\$" is open to catastrophic backtracking.*\[at \/tools\/read_order\/require\/0\/value\]/);
  });

  it('bundle verify refuses two policies for one server (TG004)', () => {
    const options = { trust: [{ public_key: key.publicKeyPem }], threshold: 1, now: BUILT_AT.getTime() + 1000 };
    const base = buildBundle(input());
    const yamlPath = 'policies/shop/policy.yaml';
    const two: PolicyBundle = {
      ...base,
      files: { ...base.files, [yamlPath]: structuredClone(base.files[FILE]) },
      manifest: { ...base.manifest, files: { ...base.manifest.files, [yamlPath]: { ...base.manifest.files[FILE]!, kind: 'policy', server: 'shop' } } },
    };
    const v = verifyBundle(signBundle(two, key.privateKeyPem), options);
    if (v.ok) throw new Error('accepted');
    expect(v.refusal.code).toBe('policy.invalid');
    expect(v.refusal.diagnostics?.map((d) => [d.code, d.file])).toEqual([['TG004', FILE]]);
  });
});
