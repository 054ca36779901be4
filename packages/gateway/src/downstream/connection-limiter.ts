import type { IncomingMessage, ServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { HttpConnectionLimits } from '../config/gateway-config.js';

/** How many connections {@link ConnectionLimiter} lets in. */
export interface ConnectionCaps {
  /** Most connections open at once. */
  readonly maxConnections: number;
  /** Most connections one agent may hold (a connection is an agent's once it carried that agent's authenticated request). */
  readonly maxConnectionsPerAgent: number;
}

/** Why the limiter closed a connection. */
export type ConnectionCloseReason = 'max_connections' | 'evicted';

interface ConnectionState {
  /** The agent whose authenticated requests the connection carries. */
  agent: string | undefined;
  /** Requests received on it whose responses have not finished. */
  requests: number;
}

/**
 * Keeps the agent-facing listener's connections within bounds, so that nobody — with or
 * without a token — can hold enough sockets to starve the gateway of file descriptors or other
 * agents of service. A connection is *idle* while no request on it is in progress (it is
 * sending its first headers, or waiting between keep-alive requests); a busy one carries a
 * request or an open response (a held call, an SSE stream) and is never closed here.
 *
 * - At `maxConnections`, a new connection closes the longest-idle one to make room, or is
 *   closed itself when every connection is busy.
 * - An agent at `maxConnectionsPerAgent` that sends a request on one more connection has its
 *   own longest-idle connection closed, or the request is refused when all of its are busy.
 *
 * @example
 * const limiter = new ConnectionLimiter({ maxConnections: 1024, maxConnectionsPerAgent: 128 });
 * server.on('connection', (socket) => limiter.admit(socket));
 */
export class ConnectionLimiter {
  readonly #caps: ConnectionCaps;
  readonly #onclosed: ((reason: ConnectionCloseReason) => void) | undefined;
  readonly #connections = new Map<Socket, ConnectionState>();
  /** Idle connections, longest-idle first. */
  readonly #idle = new Set<Socket>();
  readonly #byAgent = new Map<string, Set<Socket>>();

  constructor(caps: ConnectionCaps, onclosed?: (reason: ConnectionCloseReason) => void) {
    this.#caps = caps;
    this.#onclosed = onclosed;
  }

  /** Open connections. */
  get size(): number {
    return this.#connections.size;
  }

  /** Connections an agent holds. */
  connectionsOf(agent: string): number {
    return this.#byAgent.get(agent)?.size ?? 0;
  }

  /**
   * Takes a new connection in, closing the longest-idle one when full; false (and the socket
   * destroyed) when every connection is busy.
   */
  admit(socket: Socket): boolean {
    if (this.#connections.size >= this.#caps.maxConnections) {
      const oldest = this.#idle.values().next();
      if (oldest.done) {
        socket.destroy();
        this.#onclosed?.('max_connections');
        return false;
      }
      this.#evict(oldest.value);
    }
    this.#connections.set(socket, { agent: undefined, requests: 0 });
    this.#idle.add(socket);
    socket.once('close', () => this.#forget(socket));
    return true;
  }

  /** A request arrived on `socket`. */
  requestStarted(socket: Socket): void {
    const state = this.#connections.get(socket);
    if (!state) return;
    state.requests++;
    this.#idle.delete(socket);
  }

  /** A request's response on `socket` finished (or the request was abandoned). */
  requestEnded(socket: Socket): void {
    const state = this.#connections.get(socket);
    if (!state) return;
    state.requests = Math.max(0, state.requests - 1);
    // Re-added at the end: idle since now.
    if (state.requests === 0 && !socket.destroyed) this.#idle.add(socket);
  }

  /**
   * Counts `socket` as `agent`'s, which has just authenticated a request on it. False when the
   * agent already holds its most connections and none of them is idle: refuse the request.
   */
  claim(socket: Socket, agent: string): boolean {
    const state = this.#connections.get(socket);
    if (!state) return true;
    if (state.agent === agent) return true;
    const mine = this.#byAgent.get(agent) ?? new Set<Socket>();
    if (mine.size >= this.#caps.maxConnectionsPerAgent) {
      let victim: Socket | undefined;
      for (const s of mine) {
        if (this.#idle.has(s)) {
          victim = s;
          break;
        }
      }
      if (!victim) return false;
      this.#evict(victim);
    }
    if (state.agent !== undefined) this.#byAgent.get(state.agent)?.delete(socket);
    state.agent = agent;
    mine.add(socket);
    this.#byAgent.set(agent, mine);
    return true;
  }

  #evict(socket: Socket): void {
    this.#forget(socket);
    socket.destroy();
    this.#onclosed?.('evicted');
  }

  #forget(socket: Socket): void {
    const state = this.#connections.get(socket);
    if (!state) return;
    this.#connections.delete(socket);
    this.#idle.delete(socket);
    if (state.agent !== undefined) {
      const mine = this.#byAgent.get(state.agent);
      mine?.delete(socket);
      if (mine?.size === 0) this.#byAgent.delete(state.agent);
    }
  }
}

/** `createServer` options that hold a listener's sockets to its timeouts. */
export function boundedServerOptions(bounds: Pick<HttpConnectionLimits, 'headersTimeoutMs' | 'requestTimeoutMs' | 'idleTimeoutMs'>): ServerOptions {
  return {
    headersTimeout: bounds.headersTimeoutMs,
    requestTimeout: bounds.requestTimeoutMs,
    keepAliveTimeout: bounds.idleTimeoutMs,
    // How often Node looks for connections past headersTimeout or requestTimeout (default 30 s).
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(bounds.headersTimeoutMs / 4))),
  };
}

/** Marks the request's connection busy until its response closes (see {@link ConnectionLimiter}). */
export function trackRequest(connections: ConnectionLimiter, req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  connections.requestStarted(socket);
  res.once('close', () => connections.requestEnded(socket));
}
