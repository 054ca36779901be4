/** Options of a {@link SignInLimiter}. */
export interface SignInLimiterOptions {
  /** Failed sign-ins a client may make in one window (default 10). */
  readonly maxFailures?: number;
  /** The window (ms, default 60 000), fixed and aligned to the epoch. */
  readonly windowMs?: number;
  /** The most clients tracked in one window; past it every new client shares one count (default 10 000). */
  readonly maxClients?: number;
  /** Current time in epoch ms (default `Date.now`). */
  readonly clock?: () => number;
}

/**
 * Slows down guessing of tokens at the console's sign-in: after `maxFailures` refused tokens
 * in a window, a client (by remote address) is refused without the token being looked at until
 * the window ends. Bounded memory: counts are dropped every window, and past `maxClients`
 * addresses the rest share one count (so a flood of addresses throttles itself).
 */
export class SignInLimiter {
  readonly #maxFailures: number;
  readonly #windowMs: number;
  readonly #maxClients: number;
  readonly #clock: () => number;
  #window = -1;
  readonly #failures = new Map<string, number>();

  constructor(options: SignInLimiterOptions = {}) {
    this.#maxFailures = options.maxFailures ?? 10;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#maxClients = options.maxClients ?? 10_000;
    this.#clock = options.clock ?? Date.now;
  }

  /** Seconds until `client` may try again, or 0 when it may try now. */
  retryAfter(client: string): number {
    const now = this.#roll();
    if ((this.#failures.get(this.#key(client)) ?? 0) < this.#maxFailures) return 0;
    return Math.max(1, Math.ceil(((this.#window + 1) * this.#windowMs - now) / 1000));
  }

  /** Counts one refused token of `client`. */
  failed(client: string): void {
    this.#roll();
    const key = this.#key(client);
    this.#failures.set(key, (this.#failures.get(key) ?? 0) + 1);
  }

  #key(client: string): string {
    return this.#failures.has(client) || this.#failures.size < this.#maxClients ? client : '(overflow)';
  }

  #roll(): number {
    const now = this.#clock();
    const window = Math.floor(now / this.#windowMs);
    if (window !== this.#window) {
      this.#window = window;
      this.#failures.clear();
    }
    return now;
  }
}
