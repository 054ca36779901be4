import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('./fixtures/close-after-failed-query.ts', import.meta.url));
const TSCONFIG = fileURLToPath(new URL('./fixtures/tsconfig.json', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** Longer than opening a fresh data directory five times on a busy machine, far shorter than forever. */
const DEADLINE_MS = 90_000;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  killed: boolean;
}

/**
 * Runs the fixture in its own process and kills it at the deadline: the failure it checks
 * for blocks the event loop, so it cannot be timed out from inside.
 */
function runFixture(dataDir: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, dataDir], {
      cwd: REPO,
      env: { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, DEADLINE_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, killed });
    });
  });
}

describe('closing the embedded ledger after a failed statement', () => {
  const root = mkdtempSync(join(tmpdir(), 'tollgate-close-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('resolves at once and leaves nothing running against the closed database', { timeout: DEADLINE_MS + 30_000 }, async () => {
    // A data directory that was never migrated: every read of the ledger's tables fails.
    const outcome = await runFixture(join(root, 'ledger'));
    const report = `exit ${outcome.code ?? outcome.signal}${outcome.killed ? ' (killed at the deadline: hung)' : ''}\n${outcome.stdout}\n${outcome.stderr.slice(-2000)}`;
    expect(outcome.killed, report).toBe(false);
    expect(outcome.code, report).toBe(0);

    const closed = new Map<string, { code: string; ms: number }>();
    for (const line of outcome.stdout.split('\n')) {
      const [kind, operation, code, ms] = line.split(' ');
      if (kind === 'CLOSED' && operation && code && ms) closed.set(operation, { code, ms: Number(ms) });
    }
    expect([...closed.keys()]).toEqual(['query', 'export', 'verify', 'kysely', 'execute']);
    // The library's reads say the schema is missing; raw statements fail with PostgreSQL's own code.
    for (const operation of ['query', 'export', 'verify']) expect(closed.get(operation)?.code, operation).toBe('ledger.not_migrated');
    for (const operation of ['kysely', 'execute']) expect(closed.get(operation)?.code, operation).toBe('42P01');
    for (const [operation, { ms }] of closed) expect(ms, `close() after a failed ${operation}`).toBeLessThan(5000);
    // The data directory opens again afterwards: unlocked and intact.
    expect(outcome.stdout).toContain('DONE\n');
  });
});
