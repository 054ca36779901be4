import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI entry point (tests run after `pnpm build`). */
export const RUN_JS = fileURLToPath(new URL('../bin/run.js', import.meta.url));

/** What a finished CLI process printed and how it exited. */
export interface CliOutcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment the CLI runs in: no forced colour, whatever the test runner sets. */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env['FORCE_COLOR'];
  delete env['NO_COLOR'];
  return env;
}

/** Runs `node bin/run.js <args>` in `cwd` and collects its output and exit status. */
export function runCli(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<CliOutcome> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [RUN_JS, ...args], { cwd, env: cliEnv(env), maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(error);
        return;
      }
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** Starts the CLI as a long-running child (for `--watch`). */
export function spawnCli(args: readonly string[], cwd: string): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [RUN_JS, ...args], { cwd, env: cliEnv(), stdio: 'pipe' });
}

/** A temporary directory of files; `remove()` deletes it. */
export interface TempTree {
  readonly root: string;
  write(path: string, content: string | object): Promise<string>;
  remove(): Promise<void>;
}

/** Makes a temporary directory and writes `files` into it (objects as pretty JSON). */
export async function tempTree(files: Record<string, string | object> = {}): Promise<TempTree> {
  const root = await mkdtemp(join(tmpdir(), 'tollgate-cli-'));
  const tree: TempTree = {
    root,
    async write(path, content) {
      const target = join(root, path);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
      return target;
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
  for (const [path, content] of Object.entries(files)) await tree.write(path, content);
  return tree;
}
