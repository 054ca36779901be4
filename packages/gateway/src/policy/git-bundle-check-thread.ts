import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BundleRefusal, TrustedKey } from '@tollgate/policy';
import { GatewayError, errorMessage } from '../gateway-error.js';
import type { BundleFacts } from './bundle-facts.js';

/** What the worker needs to verify a bundle: everything {@link verifyBundleText} takes that can cross a thread. */
export interface BundleCheckRequest {
  readonly trust: readonly TrustedKey[];
  readonly threshold: number;
  readonly minRevision?: number;
  /** Epoch ms, for the expiry check. */
  readonly now: number;
  /** Names the bundle in refusal messages. */
  readonly file: string;
}

/** One policy of an accepted bundle, as plain data: the main thread compiles it. */
export interface CheckedPolicyValue {
  readonly server: string;
  /** The bundle path of the policy file. */
  readonly path: string;
  /** The parsed policy document, validated and compiled once by the worker. */
  readonly value: unknown;
  /** Its digest (hex SHA-256 of its canonical JSON), as the worker's compiled policy carries it. */
  readonly digest: string;
}

/**
 * What the worker came to: the verifier's refusal, or an accepted bundle's identity and its
 * policies as plain data (compiled policies hold closures, which cannot cross threads).
 */
export type BundleCheckVerdict =
  | (BundleFacts & {
      readonly ok: true;
      readonly testSummary: { readonly passed: number; readonly failed: number };
      readonly policies: readonly CheckedPolicyValue[];
    })
  | { readonly ok: false; readonly refusal: BundleRefusal };

/** Main thread -> worker. */
export interface BundleCheckJob {
  readonly id: number;
  readonly text: string;
  readonly request: BundleCheckRequest;
}

/** Worker -> main thread: a verdict, or the message of an error the verifier threw (e.g. `trust.invalid`). */
export type BundleCheckReply = { readonly id: number; readonly verdict: BundleCheckVerdict } | { readonly id: number; readonly error: string };

/** What the worker gets as `workerData`. */
export interface BundleCheckWorkerData {
  /** The module specifier of `@tollgate/policy` to load: the package, or its TypeScript sources in the workspace. */
  readonly policyModule: string;
}

/** Something that verifies bundle texts off the caller's thread. */
export interface BundleChecker {
  /**
   * Verifies `text`. Resolves with the verdict; rejects (GatewayError `policy.unavailable`)
   * when the verification could not run: the worker could not start, crashed, or the
   * verifier threw.
   */
  check(text: string, request: BundleCheckRequest): Promise<BundleCheckVerdict>;
  /** Stops the worker; nothing keeps the process alive afterwards. */
  close(): Promise<void>;
}

/** Options of {@link BundleCheckThread}. */
export interface BundleCheckThreadOptions {
  /**
   * The worker's entry module (default: `git-bundle-check-worker` beside this module, `.js`
   * when built, `.ts` when running from the sources under tsx or vitest).
   */
  readonly entry?: URL;
}

const RUNNING_FROM_SOURCES = import.meta.url.endsWith('.ts');

/** Where the worker loads `@tollgate/policy` from: the package when built, the workspace sources otherwise. */
function policyModule(): string {
  return RUNNING_FROM_SOURCES ? new URL('../../../policy/src/index.ts', import.meta.url).href : '@tollgate/policy';
}

/**
 * A worker thread started on the sources (`.ts`) needs a TypeScript loader: tsx's ESM API is
 * registered inside the worker before the entry is imported (Node 20 does not apply a
 * `--import` loader from a worker's execArgv to the worker's own entry module).
 */
function bootstrap(entry: URL): string {
  const load = `import(${JSON.stringify(entry.href)})`;
  if (!entry.pathname.endsWith('.ts')) return load;
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href;
  return `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return ${load}; })`;
}

/**
 * The gateway's bundle verifier thread (node:worker_threads): parsing, Ed25519 signatures,
 * content hashes, expiry, rollback, schema validation and the bundle's own tests run there,
 * so the gateway's event loop keeps deciding calls meanwhile. Started on the first check,
 * kept for the next ones; it holds the process open only while a check is under way. A worker
 * that cannot start or dies fails every check under way (the caller keeps its last good
 * bundle) and is started afresh on the next check.
 *
 * @example
 * const thread = new BundleCheckThread();
 * const verdict = await thread.check(text, { trust, threshold: 1, now: Date.now(), file: 'bundle.json' });
 * await thread.close();
 */
export class BundleCheckThread implements BundleChecker {
  readonly #entry: URL;
  #worker: Worker | undefined;
  readonly #pending = new Map<number, { resolve: (v: BundleCheckVerdict) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #closed = false;

  constructor(options: BundleCheckThreadOptions = {}) {
    this.#entry = options.entry ?? new URL(`./git-bundle-check-worker.${RUNNING_FROM_SOURCES ? 'ts' : 'js'}`, import.meta.url);
  }

  check(text: string, request: BundleCheckRequest): Promise<BundleCheckVerdict> {
    if (this.#closed) return Promise.reject(new GatewayError('policy.unavailable', 'the bundle verifier thread is closed'));
    let worker: Worker;
    try {
      worker = this.#worker ?? this.#start();
    } catch (error) {
      return Promise.reject(new GatewayError('policy.unavailable', `cannot start the bundle verifier thread: ${errorMessage(error)}`, { cause: error }));
    }
    const id = this.#nextId++;
    return new Promise<BundleCheckVerdict>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, text, request } satisfies BundleCheckJob);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    this.#failAll('the bundle verifier thread was closed');
    if (worker) await worker.terminate();
  }

  #start(): Worker {
    const worker = new Worker(bootstrap(this.#entry), { eval: true, workerData: { policyModule: policyModule() } satisfies BundleCheckWorkerData });
    worker.unref();
    worker.on('message', (reply: BundleCheckReply) => {
      const job = this.#pending.get(reply.id);
      if (!job) return;
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) worker.unref();
      if ('error' in reply) job.reject(new GatewayError('policy.unavailable', `the bundle could not be verified: ${reply.error}`));
      else job.resolve(reply.verdict);
    });
    worker.on('error', (error) => this.#lost(worker, `the bundle verifier thread failed: ${errorMessage(error)}`));
    worker.on('exit', (code) => this.#lost(worker, `the bundle verifier thread exited (code ${code})`));
    this.#worker = worker;
    return worker;
  }

  /** The worker died: every check under way fails; the next check starts a new worker. */
  #lost(worker: Worker, message: string): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    void worker.terminate();
    this.#failAll(message);
  }

  #failAll(message: string): void {
    const jobs = [...this.#pending.values()];
    this.#pending.clear();
    for (const job of jobs) job.reject(new GatewayError('policy.unavailable', message));
  }
}
