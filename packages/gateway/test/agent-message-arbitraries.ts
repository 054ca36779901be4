// fast-check arbitraries of what an agent may send the gateway — well-formed and not — and how
// each is written out. Ids are not drawn by fast-check but given when a message is written
// (IdSource): a replayed or shrunk run then never reuses an id of an earlier one.
import fc from 'fast-check';
import type { RequestId } from '@modelcontextprotocol/sdk/types.js';

/** The id of a message, as drawn; made concrete by {@link IdSource}. */
export type IdSpec =
  | { readonly kind: 'string'; readonly tail: string }
  | { readonly kind: 'integer' }
  /** The id of an earlier message of the same batch (a duplicate), or a fresh one if there is none. */
  | { readonly kind: 'repeat' }
  /** An id JSON-RPC or MCP does not allow: null, a fraction, a boolean, an object, an unsafe integer, a non-finite number. */
  | { readonly kind: 'literal'; readonly value: unknown };

/** One JSON-RPC message (or something in its place), as drawn. */
export type MessageSpec =
  | { readonly t: 'request'; readonly id: IdSpec; readonly method: unknown; readonly params?: unknown; readonly jsonrpc?: unknown; readonly extra?: unknown }
  | { readonly t: 'notification'; readonly method: string; readonly params?: unknown }
  /** A `notifications/cancelled` naming a request that never existed. */
  | { readonly t: 'cancel'; readonly reason?: string }
  | { readonly t: 'response'; readonly id: IdSpec; readonly error: boolean }
  | { readonly t: 'junk'; readonly value: unknown };

/** One stdio line or HTTP POST body, as drawn. */
export type BodySpec =
  | { readonly t: 'message'; readonly message: MessageSpec }
  | { readonly t: 'batch'; readonly messages: readonly MessageSpec[] }
  /** Text that is rarely JSON (no line breaks). */
  | { readonly t: 'raw'; readonly text: string }
  /** Bytes, often not UTF-8 (no line breaks). */
  | { readonly t: 'bytes'; readonly bytes: Uint8Array }
  /** A message cut short. */
  | { readonly t: 'truncated'; readonly message: MessageSpec; readonly keep: number }
  /** An `echo` call whose text makes the message about `maxBytes + over` bytes (over may be negative). */
  | { readonly t: 'sized'; readonly over: number; readonly id: IdSpec }
  /** A `tools/call` whose arguments nest arrays `depth` deep. */
  | { readonly t: 'deep'; readonly depth: number; readonly id: IdSpec }
  /** A batch of `count` requests of one method (ping, tools/list, or an echo call). */
  | { readonly t: 'many'; readonly count: number; readonly method: 'ping' | 'tools/list' | 'tools/call' }
  | { readonly t: 'blank'; readonly spaces: string };

/** Stands for `1e999` (or `-1e999`) in a drawn value; written out as the number literal. */
export const NON_FINITE = Object.freeze({ positive: '§tg-non-finite+§', negative: '§tg-non-finite-§' });

/** The tools of the recording upstream and names that are none of them. */
const TOOL_NAMES = [...Array<string>(12).fill('echo'), 'log-later', 'log-later', 'slow', 'slow', 'nope', 'rec__echo', '', '__proto__', 'constructor', 'toString'];

/** Hands out ids no earlier message of the run used. */
export class IdSource {
  #n = 0;

  /** A fresh string or integer id. */
  fresh(kind: 'string' | 'integer', tail = ''): RequestId {
    const n = ++this.#n;
    // The number before ':' keeps string ids unique whatever the tail is.
    return kind === 'integer' ? 1_000_000 + n : `${n}:${tail}`;
  }

  /** A request id that no message ever uses (for cancellations of nothing). */
  never(): string {
    return `never:${++this.#n}`;
  }
}

