import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the receiver answers one request: an HTTP status, or never (it hangs until the sender gives up). */
export type ReceiverAnswer = number | 'hang';

/** One request the receiver got. */
export interface ReceivedRequest {
  readonly path: string;
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The raw body, as signed. */
  readonly body: string;
  /** The body parsed (undefined when it is not JSON). */
  readonly json: unknown;
  /** What {@link verifyTollgateSignature} says of it with the path's secret; null when no secret is known for the path. */
  readonly signatureValid: boolean | null;
  /** When it arrived (epoch ms). */
  readonly at: number;
  /** How it was answered. */
  answered?: ReceiverAnswer;
}

/** A webhook receiver on 127.0.0.1 (node:http), answering as the test says, recording everything. */
export interface WebhookReceiver {
  /** `http://127.0.0.1:<port><path>`. */
  url(path: string): string;
  readonly received: ReceivedRequest[];
  /** Requests being answered right now, and the most there ever were at once. */
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** How to answer a request (default 200 to all); `index` counts the requests of its path and delivery id, from 0. */
  answer: (request: ReceivedRequest, index: number) => ReceiverAnswer;
  /** Resolves once `predicate` holds of what was received (checked as requests arrive), or rejects after `ms`. */
  waitFor(predicate: (received: readonly ReceivedRequest[]) => boolean, ms?: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Verifies `X-Tollgate-Signature` as docs/approvals.md describes it, written from the
 * description rather than from the gateway's signer: `t=<unix seconds>,v1=<hex>` where the hex
 * is HMAC-SHA256, keyed with the secret, of `<t>.<raw body>`; refused when `t` is more than
 * `toleranceS` from now.
 */
export function verifyTollgateSignature(header: string | undefined, body: string, secret: string, nowS = Date.now() / 1000, toleranceS = 300): boolean {
  if (header === undefined) return false;
  const fields = new Map(header.split(',').map((part) => [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)] as const));
  const t = fields.get('t');
  const v1 = fields.get('v1');
  if (t === undefined || v1 === undefined || !/^\d+$/.test(t) || !/^[0-9a-f]{64}$/.test(v1)) return false;
  if (Math.abs(nowS - Number(t)) > toleranceS) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, 'hex'));
}

/** Starts a receiver; `secrets` maps a path to the secret its signatures are checked with. */
export async function startWebhookReceiver(secrets: Record<string, string> = {}): Promise<WebhookReceiver> {
  const received: ReceivedRequest[] = [];
  const counts = new Map<string, number>();
  const waiters = new Set<() => void>();
  const hanging = new Set<ServerResponse>();
  let inFlight = 0;
  let maxInFlight = 0;
  const receiver: WebhookReceiver = {
    url: (path) => `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    received,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    answer: () => 200,
    waitFor(predicate, ms = 10_000, what = 'the expected requests') {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!predicate(received)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the receiver did not get ${what} within ${ms} ms; it got:\n${received.map((r) => `  ${r.path} ${r.headers['x-tollgate-event']} ${r.headers['x-tollgate-delivery']} attempt ${r.headers['x-tollgate-attempt']} -> ${String(r.answered)}`).join('\n')}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inFlight--;
    };
    res.on('close', finish);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = (req.url ?? '/').split('?')[0]!;
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]));
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const secret = secrets[path];
      const request: ReceivedRequest = {
        path,
        headers,
        body,
        json,
        signatureValid: secret === undefined ? null : verifyTollgateSignature(headers['x-tollgate-signature'], body, secret),
        at: Date.now(),
      };
      const key = `${path} ${headers['x-tollgate-delivery'] ?? ''}`;
      const index = counts.get(key) ?? 0;
      counts.set(key, index + 1);
      const answer = receiver.answer(request, index);
      request.answered = answer;
      received.push(request);
      if (answer === 'hang') hanging.add(res);
      // A redirect points at /redirected on the same receiver: a sender that followed it would show there.
      else res.writeHead(answer, { 'content-type': 'text/plain', ...(answer >= 300 && answer < 400 ? { location: receiver.url('/redirected') } : {}) }).end(answer >= 200 && answer < 300 ? 'ok' : 'no');
      for (const check of [...waiters]) check();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return receiver;
}
