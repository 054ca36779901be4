import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { catalogInputSchemas, formatDiagnostic, isPolicyFileName, isServerDirectoryName, loadPolicy, parseCatalog, policyFileConflict, type Catalog, type Diagnostic, type PolicySetEntry } from '@tollgate/policy';
import { gitClient, isNotARepositoryError } from '@tollgate/gateway/git';
import type { SimpleGit } from 'simple-git';
import { CliError, ExitCode } from '../cli-error.js';
import { CATALOG_FILE_NAME, DEFAULT_POLICY_PATH } from '../policy-files.js';

/** The names that select the working tree instead of a ref. */
export const WORKING_TREE_NAMES: readonly string[] = Object.freeze(['.', 'WORKTREE']);

/** The base `tollgate diff` compares against when given none. */
export const DEFAULT_BASE_REF = 'origin/main';

/** A Git repository opened for reading policies: the client and its top-level directory. */
export interface PolicyRepository {
  readonly git: SimpleGit;
  readonly root: string;
}

/** One side of a diff: where its policies were read from, and the compiled policies. */
export interface PolicySetSource {
  /** What the user named: a ref (`origin/main`, `HEAD~1`, a commit) or `working tree`. */
  readonly label: string;
  /** The commit the ref resolved to; null for the working tree. */
  readonly commit: string | null;
  /** The policy files read, as shown in messages. */
  readonly files: readonly string[];
  readonly entries: readonly PolicySetEntry[];
}

/** Where one server's files are, inside the repository. */
interface ServerFiles {
  policy: string | undefined;
  catalog: string | undefined;
  extraPolicies: string[];
}

/**
 * Opens the Git repository containing `cwd` (simple-git, with the allow-listed git environment).
 *
 * @throws CliError exit 2 `diff.not-a-repository` when git says `cwd` is not inside one, or
 *   `git.failed` with git's own message for any other failure.
 */
export async function openPolicyRepository(cwd: string): Promise<PolicyRepository> {
  let root: string;
  try {
    root = (await gitClient(cwd).revparse(['--show-toplevel'])).trim();
  } catch (error) {
    // Only git's own "not a git repository" means that; any other failure is shown as git said it.
    if (isNotARepositoryError(error)) {
      throw new CliError('diff.not-a-repository', `${cwd} is not inside a Git repository`, {
        exit: ExitCode.input,
        hint: 'Run tollgate diff in a policy repository (git init, then commit the policies/ directory).',
        cause: error,
      });
    }
    throw new CliError('git.failed', `${cwd}: git failed: ${(error instanceof Error ? error.message : String(error)).trim() || 'no message'}`, {
      exit: ExitCode.input,
      hint: 'Fix what git reports (run `git status` there to see it).',
      cause: error,
    });
  }
  return { git: gitClient(root), root };
}

/** True when `name` selects the working tree rather than a ref. */
export function isWorkingTree(name: string | undefined): boolean {
  return name === undefined || WORKING_TREE_NAMES.includes(name);
}

/**
 * Resolves a ref to its commit.
 *
 * @throws CliError exit 2 `diff.ref-not-found`, suggesting refs that exist.
 */
export async function resolveRef(repo: PolicyRepository, ref: string, role: 'base' | 'head'): Promise<string> {
  const commit = (await repo.git.raw(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]).catch(() => '')).trim();
  if (commit) return commit;
  const known = (await repo.git.raw(['for-each-ref', '--format=%(refname:short)', 'refs/heads', 'refs/remotes', 'refs/tags']).catch(() => ''))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.endsWith('/HEAD'));
  const hasParent = (await repo.git.raw(['rev-parse', '--verify', '--quiet', 'HEAD~1^{commit}']).catch(() => '')).trim() !== '';
  const suggestions = [...known.slice(0, 5), ...(hasParent ? ['HEAD~1'] : [])];
  const hint =
    ref === DEFAULT_BASE_REF
      ? `There is no ${DEFAULT_BASE_REF} here (run \`git fetch origin\`, or name the base: tollgate diff <base> [head])${suggestions.length > 0 ? `; refs that exist: ${suggestions.join(', ')}` : ''}.`
      : suggestions.length > 0
        ? `Name a branch, tag or commit that exists, e.g. ${suggestions.join(', ')}.`
        : 'The repository has no commits yet: commit the policies first.';
  throw new CliError('diff.ref-not-found', `${role} ref "${ref}" does not exist in ${repo.root}`, { exit: ExitCode.input, hint });
}

