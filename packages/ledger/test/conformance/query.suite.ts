import { Writable } from 'node:stream';
import { canonicalJson, sha256Hex } from '@tollgate/policy';
import { expect, it } from 'vitest';
import { LEDGER_EVENT_COLUMNS, LedgerWriter, exportLedger, queryLedger, type LedgerEventRow } from '../../src/index.js';
import { approvalRequested, approvalResolved, decision, outcome, policyActivated } from '../support/ledger-event-factory.js';
import type { LedgerContext } from './ledger-conformance.js';

const T0 = Date.parse('2030-03-01T00:00:00.000Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);

/** A writable that keeps what it is given, with a small buffer so back-pressure happens. */
function collector(): { stream: Writable; text: () => string; drains: () => number } {
  const chunks: string[] = [];
  let drains = 0;
  const stream = new Writable({
    highWaterMark: 256,
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      setImmediate(done);
    },
  });
  stream.on('drain', () => {
    drains += 1;
  });
  return { stream, text: () => chunks.join(''), drains: () => drains };
}

/** Audit queries and streaming exports. */
export function querySuite(ctx: LedgerContext): void {
  const seed = async (): Promise<void> => {
    const writer = new LedgerWriter(ctx.ledger.connection);
    await writer.append(policyActivated('7', { at: at(0) }));
    await writer.append(decision(1, { at: at(1) }));
    await writer.append(outcome(1, { at: at(2) }));
    await writer.append(decision(2, { at: at(3), agentId: 'trader-2', sessionId: 'session-2', tool: 'cancel_order', effect: 'deny', rule: 'tools.cancel_order.deny_if[0]', reason: '=HYPERLINK("x")' }));
    await writer.append(decision(3, { at: at(4), policyRevision: '8', server: 'remote', tool: 'fetch_ticker' }));
    await writer.append(approvalRequested('appr-1', { at: at(5) }));
    await writer.append(approvalResolved('appr-1', 'approval.granted', 'ab'.repeat(32), { at: at(6), approver: 'carol' }));
    await writer.close();
  };

  it('filters by time range, agent, server, tool, effect, rule, revision, approver, call, session and type', async () => {
    await seed();
    const c = ctx.ledger.connection;
    const calls = async (filter: Parameters<typeof queryLedger>[1]) => (await queryLedger(c, filter)).events.map((e) => `${e.event_type}:${e.call_id ?? '-'}`);
    expect(await calls({})).toHaveLength(7);
    expect(await calls({ from: at(1), to: at(3) })).toEqual(['decision:call-1', 'outcome:call-1']);
    expect(await calls({ agents: ['trader-2'] })).toEqual(['decision:call-2']);
    expect(await calls({ servers: ['remote'] })).toEqual(['decision:call-3']);
    expect(await calls({ tools: ['cancel_order', 'fetch_ticker'] })).toEqual(['decision:call-2', 'decision:call-3']);
    expect(await calls({ effects: ['deny'] })).toEqual(['decision:call-2']);
    expect(await calls({ rules: ['tools.cancel_order.deny_if[0]'] })).toEqual(['decision:call-2']);
    expect(await calls({ policyRevisions: ['8'] })).toEqual(['decision:call-3']);
    expect(await calls({ approvers: ['carol'] })).toEqual(['approval.granted:call-appr-1']);
    expect(await calls({ callIds: ['call-1'] })).toEqual(['decision:call-1', 'outcome:call-1']);
    expect(await calls({ sessions: ['session-2'] })).toEqual(['decision:call-2']);
    expect(await calls({ types: ['policy.activated'] })).toEqual(['policy.activated:-']);
    expect(await calls({ types: ['decision'], agents: ['trader-1'], servers: ['ccxt'] })).toEqual(['decision:call-1']);
    expect(await calls({ approvalIds: ['appr-1'] })).toEqual(['approval.requested:call-appr-1', 'approval.granted:call-appr-1']);
  });

  it('limits results, says when it did, and orders newest first on request', async () => {
    await seed();
    const first = await queryLedger(ctx.ledger.connection, { limit: 2 });
    expect(first.truncated).toBe(true);
    expect(first.events.map((e) => e.occurred_at)).toEqual([at(0).toISOString(), at(1).toISOString()]);
    const newest = await queryLedger(ctx.ledger.connection, { limit: 1, order: 'desc' });
    expect(newest.events[0]!.event_type).toBe('approval.granted');
    expect((await queryLedger(ctx.ledger.connection, { limit: 7 })).truncated).toBe(false);
  });

  it('refuses malformed filters, saying what is wrong', async () => {
    await expect(queryLedger(ctx.ledger.connection, { from: at(5), to: at(1) })).rejects.toMatchObject({
      code: 'ledger.invalid_query',
      message: expect.stringContaining('the time range is empty'),
    });
    await expect(queryLedger(ctx.ledger.connection, { effects: ['maybe' as never] })).rejects.toMatchObject({
      code: 'ledger.invalid_query',
      message: expect.stringContaining('unknown effect "maybe"'),
    });
    await expect(queryLedger(ctx.ledger.connection, { limit: 0 })).rejects.toMatchObject({ code: 'ledger.invalid_query' });
  });

  it('exports a time range as NDJSON, page by page, honouring back-pressure', async () => {
    await seed();
    const out = collector();
    const result = await exportLedger(ctx.ledger.connection, { format: 'ndjson', from: at(1), to: at(6), output: out.stream, pageSize: 2 });
    expect(result).toEqual({ format: 'ndjson', events: 5 });
    const lines = out.text().trimEnd().split('\n').map((l) => JSON.parse(l) as LedgerEventRow);
    expect(lines.map((l) => l.occurred_at)).toEqual([1, 2, 3, 4, 5].map((m) => at(m).toISOString()));
    // Every column, except the shadow columns, which a row leaves out when they are null.
    expect(Object.keys(lines[0]!)).toEqual(LEDGER_EVENT_COLUMNS.filter((c) => c !== 'shadow_effect' && c !== 'shadow_rule'));
    const queried = await queryLedger(ctx.ledger.connection, { from: at(1), to: at(6) });
    expect(lines).toEqual(queried.events);
    // Anyone can recompute the chain from the export alone (docs/ledger.md).
    for (const { prev_hash, hash, ...event } of lines) expect(sha256Hex(prev_hash + canonicalJson(event))).toBe(hash);
    expect(out.drains()).toBeGreaterThan(0);
  });

  it('exports CSV with a header, quoting, and spreadsheet formulas defused', async () => {
    await seed();
    const out = collector();
    const result = await exportLedger(ctx.ledger.connection, { format: 'csv', output: out.stream, effects: ['deny'] });
    expect(result.events).toBe(1);
    const [header, row, end] = out.text().split('\n');
    expect(header).toBe(LEDGER_EVENT_COLUMNS.join(','));
    expect(end).toBe('');
    expect(row).toContain(`"'=HYPERLINK(""x"")"`);
    expect(row).toContain('"{""amount"":0.02,""exchange_id"":""binance"",""side"":""buy"",""symbol"":""BTC/USDT""}"');
  });

  it('exports events that share a timestamp without skipping or repeating any', async () => {
    const writer = new LedgerWriter(ctx.ledger.connection, { clock: () => at(10) });
    await Promise.all(Array.from({ length: 25 }, (_, i) => writer.append(decision(i))));
    await writer.close();
    const out = collector();
    const result = await exportLedger(ctx.ledger.connection, { format: 'ndjson', output: out.stream, pageSize: 4 });
    expect(result.events).toBe(25);
    const ids = out.text().trimEnd().split('\n').map((l) => (JSON.parse(l) as LedgerEventRow).call_id);
    expect(new Set(ids).size).toBe(25);
  });
}
