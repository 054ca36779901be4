import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import {
  CHECKPOINT_FORMAT,
  LedgerWriter,
  checkSignature,
  createCheckpoint,
  readCheckpointFile,
  readStoredCheckpoints,
  verifyLedger,
} from '../../src/index.js';
import { decision } from '../support/ledger-event-factory.js';
import type { LedgerContext } from './ledger-conformance.js';
import { writeKeyPair } from './tamper.suite.js';

/** Signed checkpoints of every strand's head. */
export function checkpointSuite(ctx: LedgerContext): void {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-checkpoint-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const seed = async (): Promise<LedgerWriter[]> => {
    const writers = [new LedgerWriter(ctx.ledger.connection), new LedgerWriter(ctx.ledger.connection)];
    await Promise.all(Array.from({ length: 9 }, (_, i) => writers[i % 2]!.append(decision(i))));
    await Promise.all(writers.map((w) => w.close()));
    return writers;
  };

  it('signs the head of every strand, stores it, and writes it to a file', async () => {
    const writers = await seed();
    const keys = writeKeyPair(dir, 'ledger');
    const out = join(dir, 'evidence', 'checkpoint.json');
    const result = await createCheckpoint(ctx.ledger.connection, { keyFile: keys.key, outFile: out, clock: () => new Date('2030-01-02T03:04:05.678Z') });
    expect(result.file).toBe(out);
    expect(result.events).toBe(9);
    expect(result.checkpoint).toMatchObject({ format: CHECKPOINT_FORMAT, created_at: '2030-01-02T03:04:05.678Z' });
    expect(result.checkpoint.heads).toEqual(
      writers
        .map((w) => ({ strand_id: w.strandId, seq: w.head.seq, hash: w.head.hash }))
        .sort((a, b) => (a.strand_id < b.strand_id ? -1 : 1)),
    );
    expect(checkSignature(result.checkpoint)).toBeUndefined();
    expect(readCheckpointFile(out)).toEqual(result.checkpoint);
    expect(statSync(out).isFile()).toBe(true);
    expect(await readStoredCheckpoints(ctx.ledger.connection)).toEqual([result.checkpoint]);

    const report = await verifyLedger(ctx.ledger.connection, { checkpointFiles: [out], trustedKeyFiles: [keys.pub] });
    expect(report.ok).toBe(true);
    expect(report.checkpoints).toEqual([
      expect.objectContaining({ checkpoint_id: result.checkpoint.checkpoint_id, source: 'database', trusted: true, strands: 2, ok: true }),
      expect.objectContaining({ checkpoint_id: result.checkpoint.checkpoint_id, source: out, trusted: true, ok: true }),
    ]);
  });

  it('stays valid as strands grow: a checkpoint is a prefix', async () => {
    const [writer] = await seed();
    const keys = writeKeyPair(dir, 'ledger');
    await createCheckpoint(ctx.ledger.connection, { keyFile: keys.key });
    const more = new LedgerWriter(ctx.ledger.connection);
    await more.append(decision(100));
    await more.close();
    expect(writer).toBeDefined();
    const second = await createCheckpoint(ctx.ledger.connection, { keyFile: keys.key });
    expect(second.checkpoint.heads).toHaveLength(3);
    expect((await verifyLedger(ctx.ledger.connection)).ok).toBe(true);
  });

  it('reports a checkpoint signed by a key that is not trusted', async () => {
    await seed();
    const keys = writeKeyPair(dir, 'ledger');
    const other = writeKeyPair(dir, 'other');
    const { checkpoint } = await createCheckpoint(ctx.ledger.connection, { keyFile: keys.key });
    const report = await verifyLedger(ctx.ledger.connection, { trustedKeyFiles: [other.pub] });
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'checkpoint_untrusted', checkpoint_id: checkpoint.checkpoint_id })]);
  });

  it('reports a checkpoint file whose content no longer matches its signature', async () => {
    await seed();
    const keys = writeKeyPair(dir, 'ledger');
    const out = join(dir, 'checkpoint.json');
    const { checkpoint } = await createCheckpoint(ctx.ledger.connection, { keyFile: keys.key, outFile: out });
    const edited = JSON.parse(readFileSync(out, 'utf8')) as typeof checkpoint;
    edited.heads[0]!.seq = 1;
    writeFileSync(out, JSON.stringify(edited));
    const report = await verifyLedger(ctx.ledger.connection, { checkpointFiles: [out] });
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.kind).sort()).toEqual(['checkpoint_conflict', 'checkpoint_invalid']);
    expect(report.problems.find((p) => p.kind === 'checkpoint_invalid')!.message).toContain('its signature does not match its content');
  });

  it('refuses keys that are missing or not Ed25519, and malformed checkpoint files, naming the file', async () => {
    await seed();
    await expect(createCheckpoint(ctx.ledger.connection, { keyFile: join(dir, 'absent.key') })).rejects.toMatchObject({
      code: 'ledger.invalid_key',
      message: expect.stringContaining(join(dir, 'absent.key')),
    });
    const rsa = join(dir, 'rsa.key');
    writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await expect(createCheckpoint(ctx.ledger.connection, { keyFile: rsa })).rejects.toMatchObject({
      code: 'ledger.invalid_key',
      message: expect.stringMatching(/rsa\.key holds a rsa key; checkpoints are signed with Ed25519/),
    });
    const junk = join(dir, 'junk.json');
    writeFileSync(junk, '{"format": "something else"}');
    await expect(verifyLedger(ctx.ledger.connection, { checkpointFiles: [junk] })).rejects.toMatchObject({
      code: 'ledger.invalid_checkpoint',
      message: expect.stringContaining(`${junk}: "format" must be "${CHECKPOINT_FORMAT}"`),
    });
    expect(await readStoredCheckpoints(ctx.ledger.connection)).toEqual([]);
  });
}
