import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { MessageRefusal } from './message-limits.js';

/**
 * The ids of one session's requests that are still unanswered. JSON-RPC matches a response to
 * its request by id alone, and the SDK keys a running handler by it: a second request with the
 * id of one still running would replace the first's handler and get its answer, so two calls
 * run and one is answered. Transports refuse such a request before it reaches the session.
 */
export class InFlightRequestIds {
  readonly #ids = new Set<RequestId>();

  /** Whether `id` belongs to a request still being answered. */
  has(id: RequestId): boolean {
    return this.#ids.has(id);
  }

  /** The first request among `messages` whose id is still in flight, if any. */
  conflict(messages: readonly unknown[]): RequestId | undefined {
    for (const m of messages) {
      const id = requestId(m);
      if (id !== undefined && this.#ids.has(id)) return id;
    }
    return undefined;
  }

  /** Records the requests among `messages` as in flight. */
  admit(messages: readonly unknown[]): void {
    for (const m of messages) {
      const id = requestId(m);
      if (id !== undefined) this.#ids.add(id);
    }
  }

  /** A message the session sends: a response (result or error) ends its request. */
  sent(message: JSONRPCMessage): void {
    const m = message as { method?: unknown; id?: RequestId };
    if (m.method === undefined && m.id !== undefined && m.id !== null) this.#ids.delete(m.id);
  }

  /**
   * A message from the agent: `notifications/cancelled` ends the request it names (the SDK
   * never answers a cancelled request). Returns that id when it was in flight.
   *
   * The id is free again only after the SDK has acted on the cancellation, which it does a
   * microtask later: a request reusing the id in the same read would otherwise take the
   * cancelled request's place and be the one aborted. Until then it is refused as in flight.
   */
  received(message: unknown): RequestId | undefined {
    const m = message as { method?: unknown; id?: unknown; params?: { requestId?: unknown } };
    if (m.method !== 'notifications/cancelled' || m.id !== undefined) return undefined;
    const id = m.params?.requestId;
    if ((typeof id !== 'string' && typeof id !== 'number') || !this.#ids.has(id)) return undefined;
    setImmediate(() => this.#ids.delete(id));
    return id;
  }

  /** Forgets every request (the session ended). */
  clear(): void {
    this.#ids.clear();
  }
}

/**
 * The refusal of a message that reuses the id of a request still in flight. Its id is null: an
 * error under the reused id would be taken by the agent as the answer to the first request.
 */
export function inFlightRefusal(id: RequestId): MessageRefusal {
  return {
    ok: false,
    reason: 'duplicate_id',
    code: -32600,
    message: `Invalid Request: request id ${JSON.stringify(id)} is already in flight in this session, so this message was not run; give every request an id that no unanswered request of the session uses`,
    id: null,
  };
}

function requestId(message: unknown): RequestId | undefined {
  if (message === null || typeof message !== 'object') return undefined;
  const m = message as { method?: unknown; id?: unknown };
  return typeof m.method === 'string' && (typeof m.id === 'string' || typeof m.id === 'number') ? m.id : undefined;
}
