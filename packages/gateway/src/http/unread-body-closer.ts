import type { IncomingMessage, ServerResponse } from 'node:http';

/** How long a connection closed after an answer gets to take that answer before its socket is destroyed (ms). */
export const CLOSE_LINGER_MS = 2000;

/**
 * Whether `req` declares a body (`Content-Length` above 0, or `Transfer-Encoding`) that has not
 * arrived whole. Node keeps a keep-alive connection after its answer and reads such a body to
 * the end — or until `request_timeout` — so a body that never ends would hold the connection:
 * an answer to such a request must close it ({@link closeAfterAnswer}).
 */
export function hasUnreadBody(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Once `res` is written, ends the connection if `req`'s body was not read whole — and destroys
 * it after {@link CLOSE_LINGER_MS} if the client does not take the answer. Set `Connection:
 * close` on the answer too when it is known before the headers go out (then Node itself ends
 * the socket; this bounds the rest).
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse): void {
  res.once('finish', () => {
    if (!hasUnreadBody(req)) return;
    const socket = req.socket;
    socket.end();
    const linger = setTimeout(() => socket.destroy(), CLOSE_LINGER_MS);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
  });
}
