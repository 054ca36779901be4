import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { LedgerError, describeError } from '../ledger-error.js';
import { writeFileAtomically } from '../file/atomic-file-writer.js';
import { EmbeddedLedgerLock, startTimeOf, type LockHolder } from './embedded-ledger-lock.js';
import { PgliteWireServer } from './pglite-wire-server.js';

/** The file in the data directory that says which process serves it, where, and with which token. */
export const SERVER_FILE = 'tollgate-server.json';
/** The port in the socket's name: clients connect to `<socketDir>/.s.PGSQL.5432`, as to PostgreSQL. */
export const SOCKET_PORT = 5432;
const SOCKET_NAME = `.s.PGSQL.${SOCKET_PORT}`;
// sun_path holds 108 bytes on Linux and 104 on macOS, with the terminating NUL.
const MAX_SOCKET_PATH = 100;
// A holder that has not served the directory for this long after locking it never will (an
// earlier version of Tollgate, which held it alone): waiting for it is pointless.
const NEVER_SERVES_AFTER_MS = 60_000;
const WATCH_MS = 250;

/** What the server file holds. */
interface ServerAdvert {
  readonly format: 1;
  readonly pid: number;
  readonly started_at: string | null;
  readonly socket_dir: string;
  readonly token: string;
}

/** Options of {@link EmbeddedLedgerHost.open}. */
export interface EmbeddedLedgerHostOptions {
  /** Whether to create the ledger when the directory holds none (false for read-only commands). */
  readonly create: boolean;
  /** How long opening may wait for another process to bring its server up (it may be creating the ledger). */
  readonly openTimeoutMs: number;
  /** How long later checks may wait for a server (one that took over after the previous one went away). */
  readonly connectTimeoutMs: number;
}

const HOSTS = new Map<string, EmbeddedLedgerHost>();

/**
 * One process's share of an embedded ledger directory. PGlite is a single-process database, so
 * the first process to open the directory holds its lock file, opens it with PGlite and serves
 * it over the PostgreSQL wire protocol ({@link PgliteWireServer}) on a Unix domain socket; it
 * advertises the socket and a token in `tollgate-server.json` inside the data directory (mode
 * 0600, the directory 0700). Every process, the serving one included, then talks to the ledger
 * as a PostgreSQL client of that socket, so the writer's strands, the approval store with
 * LISTEN/NOTIFY and the limit counters work the same in all of them.
 *
 * When the serving process goes away (it closes, or is killed), its clients' connections drop;
 * the next process to notice (each checks every 250 ms, and whenever a connection fails) takes
 * the lock and serves the directory itself, and the others connect to it. A client trusts a
 * server only if the server file, the socket and its directory belong to this user and are
 * closed to others.
 *
 * One host per directory per process, shared by its connections (counted; the last to release
 * it stops serving).
 */
export class EmbeddedLedgerHost {
  /** The data directory, as given (resolved). */
  readonly dataDir: string;
  /** Its real path: what identifies it across processes. */
  readonly realDir: string;
  /** The directory of the socket (`.s.PGSQL.5432` in it). */
  readonly socketDir: string;
  readonly #lock: EmbeddedLedgerLock;
  readonly #options: EmbeddedLedgerHostOptions;
  #refs = 0;
  #closed = false;
  #serving: { pglite: PGlite; server: PgliteWireServer; release: () => void; token: string } | undefined;
  #readying: Promise<void> | undefined;
  #verifiedAt = 0;
  #suspect = true;
  #token: string | undefined;
  #watch: NodeJS.Timeout | undefined;

  private constructor(dataDir: string, realDir: string, options: EmbeddedLedgerHostOptions) {
    this.dataDir = dataDir;
    this.realDir = realDir;
    this.#options = options;
    this.#lock = new EmbeddedLedgerLock(dataDir);
    const inPlace = join(realDir, SOCKET_NAME);
    this.socketDir =
      Buffer.byteLength(inPlace) <= MAX_SOCKET_PATH
        ? realDir
        : join('/tmp', `tollgate-${uid()}`, createHash('sha256').update(realDir).digest('hex').slice(0, 16));
  }

  /**
   * This process's host of the embedded ledger in `dataDir`, once some process serves it: this
   * one (it was free, or its server is gone) or another.
   *
   * @throws LedgerError `ledger.not_found` (no ledger there and `create` is false),
   * `ledger.locked` (held by a process that does not serve it), `ledger.untrusted` (the server
   * file or socket is not this user's), `ledger.unavailable`.
   */
  static async open(dataDir: string, options: EmbeddedLedgerHostOptions): Promise<EmbeddedLedgerHost> {
    if (process.platform === 'win32') {
      throw new LedgerError('ledger.invalid_options', 'sharing the embedded ledger needs Unix domain sockets; on Windows run the ledger on PostgreSQL (--database-url)');
    }
    const realDir = locate(dataDir, options.create);
    let host = HOSTS.get(realDir);
    if (!host || host.#closed) {
      host = new EmbeddedLedgerHost(dataDir, realDir, options);
      HOSTS.set(realDir, host);
    }
    host.#refs++;
    try {
      await host.ready(options.openTimeoutMs);
    } catch (error) {
      await host.release();
      throw error;
    }
    host.#startWatch();
    return host;
  }

