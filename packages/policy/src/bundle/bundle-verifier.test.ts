import { describe, expect, it } from 'vitest';
import { BUILT_AT, SHOP_POLICY, SHOP_TESTS, shopFiles, withFile } from '../../test/bundle-fixtures.js';
import { buildBundle } from './bundle-builder.js';
import { BundleError } from './bundle-error.js';
import { bundleDigest, parseBundle, serializeBundle, type PolicyBundle } from './bundle-format.js';
import { signBundle } from './bundle-signer.js';
import { verifyBundle, verifyBundleText, type BundleRefusal, type BundleVerification, type VerifyBundleOptions } from './bundle-verifier.js';
import { generateSigningKey, keyIdOf } from './signing-key.js';

const alice = generateSigningKey();
const bob = generateSigningKey();
const carol = generateSigningKey();
const mallory = generateSigningKey();
const NOW = BUILT_AT.getTime() + 60_000;

function unsigned(overrides: { revision?: number; expiresAt?: Date | null } = {}): PolicyBundle {
  return buildBundle({ files: shopFiles(), revision: overrides.revision ?? 17, gitCommit: 'a'.repeat(40), createdAt: BUILT_AT, expiresAt: overrides.expiresAt ?? null });
}

function options(extra: Partial<VerifyBundleOptions> = {}): VerifyBundleOptions {
  return { trust: [{ public_key: alice.publicKeyPem }], threshold: 1, now: NOW, ...extra };
}

function refusal(v: BundleVerification): BundleRefusal {
  if (v.ok) throw new Error('expected a refusal, the bundle was accepted');
  return v.refusal;
}

