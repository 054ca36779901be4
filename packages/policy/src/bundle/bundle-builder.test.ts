import { describe, expect, it } from 'vitest';
import { BUILT_AT, SHOP_POLICY, SHOP_POLICY_YAML, SHOP_TESTS, jsonText, largeRepository, shopFiles } from '../../test/bundle-fixtures.js';
import { canonicalDigest } from '../canonical-json.js';
import { buildBundle, buildBundleWithSources, type BuildBundleInput } from './bundle-builder.js';
import { compileBundle } from './bundle-compiler.js';
import { BundleError } from './bundle-error.js';
import { BUNDLE_FORMAT, bundleDigest, classifyBundlePath, parseBundle, serializeBundle } from './bundle-format.js';
import { signBundle } from './bundle-signer.js';
import { verifyBundleText } from './bundle-verifier.js';
import { generateSigningKey } from './signing-key.js';

function input(files: BuildBundleInput['files'], extra: Partial<BuildBundleInput> = {}): BuildBundleInput {
  return { files, revision: 3, gitCommit: 'b'.repeat(40), createdAt: BUILT_AT, expiresAt: null, ...extra };
}

function buildError(fn: () => unknown): BundleError {
  try {
    fn();
  } catch (error) {
    if (error instanceof BundleError) return error;
    throw error;
  }
  throw new Error('expected a BundleError');
}

