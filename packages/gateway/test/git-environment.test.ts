import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { simpleGit } from 'simple-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitClient, gitEnvironment, isNotARepositoryError } from '../src/policy/git-environment.js';
import { GitLocalBundleReader } from '../src/policy/git-local-bundle-reader.js';
import { GitPolicySource } from '../src/policy/git-policy-source.js';
import { GitRemoteBundleReader } from '../src/policy/git-remote-bundle-reader.js';
import { MemoryLimitStore } from '@tollgate/policy';
import { createPolicyRepo, type PolicyRepo } from './git-policy-repo.js';

/** What a user's shell, `npx`, a Git hook or a CI step may have set, none of which git needs to read a repository. */
const HOSTILE_ENV = {
  EDITOR: 'vim',
  VISUAL: 'vim',
  PAGER: 'less',
  GIT_PAGER: 'less -R',
  GIT_EDITOR: 'nano',
  GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
  GIT_ASKPASS: '/bin/false',
  GIT_DIR: '/nonexistent/.git',
  GIT_INDEX_FILE: '/nonexistent/index',
} as const;

describe('gitEnvironment', () => {
  it('passes what git needs and nothing that runs a program or points at another repository', () => {
    const env = gitEnvironment({ PATH: '/usr/bin', HOME: '/home/u', SSH_AUTH_SOCK: '/tmp/agent', HTTPS_PROXY: 'http://proxy:3128', LANG: 'de_DE.UTF-8', SECRET_TOKEN: 'x', ...HOSTILE_ENV });
    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/u',
      SSH_AUTH_SOCK: '/tmp/agent',
      HTTPS_PROXY: 'http://proxy:3128',
      GIT_TERMINAL_PROMPT: '0',
      GIT_OPTIONAL_LOCKS: '0',
      LC_ALL: 'C',
    });
  });

  it('tells git\'s "not a git repository" from other failures', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-not-a-repo-'));
    try {
      const error = await gitClient(dir, { env: { ...process.env, GIT_CEILING_DIRECTORIES: tmpdir() } })
        .revparse(['--show-toplevel'])
        .then(() => undefined, (e: unknown) => e);
      expect(isNotARepositoryError(error)).toBe(true);
      expect(isNotARepositoryError(new Error('spawn git ENOENT'))).toBe(false);
      expect(isNotARepositoryError(new Error("fatal: detected dubious ownership in repository at '/srv/p'"))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the Git policy source with EDITOR, PAGER and GIT_SSH_COMMAND set', () => {
  const saved: Record<string, string | undefined> = {};
  let repo: PolicyRepo;
  let stateDir: string;
  let head: string;

  beforeAll(async () => {
    repo = await createPolicyRepo();
    head = await repo.commit({ revision: 1, allowEcho: true });
    stateDir = await mkdtemp(join(tmpdir(), 'tollgate-git-env-state-'));
    for (const [name, value] of Object.entries(HOSTILE_ENV)) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
  });

  afterAll(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await repo?.remove();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('reads a local repository and a file:// remote', async () => {
    // What the readers did before: the process's environment handed to simple-git, which refuses it.
    await expect(simpleGit({ baseDir: repo.dir }).env({ ...process.env }).revparse(['HEAD'])).rejects.toThrow(/Use of "(EDITOR|PAGER|GIT_SSH_COMMAND)" is not permitted/);
    const local = new GitLocalBundleReader({ repo: repo.dir, ref: 'main', path: 'bundles/bundle.json' });
    expect(await local.resolve()).toBe(head);
    expect(await local.read(head)).toContain('tollgate.bundle/v1');
    const remote = new GitRemoteBundleReader({ url: `file://${repo.dir}`, ref: 'main', path: 'bundles/bundle.json', stateDir: join(stateDir, 'remote') });
    expect(await remote.resolve()).toBe(head);
    expect(await remote.read(head)).toContain('tollgate.bundle/v1');
  });

  it('activates the committed bundle', async () => {
    const key = repo.keys[0]!;
    const source = await GitPolicySource.open({
      config: {
        kind: 'git',
        git: { repo: repo.dir, ref: 'main', path: 'bundles/bundle.json', remote: false, pollMs: 0, watch: false },
        trust: { keys: [{ keyid: key.keyid, public_key: key.publicKeyPem }], threshold: 1 },
        stateDir: join(stateDir, 'source'),
      },
      servers: ['everything'],
      limits: new MemoryLimitStore(),
      logger: pino({ level: 'silent' }),
      checker: 'inline',
    });
    try {
      expect(await source.check()).toMatchObject({ outcome: 'activated', revision: 1 });
      expect(source.policyFor('everything')?.decide({ tool: 'echo', args: { message: 'hi' } }).effect).toBe('allow');
    } finally {
      await source.close();
    }
  });
});
