import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connectLedger } from '@tollgate/ledger';
import { simpleGit } from 'simple-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_JS, cliEnv, runCli, tempTree, type TempTree } from './cli-process.js';
import { DEMO_EXCHANGE_COMMAND } from './mcp-servers.js';
import { SHOP_CATALOG, SHOP_POLICY, SHOP_TESTS_FULL } from './policy-fixtures.js';

const SPINNER = /\r\u001b\[2K[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] /;

/** Runs the CLI on a pseudo-terminal (util-linux `script`): stdin, stdout and stderr are a TTY. */
function onTerminal(args: readonly string[], cwd: string): Promise<{ code: number; output: string }> {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, RUN_JS, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    execFile('script', ['--quiet', '--return', '--command', command, '/dev/null'], { cwd, env: { ...cliEnv(), NO_COLOR: '1', TERM: 'xterm' } }, (error, stdout) => {
      if (error && typeof error.code !== 'number') return reject(error);
      resolve({ code: error ? (error.code as number) : 0, output: stdout });
    });
  });
}

/** Like {@link onTerminal}, typing `answer` once the CLI has asked its question. */
function answering(args: readonly string[], cwd: string, answer: string): Promise<{ code: number; output: string }> {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, RUN_JS, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['--quiet', '--return', '--command', command, '/dev/null'], { cwd, env: { ...cliEnv(), TERM: 'xterm' } });
    let output = '';
    let answered = false;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (!answered && output.includes('(Y/n)')) {
        answered = true;
        child.stdin.write(answer);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

describe('"did you mean" on an interactive terminal (@oclif/plugin-not-found)', () => {
  let tree: TempTree;
  beforeAll(async () => {
    tree = await tempTree({ 'policies/shop/policy.json': SHOP_POLICY, 'policies/shop/catalog.json': SHOP_CATALOG });
  });
  afterAll(() => tree?.remove());

  it('offers the closest command: yes runs it, no ends with the usage error (exit 2)', async () => {
    const yes = await answering(['lnt'], tree.root, 'y\r');
    const plain = (text: string): string => text.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');
    expect(plain(yes.output)).toContain('Did you mean lint?');
    expect(plain(yes.output)).toContain('0 errors, 0 warnings, 0 infos in 1 policy');
    expect(yes.code).toBe(0);
    const no = await answering(['lnt'], tree.root, 'n\r');
    expect(plain(no.output)).toContain('Error: "lnt" is not a tollgate command; did you mean "lint"?');
    expect(no.code).toBe(2);
  });
});

describe('progress of long work, on a terminal only', () => {
  let tree: TempTree;
  beforeAll(async () => {
    tree = await tempTree({ 'repo/policies/shop/policy.json': SHOP_POLICY, 'repo/policies/shop/catalog.json': SHOP_CATALOG, 'repo/policies/shop/shop.test.json': SHOP_TESTS_FULL });
    const git = simpleGit(join(tree.root, 'repo'));
    await git.init(['--initial-branch=main']);
    await git.addConfig('user.name', 'T').addConfig('user.email', 't@example.com');
    await git.add('.').commit('policies');
  });
  afterAll(() => tree?.remove());

  it('bundle build: each step drawn in place on the terminal, erased before the result', async () => {
    const out = await onTerminal(['bundle', 'build', '--out', 'bundles/a.json'], join(tree.root, 'repo'));
    expect(out.code).toBe(0);
    expect(out.output).toMatch(new RegExp(`${SPINNER.source}reading the policies of \\. and their Git commit`));
    expect(out.output).toMatch(new RegExp(`${SPINNER.source}compiling the bundle's policies and running its tests`));
    // The line is cleared, then the report starts on a clean line.
    expect(out.output).toMatch(/\r\u001b\[2K(?![⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏])Built bundles\/a\.json/);
  });

  it('init --from-server and catalog pull say what they wait for', async () => {
    const init = await onTerminal(['init', 'made', '--from-server', DEMO_EXCHANGE_COMMAND, '--server-name', 'ccxt'], tree.root);
    expect(init.code).toBe(0);
    expect(init.output).toMatch(new RegExp(`${SPINNER.source}starting .*demo-exchange.* and listing its tools`));
    expect(init.output).toMatch(new RegExp(`${SPINNER.source}writing the policy repository in .*made`));
    const pull = await onTerminal(['catalog', 'pull', DEMO_EXCHANGE_COMMAND, '--name', 'ccxt'], join(tree.root, 'made'));
    expect(pull.code).toBe(0);
    expect(pull.output).toMatch(new RegExp(`${SPINNER.source}classifying 19 tools`));
  });

  it('with --json on a terminal, and on a pipe, there is no progress at all', async () => {
    const json = await onTerminal(['bundle', 'build', '--out', 'bundles/b.json', '--json'], join(tree.root, 'repo'));
    expect(json.code).toBe(0);
    expect(json.output).not.toMatch(SPINNER);
    expect(JSON.parse(json.output.replace(/\r\n/g, '\n')).revision).toBe(1);
    const piped = await runCli(['bundle', 'build', '--out', 'bundles/c.json'], join(tree.root, 'repo'));
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe('');
    expect(piped.stdout).not.toMatch(SPINNER);
  });

  it('diff --replay says when it reads the ledger and re-decides the recorded calls', async () => {
    const admin = new URL(process.env['TOLLGATE_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres');
    const name = `tollgate_test_${randomBytes(6).toString('hex')}`;
    const server = await connectLedger({ databaseUrl: admin.toString() });
    await server.execute(`CREATE DATABASE ${name}`);
    const url = new URL(admin.toString());
    url.pathname = `/${name}`;
    try {
      expect((await runCli(['ledger', 'migrate', '--database-url', url.toString()], tree.root)).code).toBe(0);
      const out = await onTerminal(['diff', 'HEAD', '.', '--replay', '--database-url', url.toString()], join(tree.root, 'repo'));
      expect(out.code).toBe(0);
      expect(out.output).toMatch(new RegExp(`${SPINNER.source}reading the decisions recorded since \\d{4}-\\d\\d-\\d\\dT`));
      expect(out.output).toMatch(new RegExp(`${SPINNER.source}re-deciding 0 recorded calls under both policies`));
    } finally {
      await server.execute(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await server.close();
    }
  });
});
