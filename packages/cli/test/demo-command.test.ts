import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempTree, type TempTree } from './cli-process.js';

describe('tollgate demo', () => {
  let tree: TempTree;
  beforeAll(async () => {
    tree = await tempTree();
  });
  afterAll(async () => {
    await tree?.remove();
  });

  it('shows every effect, the ledger\'s decisions and a verified ledger, in under a minute', async () => {
    const started = Date.now();
    const out = await runCli(['demo'], tree.root);
    expect(out.code, out.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(60_000);
    const text = out.stdout;
    expect(text).toMatch(/an allowed read\s+fetch_account_balance\s+allowed/);
    expect(text).toMatch(/an allowed small order\s+create_spot_market_order\s+allowed/);
    expect(text).toContain('denied (spot-market-max-amount)');
    expect(text).toContain('[POLICY DENIED] Requires human approval.');
    expect(text).toMatch(/the hidden withdrawal\s+withdraw_cryptocurrency\s+unknown tool/);
    expect(text).toContain('limit reached (tools.create_spot_market_order.limits[1])');
    expect(text).toContain('limit reached (tools.create_spot_market_order.limits[0])');
    expect(text).toMatch(/Decisions in the ledger \(pglite, .*\.tollgate\/ledger/);
    expect(text).toMatch(/ok: \d+ events in 1 strand\(s\), every hash link intact, no gaps/);
    expect(text).toContain('every allowed call has its outcome');
  }, 90_000);

  it('--json returns the calls, the recorded decisions and the verify report', async () => {
    const out = await runCli(['demo', '--json'], tree.root);
    expect(out.code, out.stderr).toBe(0);
    const result = JSON.parse(out.stdout) as {
      calls: Array<{ tool: string; verdict: string; code: string | null }>;
      decisions: Array<{ effect: string; outcome: string | null }>;
      verify: { ok: boolean; strands: unknown[] };
      tools: { listed: number; offered: number };
    };
    expect(result.tools).toEqual({ listed: 15, offered: 19 });
    expect(result.calls.map((c) => c.verdict)).toEqual([
      'allowed', 'allowed', 'denied', 'denied', 'unknown tool', 'allowed', 'allowed', 'limit reached',
      'allowed', 'allowed', 'allowed', 'allowed', 'allowed', 'allowed', 'allowed', 'limit reached',
    ]);
    expect(result.decisions).toHaveLength(16);
    expect(result.decisions.filter((d) => d.effect === 'allow').every((d) => d.outcome === 'ok')).toBe(true);
    // The second run appended a second strand to the same embedded ledger.
    expect(result.verify.ok).toBe(true);
    expect(result.verify.strands).toHaveLength(2);
  }, 90_000);

  it('fails with exit 2 and the reason when the database cannot be reached', async () => {
    const out = await runCli(['demo', '--database-url', 'postgres://postgres@127.0.0.1:9/none'], tree.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/^Error: .*127\.0\.0\.1:9/m);
  }, 30_000);
});
