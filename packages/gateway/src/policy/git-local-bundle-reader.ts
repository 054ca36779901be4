import { watch as watchFiles, type FSWatcher } from 'node:fs';
import { resolve } from 'node:path';
import type { SimpleGit } from 'simple-git';
import { GatewayError, errorMessage } from '../gateway-error.js';
import type { GitBundleReader } from './git-bundle-reader.js';
import { gitClient } from './git-environment.js';

/** Options of {@link GitLocalBundleReader}. */
export interface GitLocalBundleReaderOptions {
  /** The repository's working tree or bare directory (absolute). */
  readonly repo: string;
  readonly ref: string;
  /** The bundle's path in the repository. */
  readonly path: string;
}

/**
 * Reads the bundle committed at `ref` straight from a repository on this machine
 * (`git cat-file blob <commit>:<path>`): what counts is the commit, never the working tree,
 * so an uncommitted edit is not enforced.
 *
 * @example
 * const reader = new GitLocalBundleReader({ repo: '/srv/policies', ref: 'main', path: 'bundles/bundle.json' });
 * const text = await reader.read(await reader.resolve());
 */
export class GitLocalBundleReader implements GitBundleReader {
  readonly location: string;
  readonly #options: GitLocalBundleReaderOptions;
  #git: SimpleGit | undefined;
  readonly #watchers: FSWatcher[] = [];

  constructor(options: GitLocalBundleReaderOptions) {
    this.#options = options;
    this.location = `${options.repo}@${options.ref}:${options.path}`;
  }

  async resolve(): Promise<string> {
    return resolveRef(this.#client(), this.#options.ref, this.#options.repo);
  }

  async read(commit: string): Promise<string> {
    return readBlob(this.#client(), commit, this.#options.path, this.#options.repo);
  }

  /** The git client, made on first use: the repository may be away when the gateway starts. */
  #client(): SimpleGit {
    try {
      return (this.#git ??= gitClient(this.#options.repo));
    } catch (error) {
      throw unavailable(this.#options.repo, error);
    }
  }

  async watch(onChange: () => void): Promise<() => void> {
    let gitDir: string;
    try {
      gitDir = resolve(this.#options.repo, (await this.#client().revparse(['--git-common-dir'])).trim());
    } catch (error) {
      throw error instanceof GatewayError ? error : unavailable(this.#options.repo, error);
    }
    // A ref moves by renaming `<ref>.lock` over it (refs/…), or by rewriting packed-refs
    // or HEAD in the git directory itself; the objects are written before the ref moves.
    const fire = (): void => onChange();
    const started = [watchFiles(gitDir, fire), watchFiles(resolve(gitDir, 'refs'), { recursive: true }, fire)];
    for (const w of started) {
      w.on('error', () => undefined);
      this.#watchers.push(w);
    }
    return () => {
      for (const w of started) w.close();
    };
  }

  async close(): Promise<void> {
    for (const w of this.#watchers.splice(0)) w.close();
  }
}

/** The commit `ref` names in the repository at `git`. */
export async function resolveRef(git: SimpleGit, ref: string, where: string): Promise<string> {
  try {
    return (await git.revparse(['--verify', '--quiet', '--end-of-options', `${ref}^{commit}`])).trim();
  } catch (error) {
    const detail = errorMessage(error).trim();
    throw new GatewayError('policy.unavailable', `cannot resolve "${ref}" in the policy repository ${where}${detail ? `: ${detail}` : ': no such branch, tag or commit'}`, { cause: error });
  }
}

/** The bytes of `path` in `commit`. */
export async function readBlob(git: SimpleGit, commit: string, path: string, where: string): Promise<string> {
  try {
    return await git.raw(['cat-file', 'blob', `${commit}:${path}`]);
  } catch (error) {
    throw new GatewayError('policy.unavailable', `there is no ${path} in commit ${commit} of the policy repository ${where} (${errorMessage(error).trim()}): commit a signed bundle there (tollgate bundle build && tollgate bundle sign)`, {
      cause: error,
    });
  }
}

function unavailable(repo: string, error: unknown): GatewayError {
  return new GatewayError('policy.unavailable', `${repo} is not a Git repository the gateway can read: ${errorMessage(error).trim()}`, { cause: error });
}
