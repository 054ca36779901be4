import { JSONRPCMessageSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/** Bounds on one message from an agent. */
export interface MessageLimits {
  /** Largest message, in bytes of UTF-8. */
  readonly maxBytes: number;
  /** Deepest nesting of objects and arrays. */
  readonly maxDepth: number;
}

/** Why a message was refused, as a JSON-RPC error. */
export interface MessageRefusal {
  readonly ok: false;
  /** `too_large`, `too_deep`, `malformed`, or `duplicate_id` (a batch or session reuses a request id still unanswered). */
  readonly reason: 'too_large' | 'too_deep' | 'malformed' | 'duplicate_id';
  /** JSON-RPC error code: -32700 (parse error) or -32600 (invalid request). */
  readonly code: number;
  readonly message: string;
  /** The request's id when it could be read, so the agent can match the error. */
  readonly id: string | number | null;
}

/**
 * True when `value` nests objects and arrays deeper than `max`. Iterative, so a hostile
 * document cannot overflow the stack here (or later, in canonicalization and hashing).
 */
export function exceedsDepth(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) return true;
    const children = Array.isArray(v) ? v : Object.values(v as Record<string, unknown>);
    for (const child of children) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * Parses one agent message (or batch) from text, checking size, JSON syntax, nesting depth
 * and, when `validate` is set, the JSON-RPC shape and that no two requests of a batch share an
 * id (JSON-RPC matches answers by id alone: both would run and only one be answered), and
 * that a batch is not empty (JSON-RPC answers `[]` with one Invalid Request). A refused batch
 * is refused whole, before any of it runs.
 */
export function parseAgentMessage(text: string, byteLength: number, limits: MessageLimits, validate: boolean): { ok: true; value: unknown } | MessageRefusal {
  if (byteLength > limits.maxBytes) {
    return { ok: false, reason: 'too_large', code: -32600, message: `Invalid Request: the message is ${byteLength} bytes, more than the ${limits.maxBytes} allowed`, id: null };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: 'malformed', code: -32700, message: `Parse error: ${(error as Error).message}`, id: null };
  }
  const id = idOf(value);
  if (exceedsDepth(value, limits.maxDepth)) {
    return { ok: false, reason: 'too_deep', code: -32600, message: `Invalid Request: the message nests objects and arrays more than ${limits.maxDepth} levels deep`, id };
  }
  if (validate) {
    const messages = Array.isArray(value) ? value : [value];
    // JSON-RPC 2.0 §6: an empty batch is one Invalid Request, answered once.
    if (messages.length === 0) {
      return { ok: false, reason: 'malformed', code: -32600, message: 'Invalid Request: the batch is empty; a batch holds at least one request, notification or response', id: null };
    }
    for (const m of messages) {
      if (!JSONRPCMessageSchema.safeParse(m).success) {
        return { ok: false, reason: 'malformed', code: -32600, message: 'Invalid Request: not a JSON-RPC 2.0 request, notification or response', id: idOf(m) };
      }
    }
    const repeated = repeatedRequestId(messages);
    if (repeated !== undefined) {
      return {
        ok: false,
        reason: 'duplicate_id',
        code: -32600,
        message: `Invalid Request: the batch has more than one request with id ${JSON.stringify(repeated)}, so none of it was run; give every request in a batch its own id`,
        id: null,
      };
    }
  }
  return { ok: true, value };
}

/** The JSON-RPC error message for a refusal. */
export function refusalMessage(refusal: MessageRefusal): JSONRPCMessage {
  return { jsonrpc: '2.0', id: refusal.id, error: { code: refusal.code, message: refusal.message } } as unknown as JSONRPCMessage;
}

function repeatedRequestId(messages: readonly unknown[]): string | number | undefined {
  if (messages.length < 2) return undefined;
  const seen = new Set<string | number>();
  for (const m of messages) {
    const { method, id } = m as { method?: unknown; id?: unknown };
    if (method === undefined || (typeof id !== 'string' && typeof id !== 'number')) continue;
    if (seen.has(id)) return id;
    seen.add(id);
  }
  return undefined;
}

function idOf(value: unknown): string | number | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const id = (value as { id?: unknown }).id;
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : null;
}