  /** Whether this process serves the directory now. */
  get serving(): boolean {
    return this.#serving !== undefined;
  }

  /** The pid of the process serving the directory, as far as this process knows. */
  get serverPid(): number | undefined {
    return this.#serving ? process.pid : this.#lock.holder()?.pid;
  }

  /**
   * Resolves once some process serves the directory: at once while this process does or a check
   * a moment ago found the server well; otherwise it checks, and takes over when the server is
   * gone, within `timeoutMs`.
   */
  ready(timeoutMs: number = this.#options.connectTimeoutMs): Promise<void> {
    if (this.#serving) return Promise.resolve();
    if (!this.#suspect && Date.now() - this.#verifiedAt < 1000) return Promise.resolve();
    this.#readying ??= this.#becomeReady(timeoutMs).finally(() => {
      this.#readying = undefined;
    });
    return this.#readying;
  }

  /** A connection failed: check the server again before the next one. */
  suspect(): void {
    this.#suspect = true;
  }

  /** The token of the server, read afresh from its server file when another process serves. */
  password(): string {
    if (this.#serving) return this.#serving.token;
    const advert = this.#readAdvert();
    if (advert) this.#token = advert.token;
    if (this.#token === undefined) throw new LedgerError('ledger.unavailable', `no process serves the embedded ledger at ${this.dataDir} right now`);
    return this.#token;
  }

  /** Gives up this share; the last one stops serving (closing the database) and releases the lock. */
  async release(): Promise<void> {
    if (this.#refs > 0) this.#refs--;
    if (this.#refs > 0 || this.#closed) return;
    this.#closed = true;
    if (HOSTS.get(this.realDir) === this) HOSTS.delete(this.realDir);
    clearInterval(this.#watch);
    await this.#readying?.catch(() => {});
    await this.#stopServing();
  }

  async #becomeReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let waitingOn: LockHolder | undefined;
    for (;;) {
      if (this.#closed) throw new LedgerError('ledger.closed', `the embedded ledger at ${this.dataDir} is closed in this process`);
      const attempt = this.#lock.acquire();
      if (attempt.acquired) {
        await this.#serve(attempt.release);
        return;
      }
      waitingOn = attempt.holder;
      if (waitingOn) {
        const advert = this.#readAdvert();
        if (advert && advert.pid === waitingOn.pid && this.#socketIsServed()) {
          this.#token = advert.token;
          this.#verifiedAt = Date.now();
          this.#suspect = false;
          return;
        }
        if (!advert && lockAge(this.#lock.path) > NEVER_SERVES_AFTER_MS) break;
      }
      if (Date.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (waitingOn) {
      throw new LedgerError(
        'ledger.locked',
        `the embedded ledger at ${this.dataDir} is in use by process ${waitingOn.pid}, which does not serve it to other processes (an earlier version of Tollgate, or one still opening it); stop it, or run the gateway and the CLI against PostgreSQL with --database-url`,
      );
    }
    throw new LedgerError('ledger.unavailable', `no process serves the embedded ledger at ${this.dataDir}, and it could not be opened here within ${timeoutMs} ms`);
  }

  /** Opens the directory with PGlite and serves it; the lock is held (and released on failure). */
  async #serve(release: () => void): Promise<void> {
    let pglite: PGlite | undefined;
    let server: PgliteWireServer | undefined;
    try {
      if (this.socketDir !== this.realDir) {
        privateDir(dirname(this.socketDir));
        privateDir(this.socketDir);
      }
      pglite = await PGlite.create(this.realDir);
      chmodSync(this.realDir, 0o700);
      const token = randomBytes(24).toString('base64url');
      const opened = pglite;
      server = new PgliteWireServer(pglite, {
        socketPath: join(this.socketDir, SOCKET_NAME),
        token,
        onFatal: () => void this.#lost(opened),
      });
      await server.start();
      const advert: ServerAdvert = { format: 1, pid: process.pid, started_at: startTimeOf(process.pid) ?? null, socket_dir: this.socketDir, token };
      await writeFileAtomically(join(this.realDir, SERVER_FILE), `${JSON.stringify(advert)}\n`, { mode: 0o600 });
      this.#serving = { pglite, server, release, token };
      this.#suspect = false;
    } catch (error) {
      await server?.close().catch(() => {});
      await pglite?.close().catch(() => {});
      release();
      if (error instanceof LedgerError) throw error;
      throw new LedgerError('ledger.unavailable', `cannot open the embedded ledger at ${this.dataDir}: ${describeError(error)}`, { cause: error });
    }
  }

  /** PGlite failed under the server: it cannot be used again; another opening (here or elsewhere) starts afresh. */
  async #lost(pglite: PGlite): Promise<void> {
    const serving = this.#serving;
    if (!serving || serving.pglite !== pglite) return;
    this.#serving = undefined;
    this.#suspect = true;
    this.#removeAdvert();
    serving.release();
  }

  async #stopServing(): Promise<void> {
    const serving = this.#serving;
    if (!serving) return;
    this.#serving = undefined;
    // Clients stop finding this server first; the lock goes last, once PGlite is closed, so
    // that no other process opens the directory while this one still has it open.
    this.#removeAdvert();
    try {
      await serving.server.close();
      await serving.pglite.close();
    } finally {
      serving.release();
    }
  }

  #removeAdvert(): void {
    const file = join(this.realDir, SERVER_FILE);
    try {
      const advert = JSON.parse(readFileSync(file, 'utf8')) as Partial<ServerAdvert>;
      if (advert.pid === process.pid) unlinkSync(file);
    } catch {
      // Gone, or another process's: not this one's to remove.
    }
  }

  /** Keeps watch while another process serves: when it is gone, this one takes over. */
  #startWatch(): void {
    if (this.#watch) return;
    this.#watch = setInterval(() => {
      if (this.#closed || this.#serving || this.#readying) return;
      if (this.#suspect || !this.#lock.holder()) {
        this.#suspect = true;
        this.ready().catch(() => {});
      }
    }, WATCH_MS);
    this.#watch.unref();
  }

  /**
   * The server file, if there is one and it can be trusted.
   * @throws LedgerError `ledger.untrusted` when it, the socket or its directory belongs to another
   * user or is open to others.
   */
  #readAdvert(): ServerAdvert | undefined {
    const file = join(this.realDir, SERVER_FILE);
    let stats: Stats;
    try {
      stats = lstatSync(file);
    } catch {
      return undefined;
    }
    if (!stats.isFile() || stats.uid !== uid() || (stats.mode & 0o077) !== 0) {
      throw untrusted(`${file} is ${describeOwner(stats)}`);
    }
    let advert: Partial<ServerAdvert>;
    try {
      advert = JSON.parse(readFileSync(file, 'utf8')) as Partial<ServerAdvert>;
    } catch {
      // Being replaced right now.
      return undefined;
    }
    if (advert.format !== 1 || typeof advert.pid !== 'number' || typeof advert.token !== 'string' || advert.socket_dir !== this.socketDir) return undefined;
    checkPrivateDir(this.socketDir);
    return advert as ServerAdvert;
  }

  #socketIsServed(): boolean {
    const path = join(this.socketDir, SOCKET_NAME);
    let stats: Stats;
    try {
      stats = lstatSync(path);
    } catch {
      return false;
    }
    if (!stats.isSocket() || stats.uid !== uid()) throw untrusted(`${path} is ${describeOwner(stats)}, not a socket of this user`);
    return true;
  }
}

/**
 * The real path of the data directory; with `create`, its parent is created first.
 * @throws LedgerError `ledger.not_found` when there is no ledger and `create` is false.
 */
function locate(dataDir: string, create: boolean): string {
  if (!create) {
    if (!existsSync(join(dataDir, 'PG_VERSION'))) {
      throw new LedgerError(
        'ledger.not_found',
        `there is no embedded ledger at ${dataDir} (nothing was created there): run the gateway or \`tollgate ledger migrate\` to create one, or point --data-dir or --database-url at an existing ledger`,
      );
    }
    return realpathSync(dataDir);
  }
  if (existsSync(dataDir)) return realpathSync(dataDir);
  mkdirSync(dirname(dataDir), { recursive: true });
  return join(realpathSync(dirname(dataDir)), basename(dataDir));
}

function lockAge(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** Creates a directory private to this user, or checks that the one there is. */
function privateDir(path: string): void {
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  checkPrivateDir(path);
}

function checkPrivateDir(path: string): void {
  let stats: Stats;
  try {
    stats = lstatSync(path);
  } catch (error) {
    throw new LedgerError('ledger.unavailable', `cannot read the embedded ledger's socket directory ${path}: ${describeError(error)}`, { cause: error });
  }
  if (!stats.isDirectory() || stats.uid !== uid() || (stats.mode & 0o077) !== 0) {
    throw untrusted(`the socket directory ${path} is ${describeOwner(stats)}`);
  }
}

function untrusted(what: string): LedgerError {
  return new LedgerError(
    'ledger.untrusted',
    `refusing the embedded ledger's server: ${what}; only files of this user (uid ${uid()}) closed to others are trusted`,
  );
}

function describeOwner(stats: Stats): string {
  const kind = stats.isSymbolicLink() ? 'a symbolic link' : stats.isDirectory() ? 'a directory' : stats.isSocket() ? 'a socket' : 'a file';
  return `${kind} of uid ${stats.uid} with mode ${(stats.mode & 0o777).toString(8).padStart(4, '0')}`;
}

function uid(): number {
  return process.getuid?.() ?? 0;
}
