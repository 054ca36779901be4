/** The `fetch` signature the SDK's Streamable HTTP transport accepts as its `fetch` option. */
export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * Wraps `baseFetch` so that every request gets its own `AbortController`, bridged from the
 * signal in the request's init (the transport's one connection-wide signal).
 *
 * Why: the SDK's StreamableHTTPClientTransport passes the same signal to every fetch of a
 * connection, and Node's fetch (undici) adds an `abort` listener to it per request that is
 * removed only when the signal aborts or the request is garbage-collected. Under sustained
 * tool-call traffic those listeners pile up (`MaxListenersExceededWarning: … abort listeners
 * added to [AbortSignal]`) and keep finished requests reachable. Here the shared signal
 * carries one short-lived listener per request in flight, removed deterministically:
 * - when the fetch fails;
 * - at the response, for a body that is not an event stream (JSON, 202 with no body) or an
 *   unsuccessful one: the SDK reads or cancels such a body at once;
 * - for a `text/event-stream` body (the long-lived GET stream, a POST answered over SSE), only
 *   once the body has been read to its end, has failed, or was cancelled, so closing the
 *   transport still aborts a stream in flight.
 * A signal that is already aborted is passed through as it is: the fetch rejects at once.
 *
 * @example
 * new StreamableHTTPClientTransport(url, { fetch: abortIsolatingFetch(fetch) });
 */
export function abortIsolatingFetch(baseFetch: FetchLike = fetch): FetchLike {
  return async (input, init) => {
    const parent = init?.signal;
    if (!parent || parent.aborted) return baseFetch(input, init);
    const child = new AbortController();
    const bridge = (): void => child.abort(parent.reason);
    parent.addEventListener('abort', bridge, { once: true });
    const release = (): void => parent.removeEventListener('abort', bridge);
    let response: Response;
    try {
      response = await baseFetch(input, { ...init, signal: child.signal });
    } catch (error) {
      release();
      throw error;
    }
    const body = response.body;
    if (!body || !response.ok || !isEventStream(response)) {
      release();
      return response;
    }
    return new Response(releasingOnEnd(body, release), { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

function isEventStream(response: Response): boolean {
  return response.headers.get('content-type')?.toLowerCase().includes('text/event-stream') ?? false;
}

/** `body`, read through, calling `release` once it ends, fails or is cancelled. */
function releasingOnEnd(body: ReadableStream<Uint8Array>, release: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          release();
          throw error;
        }
        if (chunk.done) {
          release();
          controller.close();
        } else {
          controller.enqueue(chunk.value);
        }
      },
      cancel(reason) {
        release();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