describe('buildBundle', () => {
  it('writes the manifest of the contract: format, revision, commit, times, per-file kind/server/sha256', () => {
    const expiresAt = new Date('2026-12-24T12:00:00.000Z');
    const bundle = buildBundle(input(shopFiles(), { expiresAt }));
    expect(bundle.format).toBe(BUNDLE_FORMAT);
    expect(bundle.signatures).toEqual([]);
    expect(bundle.manifest).toEqual({
      format: BUNDLE_FORMAT,
      revision: 3,
      git_commit: 'b'.repeat(40),
      created_at: '2026-11-24T12:00:00.000Z',
      expires_at: '2026-12-24T12:00:00.000Z',
      files: {
        'policies/shop/catalog.json': { kind: 'catalog', server: 'shop', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
        'policies/shop/policy.json': { kind: 'policy', server: 'shop', sha256: canonicalDigest(SHOP_POLICY) },
        'policies/shop/shop.test.json': { kind: 'test', server: 'shop', sha256: canonicalDigest(SHOP_TESTS) },
      },
    });
    expect(Object.keys(bundle.manifest.files)).toEqual(Object.keys(bundle.manifest.files).sort());
    expect(bundle.files['policies/shop/policy.json']).toEqual(SHOP_POLICY);
  });

  it('records git_dirty only when the files differ from the commit', () => {
    expect(buildBundle(input(shopFiles(), { gitDirty: true })).manifest.git_dirty).toBe(true);
    expect('git_dirty' in buildBundle(input(shopFiles(), { gitDirty: false })).manifest).toBe(false);
  });

  it('canonical content: key order, white space and JSON vs YAML of the same policy give the same hashes', () => {
    const reordered = `{"tools":{"wipe":{"reason":"Never.","action":"deny"},"refund":{"rate_limit":{"window":"minute","max":2},"deny_if":[{"on_deny":"Refunds above 100 need a manager.","conditions":[{"value":100,"op":"gt","path":"args.amount"}],"id":"big-refund"}]},"read_order":{}},"default":"deny","version":"1"}`;
    const a = buildBundle(input([{ path: 'policies/shop/policy.json', text: jsonText(SHOP_POLICY) }]));
    const b = buildBundle(input([{ path: 'policies/shop/policy.json', text: reordered }]));
    const c = buildBundle(input([{ path: 'policies/shop/policy.yaml', text: SHOP_POLICY_YAML }]));
    expect(b.manifest.files['policies/shop/policy.json']!.sha256).toBe(a.manifest.files['policies/shop/policy.json']!.sha256);
    expect(bundleDigest(b.manifest)).toBe(bundleDigest(a.manifest));
    expect(c.manifest.files['policies/shop/policy.yaml']).toEqual({ ...a.manifest.files['policies/shop/policy.json'], kind: 'policy' });
    expect(c.files['policies/shop/policy.yaml']).toEqual(SHOP_POLICY);
  });

  it('round-trips through serializeBundle/parseBundle with the same digest and hashes', () => {
    const bundle = buildBundle(input(shopFiles()));
    const text = serializeBundle(bundle);
    expect(text.endsWith('}\n')).toBe(true);
    const again = parseBundle(text);
    expect(bundleDigest(again.manifest)).toBe(bundleDigest(bundle.manifest));
    expect(serializeBundle(again)).toBe(text);
  });

  it('a syntax error is a bundle.invalid error at file:line:col, and nothing is built', () => {
    const files = shopFiles();
    files[0] = { path: 'policies/shop/policy.json', text: '{\n  "version": "1",\n  "default": deny\n}\n' };
    const error = buildError(() => buildBundle(input(files)));
    expect(error.code).toBe('bundle.invalid');
    expect(error.message).toContain('policies/shop/policy.json:3:14: error TG001 invalid JSON');
    expect(error.diagnostics[0]).toMatchObject({ file: 'policies/shop/policy.json', line: 3, column: 14 });
  });

  it('schema errors of every kind (policy, catalog, test file) are reported together with positions', () => {
    const error = buildError(() =>
      buildBundle(
        input([
          { path: 'policies/shop/policy.json', text: '{\n  "version": "1",\n  "default": "maybe"\n}\n' },
          { path: 'policies/shop/catalog.json', text: '{\n  "tools": 3\n}\n' },
          { path: 'policies/shop/shop.test.json', text: '{\n  "cases": [\n    { "name": "x" , "call": { "tool": "t" } }\n  ]\n}\n' },
        ]),
      ),
    );
    expect(error.message).toMatch(/^the policy files have \d+ problems:/);
    expect(error.message).toContain('policies/shop/policy.json:3:14: error TG010');
    expect(error.message).toContain('policies/shop/catalog.json:2:12: error TG206');
    expect(error.message).toContain('policies/shop/shop.test.json:3:');
  });

  it('a test file must run against a bundled policy (TG300 at its "policy" field)', () => {
    const files = [...shopFiles(), { path: 'policies/shop/other.test.json', text: '{\n  "policy": "../nope/policy.json",\n  "cases": []\n}\n' }];
    const error = buildError(() => buildBundle(input(files)));
    expect(error.message).toContain('policies/shop/other.test.json:2:13: error TG300 the policy "../nope/policy.json" (policies/nope/policy.json) is not among the bundled policies');
  });

  it('refuses paths outside policies/<server>/, two policies for one server, no policy, and bad metadata', () => {
    expect(buildError(() => buildBundle(input([...shopFiles(), { path: 'README.md', text: '' }]))).message).toContain('README.md: not a policy repository file');
    expect(buildError(() => buildBundle(input([...shopFiles(), { path: 'policies/shop/policy.yaml', text: SHOP_POLICY_YAML }]))).message).toContain(
      'policies/shop/policy.json:1:1: error TG004 the server directory has 2 policy files (policy.json, policy.yaml)',
    );
    expect(buildError(() => buildBundle(input([shopFiles()[1]!]))).message).toContain('there is no policy among the files');
    const broken = { path: 'policies/shop/shop.test.json', text: '{' };
    expect(buildError(() => buildBundle(input([...shopFiles(), broken, broken]))).message).toContain('policies/shop/shop.test.json: given twice');
    expect(buildError(() => buildBundle(input(shopFiles(), { revision: -2 }))).message).toContain('revision must be a whole number');
    expect(buildError(() => buildBundle(input(shopFiles(), { gitCommit: 'HEAD' }))).message).toContain('"HEAD" is not a commit id');
    expect(buildError(() => buildBundle(input(shopFiles(), { expiresAt: new Date(BUILT_AT.getTime() - 1) }))).message).toContain('would expire');
  });

  it('classifies repository paths', () => {
    expect(classifyBundlePath('policies/ccxt/policy.yml')).toEqual({ kind: 'policy', server: 'ccxt' });
    expect(classifyBundlePath('policies/ccxt/catalog.json')).toEqual({ kind: 'catalog', server: 'ccxt' });
    expect(classifyBundlePath('policies/ccxt/orders.test.yaml')).toEqual({ kind: 'test', server: 'ccxt' });
    expect(classifyBundlePath('policies/ccxt/.test.json')).toBeUndefined();
    expect(classifyBundlePath('policies/../policy.json')).toBeUndefined();
    expect(classifyBundlePath('other/ccxt/policy.json')).toBeUndefined();
    expect(classifyBundlePath('policies/a/b/policy.json')).toBeUndefined();
  });
});

describe('compileBundle with sources', () => {
  it('points failing tests at the test file as written', () => {
    const files = shopFiles();
    files[2] = { path: 'policies/shop/shop.test.json', text: jsonText({ cases: [SHOP_TESTS.cases[0], { name: 'wipe', call: { tool: 'wipe', args: {} }, expect: 'allow' }] }) };
    const built = buildBundleWithSources(input(files));
    const compiled = compileBundle(built.bundle, { sources: built.sources });
    expect(compiled.ok).toBe(false);
    if (compiled.ok) return;
    expect(compiled.code).toBe('tests.failed');
    expect(compiled.message).toContain('policies/shop/shop.test.json:13:5: case "wipe" failed: effect: expected allow, got deny');
    expect(compiled.testSummary).toEqual({ passed: 1, failed: 1 });
  });
});

describe('a bundle of 1,000 tools', () => {
  it('verifies, tests and compiles well under the 500 ms goal', () => {
    const key = generateSigningKey();
    const bundle = signBundle(buildBundle(input(largeRepository(1000))), key.privateKeyPem);
    const text = serializeBundle(bundle);
    const trust = [{ public_key: key.publicKeyPem }];
    verifyBundleText(text, { trust, threshold: 1, now: BUILT_AT.getTime() }); // warm up the schema compiler
    const started = performance.now();
    const v = verifyBundleText(text, { trust, threshold: 1, now: BUILT_AT.getTime() });
    const elapsed = performance.now() - started;
    if (!v.ok) throw new Error(v.refusal.message);
    expect(v.testSummary).toEqual({ passed: 2000, failed: 0 });
    expect(v.policies.get('big')?.rules.length).toBeGreaterThan(3000);
    // The goal is well under 500 ms; the bound leaves room for a loaded test machine.
    expect(elapsed).toBeLessThan(1500);
    console.log(`verify + test + compile of 1,000 tools (${(text.length / 1024).toFixed(0)} KiB): ${elapsed.toFixed(0)} ms`);
  });
});
