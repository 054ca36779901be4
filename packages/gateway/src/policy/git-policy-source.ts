import { POLICIES_DIR, POLICY_FILE_NAMES, revisionText, tryCompilePolicy, verifyBundleText, type BundleRefusal, type BundleRefusalCode, type CompiledPolicy, type LimitStore } from '@tollgate/policy';
import type { Logger } from 'pino';
import type { GitPolicyConfig } from '../config/gateway-config.js';
import { GatewayError, errorMessage } from '../gateway-error.js';
import type { DecisionSink } from '../ledger/decision-sink.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { BundleCheckThread, type BundleChecker, type BundleCheckRequest } from './git-bundle-check-thread.js';
import type { GitBundleReader } from './git-bundle-reader.js';
import { GitLocalBundleReader } from './git-local-bundle-reader.js';
import { GitRemoteBundleReader } from './git-remote-bundle-reader.js';
import type { ActivePolicy, PolicySource, PolicySourceStatus, SourceRefusal } from './policy-source.js';
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
  /** Where the compiled policies' limit counters live. */
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
   * Where a new bundle from the repository is verified (default: a {@link BundleCheckThread},
   * off the event loop); `inline` verifies it on the event loop. Closed with the source.
   */
  readonly checker?: BundleChecker | 'inline';
}

/** The active bundle. */
interface ActiveBundle {
  readonly text: string;
  readonly revision: number;
  readonly digest: string;
  /** The commit the bundle was built from (manifest). */
  readonly gitCommit: string | null;
  /** The repository commit it was read at. */
  readonly commit: string | null;
  readonly signers: readonly string[];
  readonly createdAt: string | null;
  readonly expiresAt: string | null;
  readonly activatedAt: number;
  readonly policies: ReadonlyMap<string, ActivePolicy>;
  /** `restored` when it came from the state directory at start-up. */
  readonly via: 'restored' | 'repository';
}

type Verified = { ok: true; active: Omit<ActiveBundle, 'activatedAt' | 'via' | 'policies' | 'commit'> & { compiled: ReadonlyMap<string, CompiledPolicy> } } | { ok: false; refusal: Omit<SourceRefusal, 'at' | 'commit'> };

/** What the verifier accepted, before the gateway's own checks. */
interface AcceptedBundle {
  readonly revision: number;
  readonly digest: string;
  readonly gitCommit: string | null;
  readonly signers: readonly string[];
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly policies: ReadonlyMap<string, CompiledPolicy>;
}

/** How soon after a change in the watched refs the repository is read (several events come per commit). */
const WATCH_SETTLE_MS = 5;

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
 * @example
 * const source = await GitPolicySource.open({ config: config.policy, servers: ['ccxt'], limits, logger });
 * await source.start(sink); // serves, then follows the repository
 * source.policyFor('ccxt')?.revision // 17
 */
export class GitPolicySource implements PolicySource {
  readonly #options: GitPolicySourceOptions;
  readonly #reader: GitBundleReader;
  readonly #checker: BundleChecker | undefined;
  readonly #store: PolicyStateStore;
  readonly #clock: () => number;
  readonly #logger: Logger;
  #state: PolicyState | undefined;
  #active: ActiveBundle | undefined;
  /** Why the persisted bundle was not served at start-up, if it was not. */
  #restoreRefusal: SourceRefusal | undefined;
  #sink: DecisionSink | undefined;
  /** The bytes last examined: the same bytes are not verified (or refused) again. */
  #lastSeenText: string | undefined;
  #lastCommit: string | undefined;
  #lastCheck: PolicySourceStatus['lastCheck'] = null;
  #lastRefusal: SourceRefusal | null = null;
  #checking: Promise<GitCheckOutcome> | undefined;
  #again = false;
  #pollTimer: NodeJS.Timeout | undefined;
  #settleTimer: NodeJS.Timeout | undefined;
  #stopWatching: (() => void) | undefined;
  #closed = false;

