import { revisionText, type BundleRefusalCode, type CompiledPolicy, type LimitStore } from '@tollgate/policy';
import type { Logger } from 'pino';
import type { GitPolicyConfig } from '../config/gateway-config.js';
import { GatewayError, errorMessage } from '../gateway-error.js';
import type { DecisionSink } from '../ledger/decision-sink.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { activationDetail, type ActivatedBundle } from './bundle-facts.js';
import { BundleAdmitter, type Admission, type AdmittedBundle } from './git-bundle-admitter.js';
import type { BundleChecker } from './git-bundle-check-thread.js';
import type { GitBundleReader } from './git-bundle-reader.js';
import { GitCheckScheduler } from './git-check-scheduler.js';
import { GitLocalBundleReader } from './git-local-bundle-reader.js';
import { GitRemoteBundleReader } from './git-remote-bundle-reader.js';
import type { ActivePolicy, GitSourceStatus, PolicySource, SourceRefusal } from './policy-source.js';
import { PolicyStateStore, type PolicyState } from './policy-state-store.js';

/**
 * Why the Git source refused a bundle: the verifier's reasons (DESIGN §6), plus
 * `bundle.incomplete` (no policy for a configured upstream) and `bundle.equivocation`
 * (the active revision number with different content).
 */
export type GitRefusalCode = BundleRefusalCode | 'bundle.incomplete' | 'bundle.equivocation';

/** What one check of the repository came to. */
export type GitCheckOutcome =
  | { readonly outcome: 'activated'; readonly revision: number; readonly commit: string }
  | { readonly outcome: 'unchanged'; readonly commit: string }
  | { readonly outcome: 'refused'; readonly code: GitRefusalCode; readonly message: string; readonly commit: string }
  | { readonly outcome: 'error'; readonly message: string };

/** Options of {@link GitPolicySource.open}. */
export interface GitPolicySourceOptions {
  readonly config: GitPolicyConfig;
  /** The upstreams: a bundle must hold a policy for each. */
  readonly servers: readonly string[];
  /**
   * Where the compiled policies count limits when a decision names no store; the gateway's
   * pipeline always names one (default: an in-memory store per policy).
   */
  readonly limits?: LimitStore;
  readonly logger: Logger;
  readonly metrics?: GatewayMetrics;
  /** Current time in epoch ms (default `Date.now`): expiry, activation times. */
  readonly clock?: () => number;
  /** Where the bundle is read (default: from `config.git`, local or remote). */
  readonly reader?: GitBundleReader;
  /**
   * Where a new bundle from the repository is verified (default: a `BundleCheckThread`, off
   * the event loop); `inline` verifies it on the event loop. Closed with the source.
   */
  readonly checker?: BundleChecker | 'inline';
}

/** The active bundle: what it is, its exact bytes, and its compiled policies by upstream. */
interface ActiveBundle {
  readonly bundle: ActivatedBundle;
  readonly text: string;
  readonly policies: ReadonlyMap<string, ActivePolicy>;
}

/**
 * Policies from a signed bundle committed in a Git repository (DESIGN §4, §6). A new bundle
 * is parsed, verified against the trusted keys and threshold, its policies admitted as
 * `tollgate lint` would (`admitPolicy`: no error finding, checked against the bundle's
 * catalogs), its tests run, its policies compiled, and only then swapped in for every upstream at once; the pipeline asks for the
 * policy once per call, so a call in flight finishes under the policy that decided it.
 * A refused bundle leaves the last good one active; both outcomes go to the ledger
 * (`policy.activated` per upstream, `policy.rejected` once per distinct refused bundle).
 *
 * The last good bundle and the highest activated revision are persisted in `state_dir`: a
 * restart serves that bundle at once, without the network, and a lower revision is refused
 * as a rollback. An expired persisted bundle is not served.
 *
 * It composes three parts: a {@link GitCheckScheduler} (when to check: polling, watching, one
 * check at a time), a {@link BundleAdmitter} (whether a bundle may be served: verification in
 * the verifier thread, lint's admission, the gateway's own checks) and a {@link PolicyStateStore}
 * (the last good state, persisted); the source itself reads the repository, swaps the active
 * bundle and records each outcome in the ledger.
 *
 * @example
 * const source = await GitPolicySource.open({ config: config.policy, servers: ['ccxt'], limits, logger });
 * await source.start(sink); // serves, then follows the repository
 * source.policyFor('ccxt')?.revision // 17
 */
