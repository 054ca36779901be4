import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { runCli } from './cli-process.js';

const cwd = tmpdir();
const help = (command: string) => `Hint: Run \`tollgate ${command} --help\` for its arguments and flags.\n`;
const LIST = 'Hint: Run `tollgate --help` for the list of commands, or `tollgate <command> --help` for one.\n';

/** Nothing of oclif's own error texts, banners or stack traces. */
function expectOurs(stderr: string): void {
  expect(stderr).not.toMatch(/The following errors? occurred|See more help with|›|^\s+at |Nonexistent flag|Missing \d+ required arg|command \S+ not found/m);
}

describe('usage errors are ours: what was wrong, a hint, exit 2', () => {
  it.each([
    [['bundle', 'sign'], 'Error: missing the argument FILE (the bundle file)\n' + help('bundle sign')],
    [['keys', 'generate'], 'Error: missing the required flag --out\n' + help('keys generate')],
    [['lint', '--formt', 'github'], 'Error: unknown flag --formt; did you mean --format?\n' + help('lint')],
    [['lint', '--format', 'sarf'], 'Error: --format: "sarf" is not one of pretty, json, github, sarif; did you mean "sarif"?\n' + help('lint')],
    [['init', 'a', 'b'], 'Error: unexpected argument: b (tollgate init does not take it)\n' + help('init')],
    [['test', '--threshold', 'abc'], 'Error: --threshold: expected a percentage from 0 to 100, got "abc"\n' + help('test')],
    [['bundle', 'verify', 'x.json', '--trust', 'k.pub', '--threshold', '0'], 'Error: --threshold: Expected an integer greater than or equal to 1 but received: 0\n' + help('bundle verify')],
    [['lnt'], 'Error: "lnt" is not a tollgate command; did you mean "lint"?\n' + LIST],
    [['bundle', 'buidl'], 'Error: "bundle buidl" is not a tollgate command; did you mean "bundle build"?\n' + LIST],
    [['ledgr', 'verify'], 'Error: "ledgr verify" is not a tollgate command; did you mean "ledger verify"?\n' + LIST],
    [['help', 'lnt'], 'Error: "lnt" is not a tollgate command; did you mean "tollgate help lint"?\n' + LIST],
    [['frobnicate'], 'Error: "frobnicate" is not a tollgate command\n' + LIST],
  ])('tollgate %j', async (args, expected) => {
    const out = await runCli(args, cwd);
    expect(out.code).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr).toBe(expected);
    expectOurs(out.stderr);
  });

  it('a flag where a command belongs', async () => {
    const out = await runCli(['--verison'], cwd);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/^Error: unknown flag --verison before a command; did you mean --version\?\nHint: Flags go after the command/);
  });

  it('with --json the error is the JSON document on stdout, for commands and unknown commands alike', async () => {
    const flag = await runCli(['lint', '--bogus', '--json'], cwd);
    expect(flag.code).toBe(2);
    expect(JSON.parse(flag.stdout)).toEqual({ error: { code: 'usage', message: 'unknown flag --bogus', hint: 'Run `tollgate lint --help` for its arguments and flags.', exit: 2 } });
    const command = await runCli(['lnt', '--json'], cwd);
    expect(command.code).toBe(2);
    expect(JSON.parse(command.stdout)).toMatchObject({ error: { code: 'command.unknown', message: '"lnt" is not a tollgate command; did you mean "lint"?', exit: 2 } });
  });

  it('tollgate help <command> is that command\'s --help', async () => {
    const viaHelp = await runCli(['help', 'bundle', 'build'], cwd);
    const viaFlag = await runCli(['bundle', 'build', '--help'], cwd);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
    expect(viaHelp.stdout).toContain('USAGE');
  });
});
