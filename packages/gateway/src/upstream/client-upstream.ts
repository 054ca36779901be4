import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, McpError, ResultSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Notification, Result } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { GatewayError, errorMessage } from '../gateway-error.js';
import type { Upstream, UpstreamInfo, UpstreamRequest, UpstreamRequestOptions } from './upstream.js';

/** The client identity the gateway presents to upstream servers. */
export const GATEWAY_CLIENT_INFO = Object.freeze({ name: 'tollgate-gateway', version: '0.1.0' });

/** Shortest wait after a failed connection attempt before the next one. */
const RECONNECT_BACKOFF_MS = 1000;

/**
 * The part every {@link Upstream} shares: an SDK `Client` over a transport the subclass
 * makes. The client advertises no capabilities of its own (no sampling, elicitation or
 * roots), so upstreams never send requests back through the gateway.
 */
export abstract class ClientUpstream implements Upstream {
  readonly name: string;
  onnotification: ((notification: Notification) => void) | undefined;
  onreconnect: (() => void) | undefined;
  protected readonly logger: Logger;
  readonly #timeoutMs: number;
  #client: Client | undefined;
  #info: UpstreamInfo | undefined;
  #connecting: Promise<UpstreamInfo> | undefined;
  #closed = false;
  #lastFailure = 0;
  #everConnected = false;

  protected constructor(name: string, timeoutMs: number, logger: Logger) {
    this.name = name;
    this.#timeoutMs = timeoutMs;
    this.logger = logger;
  }

  /** Makes a fresh transport for one connection. */
  protected abstract createTransport(): Transport;

  /** Where the upstream is, for messages (a command line or a URL). */
  protected abstract describe(): string;

  get info(): UpstreamInfo | undefined {
    return this.#info;
  }

  get connected(): boolean {
    return this.#client !== undefined;
  }

  connect(): Promise<UpstreamInfo> {
    if (this.#closed) return Promise.reject(new GatewayError('upstream.unavailable', `upstream "${this.name}" is closed`));
    if (this.#client && this.#info) return Promise.resolve(this.#info);
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #open(): Promise<UpstreamInfo> {
    const client = new Client({ ...GATEWAY_CLIENT_INFO }, { capabilities: {} });
    client.fallbackNotificationHandler = async (notification) => {
      this.onnotification?.(notification);
    };
    client.onerror = (error) => {
      this.logger.debug({ upstream: this.name, err: errorMessage(error) }, 'upstream transport error');
    };
    client.onclose = () => {
      if (this.#client === client) {
        this.#client = undefined;
        if (!this.#closed) this.logger.warn({ upstream: this.name }, 'upstream connection closed');
      }
    };
    const transport = this.createTransport();
    try {
      await client.connect(transport, { timeout: this.#timeoutMs });
    } catch (error) {
      this.#lastFailure = Date.now();
      await client.close().catch(() => undefined);
      throw new GatewayError('upstream.unavailable', `cannot connect to upstream "${this.name}" (${this.describe()}): ${errorMessage(error)}`, { cause: error });
    }
    if (this.#closed) {
      await client.close().catch(() => undefined);
      throw new GatewayError('upstream.unavailable', `upstream "${this.name}" is closed`);
    }
    const info: UpstreamInfo = {
      capabilities: client.getServerCapabilities() ?? {},
      serverInfo: client.getServerVersion(),
      instructions: client.getInstructions(),
      protocolVersion: (transport as { protocolVersion?: string }).protocolVersion,
    };
    this.#client = client;
    this.#info = info;
    const reconnected = this.#everConnected;
    this.#everConnected = true;
    this.logger.info({ upstream: this.name, server: info.serverInfo, where: this.describe() }, reconnected ? 'upstream reconnected' : 'upstream connected');
    if (reconnected) this.onreconnect?.();
    return info;
  }

  async #ready(): Promise<Client> {
    if (this.#client) return this.#client;
    if (this.#closed) throw new GatewayError('upstream.unavailable', `upstream "${this.name}" is closed`);
    // A server that just failed to start is not restarted for every call.
    if (!this.#connecting && Date.now() - this.#lastFailure < RECONNECT_BACKOFF_MS) {
      throw new GatewayError('upstream.unavailable', `upstream "${this.name}" is not connected (reconnecting)`);
    }
    await this.connect();
    return this.#client!;
  }

  async request(request: UpstreamRequest, options: UpstreamRequestOptions = {}): Promise<Result> {
    const client = await this.#ready();
    try {
      return await client.request(request as never, ResultSchema, {
        signal: options.signal,
        onprogress: options.onprogress,
        timeout: options.timeoutMs ?? this.#timeoutMs,
        resetTimeoutOnProgress: true,
      });
    } catch (error) {
      if (error instanceof McpError && error.code === ErrorCode.ConnectionClosed) {
        throw new GatewayError('upstream.unavailable', `upstream "${this.name}" closed the connection during ${request.method}`, { cause: error });
      }
      throw error;
    }
  }

  async notify(notification: Notification): Promise<void> {
    const client = this.#client;
    if (!client) return;
    await client.notification(notification as never);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#connecting?.catch(() => undefined);
    const client = this.#client;
    this.#client = undefined;
    if (client) await client.close().catch(() => undefined);
  }
}
