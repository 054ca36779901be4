import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { DIAGNOSTIC_CODES, DOCS_URL, REPOSITORY_SLUG, REPOSITORY_URL } from '@tollgate/policy';
import { describe, expect, it } from 'vitest';
import { buildSarifLog } from '../src/render/sarif-renderer.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const tracked = execFileSync('git', ['ls-files'], { cwd: repoRoot, encoding: 'utf8' }).trim().split('\n');

describe('the repository address is written once (packages/policy/src/project-links.ts)', () => {
  it('no file names the placeholder tollgate.dev site', async () => {
    const offenders: string[] = [];
    for (const file of tracked) {
      if (file === 'pnpm-lock.yaml' || file.endsWith('project-links.test.ts')) continue;
      const text = await readFile(`${repoRoot}${file}`, 'utf8').catch(() => '');
      if (/tollgate\.dev\b/.test(text)) offenders.push(file);
    }
    expect(offenders).toEqual([]);
  });

  it("every JSON Schema's $id is its file in the repository", async () => {
    const schemas = tracked.filter((f) => f.endsWith('.schema.json'));
    expect(schemas.length).toBeGreaterThanOrEqual(3);
    for (const file of schemas) {
      const schema = JSON.parse(await readFile(`${repoRoot}${file}`, 'utf8')) as { $id?: string };
      expect(schema.$id, file).toBe(`${REPOSITORY_URL}/blob/main/${file}`);
    }
  });

  it("every package.json's repository is this one", async () => {
    for (const file of tracked.filter((f) => /(^|\/)package\.json$/.test(f) && !f.startsWith('bench/'))) {
      const pkg = JSON.parse(await readFile(`${repoRoot}${file}`, 'utf8')) as { repository?: { url: string; directory?: string } };
      expect(pkg.repository?.url, file).toBe(`git+${REPOSITORY_URL}.git`);
      if (file !== 'package.json') expect(pkg.repository?.directory, file).toBe(file.replace(/\/package\.json$/, ''));
    }
    expect(REPOSITORY_SLUG).toBe(new URL(REPOSITORY_URL).pathname.slice(1));
  });

  it('SARIF rules link to the heading of their rule in docs/lint-rules.md', async () => {
    const docs = await readFile(`${repoRoot}docs/lint-rules.md`, 'utf8');
    // GitHub's anchor for a heading: lower case, spaces to dashes, punctuation dropped.
    const anchors = new Set([...docs.matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1]!.toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')));
    const log = buildSarifLog({ diagnostics: [], policies: [], summary: '', errors: 0, warnings: 0, infos: 0 } as never, { cwd: repoRoot, root: repoRoot, version: '0.1.0' });
    const driver = log.runs[0]!.tool.driver;
    expect(driver.informationUri).toBe(REPOSITORY_URL);
    expect(driver.rules).toHaveLength(Object.keys(DIAGNOSTIC_CODES).length);
    for (const rule of driver.rules!) {
      expect(rule.helpUri!.startsWith(`${DOCS_URL}lint-rules.md#`), rule.id).toBe(true);
      expect(anchors.has(rule.helpUri!.split('#')[1]!), `${rule.id}: ${rule.helpUri}`).toBe(true);
    }
  });
});
