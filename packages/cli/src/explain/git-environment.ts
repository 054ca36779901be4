import { simpleGit, type SimpleGit } from 'simple-git';

/** The variables git gets from the caller's environment; nothing else is passed on. */
const PASSED_ON = ['PATH', 'HOME', 'USERPROFILE', 'SYSTEMROOT', 'TMPDIR', 'TEMP', 'TMP'] as const;

/**
 * The minimal environment `tollgate explain` runs git in: the search path and home directory
 * (for the user's safe.directory and identity settings), never a prompt for credentials, no
 * optional locks in a repository someone else is using, messages in English — and none of the
 * caller's `GIT_*` variables (`GIT_DIR`, `GIT_WORK_TREE`, `GIT_INDEX_FILE`, …), which would
 * silently point git at another repository than the one named.
 */
export function gitEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = { GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0', LC_ALL: 'C' };
  for (const name of PASSED_ON) {
    const value = env[name];
    if (value !== undefined && value !== '') out[name] = value;
  }
  return out;
}

/** A git client for reading the repository at `dir`, in {@link gitEnvironment}, with a 60 s limit per command. */
export function readOnlyGit(dir: string): SimpleGit {
  return simpleGit({ baseDir: dir, timeout: { block: 60_000 } }).env(gitEnvironment());
}
