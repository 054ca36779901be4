import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { runCli } from './cli-process.js';

const packageRoot = new URL('../', import.meta.url);

describe('tollgate startup', () => {
  it('the build wrote an oclif manifest for this version that lists lint and test with their flags', async () => {
    const manifest = JSON.parse(await readFile(new URL('oclif.manifest.json', packageRoot), 'utf8')) as {
      version: string;
      commands: Record<string, { flags: Record<string, { options?: string[] }> }>;
    };
    const pkg = JSON.parse(await readFile(new URL('package.json', packageRoot), 'utf8')) as { version: string };
    // oclif ignores (and warns about) a manifest whose version differs from the package's.
    expect(manifest.version).toBe(pkg.version);
    expect(manifest.commands['lint']!.flags['format']!.options).toEqual(['pretty', 'json', 'github', 'sarif']);
    expect(manifest.commands['test']!.flags['format']!.options).toEqual(['pretty', 'json', 'junit', 'github']);
    expect(Object.keys(manifest.commands['test']!.flags).sort()).toEqual(['coverage', 'format', 'json', 'out', 'run', 'threshold', 'watch']);
  });

  it('one spelling across commands: --format (-f) picks the output format, --out (-o) the file written; old spellings are hidden aliases', async () => {
    const manifest = JSON.parse(await readFile(new URL('oclif.manifest.json', packageRoot), 'utf8')) as {
      commands: Record<string, { flags: Record<string, { char?: string; options?: string[]; aliases?: string[]; hidden?: boolean }> }>;
    };
    const formatWords = new Set(['pretty', 'json', 'markdown', 'junit', 'github', 'sarif', 'table', 'csv', 'ndjson', 'yaml', 'text']);
    const commands = Object.entries(manifest.commands);
    expect(commands.length).toBeGreaterThanOrEqual(19);
    for (const [id, command] of commands) {
      for (const [name, flag] of Object.entries(command.flags)) {
        const where = `${id} --${name}`;
        // Another spelling of the same idea is not a flag of its own.
        expect(['output', 'output-file', 'outfile', 'output-format', 'fmt', 'reporter', 'style'], where).not.toContain(name);
        if ((flag.options ?? []).some((o) => formatWords.has(o))) expect(name, `${where} chooses an output format`).toBe('format');
        if (flag.char === 'f') expect(name, where).toBe('format');
        if (flag.char === 'o') expect(name, where).toBe('out');
      }
    }
    for (const id of ['lint', 'test', 'diff']) expect(manifest.commands[id]!.flags['out']!.aliases, id).toEqual(['output']);
  });

  it('the old --output spelling still works, and --help does not show it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-startup-'));
    try {
      await mkdir(join(dir, 'policies/x'), { recursive: true });
      await writeFile(join(dir, 'policies/x/policy.json'), JSON.stringify({ version: '1', default: 'deny' }));
      const out = await runCli(['lint', '--format', 'json', '--output', 'lint.json'], dir);
      expect(out.code).toBe(0);
      expect(JSON.parse(await readFile(join(dir, 'lint.json'), 'utf8')).diagnostics).toBeDefined();
      const help = await runCli(['lint', '--help'], dir);
      expect(help.stdout).toContain('-o, --out=<file>');
      expect(help.stdout).not.toContain('--output');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('--help lists the commands and prints no warnings', async () => {
    const out = await runCli(['--help'], tmpdir());
    expect(out.code).toBe(0);
    expect(out.stderr).toBe('');
    expect(out.stdout).toMatch(/^ {2}lint {2}/m);
    expect(out.stdout).toMatch(/^ {2}test {2}/m);
  });
});
