import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApprovalRecord } from '@tollgate/ledger';
import type { Logger } from 'pino';
import type { ApprovalDesk } from '../approvals/approval-desk.js';
import type { AdminIdentity, ApproverDirectory } from '../approvals/approver-directory.js';
import { errorMessage } from '../gateway-error.js';
import type { DecisionFeed, FeedDecision } from '../metrics/decision-feed.js';
import { approvalBody, readReason } from './approvals-api.js';
import type { ConsoleAssets } from './console-assets.js';
import type { ConsoleApproval, ConsoleErrorBody, ConsoleEvents, ConsoleIdentity, ConsoleSessionBody, ConsoleSnapshot } from './console-messages.js';
import { ConsoleSessions, type ConsoleSession } from './console-sessions.js';
import { EventStream } from './event-stream.js';
import { SignInLimiter } from './sign-in-limiter.js';

/** The name of the console's session cookie. */
export const CONSOLE_COOKIE = 'tollgate_console';

/**
 * The console's Content-Security-Policy: its own files only — no inline script or style, no
 * other origin, no framing, no plugins, no `<base>`, forms only to itself.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers on every console response. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
};

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_SIGN_IN_BODY = 4096;

/** What an {@link ApprovalsConsole} serves. */
export interface ApprovalsConsoleOptions {
  /** Who may sign in (approvers and the admin; agents' tokens are refused). */
  readonly directory: ApproverDirectory;
  /** The approval requests; without it the console shows only the live record. */
  readonly desk?: ApprovalDesk;
  /** The decisions the ledger recorded, live; without it the live record stays empty. */
  readonly decisions?: DecisionFeed;
  /** An agent's configured labels. */
  readonly labels?: (agentId: string) => Readonly<Record<string, string>> | undefined;
  /** The built page ({@link loadConsoleAssets}). */
  readonly assets: ConsoleAssets;
  readonly sessions?: ConsoleSessions;
  readonly signIns?: SignInLimiter;
  readonly logger: Logger;
  /** How often open streams get a heartbeat and are checked for an ended session (ms, default 15 000). */
  readonly heartbeatMs?: number;
  /** The most event streams open at once (default 100). */
  readonly maxStreams?: number;
  /** The most decided requests the snapshot carries (default 50). */
  readonly historyLimit?: number;
  /** Current time in epoch ms (default `Date.now`). */
  readonly clock?: () => number;
}

interface OpenStream {
  readonly stream: EventStream;
  readonly session: ConsoleSession;
  /** False until its snapshot is sent: what happens meanwhile is held back, to follow the snapshot. */
  ready: boolean;
  /** Requests that changed before the snapshot went out (read again after it). */
  readonly missedApprovals: Set<string>;
  /** Decisions recorded before the snapshot went out (sent after it, unless it has them). */
  readonly missedDecisions: FeedDecision[];
}

/**
 * The approvals console on the admin port (DESIGN §5): the page at `GET /console` and its API
 * under `/console/api/`:
 * - `POST /console/api/session` `{ "token": "…" }` signs in with an approver's or the admin's
 *   bearer token (an agent's is refused, 403; an unknown one 401; too many failures 429) and
 *   sets an HttpOnly, SameSite=Strict cookie holding a random session id — never the token;
 *   `GET` says who is signed in and hands the page its CSRF token; `DELETE` signs out;
 * - `GET /console/api/events` — server-sent events: a `snapshot`, then every `approval` change
 *   and every recorded `decision` as it happens;
 * - `POST /console/api/approvals/{id}/approve|deny` `{ "reason"? }` — a vote, as the admin API's.
 * Every state-changing request must come from the console's own origin (`Origin`, and
 * `Sec-Fetch-Site` where sent) and carry the session's CSRF token in `X-CSRF-Token` (403
 * otherwise). Every response carries a strict Content-Security-Policy and its companions.
 */
