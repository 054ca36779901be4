import { BundleError, buildBundleWithSources, bundleDigest, compileBundle, parseDuration } from '@tollgate/policy';
import { CliError, ExitCode } from '../cli-error.js';
import { writeBundleFile } from './bundle-file-store.js';
import type { BundleSummary } from './bundle-summary.js';
import { readPolicyRepository } from './policy-repository-reader.js';

/** Options of {@link buildBundleFile}: the flags of `tollgate bundle build`. */
export interface BundleBuildOptions {
  /** The policy repository (default `.`). */
  readonly repo?: string;
  /** Where the bundle is written. */
  readonly out: string;
  /** The revision; default: the commit count of HEAD. */
  readonly revision?: number;
  /** `30d`, `12h`… after the bundle's creation, an ISO 8601 time, or `never` (default). */
  readonly expires?: string;
  readonly cwd?: string;
  /** The current time (default now); also the creation time of a bundle not built from a clean commit. */
  readonly now?: Date;
  /** Told each step of the work as it starts (a progress display on a terminal). */
  readonly onProgress?: (step: string) => void;
}

/** What `tollgate bundle build` wrote. */
export interface BundleBuildResult extends BundleSummary {
  /** The files in the bundle (policies, catalogs, test files), sorted. */
  readonly files: readonly string[];
  /** Things the user should know (uncommitted changes). */
  readonly warnings: readonly string[];
}

/**
 * When a bundle created at `createdAt` expires: `never` (or nothing) is null, a duration
 * (`30d`, `12h`, `90m`) is that long after `createdAt`, an ISO 8601 time is that time.
 *
 * @throws CliError exit 2 `usage` for anything else, or a time not after `now`.
 */
export function parseExpiry(text: string | undefined, createdAt: Date, now: Date = createdAt): Date | null {
  if (text === undefined || text === 'never') return null;
  let at: Date | undefined;
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(text);
    if (!Number.isNaN(t)) at = new Date(t);
  } else {
    try {
      at = new Date(createdAt.getTime() + parseDuration(text));
    } catch {
      at = undefined;
    }
  }
  if (!at) throw new CliError('usage', `--expires: "${text}" is not a duration like "30d" or "12h", an ISO 8601 time, or "never"`, { exit: ExitCode.input });
  if (at.getTime() <= now.getTime() || at.getTime() <= createdAt.getTime()) {
    throw new CliError('usage', `--expires: the bundle would expire at ${at.toISOString()}, which is not after ${at.getTime() <= now.getTime() ? `now (${now.toISOString()})` : `its creation (${createdAt.toISOString()})`}`, {
      exit: ExitCode.input,
      hint: 'A duration counts from the bundle\'s creation time: the commit time of HEAD for a clean build. Give a longer duration or a later time.',
    });
  }
  return at;
}

/**
 * Builds a bundle from a policy repository's working tree and writes it: every policy,
 * catalog and test file under `policies/*\/` is parsed, validated, compiled and stored in
 * canonical form; the bundle's own tests are run; the revision defaults to the commit
 * count of HEAD and the commit is HEAD (simple-git). Nothing is written unless all of that
 * succeeds, and then atomically.
 *
 * @throws CliError exit 2 (`bundle.invalid`, `bundle.no-revision`, `bundle.no-policies`,
 *   `usage`, `bundle.unwritable`) or exit 1 (`bundle.tests_failed`).
 */
export async function buildBundleFile(options: BundleBuildOptions): Promise<BundleBuildResult> {
  const cwd = options.cwd ?? process.cwd();
  const repo = options.repo ?? '.';
  const now = options.now ?? new Date();
  options.onProgress?.(`reading the policies of ${repo} and their Git commit`);
  const snapshot = await readPolicyRepository(repo, cwd);
  const revision = options.revision ?? snapshot.git.commitCount;
  if (revision === null) {
    throw new CliError('bundle.no-revision', `${repo}: ${snapshot.git.repository ? 'has no commits yet' : 'is not in a Git repository'}, so the revision cannot be the commit count`, {
      exit: ExitCode.input,
      hint: 'Commit the policies, or pass --revision N (a number higher than any bundle the gateways have activated).',
    });
  }
  const gitCommit = snapshot.git.commit;
  const gitDirty = gitCommit !== null && snapshot.git.dirty;
  // A clean build is created "at" its commit, so building the same commit with the same flags
  // gives the same manifest, digest and (Ed25519 being deterministic) signatures: a re-run of
  // the signing workflow changes nothing, and anyone can rebuild a bundle to check it.
  const createdAt = gitCommit !== null && !gitDirty && snapshot.git.committedAt !== null ? snapshot.git.committedAt : now;
  const expiresAt = parseExpiry(options.expires, createdAt, now);
  options.onProgress?.(`building the bundle of ${snapshot.files.length} files (revision ${revision})`);
  const built = (() => {
    try {
      return buildBundleWithSources({ files: snapshot.files, revision, gitCommit, gitDirty, createdAt, expiresAt });
    } catch (error) {
      if (error instanceof BundleError) {
        throw new CliError(error.code, error.message, { exit: ExitCode.input, hint: 'Fix the files (tollgate lint shows every finding), then build again.', cause: error });
      }
      throw error;
    }
  })();
  options.onProgress?.("compiling the bundle's policies and running its tests");
  const compiled = compileBundle(built.bundle, { sources: built.sources });
  if (!compiled.ok) {
    const failed = compiled.code === 'tests.failed';
    throw new CliError(failed ? 'bundle.tests_failed' : 'bundle.invalid', `the bundle was not written: ${compiled.message}`, {
      exit: failed ? ExitCode.findings : ExitCode.input,
      hint: failed ? 'Run `tollgate test` to see every failing case; fix the policy or the tests, then build again.' : 'Fix the files, then build again.',
    });
  }
  options.onProgress?.(`writing ${options.out}`);
  const file = await writeBundleFile(options.out, built.bundle, cwd);
  const manifest = built.bundle.manifest;
  return {
    file,
    revision,
    git_commit: gitCommit,
    git_dirty: gitDirty,
    created_at: manifest.created_at,
    expires_at: manifest.expires_at,
    servers: [...compiled.policies.keys()].sort(),
    files: Object.keys(manifest.files),
    tests: compiled.testSummary,
    digest: bundleDigest(manifest),
    warnings: gitDirty
      ? [`the policy files differ from ${gitCommit!.slice(0, 12)} (HEAD): the bundle records "git_dirty": true; commit the changes and build again to bundle exactly what was reviewed`]
      : [],
  };
}
