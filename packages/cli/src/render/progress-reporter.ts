/** Where long-running work says what it is doing, one step at a time. */
export type ProgressListener = (step: string) => void;

/** A progress line on a terminal; see {@link progressReporter}. */
export interface ProgressReporter {
  /** Shows `step` as what is being done now (replacing the previous step). */
  readonly step: ProgressListener;
  /** Clears the line: the work is over (done or failed); the command's own output follows. */
  stop(): void;
}

/** The stream the line is drawn on: stderr, or a test's stand-in. */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const CLEAR = '\r\u001b[2K';

/**
 * A one-line progress display for long work (`init`, `catalog pull`, `bundle build`,
 * `diff --replay`): a spinner, the current step and the seconds it has taken, redrawn in place
 * on stderr. It draws only when that stream is a terminal and the command is not printing
 * JSON: a pipe, a file, a CI log or `--json` gets nothing, so output stays the same to
 * machines. {@link ProgressReporter.stop} erases the line before the result is printed.
 *
 * @example
 * const progress = progressReporter({ json: this.jsonEnabled() });
 * try {
 *   await pullCatalog(server, { ...options, onProgress: progress.step });
 * } finally {
 *   progress.stop();
 * }
 */
export function progressReporter(options: { readonly json: boolean; readonly stream?: ProgressStream; readonly now?: () => number; readonly intervalMs?: number }): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  if (options.json || stream.isTTY !== true) return { step: () => undefined, stop: () => undefined };
  const now = options.now ?? Date.now;
  let current: string | undefined;
  let started = now();
  let frame = 0;
  let drawn = false;
  const draw = (): void => {
    if (current === undefined) return;
    const seconds = Math.floor((now() - started) / 1000);
    stream.write(`${CLEAR}${FRAMES[frame++ % FRAMES.length]} ${current}${seconds >= 1 ? ` (${seconds}s)` : ''}`);
    drawn = true;
  };
  let timer: NodeJS.Timeout | undefined;
  return {
    step(step) {
      current = step;
      started = now();
      draw();
      if (!timer) {
        timer = setInterval(draw, options.intervalMs ?? 100);
        // The display never keeps the process alive.
        timer.unref();
      }
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      current = undefined;
      if (drawn) stream.write(CLEAR);
      drawn = false;
    },
  };
}
