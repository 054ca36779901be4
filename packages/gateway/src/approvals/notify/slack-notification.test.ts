import type { ApprovalRecord } from '@tollgate/ledger';
import { describe, expect, it } from 'vitest';
import type { ApprovalTransition } from './approval-notifier.js';
import { renderSlackNotification, type SlackMessage } from './slack-notification.js';

const at = new Date('2026-03-02T09:00:00.000Z');
const record: ApprovalRecord = {
  id: '0195f3c2-7d2a-4c3e-9a61-5b2f0c8d1e4f',
  server: 'ccxt',
  tool: 'withdraw_cryptocurrency',
  argsSha256: 'a'.repeat(64),
  agentId: 'desk-bot',
  policyRevision: '42',
  policyDigest: 'b'.repeat(64),
  rule: 'tools.withdraw_cryptocurrency.approve_if[0]',
  sessionId: 's-1',
  callId: 'call-1',
  args: { address: '<!channel> <https://evil.example|click here> & `code`', amount: 2, memo: 'x'.repeat(5000) },
  reason: 'Withdrawals above 1 unit need two treasurers.',
  approvers: ['treasury'],
  minApprovals: 2,
  requestedAt: at,
  expiresAt: new Date(at.getTime() + 600_000),
  status: 'pending',
  votes: [],
  decidedAt: null,
  consumedAt: null,
  consumedByCall: null,
  recorded: true,
  closedAt: null,
};

const render = (t: Partial<ApprovalTransition>, link: string | null = `https://tollgate.example.com/console#${record.id}`): SlackMessage =>
  JSON.parse(renderSlackNotification({ event: 'requested', record, vote: null, reason: null, at, ...t }, link)) as SlackMessage;

/** Every piece of mrkdwn or plain text in a message. */
function texts(m: SlackMessage): string[] {
  const out = [m.text];
  for (const b of m.blocks) {
    if (b.type === 'header') out.push(b.text.text);
    if (b.type === 'section') out.push(b.text.text, ...(b.fields ?? []).map((f) => f.text));
    if (b.type === 'context') out.push(...b.elements.map((e) => e.text));
    if (b.type === 'actions') out.push(...b.elements.map((e) => e.text.text));
  }
  return out;
}

describe('Slack notification', () => {
  it('carries the call, the reason, who may approve and a console button, within Slack\'s limits', () => {
    const m = render({});
    expect(m.text).toContain('Approval needed: ccxt/withdraw_cryptocurrency for agent desk-bot');
    expect(m.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'actions', 'context']);
    const all = texts(m).join('\n');
    expect(all).toContain('Withdrawals above 1 unit need two treasurers.');
    expect(all).toContain('treasury; 2 grants needed');
    expect(all).toContain('tools.withdraw_cryptocurrency.approve_if[0]');
    const actions = m.blocks.find((b) => b.type === 'actions');
    expect(actions).toEqual({ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Review in the console' }, url: `https://tollgate.example.com/console#${record.id}` }] });
    const header = m.blocks[0]!;
    expect(header.type === 'header' && header.text.text.length <= 150).toBe(true);
    for (const b of m.blocks) {
      if (b.type !== 'section') continue;
      expect(b.text.text.length).toBeLessThanOrEqual(3000);
      expect((b.fields ?? []).length).toBeLessThanOrEqual(10);
      for (const f of b.fields ?? []) expect(f.text.length).toBeLessThanOrEqual(2000);
    }
  });

  it('escapes what the agent sent: no mention, no link, no way out of the code block', () => {
    const all = texts(render({})).join('\n');
    expect(all).not.toContain('<!channel>');
    expect(all).not.toContain('<https://evil');
    expect(all).toContain('&lt;!channel&gt; &lt;https://evil.example|click here&gt; &amp;');
    const args = render({}).blocks[2]!;
    expect(args.type === 'section' && args.text.text.match(/```/g)?.length).toBe(2);
  });

  it('tells each vote and the expiry, and leaves the button out without a console', () => {
    const granted = render({ event: 'granted', record: { ...record, votes: [{ approver: 'treasurer-1', decision: 'grant', reason: 'on the allow-list', at }] }, vote: { approver: 'treasurer-1', decision: 'grant', reason: 'on the allow-list', at } });
    expect(granted.text).toContain('treasurer-1 granted ccxt/withdraw_cryptocurrency for agent desk-bot (1 of 2 grants): it needs another approver');
    expect(texts(granted).join('\n')).toContain('granted by treasurer-1 at 2026-03-02T09:00:00.000Z: on the allow-list');
    const expired = render({ event: 'expired', record: { ...record, status: 'expired', decidedAt: at }, reason: 'not decided in time (0 of 2 grants)' }, null);
    expect(expired.text).toBe('The approval of ccxt/withdraw_cryptocurrency for agent desk-bot expired: not decided in time (0 of 2 grants)');
    expect(expired.blocks.some((b) => b.type === 'actions')).toBe(false);
    const header = expired.blocks[0]!;
    expect(header.type === 'header' && header.text.text).toBe('Approval expired: ccxt/withdraw_cryptocurrency');
  });
});
