import type { Logger } from 'pino';
import type { PolicySourceConfig } from '../config/gateway-config.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { DirectoryPolicySource } from './directory-policy-source.js';
import { GitPolicySource } from './git-policy-source.js';
import type { PolicySource } from './policy-source.js';

/** What {@link openPolicySource} needs besides the `policy` section of the configuration. */
export interface OpenPolicySourceOptions {
  /** The upstreams: each needs a policy. */
  readonly servers: readonly string[];
  readonly logger: Logger;
  readonly metrics?: GatewayMetrics;
}

/**
 * The policy source the configuration's `policy` section names: a policy repository on disk
 * (`dir`) or signed bundles in a Git repository (`git`). Its policies are read, admitted and
 * compiled here, so a bad one is reported before anything slow starts; nothing is recorded in
 * the ledger until {@link PolicySource.start}. Limits are not bound here: the pipeline hands
 * every decision the gateway's limit store. A new kind of source is one more case here.
 *
 * @throws GatewayError `policy.invalid` (a directory's policy), `policy.state` (a Git source's state directory).
 * @example
 * const source = await openPolicySource(config.policy, { servers: ['ccxt'], logger });
 */
export function openPolicySource(config: PolicySourceConfig, options: OpenPolicySourceOptions): Promise<PolicySource> {
  const { servers, logger, metrics } = options;
  return config.kind === 'git'
    ? GitPolicySource.open({ config, servers, logger, ...(metrics ? { metrics } : {}) })
    : DirectoryPolicySource.load({ dir: config.dir, servers, logger });
}
