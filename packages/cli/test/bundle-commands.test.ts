import { createPublicKey, createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson, parseBundle, serializeBundle, sha256Hex, signBundle, type PolicyBundle } from '@tollgate/policy';
import { simpleGit, type SimpleGit } from 'simple-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempTree, type TempTree } from './cli-process.js';
import { SHOP_CATALOG, SHOP_POLICY, SHOP_TESTS_FAILING, SHOP_TESTS_FULL } from './policy-fixtures.js';

let tree: TempTree;
let repo: string;
let git: SimpleGit;

async function json<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A copy of a bundle with one file replaced and its manifest hash updated, unsigned. */
function withFile(bundle: PolicyBundle, path: string, value: unknown): PolicyBundle {
  const entry = bundle.manifest.files[path]!;
  return {
    ...bundle,
    manifest: { ...bundle.manifest, files: { ...bundle.manifest.files, [path]: { ...entry, sha256: sha256Hex(canonicalJson(value)) } } },
    files: { ...bundle.files, [path]: value },
    signatures: [],
  };
}

beforeAll(async () => {
  tree = await tempTree({
    'repo/policies/shop/policy.json': SHOP_POLICY,
    'repo/policies/shop/catalog.json': SHOP_CATALOG,
    'repo/policies/shop/shop.test.json': SHOP_TESTS_FULL,
    'repo/README.md': 'A policy repository.\n',
  });
  repo = join(tree.root, 'repo');
  git = simpleGit(repo);
  await git.init(['--initial-branch=main', '--quiet']);
  await git.addConfig('user.name', 'Policy Author');
  await git.addConfig('user.email', 'author@example.test');
  await git.add('.');
  await git.commit('policies', ['--quiet']);
  await tree.write('repo/README.md', 'A policy repository, reviewed.\n');
  await git.add('README.md');
  await git.commit('readme', ['--quiet']);
  for (const name of ['a', 'b', 'c']) {
    const out = await runCli(['keys', 'generate', '--out', `../keys/${name}`], repo);
    expect(out.code, out.stderr).toBe(0);
  }
});
afterAll(() => tree.remove());

