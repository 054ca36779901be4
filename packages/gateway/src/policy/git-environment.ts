import { simpleGit, type SimpleGit } from 'simple-git';

/**
 * The variables of the caller's environment that git itself needs, and nothing else: where to
 * find programs (PATH) and the user's configuration (HOME, XDG_CONFIG_HOME), temporary files,
 * the ssh agent and proxies for remotes, and CA certificates for HTTPS.
 *
 * Left out on purpose: variables that make git run another program (EDITOR, PAGER, GIT_EDITOR,
 * GIT_PAGER, GIT_SSH, GIT_SSH_COMMAND, GIT_ASKPASS, SSH_ASKPASS, GIT_EXTERNAL_DIFF,
 * GIT_PROXY_COMMAND), which simple-git refuses in an environment it is given and which no read
 * of a policy repository needs; and variables that point git at another repository or
 * configuration (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, GIT_CONFIG_*), which a Git hook or a
 * CI step may have set and which would make it read something other than the directory named.
 */
export const GIT_ENVIRONMENT_ALLOWED = Object.freeze([
  'PATH',
  'HOME',
  'XDG_CONFIG_HOME',
  'TMPDIR',
  'SSH_AUTH_SOCK',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'ALL_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'all_proxy',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'GIT_SSL_CAINFO',
  'GIT_SSL_CAPATH',
  'SYSTEMROOT',
] as const);

/**
 * The environment every git command of Tollgate runs with (the CLI's and the gateway's): the
 * {@link GIT_ENVIRONMENT_ALLOWED} variables of `base`, then `GIT_TERMINAL_PROMPT=0` (never wait
 * for a password on a terminal), `GIT_OPTIONAL_LOCKS=0` (reads never take the index lock a
 * concurrent commit needs) and `LC_ALL=C` (git's messages in English, which simple-git reads
 * to tell "not a Git repository" from other errors, and which Tollgate passes on as they are).
 *
 * @example gitEnvironment({ PATH: '/usr/bin', EDITOR: 'vim' }) // { PATH: '/usr/bin', GIT_TERMINAL_PROMPT: '0', … } — no EDITOR
 */
export function gitEnvironment(base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of GIT_ENVIRONMENT_ALLOWED) {
    const value = base[name];
    if (value !== undefined) env[name] = value;
  }
  env['GIT_TERMINAL_PROMPT'] = '0';
  env['GIT_OPTIONAL_LOCKS'] = '0';
  env['LC_ALL'] = 'C';
  return env;
}

/** Options of {@link gitClient}. */
export interface GitClientOptions {
  /** Give up on a git command that prints nothing for this long (default 60 s). */
  readonly blockTimeoutMs?: number;
  /** The environment the allowed variables are taken from (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * A simple-git client for `dir` with {@link gitEnvironment}: every simple-git client of the
 * CLI and the gateway is made here, so none runs with the caller's EDITOR, PAGER or
 * GIT_SSH_COMMAND (which simple-git would refuse, failing every Git feature) and none can
 * prompt for credentials.
 *
 * @example const head = (await gitClient('/srv/policies').revparse(['HEAD'])).trim();
 */
export function gitClient(dir: string, options: GitClientOptions = {}): SimpleGit {
  return simpleGit({ baseDir: dir, timeout: { block: options.blockTimeoutMs ?? 60_000 } }).env(gitEnvironment(options.env));
}

/**
 * Whether a git error says that the directory is not inside a Git repository — git's own
 * words, under `LC_ALL=C` — as opposed to any other failure (git missing, a permission or
 * ownership problem, a refused option), which must be shown as it is, never as "not a
 * Git repository".
 */
export function isNotARepositoryError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /not a git repository/i.test(message);
}
