import { POLICIES_DIR, POLICY_FILE_NAMES, tryCompilePolicy, verifyBundleText, type BundleRefusal, type CompiledPolicy, type LimitStore } from '@tollgate/policy';
import type { GitPolicyConfig } from '../config/gateway-config.js';
import { factsOf, type BundleFacts } from './bundle-facts.js';
import { BundleCheckThread, type BundleChecker, type BundleCheckRequest } from './git-bundle-check-thread.js';
import type { SourceRefusal } from './policy-source.js';
import type { PolicyState } from './policy-state-store.js';

/** Options of {@link BundleAdmitter}. */
export interface BundleAdmitterOptions {
  /** The trusted keys and how many of them must have signed. */
  readonly trust: GitPolicyConfig['trust'];
  /** The upstreams: a bundle must hold a policy for each. */
  readonly servers: readonly string[];
  /** Where the compiled policies count limits when a decision names no store (default: an in-memory store per policy). */
  readonly limits?: LimitStore;
  /** Current time in epoch ms: expiry, and the compiled policies' clock. */
  readonly clock: () => number;
  /** Names the bundle in refusal messages (`<repo>@<ref>:<path>`). */
  readonly location: string;
  /**
   * Where a new bundle is verified (default: a {@link BundleCheckThread}, off the event loop);
   * `inline` verifies it on the event loop. Closed with the admitter.
   */
  readonly checker?: BundleChecker | 'inline';
}

/** A bundle verified and admitted, not yet activated: its facts, its exact bytes, its compiled policies by upstream. */
export interface AdmittedBundle {
  readonly facts: BundleFacts;
  readonly text: string;
  readonly compiled: ReadonlyMap<string, CompiledPolicy>;
}

/** A bundle refusal before the source adds when and at which commit. */
export type AdmissionRefusal = Omit<SourceRefusal, 'at' | 'commit'>;

/** What the admitter came to: the bundle admitted, or why it was refused. */
export type Admission = { readonly ok: true; readonly admitted: AdmittedBundle } | { readonly ok: false; readonly refusal: AdmissionRefusal };

/** What the verifier accepted, before the gateway's own checks. */
interface AcceptedBundle extends BundleFacts {
  readonly policies: ReadonlyMap<string, CompiledPolicy>;
}

/**
 * Decides whether a bundle text may be served (DESIGN §6): the verifier's checks — parse,
 * signatures against the trusted keys and threshold, hashes, expiry, rollback below the
 * state's floor, schema, its policies admitted as `tollgate lint` would (`admitPolicy`: no error
 * finding, checked against the bundle's catalogs), its own tests — then the gateway's own: a
 * policy for every upstream, and no second content under the highest revision activated
 * (equivocation). A new bundle is verified in the verifier thread and refused exactly as it
 * would be inline, with lint's codes (`diagnosticCodes`); it keeps no state of its own.
 *
 * @example
 * const admitter = new BundleAdmitter({ trust, servers: ['ccxt'], clock: Date.now, location });
 * const admission = await admitter.admitNew(text, store.state);
 * if (!admission.ok) console.log(admission.refusal.code); // 'signature.untrusted'
 */
export class BundleAdmitter {
  readonly #options: BundleAdmitterOptions;
  readonly #checker: BundleChecker | undefined;

  constructor(options: BundleAdmitterOptions) {
    this.#options = options;
    this.#checker = options.checker === 'inline' ? undefined : (options.checker ?? new BundleCheckThread());
  }

  /**
   * Parses and verifies `text` on the event loop (start-up: the persisted bundle, before any
   * call is served), then checks what only the gateway knows. `state` holds the rollback floor.
   */
  admit(text: string, state: PolicyState | undefined): Admission {
    const { file, ...options } = this.#request(state);
    const result = verifyBundleText(text, { ...options, ...(this.#options.limits ? { limits: this.#options.limits } : {}), clock: this.#options.clock }, file);
    if (!result.ok) return { ok: false, refusal: refusalOf(result.refusal) };
    return this.#gatewayChecks(text, { ...factsOf(result), policies: result.policies }, state);
  }

  /**
   * Verifies a new bundle from the repository: in the verifier thread (parse, signatures,
   * hashes, expiry, rollback, schema, tests), then compiles its policies here — compiled
   * policies hold closures, which cannot cross threads — and checks what only the gateway knows.
   * @throws GatewayError `policy.unavailable` when the verifier thread could not verify it.
   */
  async admitNew(text: string, state: PolicyState | undefined): Promise<Admission> {
    if (!this.#checker) return this.admit(text, state);
    const verdict = await this.#checker.check(text, this.#request(state));
    if (!verdict.ok) return { ok: false, refusal: refusalOf(verdict.refusal) };
    const policies = new Map<string, CompiledPolicy>();
    for (const p of verdict.policies) {
      // Validated and hashed by the thread; the value arrived as this thread's own copy, so it is adopted (frozen, not copied).
      const compiled = tryCompilePolicy(p.value, { server: p.server, revision: verdict.revision, validated: true, digest: p.digest, adopt: true, ...(this.#options.limits ? { limits: this.#options.limits } : {}), clock: this.#options.clock });
      if (!compiled.policy) {
        // The verifier thread compiled the same document; this would be a defect, and is refused like one.
        const problems = compiled.diagnostics.filter((d) => d.severity === 'error').map((d) => `${p.path}: ${d.message}`);
        return { ok: false, refusal: { code: 'policy.invalid', message: problems.join('\n') || `${p.path} does not compile`, revision: verdict.revision, digest: verdict.digest } };
      }
      policies.set(p.server, compiled.policy);
    }
    return this.#gatewayChecks(text, { ...factsOf(verdict), policies }, state);
  }

  /** Stops the verifier thread. */
  async close(): Promise<void> {
    await this.#checker?.close();
  }

  /** What the verifier needs besides the text: the trust configuration, the rollback floor, the time. */
  #request(state: PolicyState | undefined): BundleCheckRequest {
    const { trust } = this.#options;
    return { trust: trust.keys, threshold: trust.threshold, ...(state ? { minRevision: state.highestRevision } : {}), now: this.#options.clock(), file: this.#options.location };
  }

  /** The gateway's own checks of a bundle the verifier accepted: a policy for every upstream, no equivocation. */
  #gatewayChecks(text: string, result: AcceptedBundle, state: PolicyState | undefined): Admission {
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
    const { policies, ...facts } = result;
    return { ok: true, admitted: { facts, text, compiled: policies } };
  }
}

/** The verifier's refusal as the source keeps it: lint's codes, not the whole findings (the message has them). */
function refusalOf(r: BundleRefusal): AdmissionRefusal {
  const codes = [...new Set((r.diagnostics ?? []).map((d) => d.code))];
  return { code: r.code, message: r.message, revision: r.revision, digest: r.digest, ...(codes.length > 0 ? { diagnosticCodes: codes } : {}) };
}
