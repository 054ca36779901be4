import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleGit } from 'simple-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempTree, type TempTree } from './cli-process.js';
import { SHOP_CATALOG, SHOP_POLICY, SHOP_TESTS_FULL } from './policy-fixtures.js';

/**
 * What `npx` (EDITOR), a user's shell (PAGER, GIT_SSH_COMMAND) or a Git hook (GIT_DIR,
 * GIT_INDEX_FILE) may have set: simple-git refuses the first ones in an environment it is
 * given, and the last ones point git at another repository. No Git feature may care.
 */
const HOSTILE_ENV = {
  EDITOR: 'vi',
  PAGER: 'less',
  GIT_PAGER: 'less -R',
  GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
  GIT_ASKPASS: '/bin/false',
  GIT_DIR: '/nonexistent/.git',
  GIT_INDEX_FILE: '/nonexistent/index',
};

describe('Git features with EDITOR, PAGER and GIT_SSH_COMMAND in the environment', () => {
  let tree: TempTree;
  let repo: string;

  beforeAll(async () => {
    tree = await tempTree({
      'repo/policies/shop/policy.json': SHOP_POLICY,
      'repo/policies/shop/catalog.json': SHOP_CATALOG,
      'repo/policies/shop/shop.test.json': SHOP_TESTS_FULL,
    });
    repo = join(tree.root, 'repo');
    const git = simpleGit(repo);
    await git.init(['--initial-branch=main', '--quiet']);
    await git.addConfig('user.name', 'Policy Author');
    await git.addConfig('user.email', 'author@example.test');
    await git.add('.');
    await git.commit('policies', ['--quiet']);
    const refund = { deny_if: [{ conditions: [{ path: 'args.amount', op: 'gt', value: 200 }], on_deny: 'Refunds over 200 need a manager.' }] };
    await tree.write('repo/policies/shop/policy.json', { ...SHOP_POLICY, tools: { ...SHOP_POLICY.tools, refund } });
    await git.add('.');
    await git.commit('raise the refund limit', ['--quiet']);
  });
  afterAll(() => tree.remove());

  it('tollgate bundle build reads HEAD and its commit count', async () => {
    const out = await runCli(['bundle', 'build', '--out', '../out/bundle.json', '--json'], repo, HOSTILE_ENV);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ revision: 2, git_dirty: false, git_commit: expect.stringMatching(/^[0-9a-f]{40}$/) });
  });

  it('tollgate diff compares two refs', async () => {
    const out = await runCli(['diff', 'HEAD~1', 'HEAD', '--format', 'json'], repo, HOSTILE_ENV);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const report = JSON.parse(out.stdout) as { servers: { server: string; tools: { tool: string; change: string }[] }[] };
    expect(report.servers[0]!.tools).toEqual(expect.arrayContaining([expect.objectContaining({ tool: 'refund', change: 'wider' })]));
  });

  it('a git that cannot run is reported as such, never as "not in a Git repository"', async () => {
    const empty = await mkdir(join(tree.root, 'no-git-here'), { recursive: true }).then(() => join(tree.root, 'no-git-here'));
    const build = await runCli(['bundle', 'build', '--out', '../out/x.json'], repo, { PATH: empty });
    expect(build.code).toBe(2);
    expect(build.stderr).toContain('git failed');
    expect(build.stderr).not.toContain('not in a Git repository');
    const diff = await runCli(['diff', 'HEAD~1', 'HEAD'], repo, { PATH: empty });
    expect(diff.code).toBe(2);
    expect(diff.stderr).toContain('git failed');
    expect(diff.stderr).not.toContain('not inside a Git repository');
  });
});
