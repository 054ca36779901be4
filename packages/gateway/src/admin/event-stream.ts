import type { ServerResponse } from 'node:http';

/** Options of an {@link EventStream}. */
export interface EventStreamOptions {
  /** Extra response headers (security headers). */
  readonly headers?: Readonly<Record<string, string>>;
  /** How long the browser waits before it reconnects a dropped stream (ms, default 2000). */
  readonly retryMs?: number;
  /**
   * The most bytes left unsent to a slow reader before the stream is cut (default 1 MiB): the
   * browser reconnects and starts again from a fresh snapshot, and the gateway's memory stays bounded.
   */
  readonly maxBufferedBytes?: number;
}

/**
 * One server-sent events response (`text/event-stream`): named events with JSON data,
 * comments as heartbeats, bounded buffering. Once closed (by either side, or cut for being
 * too slow) every send is a no-op.
 */
export class EventStream {
  readonly #res: ServerResponse;
  readonly #maxBuffered: number;
  #closed = false;
  /** Called once when the stream ends, for whatever reason. */
  onclose: (() => void) | undefined;

  constructor(res: ServerResponse, options: EventStreamOptions = {}) {
    this.#res = res;
    this.#maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
    res.writeHead(200, {
      ...options.headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Reverse proxies must not hold events back.
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    res.on('close', () => this.#ended());
    res.write(`retry: ${options.retryMs ?? 2000}\n\n`);
  }

  /** True once the stream has ended. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends one event named `event` with `data` as JSON. */
  send(event: string, data: unknown): void {
    // JSON never holds a raw newline, so the data is one `data:` line.
    this.#write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Sends a comment line (keeps proxies and the browser from timing the stream out). */
  comment(text: string): void {
    this.#write(`: ${text.replace(/[\r\n]/g, ' ')}\n\n`);
  }

  /** Ends the stream. */
  close(): void {
    if (this.#closed) return;
    this.#res.end();
    this.#ended();
  }

  #write(chunk: string): void {
    if (this.#closed) return;
    if (this.#res.writableLength > this.#maxBuffered) {
      this.#res.destroy();
      this.#ended();
      return;
    }
    this.#res.write(chunk);
  }

  #ended(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onclose?.();
  }
}
