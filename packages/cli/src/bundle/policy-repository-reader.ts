import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { BundleSourceFile } from '@tollgate/policy';
import { gitClient } from '@tollgate/gateway/git';
import type { SimpleGit } from 'simple-git';
import { CliError, ExitCode } from '../cli-error.js';
import { DEFAULT_POLICY_PATH, discoverPolicyFiles, readPolicyFile, type FoundFile } from '../policy-files.js';

/** Where a repository's policy files stand in Git. */
export interface RepositoryRevision {
  /** The directory is inside a Git work tree. */
  readonly repository: boolean;
  /** The commit of HEAD, or null outside Git (or before the first commit). */
  readonly commit: string | null;
  /** The number of commits reachable from HEAD (`git rev-list --count HEAD`); null without a commit. */
  readonly commitCount: number | null;
  /** When HEAD was committed (committer date); null without a commit. */
  readonly committedAt: Date | null;
  /** The policy files differ from HEAD: modified, staged, deleted or untracked files under `policies/`. */
  readonly dirty: boolean;
}

/** The policy files of a repository, read from its working tree, and its Git state. */
export interface PolicyRepositorySnapshot {
  /** The repository directory, absolute. */
  readonly root: string;
  /** Every policy, catalog and test file under `policies/<server>/`, paths relative to the root. */
  readonly files: readonly BundleSourceFile[];
  readonly git: RepositoryRevision;
}

/**
 * Reads the Git state of the repository at `root` with simple-git (the gateway's allow-listed
 * git environment, so the caller's EDITOR or GIT_SSH_COMMAND cannot get in the way): HEAD, its
 * commit count, and whether anything under `policies/` differs from it. Outside a Git
 * repository every field is empty.
 *
 * @throws CliError exit 2 `git.failed` with git's own message when git fails for any other
 *   reason than "not a git repository" (git missing, a dubious-ownership refusal, …).
 */
export async function readRepositoryRevision(root: string): Promise<RepositoryRevision> {
  const git = gitClient(root);
  let inside: boolean;
  try {
    // simple-git answers false only for git's own "not a git repository"; any other failure is shown as it is.
    inside = await git.checkIsRepo();
  } catch (error) {
    throw gitFailed(root, error);
  }
  if (!inside) return { repository: false, commit: null, commitCount: null, committedAt: null, dirty: false };
  try {
    return await readRevision(git);
  } catch (error) {
    throw gitFailed(root, error);
  }
}

async function readRevision(git: SimpleGit): Promise<RepositoryRevision> {
  // `--quiet` makes a missing HEAD (no commit yet) an empty answer with exit status 1, not a message.
  const commit = (await git.raw(['rev-parse', '--verify', '--quiet', 'HEAD^{commit}']).catch((error: unknown) => {
    if (/^\s*$/.test(error instanceof Error ? error.message : String(error))) return '';
    throw error;
  })).trim();
  const status = await git.raw(['status', '--porcelain', '--untracked-files=all', '--', DEFAULT_POLICY_PATH]);
  if (commit === '') return { repository: true, commit: null, commitCount: null, committedAt: null, dirty: true };
  const count = Number((await git.raw(['rev-list', '--count', 'HEAD'])).trim());
  const seconds = Number((await git.raw(['show', '-s', '--format=%ct', 'HEAD'])).trim());
  return {
    repository: true,
    commit,
    commitCount: Number.isSafeInteger(count) ? count : null,
    committedAt: Number.isSafeInteger(seconds) ? new Date(seconds * 1000) : null,
    dirty: status.trim() !== '',
  };
}

/**
 * Reads every `policies/<server>/policy.{json,yaml,yml}`, `catalog.json` and `*.test.json`
 * (or `.yaml`) of the repository at `repo`, as it is in the working tree, and its Git state.
 *
 * @throws CliError exit 2 `bundle.no-policies` when there is no `policies/` directory, or
 *   discovery's errors (`policy.ambiguous`, `file.unreadable`, …) naming the path.
 */
export async function readPolicyRepository(repo: string, cwd: string = process.cwd()): Promise<PolicyRepositorySnapshot> {
  const root = resolve(cwd, repo);
  const policiesDir = join(root, DEFAULT_POLICY_PATH);
  const isDirectory = await stat(policiesDir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDirectory) {
    throw new CliError('bundle.no-policies', `${repo}: has no ${DEFAULT_POLICY_PATH}/ directory`, {
      exit: ExitCode.input,
      hint: 'Run the command in a policy repository (policies/<server>/policy.json), or name it: tollgate bundle build <repo>. `tollgate init` creates one.',
    });
  }
  // Paths are shown relative to the repository: they are the bundle's paths.
  const found = await discoverPolicyFiles([policiesDir], { cwd: root });
  const wanted: FoundFile[] = [];
  for (const p of found.policies) {
    wanted.push(p.policy);
    if (p.catalog) wanted.push(p.catalog);
  }
  wanted.push(...found.tests);
  const files = await Promise.all(wanted.map(async (f) => ({ path: f.path, text: await readPolicyFile(f) })));
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { root, files, git: await readRepositoryRevision(root) };
}

function gitFailed(root: string, error: unknown): CliError {
  const message = (error instanceof Error ? error.message : String(error)).trim();
  return new CliError('git.failed', `${root}: git failed: ${message || 'no message'}`, {
    exit: ExitCode.input,
    hint: 'Fix what git reports (run `git status` in the repository to see it), or pass --revision N to build outside Git.',
    cause: error,
  });
}
