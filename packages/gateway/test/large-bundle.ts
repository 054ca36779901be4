import { buildBundle, signBundle } from '@tollgate/policy';

/** What {@link largeBundleText} builds. */
export interface LargeBundleOptions {
  /** Tools of the one policy (for the upstream `big`), a mix of plain allows, `require`, `deny_if` with a regex, and limits. */
  readonly tools: number;
  readonly revision: number;
  /** Test cases per tool (default 1); they all run in the verifier. */
  readonly casesPerTool?: number;
}

/**
 * A signed bundle of one large policy, `policies/big/policy.json`, and its tests: the load of
 * the reload benchmark and of the verifier-thread tests. `deny_if` reasons name the revision.
 */
export function largeBundleText(privateKeyPem: string, options: LargeBundleOptions): string {
  const { tools, revision, casesPerTool = 1 } = options;
  const rules: Record<string, unknown> = {};
  const cases: unknown[] = [];
  for (let i = 0; i < tools; i++) {
    const name = `tool_${i}`;
    for (let k = 0; k < casesPerTool; k++) {
      const id = casesPerTool === 1 ? name : `${name}#${k}`;
      switch (i % 4) {
        case 0:
          rules[name] = {};
          cases.push({ name: id, call: { tool: name, args: { k } }, expect: { effect: 'allow' } });
          break;
        case 1:
          rules[name] = { require: [{ path: 'args.amount', op: 'lte', value: 100 + i }] };
          cases.push({ name: id, call: { tool: name, args: { amount: 200 + i + k } }, expect: { effect: 'deny', rule: `tools.${name}.require[0]` } });
          break;
        case 2:
          rules[name] = { deny_if: [{ conditions: [{ path: 'args.symbol', op: 'regex', value: `^X${i}/` }], on_deny: `not that market (revision ${revision})` }] };
          cases.push({ name: id, call: { tool: name, args: { symbol: `X${i}/USDT${k}` } }, expect: { effect: 'deny', rule: `tools.${name}.deny_if[0]` } });
          break;
        default:
          rules[name] = { limits: [{ counter: `c${i}`, max: 10, window: 'minute' }] };
          cases.push({ name: id, call: { tool: name, args: {} }, expect: { effect: 'allow' } });
      }
    }
  }
  const bundle = buildBundle({
    files: [
      { path: 'policies/big/policy.json', text: JSON.stringify({ version: '1', default: 'deny', tools: rules }) },
      { path: 'policies/big/all.test.json', text: JSON.stringify({ policy: 'policy.json', cases }) },
    ],
    revision,
    gitCommit: null,
    createdAt: new Date(),
    expiresAt: null,
  });
  return JSON.stringify(signBundle(bundle, privateKeyPem));
}

/** The longest gap between the ticks of a 1 ms interval while `work` runs: how long the event loop was blocked. */
export async function longestStall<T>(work: () => Promise<T>): Promise<{ result: T; stallMs: number }> {
  let last = performance.now();
  let longest = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  try {
    const result = await work();
    return { result, stallMs: Math.max(longest, performance.now() - last) };
  } finally {
    clearInterval(tick);
  }
}