export class ApprovalsConsole {
  readonly #directory: ApproverDirectory;
  readonly #desk: ApprovalDesk | undefined;
  readonly #decisions: DecisionFeed | undefined;
  readonly #labels: NonNullable<ApprovalsConsoleOptions['labels']>;
  readonly #assets: ConsoleAssets;
  readonly #sessions: ConsoleSessions;
  readonly #signIns: SignInLimiter;
  readonly #logger: Logger;
  readonly #maxStreams: number;
  readonly #historyLimit: number;
  readonly #clock: () => number;
  readonly #streams = new Set<OpenStream>();
  /** One read per changed request at a time, shared by every stream. */
  readonly #reads = new Map<string, Promise<void>>();
  /** Requests that changed again while being read. */
  readonly #dirty = new Set<string>();
  readonly #stops: Array<() => void> = [];
  readonly #heartbeat: NodeJS.Timeout;

  constructor(options: ApprovalsConsoleOptions) {
    this.#directory = options.directory;
    this.#desk = options.desk;
    this.#decisions = options.decisions;
    this.#labels = options.labels ?? (() => undefined);
    this.#assets = options.assets;
    this.#clock = options.clock ?? Date.now;
    this.#sessions = options.sessions ?? new ConsoleSessions({ clock: this.#clock });
    this.#signIns = options.signIns ?? new SignInLimiter({ clock: this.#clock });
    this.#logger = options.logger;
    this.#maxStreams = options.maxStreams ?? 100;
    this.#historyLimit = options.historyLimit ?? 50;
    if (this.#desk) this.#stops.push(this.#desk.watch((id) => this.#approvalChanged(id)));
    if (this.#decisions) this.#stops.push(this.#decisions.subscribe((d) => this.#broadcast('decision', d)));
    this.#stops.push(this.#sessions.onEnd((key) => this.#sessionEnded(key, 'you were signed out')));
    this.#heartbeat = setInterval(() => this.#beat(), options.heartbeatMs ?? 15_000);
    this.#heartbeat.unref();
  }

  /** True for a path the console serves (`/console`, `/console/…`). */
  static serves(path: string): boolean {
    return path === '/console' || path.startsWith('/console/');
  }

  /** Answers one request under `/console`. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === '/console' || path === '/console/') return this.#asset(req, res, 'index.html');
    if (path.startsWith('/console/assets/')) return this.#asset(req, res, path.slice('/console/assets/'.length));
    if (path === '/console/api/session') {
      if (method === 'GET' || method === 'HEAD') return this.#whoAmI(req, res);
      if (method === 'POST') return this.#signIn(req, res);
      if (method === 'DELETE') return this.#signOut(req, res);
      return json(res, 405, { error: 'GET, POST or DELETE /console/api/session' }, { allow: 'GET, HEAD, POST, DELETE' });
    }
    if (path === '/console/api/events') {
      if (method !== 'GET') return json(res, 405, { error: 'GET /console/api/events' }, { allow: 'GET' });
      return this.#events(req, res);
    }
    const vote = /^\/console\/api\/approvals\/([^/]+)\/(approve|deny)$/.exec(path);
    if (vote) {
      if (method !== 'POST') return json(res, 405, { error: `POST ${path}` }, { allow: 'POST' });
      return this.#vote(req, res, vote[1]!, vote[2] as 'approve' | 'deny');
    }
    return json(res, 404, { error: `not found: ${path}; the console is at /console` });
  }

  /** Ends every event stream and stops listening. */
  close(): void {
    clearInterval(this.#heartbeat);
    for (const stop of this.#stops.splice(0)) stop();
    for (const open of [...this.#streams]) open.stream.close();
    this.#streams.clear();
  }

  #asset(req: IncomingMessage, res: ServerResponse, name: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...SECURITY_HEADERS, allow: 'GET, HEAD' }).end();
      return;
    }
    if (!this.#assets.ok) {
      res.writeHead(503, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(`${this.#assets.problem}\n`);
      return;
    }
    const file = this.#assets.files.get(name);
    if (!file) {
      res.writeHead(404, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' }).end(`no console file ${JSON.stringify(name)}\n`);
      return;
    }
    const headers = { ...SECURITY_HEADERS, 'content-type': file.contentType, etag: file.etag, 'cache-control': 'no-cache' };
    if (req.headers['if-none-match'] === file.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': String(file.body.length) });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  }

  #whoAmI(req: IncomingMessage, res: ServerResponse): void {
    const session = this.#session(req);
    if (!session) return json(res, 401, { error: 'not signed in' });
    return json(res, 200, sessionBody(session));
  }

  async #signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const foreign = crossOrigin(req);
    if (foreign) return json(res, 403, { error: `sign-in refused: ${foreign}` });
    if (!isJson(req)) return json(res, 415, { error: 'send the token as JSON: { "token": "…" } with Content-Type: application/json' });
    const client = req.socket.remoteAddress ?? 'unknown';
    const wait = this.#signIns.retryAfter(client);
    if (wait > 0) return json(res, 429, { error: `too many refused tokens; try again in ${wait} s` }, { 'retry-after': String(wait) });
    const body = await readJson(req, MAX_SIGN_IN_BODY);
    if (!body.ok) return json(res, 400, { error: body.error }, body.close ? { connection: 'close' } : {});
    const value = body.value as { token?: unknown } | null;
    const token = value !== null && typeof value === 'object' && !Array.isArray(value) ? value.token : undefined;
    if (typeof token !== 'string' || token.trim() === '') return json(res, 400, { error: 'the body must be { "token": "<your approver token>" }' });
    const who = this.#directory.identify(token.trim());
    if (!who) {
      this.#signIns.failed(client);
      this.#logger.info({ client }, 'console sign-in refused: unknown token');
      return json(res, 401, { error: "This token is not an approver's or the admin's token. Check it and try again." });
    }
    if (who.kind === 'agent') {
      this.#signIns.failed(client);
      this.#logger.warn({ client, agent: who.id }, "console sign-in refused: an agent's token");
      return json(res, 403, { error: `This is the token of agent "${who.id}". An agent's token cannot sign in to the console or decide approvals: sign in with an approver's token.` });
    }
    // A new sign-in replaces the browser's old session, whoever it was.
    const old = this.#session(req);
    if (old) this.#sessions.end(old.key);
    const { id, session } = this.#sessions.create(who);
    this.#logger.info({ client, approver: who.id }, 'signed in to the approvals console');
    return json(res, 201, sessionBody(session), { 'set-cookie': cookie(req, id, Math.floor(this.#sessions.maxAgeMs / 1000)) });
  }

  #signOut(req: IncomingMessage, res: ServerResponse): void {
    const session = this.#session(req);
    const refused = this.#stateChangeRefusal(req, session);
    if (refused) return json(res, refused.status, { error: refused.error });
    this.#sessions.end(session!.key);
    return json(res, 200, { signed_out: true }, { 'set-cookie': cookie(req, '', 0) });
  }

  async #vote(req: IncomingMessage, res: ServerResponse, id: string, verb: 'approve' | 'deny'): Promise<void> {
    const session = this.#session(req);
    const refused = this.#stateChangeRefusal(req, session);
    if (refused) return json(res, refused.status, { error: refused.error });
    if (!this.#desk) return json(res, 404, { error: 'this gateway has no approval store, so there is nothing to decide' });
    if (!ID.test(id)) return json(res, 404, { error: `no approval request ${JSON.stringify(id)}` });
    if (!isJson(req)) return json(res, 415, { error: 'send the vote as JSON: { "reason"?: "…" } with Content-Type: application/json' });
    const body = await readReason(req);
    if (!body.ok) return json(res, 400, { error: body.error }, body.close ? { connection: 'close' } : {});
    const who = session!.identity;
    const outcome = await this.#desk.vote(id, who, verb === 'approve' ? 'grant' : 'deny', body.reason);
    this.#logger.info({ approvalId: id, approver: who.id, vote: verb, status: outcome.status }, 'console vote');
    if (outcome.status === 200) return json(res, 200, this.#approval(outcome.record, who));
    const error: ConsoleErrorBody = { error: outcome.error, ...(outcome.record ? { approval: this.#approval(outcome.record, who) } : {}) };
    return json(res, outcome.status, error);
  }

  async #events(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const session = this.#session(req);
    if (!session) return json(res, 401, { error: 'not signed in' });
    if (this.#streams.size >= this.#maxStreams) return json(res, 503, { error: `too many open console streams (${this.#maxStreams}); close a console tab` }, { 'retry-after': '5' });
    const stream = new EventStream(res, { headers: SECURITY_HEADERS });
    const open: OpenStream = { stream, session, ready: false, missedApprovals: new Set(), missedDecisions: [] };
    // Registered before the snapshot is read, so that no change during the read is lost.
    this.#streams.add(open);
    stream.onclose = () => this.#streams.delete(open);
    let snapshot: ConsoleSnapshot;
    try {
      snapshot = await this.#snapshot(session.identity);
    } catch (error) {
      this.#logger.error({ err: errorMessage(error) }, 'could not read the console snapshot');
      stream.close();
      return;
    }
    send(stream, 'snapshot', snapshot);
    open.ready = true;
    const last = snapshot.decisions.at(-1)?.seq ?? 0;
    for (const d of open.missedDecisions.splice(0)) if (d.seq > last) send(stream, 'decision', d);
    // Read again rather than replay: a read that started before the snapshot's may be older than it.
    for (const id of open.missedApprovals) this.#approvalChanged(id);
    open.missedApprovals.clear();
  }

  async #snapshot(who: ConsoleSession['identity']): Promise<ConsoleSnapshot> {
    let pending: ConsoleApproval[] = [];
    let history: ConsoleApproval[] = [];
    if (this.#desk) {
      const [open, recent] = await Promise.all([this.#desk.list('pending', 500), this.#desk.list(undefined, 200)]);
      pending = open.map((r) => this.#approval(r, who));
      history = recent
        .filter((r) => r.status !== 'pending')
        .slice(0, this.#historyLimit)
        .map((r) => this.#approval(r, who));
    }
    return {
      server_time: new Date(this.#clock()).toISOString(),
      identity: identityBody(who),
      approvals_enabled: this.#desk !== undefined,
      pending,
      history,
      decisions: this.#decisions?.recent() ?? [],
      per_minute: this.#decisions?.perMinute() ?? [],
    };
  }

  #approval(record: ApprovalRecord, who: AdminIdentity): ConsoleApproval {
    const body = approvalBody(record, this.#desk!, who);
    // A second vote of the same approver would be refused (409): the page shows it cannot be cast.
    const voted = body.can_decide && record.votes.some((v) => v.approver === who.id);
    return {
      ...body,
      ...(voted ? { can_decide: false, cannot_decide_reason: `you have already voted on it; it needs ${record.minApprovals > 1 ? 'other approvers' : 'another approver'}` } : {}),
      agent_labels: this.#labels(record.agentId) ?? {},
    };
  }

  #approvalChanged(id: string): void {
    if (this.#streams.size === 0) return;
    if (this.#reads.has(id)) {
      // The read under way may have missed this change: read once more after it.
      this.#dirty.add(id);
      return;
    }
    const read = this.#desk!.get(id)
      .then((record) => {
        if (!record) return;
        for (const open of [...this.#streams]) {
          if (open.ready) send(open.stream, 'approval', this.#approval(record, open.session.identity));
          else open.missedApprovals.add(id);
        }
      })
      .catch((error: unknown) => this.#logger.warn({ err: errorMessage(error), approvalId: id }, 'could not read a changed approval request for the console'))
      .finally(() => {
        this.#reads.delete(id);
        if (this.#dirty.delete(id)) this.#approvalChanged(id);
      });
    this.#reads.set(id, read);
  }

  #broadcast(event: 'decision', data: FeedDecision): void {
    for (const open of [...this.#streams]) {
      if (open.ready) send(open.stream, event, data);
      // Bounded like the feed itself: a snapshot that takes long must not hold more than that.
      else if (open.missedDecisions.push(data) > 500) open.missedDecisions.shift();
    }
  }

  #beat(): void {
    for (const open of [...this.#streams]) {
      if (!this.#sessions.alive(open.session)) {
        send(open.stream, 'signed-out', { reason: 'your session has expired' });
        open.stream.close();
        continue;
      }
      // An open console counts as activity: the session idles out only once no tab shows it.
      this.#sessions.touch(open.session);
      open.stream.comment('heartbeat');
    }
  }

  #sessionEnded(key: string, reason: string): void {
    for (const open of [...this.#streams]) {
      if (open.session.key !== key) continue;
      send(open.stream, 'signed-out', { reason });
      open.stream.close();
    }
  }

  #session(req: IncomingMessage): ConsoleSession | undefined {
    return this.#sessions.get(cookieValue(req.headers.cookie, CONSOLE_COOKIE));
  }

  /** Why a state-changing request is refused: not signed in (401), not from the console, or without its CSRF token (403). */
  #stateChangeRefusal(req: IncomingMessage, session: ConsoleSession | undefined): { status: 401 | 403; error: string } | undefined {
    if (!session) return { status: 401, error: 'not signed in' };
    const foreign = crossOrigin(req);
    if (foreign) return { status: 403, error: `refused: ${foreign}` };
    if (!this.#sessions.checkCsrf(session, req.headers['x-csrf-token'])) return { status: 403, error: "refused: the request does not carry this session's CSRF token (X-CSRF-Token)" };
    return undefined;
  }
}

function send<E extends keyof ConsoleEvents>(stream: EventStream, event: E, data: ConsoleEvents[E]): void {
  stream.send(event, data);
}

function identityBody(who: ConsoleSession['identity']): ConsoleIdentity {
  return { kind: who.kind, id: who.id, groups: [...who.groups] };
}

function sessionBody(session: ConsoleSession): ConsoleSessionBody {
  return { identity: identityBody(session.identity), csrf_token: session.csrfToken, expires_at: new Date(session.expiresAt).toISOString() };
}

/**
 * Why a request did not come from the console's own page, or undefined when it did: the
 * browser's `Sec-Fetch-Site` (where sent) must be `same-origin`, and `Origin` must be present
 * and name the host the request was sent to.
 */
function crossOrigin(req: IncomingMessage): string | undefined {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return `it was sent from another site (Sec-Fetch-Site: ${String(site)})`;
  const origin = req.headers.origin;
  if (origin === undefined || origin === '' || origin === 'null') return 'it has no Origin header; only the console page may send it';
  let from: string;
  let to: string;
  try {
    from = new URL(origin).host;
    to = new URL(`http://${req.headers.host ?? ''}`).host;
  } catch {
    return `its Origin ${JSON.stringify(origin)} is not this console's`;
  }
  if (from === '' || from !== to) return `its Origin ${JSON.stringify(origin)} is not this console's (${to})`;
  return undefined;
}

function isJson(req: IncomingMessage): boolean {
  return /^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '');
}

function cookie(req: IncomingMessage, value: string, maxAgeS: number): string {
  // Behind a TLS-terminating proxy the cookie is also Secure.
  const secure = req.headers['x-forwarded-proto'] === 'https' ? '; Secure' : '';
  return `${CONSOLE_COOKIE}=${value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure}`;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

async function readJson(req: IncomingMessage, max: number): Promise<{ ok: true; value: unknown } | { ok: false; error: string; close?: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      req.resume();
      return { ok: false, error: `the body is larger than ${max} bytes`, close: true };
    }
    chunks.push(chunk);
  }
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
  } catch (error) {
    return { ok: false, error: `the body is not JSON: ${(error as Error).message}` };
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}