/** Writes a drawn body out as bytes, within the given bounds (for `sized` and `deep`). */
export function renderBody(spec: BodySpec, ids: IdSource, limits: { maxBytes: number }): Buffer {
  switch (spec.t) {
    case 'message':
      return Buffer.from(toText(renderMessage(spec.message, ids, [])));
    case 'batch': {
      const seen: RequestId[] = [];
      return Buffer.from(toText(spec.messages.map((m) => renderMessage(m, ids, seen))));
    }
    case 'raw':
      return Buffer.from(spec.text);
    case 'bytes':
      return Buffer.from(spec.bytes);
    case 'truncated': {
      const full = toText(renderMessage(spec.message, ids, []));
      return Buffer.from(full.slice(0, Math.floor(full.length * spec.keep)));
    }
    case 'sized': {
      const id = resolveId(spec.id, ids, []);
      const shell = toText({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: '' } } });
      const length = Math.max(0, limits.maxBytes + spec.over - Buffer.byteLength(shell));
      return Buffer.from(toText({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'a'.repeat(length) } } }));
    }
    case 'deep': {
      const id = resolveId(spec.id, ids, []);
      const text = toText({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'deep', nest: '§tg-deep§' } } });
      return Buffer.from(text.replace('"§tg-deep§"', '['.repeat(spec.depth) + ']'.repeat(spec.depth)));
    }
    case 'many': {
      const params = spec.method === 'tools/call' ? { name: 'echo', arguments: { text: 'one of many' } } : undefined;
      const messages = Array.from({ length: spec.count }, () => ({ jsonrpc: '2.0', id: ids.fresh('integer'), method: spec.method, ...(params ? { params } : {}) }));
      return Buffer.from(toText(messages));
    }
    case 'blank':
      return Buffer.from(spec.spaces);
  }
}

function renderMessage(spec: MessageSpec, ids: IdSource, batch: RequestId[]): unknown {
  switch (spec.t) {
    case 'request': {
      const id = resolveId(spec.id, ids, batch);
      return {
        jsonrpc: spec.jsonrpc === undefined ? '2.0' : spec.jsonrpc,
        id,
        method: spec.method,
        ...(spec.params === undefined ? {} : { params: spec.params }),
        ...(spec.extra === undefined ? {} : { extra: spec.extra }),
      };
    }
    case 'notification':
      return { jsonrpc: '2.0', method: spec.method, ...(spec.params === undefined ? {} : { params: spec.params }) };
    case 'cancel':
      return { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: ids.never(), ...(spec.reason === undefined ? {} : { reason: spec.reason }) } };
    case 'response': {
      const id = resolveId(spec.id, ids, batch);
      return spec.error ? { jsonrpc: '2.0', id, error: { code: -32000, message: 'agent error' } } : { jsonrpc: '2.0', id, result: {} };
    }
    case 'junk':
      return spec.value;
  }
}

function resolveId(spec: IdSpec, ids: IdSource, batch: RequestId[]): unknown {
  let id: RequestId;
  switch (spec.kind) {
    case 'literal':
      return spec.value;
    case 'repeat':
      id = batch.length > 0 ? batch[batch.length - 1]! : ids.fresh('string', 'repeat');
      break;
    default:
      id = ids.fresh(spec.kind, spec.kind === 'string' ? spec.tail : '');
  }
  batch.push(id);
  return id;
}

/** JSON text of a drawn value, with the non-finite stand-ins written as number literals. */
function toText(value: unknown): string {
  return JSON.stringify(value).replaceAll(`"${NON_FINITE.positive}"`, '1e999').replaceAll(`"${NON_FINITE.negative}"`, '-1e999');
}

const noBreaks = (s: string): string => s.replace(/[\r\n]/g, ' ');

const nonFinite = fc.constantFrom(NON_FINITE.positive, NON_FINITE.negative);
/** JSON values, now and then holding a non-finite number. */
const value: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 14, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: nonFinite },
  { weight: 1, arbitrary: fc.array(fc.oneof(nonFinite, fc.jsonValue({ maxDepth: 1 })), { maxLength: 3 }) },
);
const hugeString = fc.tuple(fc.string({ minLength: 1, maxLength: 6 }), fc.integer({ min: 500, max: 6000 })).map(([s, n]) => s.repeat(n));
const text = fc.oneof(
  { weight: 14, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ maxLength: 20 }).map((s) => `deny ${s}`) },
  { weight: 1, arbitrary: hugeString },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: nonFinite },
  { weight: 1, arbitrary: fc.constant(null) },
);
const argumentKey = fc.oneof({ weight: 6, arbitrary: fc.string({ maxLength: 8 }) }, { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'text', 'toString') });
const toolArguments: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ text, more: fc.dictionary(argumentKey, value, { maxKeys: 3 }) }, { requiredKeys: ['text'] }).map(({ text, more }) => ({ ...(more ?? {}), text })) },
  { weight: 2, arbitrary: fc.dictionary(argumentKey, value, { maxKeys: 4 }) },
  { weight: 1, arbitrary: value },
  { weight: 1, arbitrary: fc.constant(undefined) },
);
const toolName = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...TOOL_NAMES) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) });
const callParams: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ name: toolName, arguments: toolArguments }).map(({ name, arguments: args }) => ({ name, ...(args === undefined ? {} : { arguments: args }) })) },
  { weight: 1, arbitrary: fc.record({ name: toolName, arguments: toolArguments, _meta: fc.record({ progressToken: fc.oneof(fc.string({ maxLength: 8 }), fc.integer()) }) }) },
  { weight: 1, arbitrary: value },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

