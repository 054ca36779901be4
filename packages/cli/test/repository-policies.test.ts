import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from './cli-process.js';

// The repository's own policy repo (policies/), as its README tells people to check it.
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

describe("the repository's example policies", () => {
  it('lint without errors', async () => {
    const out = await runCli(['lint', 'policies/', '--format', 'json'], repoRoot);
    const result = JSON.parse(out.stdout) as { errors: number; files: Array<{ server: string }>; diagnostics: unknown[] };
    expect(result.errors, JSON.stringify(result.diagnostics, null, 2)).toBe(0);
    expect(out.code).toBe(0);
    expect(result.files.map((f) => f.server).sort()).toEqual(expect.arrayContaining(['ccxt', 'everything']));
  });

  it('pass their tests with every rule covered', async () => {
    const out = await runCli(['test', 'policies/', '--coverage', '--threshold', '100'], repoRoot);
    expect(out.code, out.stdout).toBe(0);
    expect(out.stdout).toContain('Coverage meets the threshold of 100% for every policy.');
    expect(out.stdout.trimEnd().split('\n').at(-1)).toMatch(/^[1-9]\d* passed, 0 failed$/);
  });
});
