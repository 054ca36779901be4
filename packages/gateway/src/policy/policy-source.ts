import type { CompiledPolicy } from '@tollgate/policy';

/**
 * Where the gateway gets each upstream's compiled policy. The pipeline asks for the policy
 * once per call and decides the whole call with it, so a source that swaps in a new policy
 * never changes a call in flight. Implementations: `DirectoryPolicySource` (a policy
 * repository on disk); a signed-bundle source plugs in here too.
 */
export interface PolicySource {
  /** The active policy of the upstream named `server`, or undefined when it has none. */
  policyFor(server: string): CompiledPolicy | undefined;
  /** Every active policy, by upstream name (for the admin API and the ledger). */
  active(): ReadonlyMap<string, ActivePolicy>;
}

/** An active policy and where it came from. */
export interface ActivePolicy {
  readonly policy: CompiledPolicy;
  /** The file or bundle it was read from. */
  readonly source: string;
  /** When it was activated (epoch ms). */
  readonly activatedAt: number;
}

/**
 * Whether the policy answers calls to `tool` as an unknown tool (DESIGN §2, step 1): listed
 * in `hide`, hidden by `action: "hide"`, or not listed while `hide` holds `"*"`. The gateway
 * checks this before validating arguments, so invalid arguments cannot reveal a hidden tool.
 */
export function hidesTool(policy: CompiledPolicy, tool: string): boolean {
  const source = policy.policy;
  const hide = source.hide ?? [];
  if (hide.includes(tool)) return true;
  const rule = source.tools?.[tool];
  if (rule === undefined) return hide.includes('*');
  return rule.action === 'hide';
}