const idSpec: fc.Arbitrary<IdSpec> = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 12 }).map((tail): IdSpec => ({ kind: 'string', tail })) },
  { weight: 6, arbitrary: fc.constant<IdSpec>({ kind: 'integer' }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(null, 1.5, -0.25, true, false, {}, [], [1], 2 ** 60, NON_FINITE.positive, NON_FINITE.negative).map((v): IdSpec => ({ kind: 'literal', value: v })),
  },
);

const otherRequest = fc.oneof(
  fc.constant({ method: 'ping', params: undefined }),
  fc.constant({ method: 'tools/list', params: undefined }),
  fc.record({ method: fc.constant('tools/list'), params: fc.oneof(fc.record({ cursor: fc.oneof(fc.string({ maxLength: 5 }), fc.integer()) }), value) }),
  fc.constant({ method: 'prompts/list', params: {} }),
  fc.record({ method: fc.constant('prompts/get'), params: fc.oneof(fc.record({ name: fc.constantFrom('greet', 'nope'), arguments: fc.dictionary(fc.constantFrom('name', 'x'), fc.oneof(fc.string({ maxLength: 10 }), fc.integer())) }), value) }),
  fc.record({ method: fc.constant('logging/setLevel'), params: fc.oneof(fc.record({ level: fc.constantFrom('debug', 'info', 'error', 'loud') }), value) }),
  fc.record({ method: fc.constantFrom('resources/list', 'resources/read', 'completion/complete', 'sampling/createMessage', 'tasks/get', 'notifications/initialized'), params: fc.option(value, { nil: undefined }) }),
  fc.constant({ method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } } }),
  fc.record({ method: fc.string({ maxLength: 20 }), params: fc.option(value, { nil: undefined }) }),
  fc.record({ method: fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.constant('tools/call'), { maxLength: 1 }), fc.constant({ name: 'tools/call' })), params: fc.option(value, { nil: undefined }) }),
);

const request: fc.Arbitrary<MessageSpec> = fc
  .record({
    id: idSpec,
    call: fc.oneof({ weight: 3, arbitrary: callParams.map((params) => ({ method: 'tools/call', params })) }, { weight: 2, arbitrary: otherRequest }),
    jsonrpc: fc.oneof({ weight: 30, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom<unknown>('1.0', 2, null) }),
    extra: fc.oneof({ weight: 30, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: value }),
  })
  .map(({ id, call, jsonrpc, extra }): MessageSpec => ({
    t: 'request',
    id,
    method: call.method,
    ...(call.params === undefined ? {} : { params: call.params }),
    ...(jsonrpc === undefined ? {} : { jsonrpc }),
    ...(extra === undefined ? {} : { extra }),
  }));

const notification: fc.Arbitrary<MessageSpec> = fc.oneof(
  { weight: 3, arbitrary: callParams.map((params): MessageSpec => ({ t: 'notification', method: 'tools/call', ...(params === undefined ? {} : { params }) })) },
  { weight: 2, arbitrary: fc.constantFrom<MessageSpec>({ t: 'notification', method: 'notifications/initialized' }, { t: 'notification', method: 'notifications/roots/list_changed' }) },
  { weight: 2, arbitrary: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }).map((reason): MessageSpec => ({ t: 'cancel', ...(reason === undefined ? {} : { reason }) })) },
  { weight: 1, arbitrary: fc.record({ progressToken: fc.oneof(fc.string({ maxLength: 6 }), fc.integer()), progress: fc.integer() }).map((params): MessageSpec => ({ t: 'notification', method: 'notifications/progress', params })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ method: fc.oneof(fc.constantFrom('notifications/tasks/status', 'notifications/message', 'tools/list', 'vendor/thing'), fc.string({ maxLength: 20 })), params: fc.option(value, { nil: undefined }) })
      .map(({ method, params }): MessageSpec => ({ t: 'notification', method, ...(params === undefined ? {} : { params }) })),
  },
);

const message: fc.Arbitrary<MessageSpec> = fc.oneof(
  { weight: 10, arbitrary: request },
  { weight: 4, arbitrary: notification },
  { weight: 1, arbitrary: fc.record({ id: idSpec, error: fc.boolean() }).map(({ id, error }): MessageSpec => ({ t: 'response', id, error })) },
  { weight: 1, arbitrary: value.map((v): MessageSpec => ({ t: 'junk', value: v })) },
);

