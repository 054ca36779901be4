import { relative, resolve, sep } from 'node:path';
import { BundleError, canonicalDigest, parseBundle, parseSourceDocument, type PolicyBundle } from '@tollgate/policy';
import type { SimpleGit } from 'simple-git';
import { CliError, ExitCode } from '../cli-error.js';
import { CATALOG_FILE_NAME, POLICY_FILE_NAMES } from '../policy-files.js';
import { gitClient } from '@tollgate/gateway/git';
import { compileServerPolicy, readServerPolicyText, type ServerPolicy, type ServerPolicyText } from './server-policy-loader.js';

/** Where the bundle the gateway's Git source reads is committed, by default. */
export const DEFAULT_BUNDLE_PATH = 'bundles/bundle.json';

/** The most commits of each file's history that are searched. */
const MAX_COMMITS = 5000;

/**
 * Where the policy that decided a call was found: the working tree (its file has the recorded
 * digest), a commit (a version of the policy file in the repository's history), or a committed
 * signed bundle whose manifest has the recorded revision and the policy's digest.
 */
export interface PolicyProvenance {
  readonly kind: 'working-tree' | 'commit' | 'bundle';
  /** The file as shown: `policies/ccxt/policy.json`, `<commit>:<path>`, `<commit>:bundles/bundle.json#policies/ccxt/policy.json`. */
  readonly file: string;
  /** The commit it was read at (null for the working tree). */
  readonly commit: string | null;
  /**
   * For a bundle: its revision, the commit its files came from (`git_commit`), and how many
   * signatures it carries (not verified here: the policy is identified by its digest).
   */
  readonly bundle: { readonly revision: number; readonly git_commit: string | null; readonly signatures: number } | null;
}

/** The policy with the recorded digest, compiled with the catalog found beside it. */
export interface FoundPolicy {
  readonly policy: ServerPolicy;
  readonly provenance: PolicyProvenance;
}

/** Options of {@link findPolicyByDigest}. */
export interface FindPolicyOptions {
  readonly cwd: string;
  /** The policy repository (default: `cwd`). */
  readonly repo?: string;
  /** The policies directory inside it (default `policies`). */
  readonly dir: string;
  /** The committed bundle's path inside the repository (default `bundles/bundle.json`). */
  readonly bundlePath: string;
  readonly server: string;
  /** Hex SHA-256 of the policy's canonical JSON, as recorded. */
  readonly digest: string;
  /** The recorded policy revision (a bundle's), or null for a policy read from a directory. */
  readonly revision: string | null;
}

function digestOf(text: string, file: string): string | undefined {
  const parsed = parseSourceDocument(text, file);
  if (!parsed.document) return undefined;
  try {
    return canonicalDigest(parsed.document.value);
  } catch {
    return undefined;
  }
}

/** The recorded revision as the number a compiled policy carries (null when there is none or it is not a number). */
export function revisionNumber(revision: string | null): number | null {
  return revision !== null && /^\d{1,15}$/.test(revision) ? Number(revision) : null;
}

interface TreeEntry {
  readonly blob: string;
  readonly path: string;
}

async function lsTree(git: SimpleGit, commit: string, paths: readonly string[]): Promise<TreeEntry[]> {
  const out = await git.raw(['ls-tree', commit, '--', ...paths]);
  return out
    .split('\n')
    .map((line) => /^\d+ blob ([0-9a-f]+)\t(.+)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ blob: m[1]!, path: m[2]! }));
}

async function commitsTouching(git: SimpleGit, paths: readonly string[]): Promise<string[]> {
  const out = await git.raw(['rev-list', '--all', `--max-count=${MAX_COMMITS}`, '--', ...paths]);
  return out.split('\n').filter((l) => /^[0-9a-f]{40,64}$/.test(l));
}

/** What was searched, for the message when nothing matched. */
interface Searched {
  workingTree: string;
  repository: string | null;
  policyVersions: number;
  bundles: number;
}

/**
 * Finds the policy a recorded decision was made under, by its canonical digest: the working
 * tree's `<dir>/<server>/policy.*` when its digest matches; else, in the policy repository's Git
 * history (every branch and tag), a committed signed bundle (`bundlePath`) whose manifest has the
 * recorded revision and lists the server's policy with that digest, or a version of the policy
 * file whose digest matches (a recorded revision is tried in bundles first). The catalog read
 * with it — beside the file, at the same commit, or in the same bundle — gives the input schemas.
 *
 * @throws CliError exit 2 `explain.policy-not-found` saying what was searched;
 *   `policy.invalid` / `catalog.invalid` when the matching version does not compile.
 */