  private constructor(options: GitPolicySourceOptions, reader: GitBundleReader) {
    this.#options = options;
    this.#reader = reader;
    this.#checker = options.checker === 'inline' ? undefined : (options.checker ?? new BundleCheckThread());
    this.#store = new PolicyStateStore(options.config.stateDir);
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger.child({ component: 'policy-source', source: reader.location });
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
      await source.#checker?.close();
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

  status(): PolicySourceStatus {
    const a = this.#active;
    return {
      kind: 'git',
      location: this.#reader.location,
      bundle: a
        ? { revision: a.revision, gitCommit: a.gitCommit, commit: a.commit, digest: a.digest, signers: a.signers, createdAt: a.createdAt, expiresAt: a.expiresAt, activatedAt: a.activatedAt, via: a.via }
        : null,
      highestRevision: this.#state?.highestRevision ?? null,
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
    if (this.#options.config.git.watch && this.#reader.watch) {
      try {
        this.#stopWatching = await this.#reader.watch(() => this.#changed());
      } catch (error) {
        this.#logger.warn({ err: errorMessage(error) }, 'cannot watch the policy repository; relying on polling');
      }
    }
    this.#schedulePoll();
  }

  /**
   * Checks the repository now (one check at a time: a request during a check runs once more
   * after it). Resolves with what it came to; never rejects.
   */
  check(): Promise<GitCheckOutcome> {
    if (this.#checking) {
      this.#again = true;
      return this.#checking;
    }
    const run = async (): Promise<GitCheckOutcome> => {
      let outcome: GitCheckOutcome;
      do {
        this.#again = false;
        outcome = await this.#checkOnce();
      } while (this.#again && !this.#closed);
      return outcome;
    };
    this.#checking = run().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  /** Stops polling and watching; the active policies stay readable. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#pollTimer);
    clearTimeout(this.#settleTimer);
    this.#stopWatching?.();
    await this.#checking;
    await this.#checker?.close();
    await this.#reader.close();
  }

  #changed(): void {
    if (this.#closed) return;
    clearTimeout(this.#settleTimer);
    this.#settleTimer = setTimeout(() => void this.check(), WATCH_SETTLE_MS);
  }

  #schedulePoll(): void {
    const every = this.#options.config.git.pollMs;
    if (every === 0 || this.#closed) return;
    this.#pollTimer = setTimeout(() => {
      void this.check().finally(() => this.#schedulePoll());
    }, every);
    this.#pollTimer.unref();
  }

  async #restore(): Promise<void> {
    const saved = await this.#store.load();
    if (!saved) return;
    this.#state = saved.state;
    if (saved.bundleText === undefined) return;
    const verified = this.#verify(saved.bundleText);
    if (!verified.ok) {
      this.#restoreRefusal = { ...verified.refusal, message: `the persisted bundle ${this.#store.bundleFile}: ${verified.refusal.message}`, at: this.#clock(), commit: saved.state.commit };
      this.#logger.warn({ code: verified.refusal.code, reason: verified.refusal.message }, 'the persisted bundle is not served');
      return;
    }
    this.#active = this.#activeFrom(verified.active, saved.state.commit, saved.state.activatedAt, 'restored');
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

    let verified: Verified;
    try {
      verified = await this.#verifyNew(text);
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
    const v = verified.active;
    if (this.#active && v.digest === this.#active.digest) {
      // Same manifest (re-encoded, or a signature added): nothing to activate.
      this.#lastSeenText = text;
      return this.#checked(at, { outcome: 'unchanged', commit });
    }
    const next = this.#activeFrom(v, commit, this.#clock(), 'repository');
    try {
      const signers = next.signers.join(', ');
      const built = next.gitCommit ? `built from commit ${next.gitCommit}, ` : '';
      await this.#recordActivation(next, `bundle revision ${next.revision} (${built}read at commit ${commit}) signed by ${signers}, from ${this.#reader.location}`);
      await this.#store.save(text, stateOf(next));
    } catch (error) {
      // Not recorded or not persisted: not activated; the next check tries again.
      const message = `bundle revision ${next.revision} was verified but could not be activated: ${errorMessage(error)}`;
      this.#lastCommit = undefined;
      this.#logger.error({ err: errorMessage(error), revision: next.revision }, 'cannot activate the new bundle; the active policy stays');
      this.#options.metrics?.policyReload('error');
      return this.#checked(at, { outcome: 'error', message });
    }
    this.#lastSeenText = text;
    this.#state = stateOf(next);
    // The swap: one assignment, so every upstream changes at once.
    this.#active = next;
    this.#options.metrics?.policyReload('activated', next.revision);
    this.#logger.info({ revision: next.revision, commit, digest: next.digest, signers: next.signers }, 'policy bundle activated');
    return this.#checked(at, { outcome: 'activated', revision: next.revision, commit });
  }

  #checked(at: number, outcome: GitCheckOutcome): GitCheckOutcome {
    this.#lastCheck = { at, outcome: outcome.outcome, commit: 'commit' in outcome ? outcome.commit : null, ...(outcome.outcome === 'error' ? { error: outcome.message } : {}) };
    return outcome;
  }

  /** What the verifier needs besides the text: the trust configuration, the rollback floor, the time. */
  #request(): BundleCheckRequest {
    const { trust } = this.#options.config;
    const state = this.#state;
    return { trust: trust.keys, threshold: trust.threshold, ...(state ? { minRevision: state.highestRevision } : {}), now: this.#clock(), file: this.#reader.location };
  }

  /**
   * Parses and verifies `text` on the event loop (start-up: the persisted bundle, before any
   * call is served), then checks what only the gateway knows.
   */
  #verify(text: string): Verified {
    const { file, ...options } = this.#request();
    const result = verifyBundleText(text, { ...options, ...(this.#options.limits ? { limits: this.#options.limits } : {}), clock: this.#clock }, file);
    if (!result.ok) return { ok: false, refusal: refusalOf(result.refusal) };
    return this.#admit(text, result);
  }

  /**
   * Verifies a new bundle from the repository: in the verifier thread (parse, signatures,
   * hashes, expiry, rollback, schema, tests), then compiles its policies here — compiled
   * policies hold closures, which cannot cross threads — and checks what only the gateway knows.
   * @throws GatewayError `policy.unavailable` when the verifier thread could not verify it.
   */
  async #verifyNew(text: string): Promise<Verified> {
    if (!this.#checker) return this.#verify(text);
    const verdict = await this.#checker.check(text, this.#request());
    if (!verdict.ok) return { ok: false, refusal: refusalOf(verdict.refusal) };
    const policies = new Map<string, CompiledPolicy>();
    for (const p of verdict.policies) {
      // Validated and hashed by the thread; the value arrived as this thread's own copy, so it is adopted (frozen, not copied).
      const compiled = tryCompilePolicy(p.value, { server: p.server, revision: verdict.revision, validated: true, digest: p.digest, adopt: true, ...(this.#options.limits ? { limits: this.#options.limits } : {}), clock: this.#clock });
      if (!compiled.policy) {
        // The verifier thread compiled the same document; this would be a defect, and is refused like one.
        const problems = compiled.diagnostics.filter((d) => d.severity === 'error').map((d) => `${p.path}: ${d.message}`);
        return { ok: false, refusal: { code: 'policy.invalid', message: problems.join('\n') || `${p.path} does not compile`, revision: verdict.revision, digest: verdict.digest } };
      }
      policies.set(p.server, compiled.policy);
    }
    return this.#admit(text, { ...verdict, policies });
  }

  /** The gateway's own checks of a bundle the verifier accepted: a policy for every upstream, no equivocation. */
  #admit(text: string, result: AcceptedBundle): Verified {
    const state = this.#state;
    const at = { revision: result.revision, digest: result.digest };
    const missing = this.#options.servers.filter((s) => !result.policies.has(s));
    if (missing.length > 0) {
      return {
        ok: false,
        refusal: { code: 'bundle.incomplete', message: `bundle revision ${result.revision} has no policy for upstream(s) ${missing.map((s) => `"${s}"`).join(', ')}: every upstream needs ${POLICIES_DIR}/<server>/${POLICY_FILE_NAMES[0]}`, ...at },
      };
    }
    if (state && result.revision === state.highestRevision && result.digest !== state.highestDigest) {
      return {
        ok: false,
        refusal: {
          code: 'bundle.equivocation',
          message: `bundle revision ${result.revision} differs from the revision ${result.revision} already activated (digest ${state.highestDigest.slice(0, 12)}…): a changed bundle needs a higher revision`,
          ...at,
        },
      };
    }
    return {
      ok: true,
      active: {
        text,
        revision: result.revision,
        digest: result.digest,
        gitCommit: result.gitCommit,
        signers: result.signers,
        createdAt: result.createdAt,
        expiresAt: result.expiresAt,
        compiled: result.policies,
      },
    };
  }

  #activeFrom(v: Extract<Verified, { ok: true }>['active'], commit: string | null, activatedAt: number, via: ActiveBundle['via']): ActiveBundle {
    const policies = new Map<string, ActivePolicy>();
    const source = `${this.#reader.location} revision ${v.revision}`;
    for (const server of this.#options.servers) {
      const policy = v.compiled.get(server);
      if (policy) policies.set(server, Object.freeze({ policy, source, activatedAt }));
    }
    return Object.freeze({ text: v.text, revision: v.revision, digest: v.digest, gitCommit: v.gitCommit, commit, signers: v.signers, createdAt: v.createdAt, expiresAt: v.expiresAt, activatedAt, policies, via });
  }

  async #recordActivation(active: ActiveBundle, reason: string): Promise<void> {
    const sink = this.#sink;
    if (!sink) return;
    const detail = { bundle_digest: active.digest, git_commit: active.gitCommit, commit: active.commit, signers: [...active.signers], source: this.#reader.location };
    for (const [server, a] of active.policies) {
      await sink.append({ type: 'policy.activated', server, policyRevision: revisionText(active.revision), policyDigest: a.policy.digest, reason, detail });
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

/** The verifier's refusal as the source keeps it: lint's codes, not the whole findings (the message has them). */
function refusalOf(r: BundleRefusal): Omit<SourceRefusal, 'at' | 'commit'> {
  const codes = [...new Set((r.diagnostics ?? []).map((d) => d.code))];
  return { code: r.code, message: r.message, revision: r.revision, digest: r.digest, ...(codes.length > 0 ? { diagnosticCodes: codes } : {}) };
}

/** What the state directory keeps of an activated bundle. */
function stateOf(active: ActiveBundle): PolicyState {
  return { highestRevision: active.revision, highestDigest: active.digest, gitCommit: active.gitCommit, commit: active.commit, activatedAt: active.activatedAt };
}
