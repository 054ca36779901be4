import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomically } from '@tollgate/ledger/atomic-file-writer';
import { GatewayError, errorMessage } from '../gateway-error.js';
import type { ActivatedBundle } from './bundle-facts.js';

/**
 * What the gateway remembers of the bundles it activated, across restarts: the rollback floor,
 * and when and where the active bundle (whose bytes are kept beside) was activated.
 */
export interface PolicyState extends Pick<ActivatedBundle, 'gitCommit' | 'commit' | 'activatedAt'> {
  /** The highest bundle revision ever activated here: anything lower is a rollback. */
  readonly highestRevision: number;
  /** The manifest digest of that revision's bundle: the same revision with other content is refused. */
  readonly highestDigest: string;
}

/** The state file's format tag. */
const STATE_FORMAT = 'tollgate.policy-state/v1';

/**
 * The Git policy source's memory in `state_dir`, and its last good state in memory
 * ({@link state}: what was last loaded or saved): `bundle.json` holds the exact bytes of the
 * last good bundle, `state.json` the highest activated revision and its digest. Both are
 * written to a temporary file, fsynced and renamed, and the directory is fsynced, so a crash
 * leaves either the old or the new file, never a torn one. The bundle is written before the
 * state, so the state never names a revision whose bundle is missing.
 *
 * @example
 * const store = new PolicyStateStore('.tollgate/policy');
 * const saved = await store.load(); // { bundleText, state } or undefined on first start
 * store.state?.highestRevision // the rollback floor
 */
export class PolicyStateStore {
  /** The state directory (absolute). */
  readonly dir: string;
  #state: PolicyState | undefined;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The state last loaded or saved: the rollback floor and the active bundle's activation; undefined before anything was. */
  get state(): PolicyState | undefined {
    return this.#state;
  }

  /** The file holding the last good bundle. */
  get bundleFile(): string {
    return join(this.dir, 'bundle.json');
  }

  /** The file holding {@link PolicyState}. */
  get stateFile(): string {
    return join(this.dir, 'state.json');
  }

  /**
   * Reads what an earlier run persisted; undefined when nothing was (a first start).
   * @throws GatewayError `policy.state` when a file exists but cannot be read or is corrupt:
   *   silently starting afresh would forget the rollback floor.
   */
  async load(): Promise<{ bundleText: string | undefined; state: PolicyState } | undefined> {
    const stateText = await readIfExists(this.stateFile);
    const bundleText = await readIfExists(this.bundleFile);
    if (stateText === undefined) {
      if (bundleText !== undefined) throw corrupt(this.stateFile, 'the file is missing while bundle.json exists');
      return undefined;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(stateText);
    } catch (error) {
      throw corrupt(this.stateFile, errorMessage(error));
    }
    const s = parsed as Record<string, unknown>;
    if (
      s === null ||
      typeof s !== 'object' ||
      s.format !== STATE_FORMAT ||
      !Number.isSafeInteger(s.highest_revision) ||
      typeof s.highest_digest !== 'string' ||
      !(s.git_commit === null || typeof s.git_commit === 'string') ||
      !(s.commit === null || typeof s.commit === 'string') ||
      typeof s.activated_at !== 'string' ||
      Number.isNaN(Date.parse(s.activated_at))
    ) {
      throw corrupt(this.stateFile, `expected { format: "${STATE_FORMAT}", highest_revision, highest_digest, git_commit, commit, activated_at }`);
    }
    this.#state = {
      highestRevision: s.highest_revision as number,
      highestDigest: s.highest_digest,
      gitCommit: s.git_commit as string | null,
      commit: s.commit as string | null,
      activatedAt: Date.parse(s.activated_at),
    };
    return { bundleText, state: this.#state };
  }

  /**
   * Persists a newly activated bundle and the new state, durably; {@link state} is the new
   * state once both are written.
   * @throws GatewayError `policy.state` when the directory cannot be written.
   */
  async save(bundleText: string, state: PolicyState): Promise<void> {
    try {
      await writeFileAtomically(this.bundleFile, bundleText, { mode: 0o600 });
      const body = {
        format: STATE_FORMAT,
        highest_revision: state.highestRevision,
        highest_digest: state.highestDigest,
        git_commit: state.gitCommit,
        commit: state.commit,
        activated_at: new Date(state.activatedAt).toISOString(),
      };
      await writeFileAtomically(this.stateFile, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
      this.#state = state;
    } catch (error) {
      throw new GatewayError('policy.state', `cannot persist the active bundle in ${this.dir}: ${errorMessage(error)}`, { cause: error });
    }
  }
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new GatewayError('policy.state', `cannot read ${file}: ${errorMessage(error)}`, { cause: error });
  }
}

function corrupt(file: string, why: string): GatewayError {
  return new GatewayError('policy.state', `the policy state ${file} is corrupt (${why}); it holds the rollback floor, so the gateway will not start without it: restore it, or remove the state directory to start afresh`);
}
