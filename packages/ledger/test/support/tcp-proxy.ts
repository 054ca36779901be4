import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * How the proxy treats traffic: `forward` passes it; `refuse` closes every connection and stops
 * listening (connection refused); `blackhole` keeps connections open but drops every byte, as a
 * network partition does; `stall` keeps every byte and delivers it, in order, once the mode is
 * `forward` again — a server stopped with SIGSTOP and then continued.
 */
export type ProxyMode = 'forward' | 'refuse' | 'blackhole' | 'stall';

/** A TCP proxy on 127.0.0.1 in front of a real server, whose behaviour a test controls. */
export interface TcpProxy {
  port: number;
  setMode(mode: ProxyMode): Promise<void>;
  /**
   * From now on drops every byte of the connections open at this moment, without closing them,
   * while new connections are forwarded: a path that went silent (a NAT or firewall that
   * forgot the connection) on a network that otherwise works.
   */
  silenceOpenConnections(): void;
  close(): Promise<void>;
}

/** Starts a proxy to `127.0.0.1:<targetPort>` on a free port. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let mode: ProxyMode = 'forward';
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  // Bytes held back while stalled, with where they go, in arrival order.
  let held: Array<{ to: Socket; chunk: Buffer }> = [];
  // Sockets whose bytes are dropped whatever the mode (silenceOpenConnections).
  const silenced = new WeakSet<Socket>();
  const pass = (to: Socket, chunk: Buffer) => {
    if (silenced.has(to)) return;
    if (mode === 'forward') to.write(chunk);
    else if (mode === 'stall') held.push({ to, chunk });
  };
  const server: Server = createServer((client) => {
    track(client);
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    track(upstream);
    client.on('data', (chunk) => pass(upstream, chunk));
    upstream.on('data', (chunk) => pass(client, chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const dropAll = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    port,
    async setMode(next) {
      if (next === mode) return;
      if (next === 'refuse') {
        mode = next;
        dropAll();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        return;
      }
      if (mode === 'refuse') await listen(port);
      // Connections that lived through a black hole are stuck mid-protocol: end them when it lifts.
      if (mode === 'blackhole') dropAll();
      const release = mode === 'stall' ? held : [];
      held = [];
      mode = next;
      for (const { to, chunk } of release) if (!to.destroyed) pass(to, chunk);
    },
    silenceOpenConnections() {
      for (const s of sockets) silenced.add(s);
    },
    async close() {
      dropAll();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
