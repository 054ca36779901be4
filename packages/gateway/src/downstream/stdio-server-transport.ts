import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { InFlightRequestIds, inFlightRefusal } from './in-flight-request-ids.js';
import { parseAgentMessage, refusalMessage, type MessageLimits, type MessageRefusal } from './message-limits.js';

/**
 * MCP over stdio (newline-delimited JSON-RPC) for the agent side, hardened: a line longer
 * than `maxBytes` is discarded up to its newline and answered with -32600; malformed JSON
 * with -32700; too deep or not JSON-RPC with -32600; an empty batch, a batch with two requests
 * of the same id, or a line with a request whose id is still unanswered, with -32600 (id null)
 * and none of it is run. The session carries on after each — a bad line never closes the transport or crashes
 * the gateway.
 */
export class LimitedStdioServerTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** Called for every refused line (for metrics). */
  onrefused?: (refusal: MessageRefusal) => void;
  readonly #stdin: Readable;
  readonly #stdout: Writable;
  readonly #limits: MessageLimits;
  readonly #inFlight = new InFlightRequestIds();
  #chunks: Buffer[] = [];
  #size = 0;
  #discarding = false;
  #closed = false;

  constructor(limits: MessageLimits, stdin: Readable = process.stdin, stdout: Writable = process.stdout) {
    this.#limits = limits;
    this.#stdin = stdin;
    this.#stdout = stdout;
  }

  async start(): Promise<void> {
    this.#stdin.on('data', this.#ondata);
    this.#stdin.on('error', this.#onerror);
    this.#stdin.on('end', this.#onend);
    // An agent that went away makes writes fail (EPIPE): that ends the session, not the process.
    this.#stdout.on('error', this.#onwriteerror);
  }

  async send(message: JSONRPCMessage): Promise<void> {
    this.#inFlight.sent(message);
    return this.#write(message);
  }

  /** Writes a line; the transport's own refusals come here directly, as they answer no request in flight. */
  async #write(message: JSONRPCMessage): Promise<void> {
    if (this.#closed) return;
    const line = JSON.stringify(message) + '\n';
    if (!this.#stdout.write(line)) {
      await new Promise<void>((resolve) => {
        this.#stdout.once('drain', resolve);
        this.#stdout.once('close', resolve);
      });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stdin.off('data', this.#ondata);
    this.#stdin.off('error', this.#onerror);
    this.#stdin.off('end', this.#onend);
    this.#stdout.off('error', this.#onwriteerror);
    if (this.#stdin.listenerCount('data') === 0) this.#stdin.pause();
    this.#chunks = [];
    this.#inFlight.clear();
    this.onclose?.();
  }

  readonly #onerror = (error: Error): void => {
    this.onerror?.(error);
  };

  readonly #onend = (): void => {
    void this.close();
  };

  readonly #onwriteerror = (error: Error): void => {
    this.onerror?.(error);
    void this.close();
  };

  readonly #ondata = (chunk: Buffer | string): void => {
    let data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    for (;;) {
      const nl = data.indexOf(10);
      if (nl === -1) {
        this.#append(data);
        return;
      }
      this.#append(data.subarray(0, nl));
      this.#line();
      data = data.subarray(nl + 1);
    }
  };

  #append(part: Buffer): void {
    if (part.length === 0) return;
    this.#size += part.length;
    if (this.#discarding) return;
    if (this.#size > this.#limits.maxBytes) {
      // Keep nothing more of this line; answer once its newline arrives.
      this.#discarding = true;
      this.#chunks = [];
      return;
    }
    this.#chunks.push(part);
  }

  #line(): void {
    const size = this.#size;
    const discarded = this.#discarding;
    const buffer = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#size = 0;
    this.#discarding = false;
    if (!discarded && size === 0) return;
    const text = discarded ? '' : buffer.toString('utf8').replace(/\r$/, '');
    if (!discarded && text.trim() === '') return;
    const parsed = parseAgentMessage(text, discarded ? size : Buffer.byteLength(text), this.#limits, true);
    if (!parsed.ok) {
      // An error under the id of a request still running would read as that request's answer.
      this.#refuse(parsed.id !== null && this.#inFlight.has(parsed.id) ? { ...parsed, id: null } : parsed);
      return;
    }
    const messages = (Array.isArray(parsed.value) ? parsed.value : [parsed.value]) as JSONRPCMessage[];
    const busy = this.#inFlight.conflict(messages);
    if (busy !== undefined) {
      this.#refuse(inFlightRefusal(busy));
      return;
    }
    this.#inFlight.admit(messages);
    for (const message of messages) {
      this.#inFlight.received(message);
      this.onmessage?.(message);
    }
  }

  #refuse(refusal: MessageRefusal): void {
    this.onrefused?.(refusal);
    void this.#write(refusalMessage(refusal));
  }
}