describe('verifyBundle', () => {
  it('accepts a bundle signed by a trusted key: compiled policies carry the revision, tests ran', () => {
    const bundle = signBundle(unsigned(), alice.privateKeyPem);
    const v = verifyBundle(bundle, options());
    if (!v.ok) throw new Error(v.refusal.message);
    expect(v.revision).toBe(17);
    expect(v.gitCommit).toBe('a'.repeat(40));
    expect(v.digest).toBe(bundleDigest(bundle.manifest));
    expect(v.signers).toEqual([alice.keyid]);
    expect([...v.policies.keys()]).toEqual(['shop']);
    const shop = v.policies.get('shop')!;
    expect(shop.revision).toBe(17);
    expect(shop.server).toBe('shop');
    const denied = shop.decide({ tool: 'refund', args: { id: '1', amount: 500 } });
    expect(denied).toMatchObject({ effect: 'deny', rule: 'big-refund', revision: 17 });
    expect(v.testSummary).toEqual({ passed: SHOP_TESTS.cases.length, failed: 0 });
  });

  it('survives serialisation: the written text verifies and has the same digest', () => {
    const bundle = signBundle(unsigned(), alice.privateKeyPem);
    const text = serializeBundle(bundle);
    const v = verifyBundleText(text, options());
    expect(v.ok && v.digest).toBe(bundleDigest(bundle.manifest));
  });

  it('signature.missing: an unsigned bundle', () => {
    const r = refusal(verifyBundle(unsigned(), options()));
    expect(r.code).toBe('signature.missing');
    expect(r.message).toContain('tollgate bundle sign');
  });

  it('signature.untrusted: signed only by keys the verifier does not trust', () => {
    const r = refusal(verifyBundle(signBundle(unsigned(), mallory.privateKeyPem), options()));
    expect(r.code).toBe('signature.untrusted');
    expect(r.message).toContain(mallory.keyid.slice(0, 16));
    expect(r.message).toContain(alice.keyid.slice(0, 16));
  });

  it('signature.invalid: the manifest was changed after signing', () => {
    const signed = signBundle(unsigned(), alice.privateKeyPem);
    const tampered: PolicyBundle = { ...signed, manifest: { ...signed.manifest, revision: 99 } };
    const r = refusal(verifyBundle(tampered, options()));
    expect(r).toMatchObject({ code: 'signature.invalid', revision: 99, digest: bundleDigest(tampered.manifest) });
    expect(r.message).toContain(alice.keyid);
  });

  it('signature.invalid: a bad trusted signature refuses the bundle even when another trusted key signed', () => {
    const signed = signBundle(signBundle(unsigned(), alice.privateKeyPem), bob.privateKeyPem);
    const forged = { ...signed, signatures: signed.signatures.map((s) => (s.keyid === bob.keyid ? { ...s, signature: signed.signatures.find((o) => o.keyid === alice.keyid)!.signature } : s)) };
    const r = refusal(verifyBundle(forged, options({ trust: [{ public_key: alice.publicKeyPem }, { public_key: bob.publicKeyPem }] })));
    expect(r.code).toBe('signature.invalid');
    expect(r.message).toContain(bob.keyid);
  });

  it('signature.threshold: 2 of 3 — the same key twice counts once, two distinct keys pass', () => {
    const trust = [alice, bob, carol].map((k) => ({ keyid: k.keyid, public_key: k.publicKeyPem }));
    const once = signBundle(unsigned(), alice.privateKeyPem);
    const twice: PolicyBundle = { ...once, signatures: [once.signatures[0]!, once.signatures[0]!] };
    const r = refusal(verifyBundle(twice, options({ trust, threshold: 2 })));
    expect(r.code).toBe('signature.threshold');
    expect(r.message).toMatch(/^1 distinct trusted key signed .*threshold is 2/);
    // An untrusted co-signer does not help either.
    expect(refusal(verifyBundle(signBundle(once, mallory.privateKeyPem), options({ trust, threshold: 2 }))).code).toBe('signature.threshold');
    const v = verifyBundle(signBundle(once, carol.privateKeyPem), options({ trust, threshold: 2 }));
    expect(v.ok && v.signers).toEqual([alice.keyid, carol.keyid].sort());
  });

  it('bundle.hash_mismatch: a file changed after the build, or a file nobody signed', () => {
    const signed = signBundle(unsigned(), alice.privateKeyPem);
    const edited = { ...SHOP_POLICY, default: 'allow' };
    const r = refusal(verifyBundle({ ...signed, files: { ...signed.files, 'policies/shop/policy.json': edited } }, options()));
    expect(r.code).toBe('bundle.hash_mismatch');
    expect(r.message).toMatch(/^policies\/shop\/policy\.json has SHA-256 [0-9a-f]{64}, but the manifest says/);
    const extra = refusal(verifyBundle({ ...signed, files: { ...signed.files, 'policies/evil/policy.json': SHOP_POLICY } }, options()));
    expect(extra.code).toBe('bundle.hash_mismatch');
    expect(extra.message).toContain('policies/evil/policy.json is in the bundle but not in its manifest');
    const { ['policies/shop/catalog.json']: _catalog, ...fewer } = signed.files;
    expect(refusal(verifyBundle({ ...signed, files: fewer }, options())).message).toContain('policies/shop/catalog.json is listed in the manifest but missing');
  });

  it('bundle.expired: past expires_at (and not a moment before)', () => {
    const expiresAt = new Date(BUILT_AT.getTime() + 3_600_000);
    const signed = signBundle(unsigned({ expiresAt }), alice.privateKeyPem);
    expect(verifyBundle(signed, options({ now: expiresAt.getTime() - 1 })).ok).toBe(true);
    const r = refusal(verifyBundle(signed, options({ now: expiresAt.getTime() })));
    expect(r.code).toBe('bundle.expired');
    expect(r.message).toContain(expiresAt.toISOString());
  });

  it('bundle.rollback: a revision below the minimum; the same revision is accepted', () => {
    const signed = signBundle(unsigned({ revision: 16 }), alice.privateKeyPem);
    const r = refusal(verifyBundle(signed, options({ minRevision: 17 })));
    expect(r).toMatchObject({ code: 'bundle.rollback', revision: 16 });
    expect(r.message).toContain('revision 16 is lower than 17');
    expect(verifyBundle(signed, options({ minRevision: 16 })).ok).toBe(true);
  });

  it('policy.invalid: a schema-invalid policy inside a correctly signed bundle', () => {
    const bad = withFile(unsigned(), 'policies/shop/policy.json', { ...SHOP_POLICY, default: 'maybe' });
    const r = refusal(verifyBundle(signBundle(bad, alice.privateKeyPem), options()));
    expect(r.code).toBe('policy.invalid');
    // Positions are in the bundled canonical text; the pointer says where.
    expect(r.message).toMatch(/^policies\/shop\/policy\.json:1:\d+: error TG010 .*\[at \/default\]/);
    expect(r.diagnostics?.map((d) => [d.code, d.file, d.pointer])).toEqual([['TG010', 'policies/shop/policy.json', '/default']]);
  });

  it('policy.invalid: an invalid regex (compile error) or an invalid catalog', () => {
    const regex = { ...SHOP_POLICY, tools: { ...SHOP_POLICY.tools, read_order: { require: [{ path: 'args.id', op: 'regex', value: '(' }] } } };
    const r = refusal(verifyBundle(signBundle(withFile(unsigned(), 'policies/shop/policy.json', regex), alice.privateKeyPem), options()));
    expect(r.code).toBe('policy.invalid');
    expect(r.message).toContain('policies/shop/policy.json');
    const catalog = refusal(verifyBundle(signBundle(withFile(unsigned(), 'policies/shop/catalog.json', { tools: 'none' }), alice.privateKeyPem), options()));
    expect(catalog.code).toBe('policy.invalid');
    expect(catalog.message).toContain('policies/shop/catalog.json');
  });

  it('tests.failed: a failing test inside a correctly signed bundle names the case; runTests: false skips them', () => {
    const failing = { ...SHOP_TESTS, cases: [...SHOP_TESTS.cases, { name: 'wipes are fine', call: { tool: 'wipe', args: {} }, expect: 'allow' }] };
    const signed = signBundle(withFile(unsigned(), 'policies/shop/shop.test.json', failing), alice.privateKeyPem);
    const r = refusal(verifyBundle(signed, options()));
    expect(r.code).toBe('tests.failed');
    expect(r.message).toContain('1 of 5 test cases failed');
    expect(r.message).toContain('policies/shop/shop.test.json: case "wipes are fine" failed: effect: expected allow, got deny');
    const skipped = verifyBundle(signed, options({ runTests: false }));
    expect(skipped.ok && skipped.testSummary).toEqual({ passed: 0, failed: 0 });
  });

  it('tests.failed: a test file whose policy is not in the bundle', () => {
    const orphan = { ...SHOP_TESTS, policy: '../other/policy.json' };
    const r = refusal(verifyBundle(signBundle(withFile(unsigned(), 'policies/shop/shop.test.json', orphan), alice.privateKeyPem), options()));
    expect(r.code).toBe('tests.failed');
    expect(r.message).toContain('runs against policies/other/policy.json, which the bundle does not hold');
  });

  it('bundle.malformed: not JSON (with its position), or not the bundle shape', () => {
    const garbled = refusal(verifyBundleText('{\n  "format": \n}', options(), 'bundles/bundle.json'));
    expect(garbled).toMatchObject({ code: 'bundle.malformed', revision: null, digest: null });
    expect(garbled.message).toMatch(/^bundles\/bundle\.json:3:1: /);
    const signed = signBundle(unsigned(), alice.privateKeyPem);
    const wrong = { ...signed, manifest: { ...signed.manifest, revision: -1 } };
    expect(refusal(verifyBundle(wrong, options())).message).toContain('manifest.revision must be a whole number >= 0');
    expect(() => parseBundle(JSON.stringify({ ...signed, extra: 1 }), 'b.json')).toThrow(/b\.json: not a tollgate\.bundle\/v1 bundle: unknown top-level key "extra"/);
    const moved = { ...signed.manifest.files['policies/shop/policy.json']!, kind: 'catalog' };
    const lying = { ...signed, manifest: { ...signed.manifest, files: { ...signed.manifest.files, 'policies/shop/policy.json': moved } } };
    expect(refusal(verifyBundle(lying as PolicyBundle, options())).message).toContain('.kind must be "policy" for this path');
  });

  it('checks in order: signatures before expiry, rollback and content', () => {
    const stale = withFile(unsigned({ revision: 1, expiresAt: new Date(BUILT_AT.getTime() + 1000) }), 'policies/shop/policy.json', { version: '2' });
    expect(refusal(verifyBundle(signBundle(stale, mallory.privateKeyPem), options({ minRevision: 5 }))).code).toBe('signature.untrusted');
    const signed = signBundle(stale, alice.privateKeyPem);
    expect(refusal(verifyBundle(signed, options({ minRevision: 5 }))).code).toBe('bundle.expired');
    expect(refusal(verifyBundle(signed, options({ minRevision: 5, now: BUILT_AT.getTime() }))).code).toBe('bundle.rollback');
    expect(refusal(verifyBundle(signed, options({ now: BUILT_AT.getTime() }))).code).toBe('policy.invalid');
  });

  it('throws trust.invalid for an unusable trust configuration', () => {
    const expectTrust = (fn: () => unknown, message: RegExp): void => {
      try {
        fn();
        throw new Error('expected a trust.invalid error');
      } catch (error) {
        expect(error).toBeInstanceOf(BundleError);
        expect((error as BundleError).code).toBe('trust.invalid');
        expect((error as BundleError).message).toMatch(message);
      }
    };
    const bundle = signBundle(unsigned(), alice.privateKeyPem);
    expectTrust(() => verifyBundle(bundle, options({ trust: [{ keyid: bob.keyid, public_key: alice.publicKeyPem }] })), /is not the id of its public key/);
    expectTrust(() => verifyBundle(bundle, options({ threshold: 2 })), /threshold 2 is more than the 1 distinct trusted key/);
    expectTrust(() => verifyBundle(bundle, options({ threshold: 0 })), /threshold must be a whole number >= 1/);
    expectTrust(() => verifyBundle(bundle, options({ trust: [{ public_key: alice.privateKeyPem }] })), /private key/);
  });
});

describe('signBundle', () => {
  it('adds a signature per key, replaces a key\'s earlier one, and keys are identified by their SPKI hash', () => {
    const once = signBundle(unsigned(), alice.privateKeyPem);
    const both = signBundle(once, bob.privateKeyPem);
    const again = signBundle(both, alice.privateKeyPem);
    expect(both.signatures.map((s) => s.keyid)).toEqual([alice.keyid, bob.keyid].sort());
    expect(again.signatures).toHaveLength(2);
    expect(keyIdOf(alice.publicKeyPem)).toBe(alice.keyid);
    expect(keyIdOf(both.signatures.find((s) => s.keyid === alice.keyid)!.public_key)).toBe(alice.keyid);
    expect(once.signatures).toHaveLength(1);
  });

  it('refuses to sign content that no longer matches the manifest, or with a key that is not Ed25519', () => {
    const bundle = unsigned();
    expect(() => signBundle({ ...bundle, files: { ...bundle.files, 'policies/shop/policy.json': {} } }, alice.privateKeyPem)).toThrow(/cannot sign: policies\/shop\/policy\.json has SHA-256/);
    expect(() => signBundle(bundle, alice.publicKeyPem)).toThrow(/not a PEM private key/);
  });
});
