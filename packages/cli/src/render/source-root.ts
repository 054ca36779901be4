import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/**
 * The root of the repository `cwd` is in: the nearest directory at or above it holding
 * `.git` (a directory, or a file in a worktree); `cwd` itself when there is none.
 * Code scanning (SARIF) and workflow annotations name files relative to it.
 */
export function findSourceRoot(cwd: string): string {
  let dir = resolve(cwd);
  for (;;) {
    if (existsSync(join(dir, '.git'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return resolve(cwd);
    dir = parent;
  }
}

/**
 * A report path (relative to `cwd`, as diagnostics carry it) made relative to `root`, with
 * `/` separators; undefined when the file lies outside `root`.
 */
export function rootRelativePath(file: string, cwd: string, root: string): string | undefined {
  const rel = relative(root, resolve(cwd, file));
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return undefined;
  return rel.split(sep).join('/');
}