export class GitPolicySource implements PolicySource {
  readonly #options: GitPolicySourceOptions;
  readonly #reader: GitBundleReader;
  readonly #admitter: BundleAdmitter;
  readonly #store: PolicyStateStore;
  readonly #schedule: GitCheckScheduler<GitCheckOutcome>;
  readonly #clock: () => number;
  readonly #logger: Logger;
  #active: ActiveBundle | undefined;
  /** Why the persisted bundle was not served at start-up, if it was not. */
  #restoreRefusal: SourceRefusal | undefined;
  #sink: DecisionSink | undefined;
  /** The bytes last examined: the same bytes are not verified (or refused) again. */
  #lastSeenText: string | undefined;
  #lastCommit: string | undefined;
  #lastCheck: GitSourceStatus['lastCheck'] = null;
  #lastRefusal: SourceRefusal | null = null;

  private constructor(options: GitPolicySourceOptions, reader: GitBundleReader) {
    const { config } = options;
    this.#options = options;
    this.#reader = reader;
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger.child({ component: 'policy-source', source: reader.location });
    this.#admitter = new BundleAdmitter({
      trust: config.trust,
      servers: options.servers,
      ...(options.limits ? { limits: options.limits } : {}),
      clock: this.#clock,
      location: reader.location,
      ...(options.checker ? { checker: options.checker } : {}),
    });
    this.#store = new PolicyStateStore(config.stateDir);
    this.#schedule = new GitCheckScheduler({
      check: () => this.#checkOnce(),
      pollMs: config.git.pollMs,
      ...(config.git.watch && reader.watch ? { watch: (changed: () => void) => reader.watch!(changed) } : {}),
      logger: this.#logger,
    });
  }

  /**
   * Reads the state directory and verifies the persisted bundle again (trust keys, expiry,
   * tests), so the gateway can serve it before the repository is reached. Nothing is
   * recorded in the ledger yet: {@link start} does that.
   * @throws GatewayError `policy.state` when the state directory is corrupt or unreadable.
   */
  static async open(options: GitPolicySourceOptions): Promise<GitPolicySource> {
    const { config } = options;
    const reader =
      options.reader ??
      (config.git.remote
        ? new GitRemoteBundleReader({ url: config.git.repo, ref: config.git.ref, path: config.git.path, stateDir: config.stateDir })
        : new GitLocalBundleReader({ repo: config.git.repo, ref: config.git.ref, path: config.git.path }));
    const source = new GitPolicySource(options, reader);
    try {
      await source.#restore();
    } catch (error) {
      await source.#admitter.close();
      throw error;
    }
    return source;
  }

  policyFor(server: string): CompiledPolicy | undefined {
    return this.#active?.policies.get(server)?.policy;
  }

  active(): ReadonlyMap<string, ActivePolicy> {
    return this.#active?.policies ?? new Map();
  }

  status(): GitSourceStatus {
    const a = this.#active;
    return {
      kind: 'git',
      location: this.#reader.location,
      bundle: a ? a.bundle : null,
      highestRevision: this.#store.state?.highestRevision ?? null,
      lastCheck: this.#lastCheck,
      lastRefusal: this.#lastRefusal,
    };
  }

  /**
   * Records the restored bundle's activation (or why it was not served), then follows the
   * repository: with a restored bundle the first check runs in the background (no network
   * needed to serve); without one the first check must activate a bundle.
   * @throws GatewayError `policy.unavailable` when nothing can be served: the repository is
   *   unreachable or its bundle refused, and no usable bundle was persisted.
   */
  async start(sink: DecisionSink): Promise<void> {
    this.#sink = sink;
    if (this.#restoreRefusal) await this.#recordRefusal(this.#restoreRefusal);
    if (this.#active) {
      await this.#recordActivation(this.#active, `restored from ${this.#store.bundleFile}`);
      void this.check();
    } else {
      const first = await this.check();
      if (!this.#active) {
        const why =
          first.outcome === 'error'
            ? first.message
            : first.outcome === 'refused'
              ? `the bundle at commit ${first.commit} was refused (${first.code}): ${first.message}`
              : 'no bundle was activated';
        const restored = this.#restoreRefusal ? `; the persisted bundle was not served either (${this.#restoreRefusal.code}): ${this.#restoreRefusal.message}` : `; nothing was persisted in ${this.#store.dir}`;
        throw new GatewayError('policy.unavailable', `no policy to serve from ${this.#reader.location}: ${why}${restored}`);
      }
    }
    await this.#schedule.start();
  }

  /**
   * Checks the repository now (one check at a time: a request during a check runs once more
   * after it). Resolves with what it came to; never rejects.
   */
  check(): Promise<GitCheckOutcome> {
    return this.#schedule.run();
  }

  /** Stops polling and watching; the active policies stay readable. */
  async close(): Promise<void> {
    await this.#schedule.close();
    await this.#admitter.close();
    await this.#reader.close();
  }

  async #restore(): Promise<void> {
    const saved = await this.#store.load();
    if (!saved) return;
    if (saved.bundleText === undefined) return;
    const verified = this.#admitter.admit(saved.bundleText, saved.state);
    if (!verified.ok) {
      this.#restoreRefusal = { ...verified.refusal, message: `the persisted bundle ${this.#store.bundleFile}: ${verified.refusal.message}`, at: this.#clock(), commit: saved.state.commit };
      this.#logger.warn({ code: verified.refusal.code, reason: verified.refusal.message }, 'the persisted bundle is not served');
      return;
    }
    this.#active = this.#activeFrom(verified.admitted, saved.state.commit, saved.state.activatedAt, 'restored');
    this.#lastSeenText = saved.bundleText;
    this.#lastCommit = saved.state.commit ?? undefined;
  }

  async #checkOnce(): Promise<GitCheckOutcome> {
    const at = this.#clock();
    let commit: string;
    let text: string;
    try {
      commit = await this.#reader.resolve();
      if (commit === this.#lastCommit && this.#lastSeenText !== undefined) return this.#checked(at, { outcome: 'unchanged', commit });
      text = await this.#reader.read(commit);
    } catch (error) {
      const message = errorMessage(error);
      // Said once per distinct problem, not on every poll while it lasts.
      const level = this.#lastCheck?.error === message ? 'debug' : 'warn';
      this.#logger[level]({ err: message }, 'cannot read the policy repository; the active policy stays');
      this.#options.metrics?.policyReload('error');
      return this.#checked(at, { outcome: 'error', message });
    }
    this.#lastCommit = commit;
    if (text === this.#lastSeenText) return this.#checked(at, { outcome: 'unchanged', commit });

    let verified: Admission;
    try {
      verified = await this.#admitter.admitNew(text, this.#store.state);
    } catch (error) {
      // The verification could not run (its thread failed): not a refusal; the next check reads the bundle again.
      const message = `bundle at commit ${commit} could not be verified: ${errorMessage(error)}`;
      this.#lastCommit = undefined;
      this.#logger.error({ err: errorMessage(error), commit }, 'cannot verify the new bundle; the active policy stays');
      this.#options.metrics?.policyReload('error');
      return this.#checked(at, { outcome: 'error', message });
    }
    if (!verified.ok) {
      this.#lastSeenText = text;
      const refusal: SourceRefusal = { ...verified.refusal, at, commit };
      await this.#recordRefusal(refusal);
      return this.#checked(at, { outcome: 'refused', code: refusal.code as GitRefusalCode, message: refusal.message, commit });
    }
    const v = verified.admitted;
    if (this.#active && v.facts.digest === this.#active.bundle.digest) {
      // Same manifest (re-encoded, or a signature added): nothing to activate.
      this.#lastSeenText = text;
      return this.#checked(at, { outcome: 'unchanged', commit });
    }
    const next = this.#activeFrom(v, commit, this.#clock(), 'repository');
    const { bundle } = next;
    try {
      const signers = bundle.signers.join(', ');
      const built = bundle.gitCommit ? `built from commit ${bundle.gitCommit}, ` : '';
      await this.#recordActivation(next, `bundle revision ${bundle.revision} (${built}read at commit ${commit}) signed by ${signers}, from ${this.#reader.location}`);
      await this.#store.save(text, stateOf(bundle));
    } catch (error) {
      // Not recorded or not persisted: not activated; the next check tries again.
      const message = `bundle revision ${bundle.revision} was verified but could not be activated: ${errorMessage(error)}`;
      this.#lastCommit = undefined;
      this.#logger.error({ err: errorMessage(error), revision: bundle.revision }, 'cannot activate the new bundle; the active policy stays');
      this.#options.metrics?.policyReload('error');
      return this.#checked(at, { outcome: 'error', message });
    }
    this.#lastSeenText = text;
    // The swap: one assignment, so every upstream changes at once.
    this.#active = next;
    this.#options.metrics?.policyReload('activated', bundle.revision);
    this.#logger.info({ revision: bundle.revision, commit, digest: bundle.digest, signers: bundle.signers }, 'policy bundle activated');
    return this.#checked(at, { outcome: 'activated', revision: bundle.revision, commit });
  }

  #checked(at: number, outcome: GitCheckOutcome): GitCheckOutcome {
    this.#lastCheck = { at, outcome: outcome.outcome, commit: 'commit' in outcome ? outcome.commit : null, ...(outcome.outcome === 'error' ? { error: outcome.message } : {}) };
    return outcome;
  }

  #activeFrom(v: AdmittedBundle, commit: string | null, activatedAt: number, via: ActivatedBundle['via']): ActiveBundle {
    const policies = new Map<string, ActivePolicy>();
    const source = `${this.#reader.location} revision ${v.facts.revision}`;
    for (const server of this.#options.servers) {
      const policy = v.compiled.get(server);
      if (policy) policies.set(server, Object.freeze({ policy, source, activatedAt }));
    }
    const bundle: ActivatedBundle = Object.freeze({ ...v.facts, commit, activatedAt, via });
    return Object.freeze({ bundle, text: v.text, policies });
  }

  async #recordActivation(active: ActiveBundle, reason: string): Promise<void> {
    const sink = this.#sink;
    if (!sink) return;
    const detail = activationDetail(active.bundle, this.#reader.location);
    for (const [server, a] of active.policies) {
      await sink.append({ type: 'policy.activated', server, policyRevision: revisionText(active.bundle.revision), policyDigest: a.policy.digest, reason, detail });
    }
  }

  /** Records a refusal in the ledger, then shows it in the status (so a reader of the status finds it in the ledger). */
  async #recordRefusal(refusal: SourceRefusal): Promise<void> {
    this.#options.metrics?.policyReload('refused');
    this.#logger.warn({ code: refusal.code, reason: refusal.message, revision: refusal.revision, commit: refusal.commit }, 'policy bundle refused; the active policy stays');
    try {
      await this.#sink?.append({
        type: 'policy.rejected',
        server: null,
        policyRevision: revisionText(refusal.revision),
        policyDigest: refusal.digest,
        reason: `${refusal.code}: ${refusal.message}`,
        detail: {
          code: refusal.code,
          git_commit: refusal.commit,
          source: this.#reader.location,
          ...(refusal.diagnosticCodes && refusal.diagnosticCodes.length > 0 ? { diagnostic_codes: [...refusal.diagnosticCodes] } : {}),
        },
      });
    } catch (error) {
      this.#logger.error({ err: errorMessage(error), code: refusal.code }, 'cannot record the refusal in the ledger');
    }
    this.#lastRefusal = refusal;
  }
}

/** What the state directory keeps of an activated bundle. */
function stateOf(bundle: ActivatedBundle): PolicyState {
  return { highestRevision: bundle.revision, highestDigest: bundle.digest, gitCommit: bundle.gitCommit, commit: bundle.commit, activatedAt: bundle.activatedAt };
}
