import { randomInt, timingSafeEqual, createHash } from 'node:crypto';
import { chmodSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';
import {
  CANCEL_REQUEST,
  FrontendReader,
  GSSENC_REQUEST,
  MAX_MESSAGE_BYTES,
  NotificationSplitter,
  PROTOCOL_3,
  ProtocolViolation,
  SSL_REQUEST,
  authentication,
  backendKeyData,
  commandComplete,
  errorResponse,
  parameterStatus,
  parseText,
  passwordOf,
  queryText,
  readyForQuery,
  singleValueResult,
  type FrontendMessage,
  type Notification,
} from './pglite-wire-protocol.js';

/** How a {@link PgliteWireServer} serves its database. */
export interface PgliteWireServerOptions {
  /** The Unix domain socket to listen on (created with mode 0600; its directory must be private). */
  readonly socketPath: string;
  /** The password every connection must present (PostgreSQL cleartext password authentication). */
  readonly token: string;
  /**
   * How long a connection may keep a transaction open without sending anything (default
   * 10000 ms): the database has one session, so every other connection waits meanwhile. Past it
   * the transaction is rolled back and the connection closed, as `idle_in_transaction_session_timeout`.
   */
  readonly idleInTransactionMs?: number;
  /** How long a new connection may take to authenticate (default 10000 ms). */
  readonly authenticationTimeoutMs?: number;
  /** The most connections served at once (default 64). */
  readonly maxConnections?: number;
  /** Called once if PGlite fails (it cannot run statements any more); the server has stopped by then. */
  readonly onFatal?: (error: unknown) => void;
}

/** What a connection may send once authenticated; anything else is a protocol violation. */
const STATEMENT_MESSAGES = new Set(['Q', 'P', 'B', 'D', 'E', 'S', 'H', 'C']);

const LISTEN = /^\s*listen\s+("?)([a-z_][a-z0-9_$]*)\1\s*;?\s*$/i;
const UNLISTEN = /^\s*unlisten\s+(\*|("?)([a-z_][a-z0-9_$]*)\2)\s*;?\s*$/i;
const ADVISORY = /^\s*select\s+pg_advisory_(lock|unlock)\s*\(\s*(-?\d{1,19})\s*\)\s*;?\s*$/i;
// PGlite exits (and takes the process's database with it) when a COPY FROM STDIN waits for data
// that is not in the same message batch: such statements are refused before they run.
const COPY_FROM_STDIN = /\bcopy\b[\s\S]*\bstdin\b/i;

/** One unit of work of a connection: bytes for PGlite, or a statement the server answers itself. */
type Batch =
  | { readonly kind: 'raw'; readonly bytes: Buffer; readonly synced: boolean }
  | { readonly kind: 'listen'; readonly channel: string }
  | { readonly kind: 'unlisten'; readonly channel: string | '*' }
  | { readonly kind: 'lock' | 'unlock'; readonly key: string }
  | { readonly kind: 'refuse'; readonly message: string };

class WireSession {
  readonly id: number;
  readonly socket: Socket;
  readonly reader = new FrontendReader();
  state: 'startup' | 'password' | 'ready' | 'closed' = 'startup';
  /** Messages of the extended protocol received since the last Sync. */
  pending: Buffer[] = [];
  pendingBytes = 0;
  readonly batches: Batch[] = [];
  /** Sent Parse/Bind/Execute and a Flush but no Sync yet: the backend is this connection's until it does. */
  openExtended = false;
  /** Waiting for an advisory lock: it sends nothing else until answered. */
  waitingFor: string | undefined;
  readonly listens = new Set<string>();
  readonly locks = new Map<string, number>();
  authTimer: NodeJS.Timeout | undefined;

  constructor(id: number, socket: Socket) {
    this.id = id;
    this.socket = socket;
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  send(bytes: Buffer): void {
    if (this.state !== 'closed' && this.socket.writable) this.socket.write(bytes);
  }
}

/**
 * Serves one PGlite database to many processes over the PostgreSQL wire protocol, on a Unix
 * domain socket. PGlite has one session; the server gives each connection what a PostgreSQL
 * session would promise it:
 *
 * - Statements run whole: a connection's messages up to its Sync (extended protocol) or its
 *   Query (simple protocol) run as one batch, never interleaved with another connection's.
 * - Transactions are the connection's: while one is open (BEGIN … COMMIT, or an extended
 *   pipeline without Sync), only that connection runs; an idle one is rolled back after
 *   `idleInTransactionMs`, and one left open by a closed connection at once.
 * - LISTEN/UNLISTEN (each a statement of its own) are per connection: PGlite's notifications
 *   are taken out of whichever output they appear in and sent to the connections listening.
 * - `SELECT pg_advisory_lock(k)` / `pg_advisory_unlock(k)` (each a statement of its own) are
 *   session-level advisory locks per connection, queued in order and released when the
 *   connection closes, without holding the database while a connection waits.
 *
 * Connections authenticate with the server's token (cleartext password over the socket, whose
 * directory is private to the user). COPY FROM STDIN is refused. Connections are served in turn,
 * one batch each.
 */
export class PgliteWireServer {
  readonly #pglite: PGlite;
  readonly #options: Required<Omit<PgliteWireServerOptions, 'onFatal'>> & Pick<PgliteWireServerOptions, 'onFatal'>;
  readonly #token: Buffer;
  readonly #sessions = new Set<WireSession>();
  readonly #queue: WireSession[] = [];
  readonly #listeners = new Map<string, Set<WireSession>>();
  readonly #backendListens = new Set<string>();
  readonly #locks = new Map<string, { holder: WireSession; waiters: WireSession[] }>();
  readonly #cleanups: Array<() => Promise<void>> = [];
  #server: Server | undefined;
  #holder: WireSession | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;
  #nextId = 1;
  #parameters: Buffer = Buffer.alloc(0);
  #drained: Array<() => void> = [];

  constructor(pglite: PGlite, options: PgliteWireServerOptions) {
    this.#pglite = pglite;
    this.#options = {
      idleInTransactionMs: 10_000,
      authenticationTimeoutMs: 10_000,
      maxConnections: 64,
      ...options,
    };
    this.#token = digest(options.token);
  }

  /** Where it listens. */
  get socketPath(): string {
    return this.#options.socketPath;
  }

  /** Connections served now. */
  get connections(): number {
    return this.#sessions.size;
  }

  /** Starts listening. A stale socket file at the path (a server that died) is replaced. */
  async start(): Promise<void> {
    const version = await this.#pglite.query<{ server_version: string }>('SHOW server_version');
    const zone = await this.#pglite.query<{ TimeZone: string }>('SHOW TimeZone');
    this.#parameters = Buffer.concat([
      parameterStatus('server_version', version.rows[0]?.server_version ?? '17'),
      parameterStatus('server_encoding', 'UTF8'),
      parameterStatus('client_encoding', 'UTF8'),
      parameterStatus('DateStyle', 'ISO, MDY'),
      parameterStatus('TimeZone', zone.rows[0]?.TimeZone ?? 'UTC'),
      parameterStatus('integer_datetimes', 'on'),
      parameterStatus('standard_conforming_strings', 'on'),
      parameterStatus('application_name', 'tollgate-embedded-ledger'),
    ]);
    const { socketPath } = this.#options;
    try {
      unlinkSync(socketPath);
    } catch {
      // No stale socket.
    }
    const server = createServer((socket) => this.#accept(socket));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {});
    chmodSync(socketPath, 0o600);
  }

  /**
   * Stops: closes every connection (their clients see the connection end, as when a PostgreSQL
   * server shuts down), waits for the batch that is running, and removes the socket.
   */
  async close(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#idleTimer);
    const server = this.#server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const session of [...this.#sessions]) {
      session.send(errorResponse('FATAL', '57P01', 'terminating connection: the embedded ledger server is shutting down'));
      this.#drop(session);
    }
    if (this.#running) await new Promise<void>((resolve) => this.#drained.push(resolve));
    await closed;
    try {
      unlinkSync(this.#options.socketPath);
    } catch {
      // Already gone.
    }
  }

  #accept(socket: Socket): void {
    if (this.#stopped) {
      socket.destroy();
      return;
    }
    const session = new WireSession(this.#nextId++, socket);
    if (this.#sessions.size >= this.#options.maxConnections) {
      socket.end(errorResponse('FATAL', '53300', 'sorry, too many clients already'));
      return;
    }
    this.#sessions.add(session);
    socket.setNoDelay(true);
    session.authTimer = setTimeout(() => {
      session.send(errorResponse('FATAL', '08006', 'authentication timed out'));
      this.#drop(session);
    }, this.#options.authenticationTimeoutMs);
    session.authTimer.unref();
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#receive(session, chunk);
      } catch (error) {
        const message = error instanceof ProtocolViolation ? error.message : 'invalid message';
        session.send(errorResponse('FATAL', '08P01', `protocol violation: ${message}`));
        this.#drop(session);
      }
    });
    socket.on('error', () => this.#drop(session));
    socket.on('close', () => this.#drop(session));
  }

  #receive(session: WireSession, chunk: Buffer): void {
    session.reader.push(chunk);
    if (session.reader.buffered + session.pendingBytes > MAX_MESSAGE_BYTES) throw new ProtocolViolation('too much data without a Sync');
    while (session.state === 'startup') {
      const packet = session.reader.nextStartup();
      if (!packet) return;
      if (packet.code === SSL_REQUEST || packet.code === GSSENC_REQUEST) {
        session.send(Buffer.from('N'));
        continue;
      }
      if (packet.code === CANCEL_REQUEST) {
        // There is no backend process to interrupt: a statement runs to its end.
        this.#drop(session);
        return;
      }
      if (packet.code !== PROTOCOL_3) throw new ProtocolViolation(`unsupported protocol ${packet.code}`);
      session.state = 'password';
      session.send(authentication(3));
    }
    for (;;) {
      if (session.state !== 'password' && session.state !== 'ready') return;
      const message = session.reader.next();
      if (!message) return;
      if (session.state === 'password') {
        this.#authenticate(session, message);
        continue;
      }
      this.#frame(session, message);
    }
  }

  #authenticate(session: WireSession, message: FrontendMessage): void {
    if (message.type !== 'p') throw new ProtocolViolation(`expected a password message, got '${message.type}'`);
    clearTimeout(session.authTimer);
    if (!timingSafeEqual(digest(passwordOf(message)), this.#token)) {
      session.send(errorResponse('FATAL', '28P01', 'password authentication failed: not the embedded ledger server\'s token'));
      this.#drop(session);
      return;
    }
    session.state = 'ready';
    session.send(Buffer.concat([authentication(0), this.#parameters, backendKeyData(process.pid, randomInt(0x7fffffff)), readyForQuery('I')]));
  }

  /** Groups a connection's messages into batches: up to a Sync, a Flush, or one simple Query. */
  #frame(session: WireSession, message: FrontendMessage): void {
    if (message.type === 'X') {
      this.#drop(session);
      return;
    }
    if (!STATEMENT_MESSAGES.has(message.type)) throw new ProtocolViolation(`message type '${message.type}' is not served`);
    if (message.type === 'P' && COPY_FROM_STDIN.test(parseText(message))) {
      throw new ProtocolViolation('COPY FROM STDIN is not served by the embedded ledger');
    }
    if (message.type === 'Q') {
      if (session.pending.length > 0) throw new ProtocolViolation('a simple query inside an extended-protocol pipeline');
      this.#enqueue(session, classifyQuery(message));
      return;
    }
    session.pending.push(message.bytes);
    session.pendingBytes += message.bytes.length;
    if (message.type === 'S' || message.type === 'H') {
      const bytes = Buffer.concat(session.pending);
      session.pending = [];
      session.pendingBytes = 0;
      this.#enqueue(session, { kind: 'raw', bytes, synced: message.type === 'S' });
    }
  }

  #enqueue(session: WireSession, batch: Batch): void {
    session.batches.push(batch);
    if (!this.#queue.includes(session)) this.#queue.push(session);
    this.#pump();
  }

  /** Runs the next batch: the transaction holder's if a transaction is open, else the next connection's in turn. */
  #pump(): void {
    if (this.#running || this.#stopped) return;
    const cleanup = this.#cleanups.shift();
    if (cleanup) {
      this.#run(cleanup);
      return;
    }
    let session: WireSession | undefined;
    if (this.#holder) {
      session = this.#holder.batches.length > 0 && this.#holder.waitingFor === undefined ? this.#holder : undefined;
    } else {
      session = this.#queue.find((s) => s.batches.length > 0 && s.waitingFor === undefined);
    }
    if (!session) {
      this.#armIdleTimer();
      return;
    }
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const batch = session.batches.shift()!;
    // Round robin: a connection with more to do goes to the back of the line.
    const at = this.#queue.indexOf(session);
    if (at >= 0) this.#queue.splice(at, 1);
    if (session.batches.length > 0) this.#queue.push(session);
    const chosen = session;
    this.#run(() => this.#execute(chosen, batch));
  }

  #run(work: () => Promise<void>): void {
    this.#running = true;
    work().then(
      () => {
        this.#running = false;
        for (const resolve of this.#drained.splice(0)) resolve();
        this.#pump();
      },
      (error: unknown) => {
        this.#running = false;
        for (const resolve of this.#drained.splice(0)) resolve();
        this.#fatal(error);
      },
    );
  }

  async #execute(session: WireSession, batch: Batch): Promise<void> {
    if (session.state === 'closed') return;
    const status = (): 'I' | 'T' => (this.#holder === session ? 'T' : 'I');
    switch (batch.kind) {
      case 'raw': {
        await this.#raw(batch.bytes, (bytes) => session.send(bytes));
        session.openExtended = !batch.synced;
        this.#holder = this.#pglite.isInTransaction() || session.openExtended ? session : undefined;
        // The connection went away while its batch ran and left a transaction behind.
        if (session.closed && this.#holder === session) this.#abandon(session);
        return;
      }
      case 'refuse':
        session.send(Buffer.concat([errorResponse('ERROR', '0A000', batch.message), readyForQuery(status())]));
        return;
      case 'listen':
      case 'unlisten':
      case 'lock':
      case 'unlock':
        if (this.#holder === session) {
          session.send(
            Buffer.concat([
              errorResponse('ERROR', '0A000', `the embedded ledger serves ${batch.kind.toUpperCase()} only outside a transaction`),
              readyForQuery('T'),
            ]),
          );
          return;
        }
        if (batch.kind === 'listen') await this.#listen(session, batch.channel);
        else if (batch.kind === 'unlisten') this.#unlisten(session, batch.channel);
        else if (batch.kind === 'lock') this.#lock(session, batch.key);
        else this.#unlock(session, batch.key);
    }
  }

  /** Runs protocol bytes on PGlite, sending its output to `forward` and its notifications to their listeners. */
  async #raw(bytes: Buffer, forward: (bytes: Buffer) => void): Promise<void> {
    const splitter = new NotificationSplitter(forward, (n) => this.#deliver(n));
    await this.#pglite.runExclusive(() => this.#pglite.execProtocolRawStream(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { onRawData: (chunk) => splitter.push(chunk) }));
  }

  async #listen(session: WireSession, channel: string): Promise<void> {
    if (!this.#backendListens.has(channel)) {
      await this.#raw(simpleQuery(`LISTEN "${channel}"`), () => {});
      this.#backendListens.add(channel);
    }
    session.listens.add(channel);
    let listeners = this.#listeners.get(channel);
    if (!listeners) this.#listeners.set(channel, (listeners = new Set()));
    listeners.add(session);
    session.send(Buffer.concat([commandComplete('LISTEN'), readyForQuery('I')]));
  }

  #unlisten(session: WireSession, channel: string): void {
    for (const c of channel === '*' ? [...session.listens] : [channel]) {
      session.listens.delete(c);
      this.#listeners.get(c)?.delete(session);
    }
    session.send(Buffer.concat([commandComplete('UNLISTEN'), readyForQuery('I')]));
  }

  #deliver(notification: Notification): void {
    for (const session of this.#listeners.get(notification.channel) ?? []) session.send(notification.bytes);
  }

  #lock(session: WireSession, key: string): void {
    const lock = this.#locks.get(key);
    if (!lock || lock.holder === session) {
      if (!lock) this.#locks.set(key, { holder: session, waiters: [] });
      session.locks.set(key, (session.locks.get(key) ?? 0) + 1);
      session.send(Buffer.concat([singleValueResult('pg_advisory_lock', 'void', ''), readyForQuery('I')]));
      return;
    }
    session.waitingFor = key;
    lock.waiters.push(session);
  }

  #unlock(session: WireSession, key: string): void {
    const held = session.locks.get(key) ?? 0;
    if (held > 1) session.locks.set(key, held - 1);
    else if (held === 1) this.#release(session, key);
    session.send(Buffer.concat([singleValueResult('pg_advisory_unlock', 'boolean', held > 0 ? 't' : 'f'), readyForQuery('I')]));
  }

  /** Gives `key` to the next connection waiting for it. */
  #release(session: WireSession, key: string): void {
    session.locks.delete(key);
    const lock = this.#locks.get(key);
    if (!lock || lock.holder !== session) return;
    let next: WireSession | undefined;
    while ((next = lock.waiters.shift()) && next.state === 'closed');
    if (!next) {
      this.#locks.delete(key);
      return;
    }
    lock.holder = next;
    next.waitingFor = undefined;
    next.locks.set(key, 1);
    next.send(Buffer.concat([singleValueResult('pg_advisory_lock', 'void', ''), readyForQuery('I')]));
    this.#pump();
  }

  /** While a transaction holder sends nothing, every other connection waits: not for ever. */
  #armIdleTimer(): void {
    const holder = this.#holder;
    if (!holder || this.#idleTimer) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#holder !== holder || holder.batches.length > 0) return;
      holder.send(errorResponse('FATAL', '25P03', 'terminating connection due to idle-in-transaction timeout: the embedded ledger has one session'));
      this.#drop(holder);
    }, this.#options.idleInTransactionMs);
    this.#idleTimer.unref();
  }

  /** Forgets a connection: its queued batches, its listens and locks, and any transaction it left open. */
  #drop(session: WireSession): void {
    if (session.state === 'closed') return;
    session.state = 'closed';
    clearTimeout(session.authTimer);
    session.socket.destroy();
    this.#sessions.delete(session);
    session.batches.length = 0;
    const at = this.#queue.indexOf(session);
    if (at >= 0) this.#queue.splice(at, 1);
    for (const channel of session.listens) this.#listeners.get(channel)?.delete(session);
    for (const key of [...session.locks.keys()]) this.#release(session, key);
    if (session.waitingFor !== undefined) {
      const lock = this.#locks.get(session.waitingFor);
      if (lock) lock.waiters = lock.waiters.filter((s) => s !== session);
    }
    if (this.#holder === session) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
      this.#abandon(session);
    }
    this.#pump();
  }

  /** Ends what a closed connection left open in the database: its pipeline (Sync), then its transaction. */
  #abandon(session: WireSession): void {
    const extended = session.openExtended;
    this.#cleanups.push(async () => {
      const sync = Buffer.from([0x53, 0, 0, 0, 4]);
      try {
        await this.#raw(Buffer.concat([...(extended ? [sync] : []), simpleQuery('ROLLBACK')]), () => {});
      } finally {
        if (this.#holder === session) this.#holder = undefined;
      }
    });
  }

  #fatal(error: unknown): void {
    if (this.#stopped) return;
    void this.close().finally(() => this.#options.onFatal?.(error));
  }
}

function classifyQuery(message: FrontendMessage): Batch {
  const text = queryText(message);
  const listen = LISTEN.exec(text);
  if (listen) return { kind: 'listen', channel: listen[1] ? listen[2]! : listen[2]!.toLowerCase() };
  const unlisten = UNLISTEN.exec(text);
  if (unlisten) return { kind: 'unlisten', channel: unlisten[1] === '*' ? '*' : unlisten[2] ? unlisten[3]! : unlisten[3]!.toLowerCase() };
  const advisory = ADVISORY.exec(text);
  if (advisory) return { kind: advisory[1]!.toLowerCase() === 'lock' ? 'lock' : 'unlock', key: BigInt(advisory[2]!).toString() };
  if (COPY_FROM_STDIN.test(text)) return { kind: 'refuse', message: 'COPY FROM STDIN is not served by the embedded ledger' };
  return { kind: 'raw', bytes: Buffer.from(message.bytes), synced: true };
}

function simpleQuery(text: string): Buffer {
  const body = Buffer.from(`${text}\0`, 'utf8');
  const header = Buffer.alloc(5);
  header.write('Q', 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
