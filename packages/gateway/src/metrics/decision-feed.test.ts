import { describe, expect, it } from 'vitest';
import type { DecisionEvent } from '../ledger/decision-sink.js';
import { ARGUMENTS_PREVIEW_CHARS, DecisionFeed, FEED_MINUTES } from './decision-feed.js';

const decision = (effect: DecisionEvent['effect'], args: DecisionEvent['args'] = { amount: 1 }): DecisionEvent => ({
  type: 'decision',
  callId: 'c1',
  agentId: 'bot',
  sessionId: 's1',
  server: 'ccxt',
  tool: 'create_spot_market_order',
  args,
  effect,
  rule: effect === 'allow' ? null : 'tools.create_spot_market_order.deny_if[0]',
  reason: 'because',
  policyRevision: '7',
  policyDigest: 'd'.repeat(64),
  detail: effect === 'deny' ? { code: 'policy.denied' } : null,
});

describe('decision feed', () => {
  it('keeps the last `capacity` decisions, oldest first, numbered, with labels and redacted arguments', () => {
    const feed = new DecisionFeed({
      capacity: 3,
      labels: (id) => (id === 'bot' ? { team: 'desk' } : undefined),
      redact: (_s, _t, args) => ({ ...(args as object), secret: '[REDACTED]' }),
      clock: () => Date.UTC(2026, 0, 1, 12, 0, 0),
    });
    for (const effect of ['allow', 'deny', 'hidden', 'approval_required', 'deny'] as const) feed.record(decision(effect, { amount: 1, secret: 'hunter2' }));
    const recent = feed.recent();
    expect(recent.map((d) => [d.seq, d.effect])).toEqual([[3, 'hidden'], [4, 'approval_required'], [5, 'deny']]);
    expect(recent[2]).toMatchObject({ at: '2026-01-01T12:00:00.000Z', agent: 'bot', labels: { team: 'desk' }, code: 'policy.denied', policy_revision: '7', session: 's1' });
    expect(recent[2]!.arguments).toBe('{"amount":1,"secret":"[REDACTED]"}');
    expect(recent[2]!.arguments).not.toContain('hunter2');
  });

  it('cuts long arguments to a bounded preview', () => {
    const feed = new DecisionFeed();
    const d = feed.record(decision('allow', { blob: 'x'.repeat(10_000) }));
    expect(d.arguments.length).toBe(ARGUMENTS_PREVIEW_CHARS);
    expect(d.arguments.endsWith('…')).toBe(true);
  });

  it('counts decisions per minute by effect over the last hour only', () => {
    let now = Date.UTC(2026, 0, 1, 12, 0, 30);
    const feed = new DecisionFeed({ clock: () => now });
    feed.record(decision('allow'));
    feed.record(decision('deny'));
    now += 60_000;
    feed.record(decision('allow'));
    feed.record(decision('hidden'));
    let minutes = feed.perMinute();
    expect(minutes).toHaveLength(FEED_MINUTES);
    expect(minutes.at(-1)).toEqual({ minute: '2026-01-01T12:01:00.000Z', allow: 1, deny: 0, approval_required: 0, hidden: 1 });
    expect(minutes.at(-2)).toEqual({ minute: '2026-01-01T12:00:00.000Z', allow: 1, deny: 1, approval_required: 0, hidden: 0 });
    now += 59 * 60_000;
    minutes = feed.perMinute();
    expect(minutes[0]).toEqual({ minute: '2026-01-01T12:01:00.000Z', allow: 1, deny: 0, approval_required: 0, hidden: 1 });
    expect(minutes.reduce((n, m) => n + m.allow + m.deny + m.hidden + m.approval_required, 0)).toBe(2);
  });

  it('tells subscribers of every decision; a failing subscriber harms nobody', () => {
    const feed = new DecisionFeed();
    const seen: string[] = [];
    feed.subscribe(() => {
      throw new Error('broken stream');
    });
    const stop = feed.subscribe((d) => seen.push(d.effect));
    feed.record(decision('allow'));
    stop();
    feed.record(decision('deny'));
    expect(seen).toEqual(['allow']);
  });
});
