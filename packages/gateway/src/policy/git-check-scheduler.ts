import type { Logger } from 'pino';
import { errorMessage } from '../gateway-error.js';

/** Options of {@link GitCheckScheduler}. */
export interface GitCheckSchedulerOptions<Outcome> {
  /** One check of the repository; never rejects. */
  readonly check: () => Promise<Outcome>;
  /** How long after a check ends the next one starts, in ms; 0: no polling. */
  readonly pollMs: number;
  /**
   * Calls `changed` whenever the watched refs change, until the function it resolves with is
   * called (a local repository's `GitBundleReader.watch`); absent: no watching.
   */
  readonly watch?: (changed: () => void) => Promise<() => void>;
  /** Where a failure to watch is told (polling goes on). */
  readonly logger: Logger;
}

/** How soon after a change in the watched refs the repository is read (several events come per commit). */
const WATCH_SETTLE_MS = 5;

/**
 * When the Git policy source checks its repository: on request ({@link run}), every `pollMs`
 * after the previous check ended, and shortly after a change in the watched refs. One check
 * runs at a time: a request during a check runs it once more after it, and every caller gets
 * what the last run came to. It knows nothing of bundles; the source's `check` does the work.
 *
 * @example
 * const schedule = new GitCheckScheduler({ check: () => source.checkOnce(), pollMs: 2000, logger });
 * await schedule.start(); // polls (and watches) until close()
 * await schedule.run();   // checks now
 */
export class GitCheckScheduler<Outcome> {
  readonly #options: GitCheckSchedulerOptions<Outcome>;
  #checking: Promise<Outcome> | undefined;
  #again = false;
  #pollTimer: NodeJS.Timeout | undefined;
  #settleTimer: NodeJS.Timeout | undefined;
  #stopWatching: (() => void) | undefined;
  #closed = false;

  constructor(options: GitCheckSchedulerOptions<Outcome>) {
    this.#options = options;
  }

  /**
   * Checks now, or once more after the check under way. Resolves with what the check came to;
   * never rejects.
   */
  run(): Promise<Outcome> {
    if (this.#checking) {
      this.#again = true;
      return this.#checking;
    }
    const run = async (): Promise<Outcome> => {
      let outcome: Outcome;
      do {
        this.#again = false;
        outcome = await this.#options.check();
      } while (this.#again && !this.#closed);
      return outcome;
    };
    this.#checking = run().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  /** Starts watching (when it can) and polling. */
  async start(): Promise<void> {
    const { watch } = this.#options;
    if (watch) {
      try {
        this.#stopWatching = await watch(() => this.#changed());
      } catch (error) {
        this.#options.logger.warn({ err: errorMessage(error) }, 'cannot watch the policy repository; relying on polling');
      }
    }
    this.#schedulePoll();
  }

  /** Stops polling and watching, then waits for the check under way, if any. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#pollTimer);
    clearTimeout(this.#settleTimer);
    this.#stopWatching?.();
    await this.#checking;
  }

  #changed(): void {
    if (this.#closed) return;
    clearTimeout(this.#settleTimer);
    this.#settleTimer = setTimeout(() => void this.run(), WATCH_SETTLE_MS);
  }

  #schedulePoll(): void {
    const every = this.#options.pollMs;
    if (every === 0 || this.#closed) return;
    this.#pollTimer = setTimeout(() => {
      void this.run().finally(() => this.#schedulePoll());
    }, every);
    this.#pollTimer.unref();
  }
}
