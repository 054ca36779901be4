import { readFile } from 'node:fs/promises';
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
    expect(manifest.commands['test']!.flags['format']!.options).toEqual(['pretty', 'json', 'junit']);
    expect(Object.keys(manifest.commands['test']!.flags).sort()).toEqual(['coverage', 'format', 'json', 'output', 'threshold', 'watch']);
  });

  it('--help lists the commands and prints no warnings', async () => {
    const out = await runCli(['--help'], tmpdir());
    expect(out.code).toBe(0);
    expect(out.stderr).toBe('');
    expect(out.stdout).toMatch(/^ {2}lint {2}/m);
    expect(out.stdout).toMatch(/^ {2}test {2}/m);
  });
});
