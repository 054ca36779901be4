/**
 * The pieces of the PostgreSQL frontend/backend protocol (version 3) that the embedded ledger's
 * server speaks itself: framing of what clients send, the backend messages it answers with on
 * its own (authentication, errors, results of the statements it serves per connection), and a
 * splitter that takes PGlite's NotificationResponse messages out of its output so that they go
 * to the connections that LISTEN rather than to whichever connection's statement ran.
 */

/** Startup codes of the untyped first message. */
export const PROTOCOL_3 = 196608;
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;

/** The most bytes one frontend message may have (the protocol's own limit is 1 GiB). */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/** One typed frontend message: its type byte and its whole bytes (type, length and body). */
export interface FrontendMessage {
  readonly type: string;
  readonly bytes: Buffer;
}

/** The untyped first message of a connection. */
export interface StartupPacket {
  readonly code: number;
  /** Parameters of a protocol 3 startup (`user`, `database`, …). */
  readonly parameters: ReadonlyMap<string, string>;
}

/** Raised for bytes that are not the protocol; the connection is then closed. */
export class ProtocolViolation extends Error {
  override readonly name = 'ProtocolViolation';
}

/**
 * Reassembles frontend messages from the chunks a socket delivers: first one untyped startup
 * packet (after any SSL or GSS request), then typed messages.
 */
export class FrontendReader {
  #buffer: Buffer = Buffer.alloc(0);
  #startup = true;

