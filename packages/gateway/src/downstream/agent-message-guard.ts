import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';
import { acceptsNotification } from './agent-notifications.js';
import { requestParamsProblem } from './request-params.js';

/** What {@link AgentMessageGuard} checks against, and whom it tells. */
export interface AgentMessageGuardOptions {
  /** Whether the session answers `method`; the params of anything else are left to the SDK ("Method not found"). */
  readonly serves: (method: string) => boolean;
  /** A notification that was dropped (not an MCP notification the gateway takes). */
  readonly ondropped?: (method: string) => void;
  /** A request answered -32602 because its params are not what MCP defines. */
  readonly oninvalid?: (method: string) => void;
}

/**
 * Stands between an agent's transport (stdio or Streamable HTTP) and the session's SDK
 * `Server`, so that what reaches the server is what MCP defines:
 *
 * - a request whose params do not match its method's schema is answered -32602 (Invalid
 *   params) in words, naming the field and what it must be — the SDK would answer -32603 with
 *   a raw schema dump — and is never handled;
 * - a notification is passed on only when MCP defines it for clients and the gateway takes
 *   it ({@link acceptsNotification}); anything else — `tools/call` sent without an `id`, a
 *   vendor notification — is dropped, so nothing reaches an upstream without a decision.
 *
 * Everything else passes through unchanged, in both directions.
 */
export class AgentMessageGuard implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;
  readonly #inner: Transport;
  readonly #options: AgentMessageGuardOptions;

  constructor(inner: Transport, options: AgentMessageGuardOptions) {
    this.#inner = inner;
    this.#options = options;
  }

  get sessionId(): string | undefined {
    return this.#inner.sessionId;
  }

  setProtocolVersion(version: string): void {
    this.#inner.setProtocolVersion?.(version);
  }

  async start(): Promise<void> {
    this.#inner.onclose = () => this.onclose?.();
    this.#inner.onerror = (error) => this.onerror?.(error);
    this.#inner.onmessage = (message, extra) => this.#receive(message, extra);
    await this.#inner.start();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    return this.#inner.send(message, options);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  #receive(message: JSONRPCMessage, extra?: MessageExtraInfo): void {
    const m = message as { method?: unknown; id?: unknown; params?: unknown };
    if (typeof m.method === 'string') {
      if (m.id === undefined) {
        if (!acceptsNotification(m.method)) {
          this.#options.ondropped?.(m.method);
          return;
        }
      } else if (this.#options.serves(m.method)) {
        const problem = requestParamsProblem({ method: m.method, params: m.params });
        if (problem !== undefined) {
          this.#options.oninvalid?.(m.method);
          const error = { jsonrpc: '2.0', id: m.id, error: { code: -32602, message: problem } } as unknown as JSONRPCMessage;
          this.#inner.send(error).catch((e: unknown) => this.onerror?.(e instanceof Error ? e : new Error(String(e))));
          return;
        }
      }
    }
    this.onmessage?.(message, extra);
  }
}