describe('tollgate keys generate', () => {
  it('writes a 0600 PKCS#8 private key and an SPKI public key, and prints the key id (SHA-256 of the DER SPKI)', async () => {
    const out = await runCli(['keys', 'generate', '--out', 'k/release', '--json'], tree.root);
    expect(out.code, out.stderr).toBe(0);
    const result = JSON.parse(out.stdout) as { keyid: string; private_key_file: string; public_key_file: string };
    expect(result).toMatchObject({ private_key_file: 'k/release.key', public_key_file: 'k/release.pub' });
    const keyFile = join(tree.root, 'k/release.key');
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(keyFile, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const pub = await readFile(join(tree.root, 'k/release.pub'), 'utf8');
    expect(pub).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const der = createPublicKey(pub).export({ type: 'spki', format: 'der' });
    expect(result.keyid).toBe(createHash('sha256').update(der).digest('hex'));
    const pretty = await runCli(['keys', 'generate', '--out', 'k/other'], tree.root);
    expect(pretty.stdout).toMatch(/^Wrote k\/other\.key \(private key, mode 0600: keep it secret\) and k\/other\.pub/);
    expect(pretty.stdout).toMatch(/key id: [0-9a-f]{64}\n$/);
  });

  it('refuses to overwrite an existing key (exit 2, file untouched) unless --force', async () => {
    const keyFile = join(tree.root, 'keys/a.key');
    const before = await readFile(keyFile, 'utf8');
    const refused = await runCli(['keys', 'generate', '--out', 'keys/a'], tree.root);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('keys/a.key already exists; refusing to overwrite a key');
    expect(refused.stderr).toContain('--force');
    expect(await readFile(keyFile, 'utf8')).toBe(before);
    await runCli(['keys', 'generate', '--out', 'k/forced'], tree.root);
    const old = await readFile(join(tree.root, 'k/forced.key'), 'utf8');
    const forced = await runCli(['keys', 'generate', '--out', 'k/forced', '--force'], tree.root);
    expect(forced.code).toBe(0);
    expect(await readFile(join(tree.root, 'k/forced.key'), 'utf8')).not.toBe(old);
  });
});

describe('tollgate bundle build', () => {
  it('bundles the repository at HEAD: revision = commit count, commit = HEAD, tests run, canonical content', async () => {
    const out = await runCli(['bundle', 'build', '--out', 'bundles/bundle.json'], repo);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toBe('');
    const head = (await git.revparse(['HEAD'])).trim();
    expect(out.stdout).toContain('Built bundles/bundle.json (unsigned');
    expect(out.stdout).toMatch(/revision +2\n/);
    expect(out.stdout).toContain(`commit    ${head}\n`);
    expect(out.stdout).toMatch(/servers +shop\n/);
    expect(out.stdout).toMatch(/tests +5 passed, 0 failed\n/);
    const text = await readFile(join(repo, 'bundles/bundle.json'), 'utf8');
    const bundle = parseBundle(text);
    expect(bundle.manifest).toMatchObject({ revision: 2, git_commit: head, expires_at: null });
    expect('git_dirty' in bundle.manifest).toBe(false);
    expect(Object.keys(bundle.manifest.files)).toEqual(['policies/shop/catalog.json', 'policies/shop/policy.json', 'policies/shop/shop.test.json']);
    expect(bundle.manifest.files['policies/shop/policy.json']!.sha256).toBe(sha256Hex(canonicalJson(SHOP_POLICY)));
    expect(out.stdout).toContain(`digest    ${sha256Hex(canonicalJson(bundle.manifest))}`);
    expect(serializeBundle(bundle)).toBe(text);
  });

  it('takes --revision and --expires (counted from the commit time), and reports as JSON', async () => {
    const out = await runCli(['bundle', 'build', '.', '--out', '../out/r42.json', '--revision', '42', '--expires', '30d', '--json'], repo);
    expect(out.code, out.stderr).toBe(0);
    const result = JSON.parse(out.stdout) as { revision: number; created_at: string; expires_at: string; file: string; servers: string[] };
    expect(result).toMatchObject({ revision: 42, file: '../out/r42.json', servers: ['shop'] });
    const committedAt = Number((await git.raw(['show', '-s', '--format=%ct', 'HEAD'])).trim()) * 1000;
    expect(result.created_at).toBe(new Date(committedAt).toISOString());
    expect(result.expires_at).toBe(new Date(committedAt + 30 * 86_400_000).toISOString());
    const bad = await runCli(['bundle', 'build', '--out', '../out/x.json', '--expires', 'soon'], repo);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--expires: "soon" is not a duration');
    const past = await runCli(['bundle', 'build', '--out', '../out/x.json', '--expires', '2020-01-01T00:00:00Z'], repo);
    expect(past.code).toBe(2);
    expect(past.stderr).toContain('--expires: the bundle would expire at 2020-01-01T00:00:00.000Z, which is not after now');
  });

  it('is reproducible: the same clean commit and flags give the same bytes', async () => {
    expect((await runCli(['bundle', 'build', '--out', '../out/again.json', '--revision', '42', '--expires', '30d'], repo)).code).toBe(0);
    expect(await readFile(join(tree.root, 'out/again.json'), 'utf8')).toBe(await readFile(join(tree.root, 'out/r42.json'), 'utf8'));
  });

  it('records uncommitted changes to the policy files as git_dirty, with a warning', async () => {
    const file = join(repo, 'policies/shop/policy.json');
    const original = await readFile(file, 'utf8');
    await writeFile(file, JSON.stringify({ ...SHOP_POLICY, tools: { ...SHOP_POLICY.tools, wipe: { action: 'deny', reason: 'Not today.' } } }, null, 2));
    try {
      const out = await runCli(['bundle', 'build', '--out', '../out/dirty.json'], repo);
      expect(out.code, out.stderr).toBe(0);
      expect(out.stderr).toMatch(/^Warning: the policy files differ from [0-9a-f]{12} \(HEAD\): the bundle records "git_dirty": true/);
      expect((await json<PolicyBundle>(join(tree.root, 'out/dirty.json'))).manifest.git_dirty).toBe(true);
    } finally {
      await writeFile(file, original);
    }
  });

  it('a malformed or schema-invalid file: exit 2 at file:line:col, nothing written', async () => {
    await tree.write('bad/policies/shop/policy.json', '{\n  "version": "1",\n  "default": "maybe"\n}\n');
    const out = await runCli(['bundle', 'build', 'bad', '--out', 'bad/bundle.json', '--revision', '1'], tree.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('policies/shop/policy.json:3:14: error TG010');
    expect(await exists(join(tree.root, 'bad/bundle.json'))).toBe(false);
  });

  it('refuses what lint rejects, with lint\'s code at file:line:col: a ReDoS-prone regex (TG101), two policy files (TG004); nothing written', async () => {
    const redos = { ...SHOP_POLICY, tools: { ...SHOP_POLICY.tools, read_order: { require: [{ path: 'args.id', op: 'regex', value: '^(a+)+$' }] } } };
    await tree.write('redos/policies/shop/policy.json', redos);
    await tree.write('redos/policies/shop/catalog.json', SHOP_CATALOG);
    const text = await readFile(join(tree.root, 'redos/policies/shop/policy.json'), 'utf8');
    const line = text.split('\n').findIndex((l) => l.includes('^(a+)+$')) + 1;
    const out = await runCli(['bundle', 'build', 'redos', '--out', 'redos/bundle.json', '--revision', '1'], tree.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(new RegExp(`policies/shop/policy\\.json:${line}:\\d+: error TG101 regex "\\^\\(a\\+\\)\\+\\$" is open to catastrophic backtracking`));
    expect(await exists(join(tree.root, 'redos/bundle.json'))).toBe(false);

    await tree.write('two/policies/shop/policy.json', SHOP_POLICY);
    await tree.write('two/policies/shop/policy.yaml', 'version: "1"\ndefault: allow\n');
    const two = await runCli(['bundle', 'build', 'two', '--out', 'two/bundle.json', '--revision', '1'], tree.root);
    expect(two.code).toBe(2);
    expect(two.stderr).toContain('policies/shop/policy.json:1:1: error TG004 the server directory has 2 policy files (policy.json, policy.yaml)');
    expect(await exists(join(tree.root, 'two/bundle.json'))).toBe(false);
  });

  it('a failing bundled test: exit 1, nothing written', async () => {
    await tree.write('failing/policies/shop/policy.json', SHOP_POLICY);
    await tree.write('failing/policies/shop/refunds.test.json', SHOP_TESTS_FAILING);
    const out = await runCli(['bundle', 'build', 'failing', '--out', 'failing/bundle.json', '--revision', '1'], tree.root);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('the bundle was not written: 1 of 2 test cases failed');
    expect(out.stderr).toMatch(/policies\/shop\/refunds\.test\.json:\d+:\d+: case "small refunds need a manager too" failed: effect: expected deny, got allow/);
    expect(await exists(join(tree.root, 'failing/bundle.json'))).toBe(false);
  });

  it('outside Git: needs --revision (exit 2), and then records no commit', async () => {
    const refused = await runCli(['bundle', 'build', 'failing', '--out', 'plain.json'], tree.root);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('failing: is not in a Git repository, so the revision cannot be the commit count');
    expect(refused.stderr).toContain('--revision');
    await tree.write('plain/policies/shop/policy.json', SHOP_POLICY);
    const out = await runCli(['bundle', 'build', 'plain', '--out', 'plain.json', '--revision', '7', '--json'], tree.root);
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ revision: 7, git_commit: null, git_dirty: false });
    const missing = await runCli(['bundle', 'build', 'nowhere', '--out', 'x.json', '--revision', '1'], tree.root);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nowhere: has no policies/ directory');
  });
});

describe('tollgate bundle sign and verify', () => {
  let unsigned: string;

  beforeAll(async () => {
    const out = await runCli(['bundle', 'build', '--out', '../signed/bundle.json'], repo);
    expect(out.code, out.stderr).toBe(0);
    unsigned = await readFile(join(tree.root, 'signed/bundle.json'), 'utf8');
  });

  /** Writes a bundle text to a file of its own and returns the file's path relative to the tree. */
  async function bundleFile(name: string, content: string | PolicyBundle): Promise<string> {
    await tree.write(`signed/${name}`, typeof content === 'string' ? content : serializeBundle(content));
    return `signed/${name}`;
  }

  async function verify(file: string, ...flags: string[]): Promise<{ code: number; result: { ok: boolean; refusal?: { code: string; message: string } }; stdout: string }> {
    const out = await runCli(['bundle', 'verify', file, ...flags, '--json'], tree.root);
    return { code: out.code, result: JSON.parse(out.stdout) as { ok: boolean; refusal?: { code: string; message: string } }, stdout: out.stdout };
  }

  it('two signers sign in turn; verify reports revision, commit, signers, servers and tests', async () => {
    const file = await bundleFile('two.json', unsigned);
    const first = await runCli(['bundle', 'sign', file, '--key', 'keys/a.key'], tree.root);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^Signed signed\/two\.json \(revision 2\) with key [0-9a-f]{64}\n1 signature\n$/);
    const second = await runCli(['bundle', 'sign', file, '--key', 'keys/b.key', '--json'], tree.root);
    expect(JSON.parse(second.stdout)).toMatchObject({ replaced: false, revision: 2 });
    expect((JSON.parse(second.stdout) as { signatures: string[] }).signatures).toHaveLength(2);
    const again = await runCli(['bundle', 'sign', file, '--key', 'keys/b.key', '--json'], tree.root);
    expect(JSON.parse(again.stdout)).toMatchObject({ replaced: true });
    expect((await json<PolicyBundle>(join(tree.root, file))).signatures).toHaveLength(2);

    const pretty = await runCli(['bundle', 'verify', file, '--trust', 'keys/a.pub', '--trust', 'keys/b.pub', '--trust', 'keys/c.pub', '--threshold', '2'], tree.root);
    expect(pretty.code, pretty.stderr).toBe(0);
    const head = (await git.revparse(['HEAD'])).trim();
    expect(pretty.stdout).toContain('Verified signed/two.json');
    expect(pretty.stdout).toContain(`commit    ${head}`);
    expect(pretty.stdout).toMatch(/signers +[0-9a-f]{64} \(keys\/[ab]\.pub\), [0-9a-f]{64} \(keys\/[ab]\.pub\) \(2 signed, 2 required\)/);
    expect(pretty.stdout).toMatch(/tests +5 passed, 0 failed/);

    const three = await verify(file, '--trust', 'keys/a.pub', '--trust', 'keys/b.pub', '--trust', 'keys/c.pub', '--threshold', '3');
    expect(three.code).toBe(1);
    expect(three.result.refusal?.code).toBe('signature.threshold');
    const untrusted = await runCli(['bundle', 'verify', file, '--trust', 'keys/c.pub'], tree.root);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stdout).toMatch(/^Refused signed\/two\.json \(revision 2\): signature\.untrusted\n {2}signed only by untrusted keys/);
    const rollback = await verify(file, '--trust', 'keys/a.pub', '--min-revision', '3');
    expect(rollback).toMatchObject({ code: 1, result: { ok: false, refusal: { code: 'bundle.rollback' } } });
    expect((await verify(file, '--trust', 'keys/a.pub', '--min-revision', '2')).code).toBe(0);
  });

  it('refuses an unsigned, a tampered and a malformed bundle, each with its code (exit 1)', async () => {
    const unsignedFile = await bundleFile('unsigned.json', unsigned);
    expect((await verify(unsignedFile, '--trust', 'keys/a.pub')).result.refusal?.code).toBe('signature.missing');

    const signedFile = await bundleFile('tamper.json', unsigned);
    expect((await runCli(['bundle', 'sign', signedFile, '--key', 'keys/a.key'], tree.root)).code).toBe(0);
    const signed = await json<PolicyBundle>(join(tree.root, signedFile));
    const content = await bundleFile('content.json', { ...signed, files: { ...signed.files, 'policies/shop/policy.json': { ...SHOP_POLICY, default: 'allow' } } });
    const hash = await verify(content, '--trust', 'keys/a.pub');
    expect(hash.code).toBe(1);
    expect(hash.result.refusal).toMatchObject({ code: 'bundle.hash_mismatch' });
    expect(hash.result.refusal?.message).toContain('policies/shop/policy.json has SHA-256');
    const manifest = await bundleFile('manifest.json', { ...signed, manifest: { ...signed.manifest, revision: 1000 } });
    const altered = await verify(manifest, '--trust', 'keys/a.pub');
    expect(altered.result.refusal?.code, altered.stdout).toBe('signature.invalid');
    const garbled = await bundleFile('garbled.json', '{ "format": "tollgate.bundle/v1", ');
    const malformed = await verify(garbled, '--trust', 'keys/a.pub');
    expect(malformed).toMatchObject({ code: 1, result: { refusal: { code: 'bundle.malformed' } } });
    expect(malformed.result.refusal?.message).toMatch(/^signed\/garbled\.json:1:\d+: /);

    // Signing refuses content changed after the build.
    const resign = await runCli(['bundle', 'sign', content, '--key', 'keys/b.key'], tree.root);
    expect(resign.code).toBe(2);
    expect(resign.stderr).toContain('cannot sign: policies/shop/policy.json has SHA-256');
  });

  it('refuses a correctly signed bundle whose policy is schema-invalid or whose tests fail', async () => {
    const key = await readFile(join(tree.root, 'keys/a.key'), 'utf8');
    const base = parseBundle(unsigned);
    const invalid = await bundleFile('invalid.json', signBundle(withFile(base, 'policies/shop/policy.json', { ...SHOP_POLICY, default: 'maybe' }), key));
    const policy = await verify(invalid, '--trust', 'keys/a.pub');
    expect(policy.code).toBe(1);
    expect(policy.result.refusal?.code).toBe('policy.invalid');
    expect(policy.result.refusal?.message).toMatch(/^policies\/shop\/policy\.json:1:\d+: error TG010 .*\[at \/default\]/);
    // A signed bundle whose policy lint rejects is refused with lint's code, in the refusal's diagnostics too.
    const redos = { ...SHOP_POLICY, tools: { ...SHOP_POLICY.tools, read_order: { require: [{ path: 'args.id', op: 'regex', value: '^(a+)+$' }] } } };
    const redosFile = await bundleFile('redos.json', signBundle(withFile(base, 'policies/shop/policy.json', redos), key));
    const refused = await verify(redosFile, '--trust', 'keys/a.pub');
    expect(refused.code).toBe(1);
    expect(refused.result.refusal).toMatchObject({ code: 'policy.invalid', diagnostics: [{ code: 'TG101', file: 'policies/shop/policy.json', pointer: '/tools/read_order/require/0/value' }] });
    expect(refused.result.refusal?.message).toContain('error TG101 regex "^(a+)+$" is open to catastrophic backtracking');
    const failing = await bundleFile('failing.json', signBundle(withFile(base, 'policies/shop/shop.test.json', SHOP_TESTS_FAILING), key));
    const tests = await verify(failing, '--trust', 'keys/a.pub');
    expect(tests.result.refusal?.code).toBe('tests.failed');
    expect(tests.result.refusal?.message).toContain('case "small refunds need a manager too" failed');
  });

  it('signs with the PEM text of TOLLGATE_SIGNING_KEY when given no --key, and needs one or the other', async () => {
    const file = await bundleFile('env.json', unsigned);
    const pem = await readFile(join(tree.root, 'keys/c.key'), 'utf8');
    const out = await runCli(['bundle', 'sign', file, '--json'], tree.root, { TOLLGATE_SIGNING_KEY: pem });
    expect(out.code, out.stderr).toBe(0);
    const verified = await verify(file, '--trust', 'keys/c.pub');
    expect(verified.code).toBe(0);
    const none = await runCli(['bundle', 'sign', file], tree.root, { TOLLGATE_SIGNING_KEY: '' });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('give the signing key: --key <prefix>.key, or its PEM text in TOLLGATE_SIGNING_KEY');
    const garbage = await runCli(['bundle', 'sign', file], tree.root, { TOLLGATE_SIGNING_KEY: 'not a key' });
    expect(garbage.code).toBe(2);
    expect(garbage.stderr).toContain('TOLLGATE_SIGNING_KEY: not a PEM private key');
  });

  it('refuses an expired bundle', async () => {
    const built = await runCli(['bundle', 'build', '--out', '../signed/expiring.json', '--expires', new Date(Date.now() + 3000).toISOString()], repo);
    expect(built.code, built.stderr).toBe(0);
    expect((await runCli(['bundle', 'sign', 'signed/expiring.json', '--key', 'keys/a.key'], tree.root)).code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 3100));
    const expired = await verify('signed/expiring.json', '--trust', 'keys/a.pub');
    expect(expired.code).toBe(1);
    expect(expired.result.refusal?.code).toBe('bundle.expired');
    expect(expired.result.refusal?.message).toMatch(/^the bundle expired at \d{4}-/);
  });

  it('input errors exit 2: a threshold above the trusted keys, a public key given as the signing key, a missing file', async () => {
    const file = await bundleFile('inputs.json', unsigned);
    const threshold = await runCli(['bundle', 'verify', file, '--trust', 'keys/a.pub', '--threshold', '2'], tree.root);
    expect(threshold.code).toBe(2);
    expect(threshold.stderr).toContain('the threshold 2 is more than the 1 distinct trusted key');
    const wrongKey = await runCli(['bundle', 'sign', file, '--key', 'keys/a.pub'], tree.root);
    expect(wrongKey.code).toBe(2);
    expect(wrongKey.stderr).toContain('keys/a.pub: not a PEM private key');
    const missing = await runCli(['bundle', 'verify', 'signed/none.json', '--trust', 'keys/a.pub'], tree.root);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('signed/none.json: cannot read the bundle (no such file)');
  });
});
