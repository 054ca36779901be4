import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CATALOG_FILE_NAME, DEFAULT_POLICY_PATH, POLICY_FILE_NAMES, TEST_FILE_PATTERN } from './policy-files.js';
import { runTestSuiteWithSources, type TestSuiteOptions, type TestSuiteResult } from './test-suite.js';

/** One run of a watched test suite: its result, or the error that stopped it (e.g. a missing path). */
export interface WatchedRun {
  /** 1 for the first run, then one more for every re-run. */
  readonly iteration: number;
  readonly result?: TestSuiteResult;
  readonly error?: unknown;
}

/** Options of {@link watchTestSuite}. */
export interface WatchTestSuiteOptions extends TestSuiteOptions {
  /** Stops watching; the promise of {@link watchTestSuite} then resolves. */
  readonly signal: AbortSignal;
  /** Quiet time after the last change before a re-run, in milliseconds (default 150). */
  readonly debounceMs?: number;
  /** Called after every run, in order; the next run waits for it. */
  readonly onRun: (run: WatchedRun) => void | Promise<void>;
}

/**
 * Whether a changed name in a watched directory can change the result: a policy, a catalog,
 * a test file, or a name with no extension (a server directory being added or removed).
 * Editor swap and backup files are ignored. A missing name (some platforms) counts.
 */
export function isWatchedName(name: string | null): boolean {
  if (name === null) return true;
  const base = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  if (base.startsWith('.') || base.endsWith('~')) return false;
  if ((POLICY_FILE_NAMES as readonly string[]).includes(base) || base === CATALOG_FILE_NAME || TEST_FILE_PATTERN.test(base)) return true;
  return !base.includes('.') && !/^\d+$/.test(base);
}

/**
 * Runs the test suite, then again whenever a policy, catalog or test file in the
 * directories it read changes (`fs.watch` on those directories, debounced), until `signal`
 * aborts. New server directories and files are picked up: each run discovers the files
 * afresh and watches the directories it found. A run that throws (say, a path vanished)
 * is reported through `onRun` and watching goes on.
 *
 * @example
 * const stop = new AbortController();
 * process.once('SIGINT', () => stop.abort());
 * await watchTestSuite(['policies/'], { signal: stop.signal, onRun: ({ result }) => print(result) });
 */
export async function watchTestSuite(paths: readonly string[], options: WatchTestSuiteOptions): Promise<void> {
  const { signal, onRun } = options;
  const debounceMs = options.debounceMs ?? 150;
  const cwd = options.cwd ?? process.cwd();
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let pending = false;
  let iteration = 0;

  // The paths as given are watched too, so a directory that is empty or broken now is
  // re-read once something appears in it.
  const givenDirectories = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const p of paths.length > 0 ? paths : [DEFAULT_POLICY_PATH]) {
      const absolute = resolve(cwd, p);
      const isDirectory = await stat(absolute).then((s) => s.isDirectory(), () => undefined);
      if (isDirectory === true) out.push(absolute);
      else out.push(dirname(absolute));
    }
    return out;
  };

  const schedule = (): void => {
    if (signal.aborted) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void runOnce();
    }, debounceMs);
  };

  const watchDirectories = (directories: Iterable<string>): void => {
    if (signal.aborted) return;
    const wanted = new Set(directories);
    for (const [dir, watcher] of watchers) {
      if (!wanted.has(dir)) {
        watcher.close();
        watchers.delete(dir);
      }
    }
    for (const dir of wanted) {
      if (watchers.has(dir)) continue;
      try {
        const watcher = watch(dir, { persistent: true }, (_event, name) => {
          if (isWatchedName(name === null ? null : String(name))) schedule();
        });
        // A watched directory that is deleted errors; the next run re-discovers what exists.
        watcher.on('error', () => {
          watcher.close();
          watchers.delete(dir);
          schedule();
        });
        watchers.set(dir, watcher);
      } catch {
        // The directory vanished between discovery and now; the next change elsewhere re-runs.
      }
    }
  };

  const runOnce = async (): Promise<void> => {
    if (running) {
      pending = true;
      return;
    }
    running = true;
    try {
      do {
        pending = false;
        iteration += 1;
        const given = await givenDirectories();
        try {
          const run = await runTestSuiteWithSources(paths, options);
          watchDirectories([...given, ...run.directories]);
          await onRun({ iteration, result: run.result });
        } catch (error) {
          watchDirectories([...given, ...watchers.keys()]);
          await onRun({ iteration, error });
        }
      } while (pending && !signal.aborted);
    } finally {
      running = false;
    }
  };

  await new Promise<void>((resolvePromise) => {
    const stop = (): void => {
      if (timer) clearTimeout(timer);
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
      resolvePromise();
    };
    if (signal.aborted) {
      stop();
      return;
    }
    signal.addEventListener('abort', stop, { once: true });
    void runOnce().then(() => {
      if (signal.aborted) stop();
    });
  });
}