  /** Appends received bytes. */
  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
  }

  /** Bytes received but not yet returned as messages. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** The next untyped startup packet, once it is complete; further ones follow an SSL or GSS request. */
  nextStartup(): StartupPacket | undefined {
    if (!this.#startup) throw new ProtocolViolation('startup packet after the startup phase');
    if (this.#buffer.length < 8) return undefined;
    const length = this.#buffer.readInt32BE(0);
    if (length < 8 || length > 10_000) throw new ProtocolViolation(`invalid startup packet length ${length}`);
    if (this.#buffer.length < length) return undefined;
    const code = this.#buffer.readInt32BE(4);
    const body = this.#buffer.subarray(8, length);
    this.#buffer = this.#buffer.subarray(length);
    const parameters = new Map<string, string>();
    if (code === PROTOCOL_3) {
      this.#startup = false;
      const parts = body.toString('utf8').split('\0');
      for (let i = 0; i + 1 < parts.length && parts[i] !== ''; i += 2) parameters.set(parts[i]!, parts[i + 1]!);
    }
    return { code, parameters };
  }

  /** The next complete typed message. */
  next(): FrontendMessage | undefined {
    if (this.#startup) throw new ProtocolViolation('typed message before the startup packet');
    if (this.#buffer.length < 5) return undefined;
    const length = this.#buffer.readInt32BE(1);
    if (length < 4 || length > MAX_MESSAGE_BYTES) throw new ProtocolViolation(`invalid message length ${length}`);
    if (this.#buffer.length < length + 1) return undefined;
    const bytes = this.#buffer.subarray(0, length + 1);
    this.#buffer = this.#buffer.subarray(length + 1);
    return { type: String.fromCharCode(bytes[0]!), bytes };
  }
}

/** The text of a Query ('Q') message. */
export function queryText(message: FrontendMessage): string {
  return cString(message.bytes, 5);
}

/** The statement text of a Parse ('P') message. */
export function parseText(message: FrontendMessage): string {
  const nameEnd = message.bytes.indexOf(0, 5);
  return nameEnd < 0 ? '' : cString(message.bytes, nameEnd + 1);
}

/** The password of a PasswordMessage ('p'). */
export function passwordOf(message: FrontendMessage): string {
  return cString(message.bytes, 5);
}

function cString(bytes: Buffer, start: number): string {
  const end = bytes.indexOf(0, start);
  return bytes.toString('utf8', start, end < 0 ? bytes.length : end);
}

function typed(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

function int32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(value, 0);
  return b;
}

function cstr(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'utf8');
}

/** AuthenticationCleartextPassword (`3`) or AuthenticationOk (`0`). */
export function authentication(kind: 0 | 3): Buffer {
  return typed('R', int32(kind));
}

/** ParameterStatus. */
export function parameterStatus(name: string, value: string): Buffer {
  return typed('S', Buffer.concat([cstr(name), cstr(value)]));
}

/** BackendKeyData. */
export function backendKeyData(pid: number, secret: number): Buffer {
  return typed('K', Buffer.concat([int32(pid), int32(secret)]));
}

/** ReadyForQuery with the transaction status `I` (idle), `T` (in a transaction) or `E` (failed one). */
export function readyForQuery(status: 'I' | 'T' | 'E'): Buffer {
  return typed('Z', Buffer.from(status, 'latin1'));
}

/** CommandComplete. */
export function commandComplete(tag: string): Buffer {
  return typed('C', cstr(tag));
}

/** ErrorResponse with a severity, an SQLSTATE and a message. */
export function errorResponse(severity: 'ERROR' | 'FATAL', sqlstate: string, message: string): Buffer {
  return typed('E', Buffer.concat([cstr(`S${severity}`), cstr(`V${severity}`), cstr(`C${sqlstate}`), cstr(`M${message}`), Buffer.from([0])]));
}

const VOID_OID = 2278;
const BOOL_OID = 16;

/** The answer to a one-column `SELECT` of a function returning `void` or `boolean`. */
export function singleValueResult(column: string, type: 'void' | 'boolean', value: string): Buffer {
  const field = Buffer.concat([
    cstr(column),
    int32(0), // table oid
    Buffer.from([0, 0]), // column number
    int32(type === 'void' ? VOID_OID : BOOL_OID),
    type === 'void' ? Buffer.from([0, 4]) : Buffer.from([0, 1]), // type size
    int32(-1), // type modifier
    Buffer.from([0, 0]), // text format
  ]);
  const description = typed('T', Buffer.concat([Buffer.from([0, 1]), field]));
  const bytes = Buffer.from(value, 'utf8');
  const row = typed('D', Buffer.concat([Buffer.from([0, 1]), int32(bytes.length), bytes]));
  return Buffer.concat([description, row, commandComplete('SELECT 1')]);
}

/** A NotificationResponse taken out of PGlite's output. */
export interface Notification {
  readonly channel: string;
  readonly payload: string;
  /** The whole message, to forward as it is. */
  readonly bytes: Buffer;
}

/**
 * Splits a stream of backend messages (PGlite's output, delivered in chunks that need not end
 * on message boundaries) into the bytes for the connection whose statement ran and the
 * notifications, which go to the connections that LISTEN on their channel.
 */
export class NotificationSplitter {
  readonly #forward: (bytes: Buffer) => void;
  readonly #notify: (notification: Notification) => void;
  #header: Buffer = Buffer.alloc(0);
  /** Bytes of the current message still to come, and whether it is a notification being collected. */
  #remaining = 0;
  #collecting: Buffer[] | undefined;

  constructor(forward: (bytes: Buffer) => void, notify: (notification: Notification) => void) {
    this.#forward = forward;
    this.#notify = notify;
  }

  /** Takes the next chunk of output. */
  push(chunk: Uint8Array): void {
    let data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let pass: Buffer[] = [];
    while (data.length > 0) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, data.length);
        const part = data.subarray(0, take);
        if (this.#collecting) this.#collecting.push(Buffer.from(part));
        else pass.push(part);
        this.#remaining -= take;
        data = data.subarray(take);
        if (this.#remaining === 0 && this.#collecting) {
          const bytes = Buffer.concat(this.#collecting);
          this.#collecting = undefined;
          if (pass.length > 0) {
            this.#forward(Buffer.concat(pass));
            pass = [];
          }
          this.#notify(decodeNotification(bytes));
        }
        continue;
      }
      // A message header: its type and length, possibly split across chunks.
      const need = 5 - this.#header.length;
      this.#header = Buffer.concat([this.#header, data.subarray(0, need)]);
      data = data.subarray(Math.min(need, data.length));
      if (this.#header.length < 5) break;
      const header = this.#header;
      this.#header = Buffer.alloc(0);
      this.#remaining = header.readInt32BE(1) - 4;
      if (header[0] === 0x41 /* 'A' */) this.#collecting = [header];
      else pass.push(header);
      if (this.#remaining === 0 && this.#collecting) {
        this.#collecting = undefined;
      }
    }
    if (pass.length > 0) this.#forward(pass.length === 1 ? Buffer.from(pass[0]!) : Buffer.concat(pass));
  }
}

function decodeNotification(bytes: Buffer): Notification {
  const channelEnd = bytes.indexOf(0, 9);
  const payloadEnd = bytes.indexOf(0, channelEnd + 1);
  return {
    channel: bytes.toString('utf8', 9, channelEnd),
    payload: bytes.toString('utf8', channelEnd + 1, payloadEnd < 0 ? bytes.length : payloadEnd),
    bytes,
  };
}
