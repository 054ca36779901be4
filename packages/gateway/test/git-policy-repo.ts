import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildBundle, generateSigningKey, signBundle, type PolicyBundle } from '@tollgate/policy';
import { simpleGit, type SimpleGit } from 'simple-git';

/** A signing key as `generateSigningKey` makes it. */
export type TestKey = ReturnType<typeof generateSigningKey>;

/** What goes into one commit of the test policy repository. */
export interface BundleCommit {
  readonly revision: number;
  /** Whether the policy allows `echo` (the call the tests flip). */
  readonly allowEcho: boolean;
  /** Denies `trigger-long-running-operation` (allowed by default). */
  readonly denyLong?: boolean;
  /** Keys that sign the bundle (default: the repository's own key). */
  readonly signers?: readonly TestKey[];
  /** Default: a day after now. */
  readonly expiresAt?: Date | null;
  /** Default: now. */
  readonly createdAt?: Date;
  /** Servers the bundle governs (default `["everything"]`). */
  readonly servers?: readonly string[];
  /** Adds a test expecting the opposite of what the policy decides for echo. */
  readonly failingTest?: boolean;
  /** Changes the bundle before it is signed (the signatures then cover the change). */
  readonly edit?: (bundle: PolicyBundle) => PolicyBundle;
  /** Changes the bundle after signing (for tampering cases). */
  readonly tamper?: (bundle: PolicyBundle) => PolicyBundle;
  /** Replaces the bundle's text outright. */
  readonly text?: string;
}

/** The policy of the `everything` upstream at one revision. */
export function testPolicy(allowEcho: boolean, revision: number, denyLong = false): Record<string, unknown> {
  return {
    version: '1',
    default: 'deny',
    tools: {
      'trigger-long-running-operation': denyLong ? { action: 'deny', reason: `long operations are off in revision ${revision}` } : {},
      echo: allowEcho ? {} : { action: 'deny', reason: `echo is switched off in revision ${revision}` },
    },
  };
}

/** The signed bundle text of a {@link BundleCommit}. */
export function bundleText(spec: BundleCommit, keys: readonly TestKey[]): string {
  if (spec.text !== undefined) return spec.text;
  const files = (spec.servers ?? ['everything']).flatMap((server) => {
    const out = [{ path: `policies/${server}/policy.json`, text: JSON.stringify(testPolicy(spec.allowEcho, spec.revision, spec.denyLong)) }];
    const expected = spec.failingTest ? !spec.allowEcho : spec.allowEcho;
    out.push({
      path: `policies/${server}/echo.test.json`,
      text: JSON.stringify({ policy: 'policy.json', cases: [{ name: 'echo', call: { tool: 'echo', args: { message: 'hi' } }, expect: { effect: expected ? 'allow' : 'deny' } }] }),
    });
    return out;
  });
  const createdAt = spec.createdAt ?? new Date();
  let bundle = buildBundle({
    files,
    revision: spec.revision,
    gitCommit: null,
    createdAt,
    expiresAt: spec.expiresAt === undefined ? new Date(createdAt.getTime() + 86_400_000) : spec.expiresAt,
  });
  if (spec.edit) bundle = spec.edit(bundle);
  for (const signer of spec.signers ?? keys) bundle = signBundle(bundle, signer.privateKeyPem);
  if (spec.tamper) bundle = spec.tamper(bundle);
  return `${JSON.stringify(bundle, null, 2)}\n`;
}

/** The repository's default signers: every bundle is signed by both unless a commit says otherwise. */
export interface PolicyRepoOptions {
  readonly keys?: readonly TestKey[];
}

/** A real Git repository in a temporary directory holding signed bundles at `bundles/bundle.json`. */
export interface PolicyRepo {
  readonly dir: string;
  readonly git: SimpleGit;
  /** The keys that sign by default. */
  readonly keys: readonly TestKey[];
  /** Writes and commits a bundle on `main`; resolves with the commit id. */
  commit(spec: BundleCommit): Promise<string>;
  remove(): Promise<void>;
}

/** Creates a repository with user name and email set locally and `main` as its branch. */
export async function createPolicyRepo(options: PolicyRepoOptions = {}): Promise<PolicyRepo> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-policy-repo-'));
  const git = simpleGit(dir);
  await git.init(['--initial-branch=main', '--quiet']);
  await git.addConfig('user.name', 'Policy Bot');
  await git.addConfig('user.email', 'policy-bot@example.test');
  await git.addConfig('commit.gpgsign', 'false');
  const keys = options.keys ?? [generateSigningKey()];
  const file = join(dir, 'bundles/bundle.json');
  return {
    dir,
    git,
    keys,
    async commit(spec) {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, bundleText(spec, keys));
      await git.add('bundles/bundle.json');
      await git.commit(`bundle revision ${spec.revision}`, ['--allow-empty', '--quiet']);
      return (await git.revparse(['HEAD'])).trim();
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
