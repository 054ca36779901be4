// What the gateway must answer to one agent message — a stdio line or an HTTP POST body —
// stated independently of the gateway's code, from JSON-RPC 2.0 and MCP as the SDK's schemas
// define them. The fuzz test (agent-surface-fuzz.test.ts) holds the gateway to it.
import { JSONRPCMessageSchema, JSONRPCRequestSchema, type RequestId } from '@modelcontextprotocol/sdk/types.js';

/** The gateway's `requests` bounds the answers depend on. */
export interface OracleLimits {
  readonly maxBytes: number;
  readonly maxDepth: number;
}

/** The most messages one HTTP POST may carry. */
export const HTTP_MAX_BATCH = 100;

/** The notifications MCP defines for clients that the gateway takes (everything else is dropped). */
export const ACCEPTED_NOTIFICATIONS: ReadonlySet<string> = new Set(['notifications/initialized', 'notifications/cancelled', 'notifications/progress', 'notifications/roots/list_changed']);

/**
 * How one message must be answered:
 * - `ignored`: nothing at all (a blank stdio line);
 * - `refused`: exactly one JSON-RPC error, whose id is null or one of `ids` (the id the message
 *   carried, when it could be read), and nothing of the message runs — over HTTP with a 4xx
 *   status;
 * - `accepted`: every request of it (an element the SDK's `JSONRPCRequestSchema` accepts: a
 *   `method` string and an `id` that is a string or an integer) gets exactly one response,
 *   result or error, under its id, and nothing else is answered; over HTTP `200` with the
 *   responses (an array for a batch) when there are requests, else `202` with no body.
 */
export type ExpectedAnswer =
  | { readonly kind: 'ignored' }
  | { readonly kind: 'refused'; readonly why: string; readonly ids: readonly RequestId[] }
  | { readonly kind: 'accepted'; readonly requests: readonly RequestId[]; readonly batch: boolean };

/** An HTTP POST's headers, as far as the answer depends on them. */
export interface PostHeaders {
  /** Whether `Accept` lists both `application/json` and `text/event-stream`. */
  readonly acceptsBoth: boolean;
  /** Whether `Content-Type` is `application/json`. */
  readonly jsonContentType: boolean;
  /** Whether `MCP-Protocol-Version` is absent or a version MCP defines. */
  readonly knownProtocolVersion: boolean;
}

/**
 * The rules, in order:
 * 1. more than `maxBytes` bytes: refused;
 * 2. stdio: a blank line is ignored;
 * 3. not JSON: refused;
 * 4. objects and arrays nested more than `maxDepth` deep (the message itself is level 1): refused;
 * 5. an empty batch, or (HTTP) one of more than {@link HTTP_MAX_BATCH} messages: refused;
 * 6. an element that is not a JSON-RPC 2.0 message (request, notification, result or error,
 *    exactly as the SDK's `JSONRPCMessageSchema` has them): refused whole;
 * 7. two requests of a batch with the same id: refused whole;
 * 8. HTTP, on an initialized session: bad `Accept`/`Content-Type`/`MCP-Protocol-Version`, or an
 *    `initialize` among the messages: refused;
 * 9. HTTP: no request, and a notification the gateway does not take: refused;
 * otherwise accepted. (A request reusing the id of one still in flight is refused too; the fuzz
 * gives every request an id of its own, so this never applies to what it sends.)
 */
export function expectedAnswer(body: Buffer, transport: 'stdio' | 'http', limits: OracleLimits, headers?: PostHeaders): ExpectedAnswer {
  if (body.length > limits.maxBytes) return refused('too large', []);
  const text = body.toString('utf8');
  if (transport === 'stdio' && text.trim() === '') return { kind: 'ignored' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return refused('not JSON', []);
  }
  const ids = readableIds(value);
  if (depthOf(value) > limits.maxDepth) return refused('too deep', ids);
  const batch = Array.isArray(value);
  const messages: unknown[] = batch ? (value as unknown[]) : [value];
  if (messages.length === 0) return refused('an empty batch', ids);
  if (transport === 'http' && messages.length > HTTP_MAX_BATCH) return refused('a batch over the HTTP bound', ids);
  if (!messages.every((m) => JSONRPCMessageSchema.safeParse(m).success)) return refused('not JSON-RPC', ids);
  const requests = messages.filter((m) => JSONRPCRequestSchema.safeParse(m).success).map((m) => (m as { id: RequestId }).id);
  if (new Set(requests).size !== requests.length) return refused('a repeated request id', ids);
  if (transport === 'http') {
    const methods = messages.map((m) => (m as { method?: unknown }).method).filter((m): m is string => typeof m === 'string');
    if (!headers?.acceptsBoth || !headers.jsonContentType) return refused('headers', ids);
    if (methods.includes('initialize')) return refused('an initialize on an initialized session', ids);
    if (!headers.knownProtocolVersion) return refused('an unknown protocol version', ids);
    if (requests.length === 0 && messages.some((m) => isNotification(m) && !ACCEPTED_NOTIFICATIONS.has((m as { method: string }).method))) {
      return refused('only notifications, one of them not taken', ids);
    }
  }
  return { kind: 'accepted', requests, batch };
}

/** How deep `value` nests objects and arrays (a scalar is 0, `{}` and `[]` are 1). */
export function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    deepest = Math.max(deepest, depth);
    for (const child of Object.values(v as Record<string, unknown>)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** A key telling ids apart the way JSON-RPC does (`1` and `"1"` are different ids). */
export function idKey(id: unknown): string {
  return JSON.stringify(id) ?? 'undefined';
}

function refused(why: string, ids: readonly RequestId[]): ExpectedAnswer {
  return { kind: 'refused', why, ids };
}

function isNotification(m: unknown): boolean {
  return typeof (m as { method?: unknown }).method === 'string' && (m as { id?: unknown }).id === undefined;
}

/** The ids a refusal may carry: those of the message, or of the batch's elements, that are a string or a finite number. */
function readableIds(value: unknown): RequestId[] {
  const out: RequestId[] = [];
  for (const m of Array.isArray(value) ? [value, ...value] : [value]) {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) continue;
    const id = (m as { id?: unknown }).id;
    if (typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id))) out.push(id);
  }
  return out;
}