function groupServerFiles(paths: readonly string[], policiesDir: string): Map<string, ServerFiles> {
  const servers = new Map<string, ServerFiles>();
  const prefix = `${policiesDir.replace(/\/+$/, '')}/`;
  for (const path of paths) {
    if (!path.startsWith(prefix)) continue;
    const parts = path.slice(prefix.length).split('/');
    if (parts.length !== 2) continue;
    const [server, name] = parts as [string, string];
    // The same servers as lint and test discover: not hidden directories, not node_modules.
    if (!isServerDirectoryName(server)) continue;
    const files = servers.get(server) ?? { policy: undefined, catalog: undefined, extraPolicies: [] };
    if (isPolicyFileName(name)) {
      if (files.policy === undefined) files.policy = path;
      else files.extraPolicies.push(path);
    } else if (name === CATALOG_FILE_NAME) {
      files.catalog = path;
    }
    servers.set(server, files);
  }
  return servers;
}

function invalid(kind: 'policy' | 'catalog', file: string, diagnostics: readonly Diagnostic[]): CliError {
  const errors = diagnostics.filter((d) => d.severity === 'error');
  const shown = errors.slice(0, 10).map(formatDiagnostic);
  const more = errors.length > shown.length ? `\n  … and ${errors.length - shown.length} more` : '';
  return new CliError(`diff.${kind}-invalid`, `${file}: the ${kind} is not valid:\n  ${shown.join('\n  ')}${more}`, {
    exit: ExitCode.input,
    hint: `Fix the ${kind} (tollgate lint shows every finding), or compare other refs.`,
  });
}

async function buildSet(label: string, commit: string | null, servers: Map<string, ServerFiles>, read: (path: string) => Promise<string>, shown: (path: string) => string): Promise<PolicySetSource> {
  const entries: PolicySetEntry[] = [];
  const files: string[] = [];
  for (const [server, f] of [...servers].sort(([a], [b]) => a.localeCompare(b))) {
    if (f.policy === undefined) continue;
    const conflict = policyFileConflict([f.policy, ...f.extraPolicies].map(shown));
    if (conflict) {
      throw new CliError('policy.ambiguous', formatDiagnostic({ ...conflict, hint: undefined }), { exit: ExitCode.input, hint: conflict.hint ?? 'Keep one policy file per server directory.' });
    }
    const file = shown(f.policy);
    let catalog: Catalog | undefined;
    if (f.catalog !== undefined) {
      const catalogFile = shown(f.catalog);
      const parsed = parseCatalog(await read(f.catalog), catalogFile);
      if (!parsed.catalog) throw invalid('catalog', catalogFile, parsed.diagnostics);
      catalog = parsed.catalog;
    }
    // Bound to the catalog's input schemas, the policy refuses invalid arguments as the gateway does.
    const loaded = loadPolicy(await read(f.policy), file, { server, ...(catalog ? { inputSchemas: catalogInputSchemas(catalog) } : {}) });
    if (!loaded.policy) throw invalid('policy', file, loaded.diagnostics);
    files.push(file);
    entries.push({ server, policy: loaded.policy, catalog });
  }
  return { label, commit, files, entries };
}

/**
 * Reads every `policies/<server>/policy.{json,yaml,yml}` (and the `catalog.json` beside it)
 * at a ref, through Git: `git ls-tree -r --name-only <commit> -- policies`, then
 * `git show <commit>:<path>`. Files are named `<ref>:<path>` in messages.
 *
 * @throws CliError exit 2: `diff.ref-not-found`, `diff.policy-invalid` / `diff.catalog-invalid`
 *   with file:line:col, `policy.ambiguous` (the TG004 finding: a server directory with two policy files).
 */
export async function readPolicySetAtRef(repo: PolicyRepository, ref: string, role: 'base' | 'head', policiesDir = DEFAULT_POLICY_PATH): Promise<PolicySetSource> {
  const commit = await resolveRef(repo, ref, role);
  const listing = await repo.git.raw(['ls-tree', '-r', '--name-only', commit, '--', policiesDir]);
  const servers = groupServerFiles(listing.split('\n').filter(Boolean), policiesDir);
  return buildSet(ref, commit, servers, (path) => repo.git.show([`${commit}:${path}`]), (path) => `${ref}:${path}`);
}

/**
 * Reads the same files from the working tree (what is on disk, committed or not). Files
 * are named by their path in the repository.
 *
 * @throws CliError exit 2 as {@link readPolicySetAtRef}, and `path.unreadable`.
 */
export async function readWorkingTreePolicySet(repo: PolicyRepository, policiesDir = DEFAULT_POLICY_PATH): Promise<PolicySetSource> {
  const base = join(repo.root, policiesDir);
  const paths: string[] = [];
  let servers: string[] = [];
  try {
    servers = (await readdir(base, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new CliError('path.unreadable', `${policiesDir}: the directory cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { exit: ExitCode.input, cause: error });
    }
  }
  for (const server of servers) {
    for (const e of await readdir(join(base, server), { withFileTypes: true })) if (!e.isDirectory()) paths.push(`${policiesDir}/${server}/${e.name}`);
  }
  return buildSet('working tree', null, groupServerFiles(paths, policiesDir), (path) => readFile(join(repo.root, path), 'utf8'), (path) => path);
}
