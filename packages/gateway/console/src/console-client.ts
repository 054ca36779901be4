import type { ConsoleApproval, ConsoleErrorBody, ConsoleEvents, ConsoleSessionBody } from '../../src/admin/console-messages.js';

/** An answer of the console's API: the body, or the error it gave. */
export type ApiAnswer<T> = { readonly ok: true; readonly status: number; readonly body: T } | { readonly ok: false; readonly status: number; readonly error: string; readonly body?: ConsoleErrorBody };

/** What a {@link ConsoleClient}'s event stream tells. */
export interface StreamHandlers {
  readonly onEvent: <E extends keyof ConsoleEvents>(event: E, data: ConsoleEvents[E]) => void;
  /** The stream is up (`live`) or is being re-established (`reconnecting`). */
  readonly onState: (state: 'live' | 'reconnecting') => void;
  /** The stream could not be re-established because the session is gone. */
  readonly onSignedOut: (reason: string) => void;
}

const EVENTS: ReadonlyArray<keyof ConsoleEvents> = ['snapshot', 'approval', 'decision', 'signed-out'];

/**
 * The page's side of the console API (same origin, the session cookie sent by the browser):
 * sign-in, sign-out and votes — each state change with the session's CSRF token — and the
 * live event stream.
 */
export class ConsoleClient {
  #csrf: string | undefined;
  #source: EventSource | undefined;
  #retry: number | undefined;

  /** Who is signed in, if anyone (a reload keeps the session: the cookie is the browser's). */
  async session(): Promise<ApiAnswer<ConsoleSessionBody>> {
    const answer = await this.#request<ConsoleSessionBody>('GET', '/console/api/session');
    if (answer.ok) this.#csrf = answer.body.csrf_token;
    return answer;
  }

  async signIn(token: string): Promise<ApiAnswer<ConsoleSessionBody>> {
    const answer = await this.#request<ConsoleSessionBody>('POST', '/console/api/session', { token });
    if (answer.ok) this.#csrf = answer.body.csrf_token;
    return answer;
  }

  async signOut(): Promise<void> {
    this.stop();
    await this.#request('DELETE', '/console/api/session');
    this.#csrf = undefined;
  }

  vote(id: string, verb: 'approve' | 'deny', reason: string): Promise<ApiAnswer<ConsoleApproval>> {
    return this.#request<ConsoleApproval>('POST', `/console/api/approvals/${encodeURIComponent(id)}/${verb}`, reason.trim() === '' ? {} : { reason });
  }

  /** Opens the event stream; on a drop the browser reconnects, and a gone session is reported. */
  stream(handlers: StreamHandlers): void {
    this.stop();
    const source = new EventSource('/console/api/events');
    this.#source = source;
    source.onopen = () => handlers.onState('live');
    for (const name of EVENTS) {
      source.addEventListener(name, (event) => {
        const data = JSON.parse((event as MessageEvent<string>).data) as ConsoleEvents[typeof name];
        if (name === 'signed-out') this.stop();
        handlers.onEvent(name, data);
      });
    }
    source.onerror = () => {
      if (this.#source !== source) return;
      handlers.onState('reconnecting');
      // The browser reconnects by itself unless the server refused the stream (then it is closed).
      if (source.readyState !== EventSource.CLOSED) return;
      this.#retry = window.setTimeout(() => {
        void this.session().then((answer) => {
          if (this.#source !== source) return;
          if (answer.ok) this.stream(handlers);
          else if (answer.status === 401) {
            this.stop();
            handlers.onSignedOut('Your session has ended. Sign in again.');
          } else this.stream(handlers);
        });
      }, 2000);
    };
  }

  /** Closes the event stream. */
  stop(): void {
    window.clearTimeout(this.#retry);
    this.#source?.close();
    this.#source = undefined;
  }

  async #request<T>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && this.#csrf) headers['x-csrf-token'] = this.#csrf;
    let response: Response;
    try {
      response = await fetch(path, { method, headers, credentials: 'same-origin', cache: 'no-store', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch {
      return { ok: false, status: 0, error: 'The gateway cannot be reached.' };
    }
    let parsed: unknown;
    try {
      parsed = await response.json();
    } catch {
      parsed = undefined;
    }
    if (response.ok) return { ok: true, status: response.status, body: parsed as T };
    const error = (parsed as ConsoleErrorBody | undefined)?.error ?? `The gateway answered ${response.status}.`;
    return { ok: false, status: response.status, error, ...(parsed ? { body: parsed as ConsoleErrorBody } : {}) };
  }
}
