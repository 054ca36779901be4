import { afterEach, expect, it } from 'vitest';
import { LedgerWriter, type LedgerConnection, type LedgerWriterOptions } from '../../src/index.js';
import { decision } from '../support/ledger-event-factory.js';
import type { LedgerContext } from './ledger-conformance.js';

/** The connection, with every probe it is asked for counted (the database behind it is real). */
function countingProbes(connection: LedgerConnection): { connection: LedgerConnection; probes: number[] } {
  const probes: number[] = [];
  return {
    probes,
    connection: {
      backend: connection.backend,
      location: connection.location,
      db: connection.db,
      supportsCopy: connection.supportsCopy,
      execute: (text, values) => connection.execute(text, values),
      copyInTransaction: (statement, data, prelude) => connection.copyInTransaction(statement, data, prelude),
      supportsPipeline: connection.supportsPipeline,
      pipeline: (statements) => connection.pipeline(statements),
      pipelineInTransaction: (statements) => connection.pipelineInTransaction(statements),
      probe: (timeoutMs) => {
        probes.push(timeoutMs);
        return connection.probe(timeoutMs);
      },
      openStoreSessions: (options) => connection.openStoreSessions(options),
      close: () => connection.close(),
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The writer's health: what readiness asks before sending decisions to the gateway. */
export function healthSuite(ctx: LedgerContext): void {
  const writers: LedgerWriter[] = [];
  afterEach(async () => {
    for (const writer of writers.splice(0)) await writer.close();
  });
  const writer = (options: LedgerWriterOptions = {}): { writer: LedgerWriter; probes: number[] } => {
    const counted = countingProbes(ctx.ledger.connection);
    const w = new LedgerWriter(counted.connection, options);
    writers.push(w);
    return { writer: w, probes: counted.probes };
  };

  it('is healthy on a migrated, writable ledger: a probe says so', async () => {
    const { writer: w, probes } = writer({ health: { timeoutMs: 2000 } });
    expect(await w.health()).toEqual({ ok: true, reason: null, code: null, source: 'probe', ageMs: expect.any(Number) });
    expect(probes).toEqual([2000]);
  });

  it('shares one probe among concurrent calls and caches the answer, so probes cannot flood the database', async () => {
    const { writer: w, probes } = writer({ health: { cacheMs: 300 } });
    const answers = await Promise.all(Array.from({ length: 25 }, () => w.health()));
    expect(answers.every((a) => a.ok)).toBe(true);
    for (let i = 0; i < 10; i++) expect((await w.health()).ok).toBe(true);
    expect(probes).toHaveLength(1);
    await sleep(350);
    expect((await w.health()).source).toBe('probe');
    expect(probes).toHaveLength(2);
  });

  it('answers from a batch that just committed without probing', async () => {
    const { writer: w, probes } = writer({ health: { cacheMs: 5000 } });
    await w.append(decision(1));
    expect(await w.health()).toMatchObject({ ok: true, source: 'batch' });
    expect(probes).toEqual([]);
  });

  it('is not healthy while ledger_events is gone, naming the ledger and the fix; healthy again once it is back', async () => {
    const { writer: w } = writer({ health: { cacheMs: 0 } });
    expect((await w.health()).ok).toBe(true);
    await ctx.ledger.superuser('ALTER TABLE ledger_events RENAME TO ledger_events_away');
    const down = await w.health();
    await ctx.ledger.superuser('ALTER TABLE ledger_events_away RENAME TO ledger_events');
    expect(down).toMatchObject({ ok: false, code: 'ledger.not_migrated', source: 'probe' });
    expect(down.reason).toContain(`ledger database ${ctx.ledger.connection.location}`);
    expect(down.reason).toContain('tollgate ledger migrate');
    expect((await w.health()).ok).toBe(true);
  });

  it('reports a failed batch at once, with nothing committed since, until a newer probe or batch says otherwise', async () => {
    const { writer: w, probes } = writer({ health: { cacheMs: 400 } });
    await w.append(decision(1));
    await ctx.ledger.superuser('ALTER TABLE ledger_events RENAME TO ledger_events_away');
    const failed = await w.append(decision(2)).catch((error: unknown) => error);
    await ctx.ledger.superuser('ALTER TABLE ledger_events_away RENAME TO ledger_events');
    expect(failed).toMatchObject({ code: 'ledger.not_migrated' });
    const down = await w.health();
    expect(down).toMatchObject({ ok: false, code: 'ledger.not_migrated', source: 'batch' });
    expect(down.reason).toContain(`the last batch of strand ${w.strandId} failed and nothing has committed since`);
    expect(probes).toEqual([]);
    // Once the failure is older than the cache, a probe finds the ledger back.
    await sleep(450);
    expect(await w.health()).toMatchObject({ ok: true, source: 'probe' });
    expect(probes).toHaveLength(1);
  });

  it('is not healthy once closed, and refuses bad probe options naming them', async () => {
    const { writer: w } = writer();
    await w.close();
    expect(await w.health()).toMatchObject({ ok: false, code: 'ledger.closed', source: 'closed' });
    expect(() => new LedgerWriter(ctx.ledger.connection, { health: { timeoutMs: 0 } })).toThrow(/"health.timeoutMs" must be an integer from 1 to 60000/);
    expect(() => new LedgerWriter(ctx.ledger.connection, { health: { cacheMs: -1 } })).toThrow(/"health.cacheMs" must be an integer from 0 to 60000/);
  });
}