export async function findPolicyByDigest(options: FindPolicyOptions): Promise<FoundPolicy> {
  const root = resolve(options.cwd, options.repo ?? '.');
  const revision = revisionNumber(options.revision);
  const searched: Searched = { workingTree: 'no policy file', repository: null, policyVersions: 0, bundles: 0 };

  let text: ServerPolicyText | undefined;
  try {
    text = await readServerPolicyText(resolve(root, options.dir), options.server, options.cwd);
  } catch (error) {
    if (!(error instanceof CliError && (error.code === 'eval.unknown-server' || error.code === 'path.not-found'))) throw error;
  }
  if (text !== undefined) {
    const digest = digestOf(text.text, text.file);
    searched.workingTree = `${text.file}, digest ${digest ? digest.slice(0, 12) : 'none (it does not parse)'}`;
    if (digest === options.digest) {
      return { policy: compileServerPolicy({ ...text, revision }), provenance: { kind: 'working-tree', file: text.file, commit: null, bundle: null } };
    }
  }

  let git: SimpleGit;
  let top: string;
  try {
    top = (await gitClient(root).revparse(['--show-toplevel'])).trim();
    git = gitClient(top);
  } catch {
    throw notFound(options, searched);
  }
  searched.repository = top;
  const rel = relative(top, resolve(root, options.dir)).split(sep).join('/');
  const serverDir = rel === '' ? options.server : `${rel}/${options.server}`;
  const bundlePath = relative(top, resolve(root, options.bundlePath)).split(sep).join('/');

  const fromBundles = (): Promise<FoundPolicy | undefined> => searchBundles(git, bundlePath, options, revision, searched);
  const fromFiles = (): Promise<FoundPolicy | undefined> => searchPolicyFiles(git, serverDir, options, revision, searched);
  const found = revision !== null ? ((await fromBundles()) ?? (await fromFiles())) : ((await fromFiles()) ?? (await fromBundles()));
  if (found) return found;
  throw notFound(options, searched);
}

async function searchPolicyFiles(git: SimpleGit, serverDir: string, options: FindPolicyOptions, revision: number | null, searched: Searched): Promise<FoundPolicy | undefined> {
  const paths = POLICY_FILE_NAMES.map((n) => `${serverDir}/${n}`);
  const seen = new Set<string>();
  for (const commit of await commitsTouching(git, paths)) {
    for (const entry of await lsTree(git, commit, paths)) {
      if (seen.has(entry.blob)) continue;
      seen.add(entry.blob);
      searched.policyVersions += 1;
      const file = `${commit.slice(0, 12)}:${entry.path}`;
      const content = await git.raw(['cat-file', 'blob', entry.blob]);
      if (digestOf(content, entry.path) !== options.digest) continue;
      const [catalog] = await lsTree(git, commit, [`${serverDir}/${CATALOG_FILE_NAME}`]);
      const catalogText = catalog ? { file: `${commit.slice(0, 12)}:${catalog.path}`, text: await git.raw(['cat-file', 'blob', catalog.blob]) } : undefined;
      const policy = compileServerPolicy({ server: options.server, file, text: content, revision, ...(catalogText ? { catalog: catalogText } : {}) });
      return { policy, provenance: { kind: 'commit', file, commit, bundle: null } };
    }
  }
  return undefined;
}

async function searchBundles(git: SimpleGit, bundlePath: string, options: FindPolicyOptions, revision: number | null, searched: Searched): Promise<FoundPolicy | undefined> {
  const seen = new Set<string>();
  for (const commit of await commitsTouching(git, [bundlePath])) {
    for (const entry of await lsTree(git, commit, [bundlePath])) {
      if (seen.has(entry.blob)) continue;
      seen.add(entry.blob);
      searched.bundles += 1;
      let bundle: PolicyBundle;
      try {
        bundle = parseBundle(await git.raw(['cat-file', 'blob', entry.blob]), `${commit.slice(0, 12)}:${entry.path}`);
      } catch (error) {
        if (error instanceof BundleError) continue;
        throw error;
      }
      if (revision !== null && bundle.manifest.revision !== revision) continue;
      const match = Object.entries(bundle.manifest.files).find(([, f]) => f.kind === 'policy' && f.server === options.server && f.sha256 === options.digest);
      if (!match) continue;
      const [path] = match;
      const file = `${commit.slice(0, 12)}:${entry.path}#${path}`;
      const catalogPath = `policies/${options.server}/${CATALOG_FILE_NAME}`;
      const catalog = bundle.files[catalogPath];
      const policy = compileServerPolicy({
        server: options.server,
        file,
        text: JSON.stringify(bundle.files[path]),
        revision: bundle.manifest.revision,
        ...(catalog !== undefined ? { catalog: { file: `${commit.slice(0, 12)}:${entry.path}#${catalogPath}`, text: JSON.stringify(catalog) } } : {}),
      });
      return { policy, provenance: { kind: 'bundle', file, commit, bundle: { revision: bundle.manifest.revision, git_commit: bundle.manifest.git_commit, signatures: bundle.signatures.length } } };
    }
  }
  return undefined;
}

function notFound(options: FindPolicyOptions, searched: Searched): CliError {
  const what = `the policy of server "${options.server}" with digest ${options.digest}${options.revision !== null ? ` (revision ${options.revision})` : ''}`;
  const where = [
    `the working tree (${searched.workingTree})`,
    searched.repository === null
      ? 'no Git history (not a Git repository)'
      : `${searched.policyVersions} version${searched.policyVersions === 1 ? '' : 's'} of its policy file and ${searched.bundles} of ${options.bundlePath} in the history of ${searched.repository}`,
  ];
  return new CliError('explain.policy-not-found', `cannot find ${what}: searched ${where.join(' and ')}`, {
    exit: ExitCode.input,
    hint: 'Run in the policy repository the gateway\'s policy came from (or pass --repo and --dir), with its branches fetched (git fetch --all).',
  });
}
