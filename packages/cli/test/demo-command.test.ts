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
    // cancel_order waits for a desk lead, runs once approved; the identical repeat waits again.
    expect(text).toMatch(/cancel it: held for a desk lead\s+cancel_order\s+held, then approved by desk-lead: ran/);
    expect(text).toContain('"cancelReason":"canceled by user"');
    expect(text).toMatch(/the same cancel again: held again\s+cancel_order\s+held, then denied by desk-lead/);
    expect(text).toMatch(/\[APPROVAL DENIED\] approval [0-9a-f-]{36} was denied by desk-lead: already cancelled/);
    expect(text).toMatch(/the hidden leverage tool\s+set_trading_leverage\s+unknown tool/);
    expect(text).toMatch(/withdraw_cryptocurrency\s+held, then approved by treasurer-1 and approved by treasurer-2: ran/);
    expect(text).toMatch(/approval\.granted\s+withdraw_cryptocurrency\s+treasurer-2/);
    expect(text).toContain('limit reached (tools.create_spot_market_order.limits[1])');
    expect(text).toContain('limit reached (tools.create_spot_market_order.limits[0])');
    expect(text).toMatch(/Decisions in the ledger \(pglite, .*\.tollgate\/ledger/);
    expect(text).toMatch(/ok: \d+ events in 1 strand\(s\), every hash link intact, no gaps/);
    // verify checked the gateway's approval events: every one sound.
    expect(text).toContain('3 approval request(s), 2 call(s) run on one: each decided after its request, by someone other than the agent, used once, before it expired');
    expect(text).toContain('every allowed call has its outcome');
  }, 90_000);

  it('--json returns the calls, the recorded decisions and the verify report', async () => {
    const out = await runCli(['demo', '--json'], tree.root);
    expect(out.code, out.stderr).toBe(0);
    const result = JSON.parse(out.stdout) as {
      calls: Array<{ tool: string; verdict: string; code: string | null }>;
      decisions: Array<{ type: string; effect: string; outcome: string | null }>;
      verify: { ok: boolean; strands: unknown[]; approvals: unknown };
      tools: { listed: number; offered: number };
    };
    expect(result.tools).toEqual({ listed: 17, offered: 19 });
    expect(result.calls.map((c) => c.verdict)).toEqual([
      'allowed', 'allowed', 'denied', 'allowed',
      'held, then approved by desk-lead: ran', 'held, then denied by desk-lead', 'unknown tool',
      'held, then approved by treasurer-1 and approved by treasurer-2: ran',
      'allowed', 'allowed', 'limit reached',
      'allowed', 'allowed', 'allowed', 'allowed', 'allowed', 'allowed', 'limit reached',
    ]);
    expect(result.calls[5]!.code).toBe('approval.denied');
    const decisions = result.decisions.filter((d) => d.type === 'decision');
    // 18 calls; the three held ones were decided twice: held, then allowed or denied by their approval.
    expect(decisions).toHaveLength(21);
    expect(result.decisions.filter((d) => d.type === 'approval.requested')).toHaveLength(3);
    expect(result.decisions.filter((d) => d.type === 'approval.granted').map((d) => d.effect)).toEqual(['desk-lead', 'treasurer-1', 'treasurer-2']);
    expect(result.decisions.filter((d) => d.type === 'approval.denied').map((d) => d.effect)).toEqual(['desk-lead']);
    expect(decisions.filter((d) => d.effect === 'allow').every((d) => d.outcome === 'ok')).toBe(true);
    // The second run appended a second strand to the same embedded ledger.
    expect(result.verify.ok).toBe(true);
    expect(result.verify.strands).toHaveLength(2);
    // Both runs' approvals: three requests, four votes and two uses each.
    expect(result.verify.approvals).toEqual({ requests: 6, votes: 8, expiries: 0, uses: 4, problems: 0 });
  }, 90_000);

  it('fails with exit 2 and the reason when the database cannot be reached', async () => {
    const out = await runCli(['demo', '--database-url', 'postgres://postgres@127.0.0.1:9/none'], tree.root);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/^Error: .*127\.0\.0\.1:9/m);
  }, 30_000);
});