/** A batch: mixed messages, now and then with a repeated id, now and then empty. */
const batch: fc.Arbitrary<BodySpec> = fc.oneof(
  { weight: 8, arbitrary: fc.array(message, { minLength: 1, maxLength: 8 }).map((messages): BodySpec => ({ t: 'batch', messages })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.array(message, { maxLength: 3 }), request, fc.array(message, { maxLength: 3 }))
      .map(([before, first, after]): BodySpec => ({ t: 'batch', messages: [...before, first, { ...(first as Extract<MessageSpec, { t: 'request' }>), id: { kind: 'repeat' } }, ...after] })),
  },
  { weight: 1, arbitrary: fc.constant<BodySpec>({ t: 'batch', messages: [] }) },
);

/**
 * One stdio line or HTTP POST body: mostly single messages and batches, then malformed text and
 * bytes, messages cut short, messages around the size bound (`sized`), nesting around and far
 * past the depth bound (`deep`), and blank lines.
 */
export function bodyArbitrary(limits: { maxDepth: number }): fc.Arbitrary<BodySpec> {
  return fc.oneof(
    { weight: 16, arbitrary: message.map((m): BodySpec => ({ t: 'message', message: m })) },
    { weight: 6, arbitrary: batch },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((s): BodySpec => ({ t: 'raw', text: noBreaks(s) })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 120 }).map((b): BodySpec => ({ t: 'bytes', bytes: b.map((x) => (x === 10 || x === 13 ? 32 : x)) })) },
    { weight: 1, arbitrary: fc.record({ message, keep: fc.double({ min: 0, max: 0.99, noNaN: true }) }).map(({ message: m, keep }): BodySpec => ({ t: 'truncated', message: m, keep })) },
    { weight: 1, arbitrary: fc.record({ over: fc.oneof(fc.integer({ min: -64, max: 64 }), fc.integer({ min: 65, max: 40_000 })), id: idSpec }).map(({ over, id }): BodySpec => ({ t: 'sized', over, id })) },
    {
      weight: 1,
      arbitrary: fc
        .record({ depth: fc.oneof(fc.integer({ min: Math.max(1, limits.maxDepth - 6), max: limits.maxDepth + 2 }), fc.integer({ min: limits.maxDepth + 3, max: 3000 })), id: idSpec })
        .map(({ depth, id }): BodySpec => ({ t: 'deep', depth, id })),
    },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          fc.record({ count: fc.oneof(fc.integer({ min: 95, max: 105 }), fc.integer({ min: 106, max: 400 })), method: fc.constantFrom<'ping' | 'tools/list'>('ping', 'tools/list') }),
          fc.record({ count: fc.integer({ min: 2, max: 40 }), method: fc.constant<'tools/call'>('tools/call') }),
        )
        .map(({ count, method }): BodySpec => ({ t: 'many', count, method })),
    },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', '\t', '   ').map((spaces): BodySpec => ({ t: 'blank', spaces })) },
  );
}

/** How an HTTP POST authenticates. */
export type PostAuth = 'valid' | 'none' | 'unknown-token' | 'no-scheme' | 'basic' | 'empty-bearer';

/** The headers an HTTP POST carries, as drawn. */
export interface PostHeaderSpec {
  readonly accept: 'both' | 'json-only' | 'none';
  readonly contentType: 'json' | 'text';
  readonly protocolVersion: 'current' | 'none' | 'unknown';
}

/** One HTTP POST to the session: mostly authenticated with good headers. */
export interface PostSpec {
  readonly auth: PostAuth;
  readonly headers: PostHeaderSpec;
  readonly body: BodySpec;
}

/** HTTP POSTs: about one in eight unauthenticated, one in ten with headers Streamable HTTP refuses. */
export function postArbitrary(limits: { maxDepth: number }): fc.Arbitrary<PostSpec> {
  const auth = fc.oneof({ weight: 28, arbitrary: fc.constant<PostAuth>('valid') }, { weight: 4, arbitrary: fc.constantFrom<PostAuth>('none', 'unknown-token', 'no-scheme', 'basic', 'empty-bearer') });
  const headers = fc.oneof(
    { weight: 18, arbitrary: fc.constant<PostHeaderSpec>({ accept: 'both', contentType: 'json', protocolVersion: 'current' }) },
    {
      weight: 2,
      arbitrary: fc.record<PostHeaderSpec>({
        accept: fc.constantFrom('both', 'json-only', 'none'),
        contentType: fc.constantFrom('json', 'text'),
        protocolVersion: fc.constantFrom('current', 'none', 'unknown'),
      }),
    },
  );
  return fc.record({ auth, headers, body: bodyArbitrary(limits) });
}
