import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SimpleGit } from 'simple-git';
import { GatewayError, errorMessage } from '../gateway-error.js';
import type { GitBundleReader } from './git-bundle-reader.js';
import { gitClient } from './git-environment.js';
import { readBlob, resolveRef } from './git-local-bundle-reader.js';

/** Options of {@link GitRemoteBundleReader}. */
export interface GitRemoteBundleReaderOptions {
  /** The remote's URL (`file://`, `https://`, `ssh://`, `git@host:path`). */
  readonly url: string;
  readonly ref: string;
  readonly path: string;
  /** Where the mirror clone lives: `<stateDir>/repo.git`. */
  readonly stateDir: string;
}

/**
 * Reads the bundle from a remote repository: the first use clones it (`git clone --mirror`,
 * into a temporary directory renamed into place) into the state directory, and every
 * {@link resolve} fetches, so branch resets and force pushes are followed exactly.
 *
 * @example
 * const reader = new GitRemoteBundleReader({ url: 'https://github.com/acme/policies.git', ref: 'main', path: 'bundles/bundle.json', stateDir: '.tollgate/policy' });
 */
export class GitRemoteBundleReader implements GitBundleReader {
  readonly location: string;
  readonly #options: GitRemoteBundleReaderOptions;
  readonly #mirror: string;
  /** The URL as shown in messages, the admin API and the ledger: without its password or token. */
  readonly #shown: string;
  #git: SimpleGit | undefined;

  constructor(options: GitRemoteBundleReaderOptions) {
    this.#options = options;
    this.#shown = redactUrl(options.url);
    this.location = `${this.#shown}@${options.ref}:${options.path}`;
    this.#mirror = join(options.stateDir, 'repo.git');
  }

  async resolve(): Promise<string> {
    const git = await this.#fetch();
    return resolveRef(git, this.#options.ref, this.#shown);
  }

  async read(commit: string): Promise<string> {
    const git = this.#git ?? gitClient(this.#mirror);
    return readBlob(git, commit, this.#options.path, this.#shown);
  }

  async close(): Promise<void> {}

  async #fetch(): Promise<SimpleGit> {
    const { url } = this.#options;
    try {
      if (this.#git === undefined && (await this.#mirrorOf()) !== url) await this.#clone();
      const git = (this.#git ??= gitClient(this.#mirror));
      await git.fetch(['--prune', '--quiet', 'origin']);
      return git;
    } catch (error) {
      if (error instanceof GatewayError) throw error;
      throw new GatewayError('policy.unavailable', `cannot fetch the policy repository ${this.#shown}: ${this.#hide(errorMessage(error).trim())}`);
    }
  }

  /** `text` (git's own words) with the URL's credentials taken out. */
  #hide(text: string): string {
    return text.split(this.#options.url).join(this.#shown);
  }

  /** The URL the existing mirror was cloned from, or undefined when there is none. */
  async #mirrorOf(): Promise<string | undefined> {
    const exists = await stat(join(this.#mirror, 'HEAD')).then(
      () => true,
      () => false,
    );
    if (!exists) return undefined;
    return (await gitClient(this.#mirror).raw(['config', '--get', 'remote.origin.url']).catch(() => '')).trim() || undefined;
  }

  async #clone(): Promise<void> {
    await mkdir(this.#options.stateDir, { recursive: true });
    const temp = `${this.#mirror}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await gitClient(this.#options.stateDir).clone(this.#options.url, temp, ['--mirror', '--quiet']);
      await rm(this.#mirror, { recursive: true, force: true });
      await rename(temp, this.#mirror);
    } catch (error) {
      await rm(temp, { recursive: true, force: true });
      throw new GatewayError('policy.unavailable', `cannot clone the policy repository ${this.#shown}: ${this.#hide(errorMessage(error).trim())}`);
    }
  }
}

/**
 * A URL without the password or token in its user part (`https://x-access-token:secret@host/…`
 * becomes `https://x-access-token:***@host/…`), for anything shown or recorded.
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@:]*):[^/@]*@/i, '$1$2:***@');
}
