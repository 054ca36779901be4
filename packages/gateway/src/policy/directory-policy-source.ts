import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { admitPolicy, CATALOG_FILE_NAME, formatDiagnostic, POLICY_FILE_NAMES, revisionText, type CompiledPolicy, type LimitStore } from '@tollgate/policy';
import type { Logger } from 'pino';
import { GatewayError, errorMessage } from '../gateway-error.js';
import type { DecisionSink } from '../ledger/decision-sink.js';
import type { ActivePolicy, DirectorySourceStatus, PolicySource } from './policy-source.js';

/** Options of {@link DirectoryPolicySource.load}. */
export interface DirectoryPolicyOptions {
  /** The policy repository: upstream `<name>` is governed by `<dir>/<name>/policy.json` or `policy.yaml`. */
  readonly dir: string;
  /** The upstreams that need a policy. */
  readonly servers: readonly string[];
  /** Where limit counters live. */
  /**
   * Where the compiled policies count limits when a decision names no store; the gateway's
   * pipeline always names one (default: an in-memory store per policy).
   */
  readonly limits?: LimitStore;
  /** Current time in epoch ms (default `Date.now`). */
  readonly clock?: () => number;
  /** Where {@link DirectoryPolicySource.start} says which policies it activated (default: nowhere). */
  readonly logger?: Logger;
}

/**
 * Policies read from a policy repository on disk (DESIGN §4, `policy.dir`). Every upstream
 * must have one: an upstream without a policy would be ungoverned, so loading fails instead.
 * A policy is enforced only when `tollgate lint` finds no error in it (`admitPolicy`, with the
 * `catalog.json` beside it), and a server directory holding two policy files (TG004) is refused.
 * File names are the policy repository layout's (`POLICY_FILE_NAMES`, `CATALOG_FILE_NAME`).
 *
 * @example
 * const source = await DirectoryPolicySource.load({ dir: 'policies', servers: ['ccxt'], limits: new MemoryLimitStore() });
 * source.policyFor('ccxt')?.decide({ tool: 'cancel_order', args: {} }).effect // 'deny'
 */
export class DirectoryPolicySource implements PolicySource {
  readonly #active: ReadonlyMap<string, ActivePolicy>;
  readonly #logger: Logger | undefined;

  private constructor(active: ReadonlyMap<string, ActivePolicy>, logger: Logger | undefined) {
    this.#active = active;
    this.#logger = logger;
  }

  /**
   * Reads, admits (lint's error findings refuse a policy) and compiles every upstream's policy.
   * @throws GatewayError `policy.invalid` with every error finding at file:line:col (lint's codes), or naming the missing file.
   */
  static async load(options: DirectoryPolicyOptions): Promise<DirectoryPolicySource> {
    const active = new Map<string, ActivePolicy>();
    const problems: string[] = [];
    const now = options.clock ?? Date.now;
    for (const server of options.servers) {
      const found = await readServerDirectory(options.dir, server);
      if (!found) {
        problems.push(`upstream "${server}" has no policy: expected ${join(options.dir, server, POLICY_FILE_NAMES[0])} (or ${POLICY_FILE_NAMES.slice(1).join(' or ')})`);
        continue;
      }
      const admitted = admitPolicy(
        { text: found.text, file: found.file, ...(found.catalog ? { catalog: found.catalog } : {}), siblings: found.siblings },
        { server, ...(options.limits ? { limits: options.limits } : {}), ...(options.clock ? { clock: options.clock } : {}) },
      );
      if (!admitted.policy) {
        problems.push(...admitted.errors.map(formatDiagnostic));
        continue;
      }
      active.set(server, Object.freeze({ policy: admitted.policy, source: found.file, activatedAt: now() }));
    }
    if (problems.length > 0) throw new GatewayError('policy.invalid', `cannot load the policies:\n  ${problems.join('\n  ')}`);
    return new DirectoryPolicySource(active, options.logger);
  }

  policyFor(server: string): CompiledPolicy | undefined {
    return this.#active.get(server)?.policy;
  }

  active(): ReadonlyMap<string, ActivePolicy> {
    return this.#active;
  }

  /** Records each upstream's policy as `policy.activated`; the directory is not read again. */
  async start(sink: DecisionSink): Promise<void> {
    for (const [server, active] of this.#active) {
      await sink.append({
        type: 'policy.activated',
        server,
        policyRevision: revisionText(active.policy.revision),
        policyDigest: active.policy.digest,
        reason: `loaded from ${active.source}`,
      });
      this.#logger?.info({ server, digest: active.policy.digest, source: active.source }, 'policy activated');
    }
  }

  status(): DirectorySourceStatus {
    return { kind: 'directory' };
  }

  /** Nothing runs: the policies were read once. */
  async close(): Promise<void> {}
}

/** A server directory's policy file (the first by {@link POLICY_FILE_NAMES}), the other policy files beside it, and its catalog. */
interface ServerDirectory {
  readonly file: string;
  readonly text: string;
  readonly siblings: readonly string[];
  readonly catalog: { readonly file: string; readonly text: string } | undefined;
}

async function readServerDirectory(dir: string, server: string): Promise<ServerDirectory | undefined> {
  const policies: { file: string; text: string }[] = [];
  for (const name of POLICY_FILE_NAMES) {
    const text = await readIfPresent(join(dir, server, name));
    if (text !== undefined) policies.push({ file: join(dir, server, name), text });
  }
  const [first, ...others] = policies;
  if (!first) return undefined;
  const catalogFile = join(dir, server, CATALOG_FILE_NAME);
  const catalogText = await readIfPresent(catalogFile);
  return { ...first, siblings: others.map((p) => p.file), catalog: catalogText === undefined ? undefined : { file: catalogFile, text: catalogText } };
}

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new GatewayError('policy.invalid', `cannot read ${file}: ${errorMessage(error)}`, { cause: error });
  }
}
