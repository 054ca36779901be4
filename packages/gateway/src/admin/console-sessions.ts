import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AdminIdentity } from '../approvals/approver-directory.js';

/** Someone signed in to the approvals console. */
export interface ConsoleSession {
  /** SHA-256 (hex) of the cookie's session id: the id itself is kept only by the browser. */
  readonly key: string;
  /** Who signed in (an approver or the admin; never an agent). */
  readonly identity: Exclude<AdminIdentity, { kind: 'agent' }>;
  /** The synchronizer token every state-changing request of this session must carry. */
  readonly csrfToken: string;
  readonly createdAt: number;
  /** Epoch ms after which the session is over, however active it is. */
  readonly expiresAt: number;
  /** Epoch ms of its last request (it ends after `idleMs` without one). */
  lastSeen: number;
}

/** Options of {@link ConsoleSessions}. */
export interface ConsoleSessionsOptions {
  /** A session ends this long after its last request (ms, default 30 minutes). */
  readonly idleMs?: number;
  /** A session ends this long after sign-in, however active (ms, default 12 hours). */
  readonly maxAgeMs?: number;
  /** The most sessions kept at once; past it the least recently used one ends (default 1000). */
  readonly maxSessions?: number;
  /** Current time in epoch ms (default `Date.now`). */
  readonly clock?: () => number;
}

/**
 * The approvals console's server-side sessions. Signing in with a bearer token creates one: the
 * browser gets a random session id (256 bits) in an HttpOnly cookie — never the token — and the
 * page gets a CSRF token bound to the session. Sessions end on sign-out, after `idleMs`
 * without a request, or `maxAgeMs` after sign-in, and are bounded in number. In memory: a
 * restart signs everyone out.
 *
 * @example
 * const { id, session } = sessions.create(identity);   // id goes into the cookie
 * sessions.get(idFromCookie)?.identity;                // who is asking, or undefined
 * sessions.checkCsrf(session, req.headers['x-csrf-token']);
 */
export class ConsoleSessions {
  readonly #idleMs: number;
  readonly #maxAgeMs: number;
  readonly #maxSessions: number;
  readonly #clock: () => number;
  /** By key; a Map keeps insertion order, and a session is moved to the end when used. */
  readonly #sessions = new Map<string, ConsoleSession>();
  readonly #endListeners = new Set<(key: string) => void>();

  constructor(options: ConsoleSessionsOptions = {}) {
    this.#idleMs = options.idleMs ?? 30 * 60_000;
    this.#maxAgeMs = options.maxAgeMs ?? 12 * 60 * 60_000;
    this.#maxSessions = options.maxSessions ?? 1000;
    this.#clock = options.clock ?? Date.now;
  }

  /** How long a new session lasts at most (ms): the cookie's Max-Age. */
  get maxAgeMs(): number {
    return this.#maxAgeMs;
  }

  /** Starts a session for `identity`; returns the id for the cookie and the session. */
  create(identity: ConsoleSession['identity']): { id: string; session: ConsoleSession } {
    const now = this.#clock();
    this.#prune(now);
    while (this.#sessions.size >= this.#maxSessions) {
      const oldest = this.#sessions.keys().next().value as string;
      this.end(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const session: ConsoleSession = {
      key: keyOf(id),
      identity,
      csrfToken: randomBytes(32).toString('base64url'),
      createdAt: now,
      expiresAt: now + this.#maxAgeMs,
      lastSeen: now,
    };
    this.#sessions.set(session.key, session);
    return { id, session };
  }

  /** The live session whose cookie id is `id` (and marks it used), or undefined. */
  get(id: string | undefined): ConsoleSession | undefined {
    if (id === undefined || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    const key = keyOf(id);
    const session = this.#sessions.get(key);
    if (!session) return undefined;
    const now = this.#clock();
    if (!this.#live(session, now)) {
      this.end(key);
      return undefined;
    }
    session.lastSeen = now;
    this.#sessions.delete(key);
    this.#sessions.set(key, session);
    return session;
  }

  /** Whether `session` is still live now (without marking it used): for long-lived event streams. */
  alive(session: ConsoleSession): boolean {
    return this.#sessions.get(session.key) === session && this.#live(session, this.#clock());
  }

  /** Marks a session used (an open event stream keeps its session from idling out). */
  touch(session: ConsoleSession): void {
    if (this.#sessions.get(session.key) === session) session.lastSeen = this.#clock();
  }

  /** Whether `token` is the session's CSRF token (compared in constant time). */
  checkCsrf(session: ConsoleSession, token: string | string[] | undefined): boolean {
    if (typeof token !== 'string' || token.length !== session.csrfToken.length) return false;
    return timingSafeEqual(Buffer.from(token), Buffer.from(session.csrfToken));
  }

  /** Ends a session (sign-out, expiry, eviction) by key; its event streams are told. */
  end(key: string): void {
    if (!this.#sessions.delete(key)) return;
    for (const listener of [...this.#endListeners]) listener(key);
  }

  /** Calls `listener` with the key of every session that ends. */
  onEnd(listener: (key: string) => void): () => void {
    this.#endListeners.add(listener);
    return () => {
      this.#endListeners.delete(listener);
    };
  }

  /** Sessions live now. */
  get size(): number {
    this.#prune(this.#clock());
    return this.#sessions.size;
  }

  #live(session: ConsoleSession, now: number): boolean {
    return now < session.expiresAt && now - session.lastSeen < this.#idleMs;
  }

  #prune(now: number): void {
    for (const [key, session] of this.#sessions) if (!this.#live(session, now)) this.end(key);
  }
}

function keyOf(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}
