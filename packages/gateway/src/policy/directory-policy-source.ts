import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatDiagnostic, loadPolicy, type CompiledPolicy, type LimitStore } from '@tollgate/policy';
import { GatewayError, errorMessage } from '../gateway-error.js';
import type { ActivePolicy, PolicySource } from './policy-source.js';

/** Options of {@link DirectoryPolicySource.load}. */
export interface DirectoryPolicyOptions {
  /** The policy repository: upstream `<name>` is governed by `<dir>/<name>/policy.json` or `policy.yaml`. */
  readonly dir: string;
  /** The upstreams that need a policy. */
  readonly servers: readonly string[];
  /** Where limit counters live. */
  readonly limits: LimitStore;
  /** Current time in epoch ms (default `Date.now`). */
  readonly clock?: () => number;
}

const FILE_NAMES = ['policy.json', 'policy.yaml', 'policy.yml'] as const;

/**
 * Policies read from a policy repository on disk (DESIGN §4, `policy.dir`). Every upstream
 * must have one: an upstream without a policy would be ungoverned, so loading fails instead.
 *
 * @example
 * const source = await DirectoryPolicySource.load({ dir: 'policies', servers: ['ccxt'], limits: new MemoryLimitStore() });
 * source.policyFor('ccxt')?.decide({ tool: 'cancel_order', args: {} }).effect // 'deny'
 */
export class DirectoryPolicySource implements PolicySource {
  readonly #active: ReadonlyMap<string, ActivePolicy>;

  private constructor(active: ReadonlyMap<string, ActivePolicy>) {
    this.#active = active;
  }

  /**
   * Reads, validates and compiles every upstream's policy.
   * @throws GatewayError `policy.invalid` with every diagnostic at file:line:col, or naming the missing file.
   */
  static async load(options: DirectoryPolicyOptions): Promise<DirectoryPolicySource> {
    const active = new Map<string, ActivePolicy>();
    const problems: string[] = [];
    const now = options.clock ?? Date.now;
    for (const server of options.servers) {
      const found = await readPolicyFile(options.dir, server);
      if (!found) {
        problems.push(`upstream "${server}" has no policy: expected ${join(options.dir, server, 'policy.json')} (or policy.yaml)`);
        continue;
      }
      const loaded = loadPolicy(found.text, found.file, { server, limits: options.limits, clock: options.clock });
      if (!loaded.policy) {
        problems.push(...loaded.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic));
        continue;
      }
      active.set(server, Object.freeze({ policy: loaded.policy, source: found.file, activatedAt: now() }));
    }
    if (problems.length > 0) throw new GatewayError('policy.invalid', `cannot load the policies:\n  ${problems.join('\n  ')}`);
    return new DirectoryPolicySource(active);
  }

  policyFor(server: string): CompiledPolicy | undefined {
    return this.#active.get(server)?.policy;
  }

  active(): ReadonlyMap<string, ActivePolicy> {
    return this.#active;
  }
}

async function readPolicyFile(dir: string, server: string): Promise<{ file: string; text: string } | undefined> {
  for (const name of FILE_NAMES) {
    const file = join(dir, server, name);
    try {
      return { file, text: await readFile(file, 'utf8') };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new GatewayError('policy.invalid', `cannot read ${file}: ${errorMessage(error)}`, { cause: error });
    }
  }
  return undefined;
}
