import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { connectLedger } from '@tollgate/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_JS, cliEnv, tempTree, type CliOutcome, type TempTree } from './cli-process.js';

/** Far longer than opening an embedded ledger on a busy machine; a command that hangs is killed here. */
const DEADLINE_MS = 60_000;

/** Runs the CLI and kills it at the deadline (a hung process blocks its own timers). */
function runWithDeadline(args: readonly string[], cwd: string): Promise<CliOutcome & { killed: boolean }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [RUN_JS, ...args], { cwd, env: cliEnv(), timeout: DEADLINE_MS, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number' && !error.killed) {
        reject(error);
        return;
      }
      resolve({ code: typeof error?.code === 'number' ? error.code : error ? -1 : 0, stdout, stderr, killed: error?.killed === true });
    });
  });
}

describe('tollgate ledger on an embedded ledger that was never migrated', () => {
  let tree: TempTree;
  beforeAll(async () => {
    tree = await tempTree();
  });
  afterAll(async () => {
    await tree?.remove();
  });

  it('read-only commands in a directory without a ledger exit 2 and create nothing', { timeout: 6 * DEADLINE_MS }, async () => {
    const empty = join(tree.root, 'empty');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(empty);
    const commands = [
      ['ledger', 'query'],
      ['ledger', 'verify'],
      ['ledger', 'export', '--format', 'ndjson'],
      ['ledger', 'checkpoint', '--key', 'none.key'],
      ['explain', '00000000-0000-0000-0000-000000000000'],
    ];
    for (const command of commands) {
      const out = await runWithDeadline(command, empty);
      const what = `${command.join(' ')}: exit ${out.code}\n${out.stderr.slice(-2000)}`;
      expect(out.code, what).toBe(2);
      if (command[0] === 'ledger' && command[1] !== 'checkpoint') {
        expect(out.stderr, what).toMatch(/there is no embedded ledger at .*empty\/\.tollgate\/ledger \(nothing was created there\)/);
      }
      expect(existsSync(join(empty, '.tollgate')), what).toBe(false);
    }
    expect(readdirSync(empty)).toEqual([]);
  });

  it('query, verify and export exit 2 saying to migrate, and the directory migrates afterwards', { timeout: 6 * DEADLINE_MS }, async () => {
    // A ledger directory that was created but never migrated.
    const created = await connectLedger({ dataDir: join(tree.root, 'ledger') });
    await created.close();
    const commands = [
      ['ledger', 'query', '--server', 'ccxt'],
      ['ledger', 'verify'],
      ['ledger', 'export', '--format', 'ndjson'],
    ];
    for (const command of commands) {
      const out = await runWithDeadline([...command, '--data-dir', 'ledger'], tree.root);
      const what = `${command.join(' ')}: exit ${out.code}${out.killed ? ' (killed at the deadline: hung)' : ''}\n${out.stderr.slice(-2000)}`;
      expect(out.killed, what).toBe(false);
      expect(out.code, what).toBe(2);
      expect(out.stderr, what).toMatch(/ledger database .*\/ledger has no ledger schema/);
      expect(out.stderr, what).toContain('Hint: Run `tollgate ledger migrate` first.');
      expect(out.stderr, what).not.toMatch(/TypeError|\n\s+at /);
    }
    // Nothing was left half-closed: the directory is unlocked, migrates, and is then queried.
    const migrate = await runWithDeadline(['ledger', 'migrate', '--data-dir', 'ledger'], tree.root);
    expect(migrate.code, migrate.stderr).toBe(0);
    const query = await runWithDeadline(['ledger', 'query', '--data-dir', 'ledger', '--json'], tree.root);
    expect(query.code, query.stderr).toBe(0);
    expect(JSON.parse(query.stdout)).toMatchObject({ events: [], truncated: false });
  });
});
