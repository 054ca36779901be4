import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import type { Result } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { errorMessage } from '../gateway-error.js';
import { JsonRpcError } from '../pipeline/call-result.js';
import type { Upstream, UpstreamRequestOptions } from '../upstream/upstream.js';
import type { UpstreamRegistry } from '../upstream/upstream-registry.js';

/** MCP logging levels, least to most severe. */
export const LOGGING_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'] as const;

/** An MCP logging level. */
export type LoggingLevel = (typeof LOGGING_LEVELS)[number];

type ListMethod = 'resources/list' | 'resources/templates/list' | 'prompts/list';
const LIST_ITEMS: Record<ListMethod, string> = { 'resources/list': 'resources', 'resources/templates/list': 'resourceTemplates', 'prompts/list': 'prompts' };
const CAPABILITY: Record<ListMethod, 'resources' | 'prompts'> = { 'resources/list': 'resources', 'resources/templates/list': 'resources', 'prompts/list': 'prompts' };

/**
 * Everything the policy does not govern, forwarded unchanged: resources, prompts,
 * completion, logging levels and resource subscriptions. With one upstream every request
 * goes to it as is. With several, list results are concatenated (with a cursor that
 * remembers which upstream it is in), prompt names are prefixed `<server>__` like tool
 * names, and resource URIs are routed to the upstream that listed them (or whose template
 * matches them). Shared by every session of a gateway.
 */
export class PassthroughRouter {
  readonly #registry: UpstreamRegistry;
  readonly #logger: Logger;
  readonly #resourceOwners = new Map<string, Upstream>();
  readonly #templates: Array<{ template: UriTemplate; upstream: Upstream }> = [];
  readonly #subscriptions = new Map<string, Set<string>>();
  readonly #levels = new Map<string, LoggingLevel>();
  #upstreamLevel: LoggingLevel | undefined;

  constructor(registry: UpstreamRegistry, logger: Logger) {
    this.#registry = registry;
    this.#logger = logger;
  }

  /** `resources/list`, `resources/templates/list` or `prompts/list`, across upstreams. */
  async list(method: ListMethod, params: Record<string, unknown> | undefined, options: UpstreamRequestOptions): Promise<Result> {
    const upstreams = this.#registry.supporting(CAPABILITY[method]);
    if (upstreams.length === 0) throw new JsonRpcError(-32601, 'Method not found');
    const key = LIST_ITEMS[method];
    if (!this.#registry.prefixed) {
      const result = await upstreams[0]!.request({ method, ...(params ? { params } : {}) }, options);
      this.#learn(method, upstreams[0]!, result);
      return result;
    }
    const { index, cursor } = decodeCursor(params?.cursor, upstreams.length);
    const upstream = upstreams[index]!;
    const forwarded = { ...(params ?? {}) };
    if (cursor === undefined) delete forwarded.cursor;
    else forwarded.cursor = cursor;
    const result = await upstream.request({ method, params: forwarded }, options);
    this.#learn(method, upstream, result);
    const items = Array.isArray((result as Record<string, unknown>)[key]) ? ((result as Record<string, unknown>)[key] as Array<Record<string, unknown>>) : [];
    const renamed = method === 'prompts/list' ? items.map((p) => ({ ...p, name: this.#registry.exposedName(upstream, String(p.name)) })) : items;
    const next = typeof result.nextCursor === 'string' ? encodeCursor(index, result.nextCursor) : index + 1 < upstreams.length ? encodeCursor(index + 1, undefined) : undefined;
    const { nextCursor: _drop, ...rest } = result as Record<string, unknown>;
    return { ...rest, [key]: renamed, ...(next !== undefined ? { nextCursor: next } : {}) } as Result;
  }

  /** `resources/read`, to the upstream that owns the URI. */
  async readResource(params: { uri: string; [k: string]: unknown }, options: UpstreamRequestOptions): Promise<Result> {
    return this.#byUri(params.uri, (u) => u.request({ method: 'resources/read', params }, options));
  }

  /** `prompts/get`, to the upstream the (prefixed) name belongs to. */
  async getPrompt(params: { name: string; [k: string]: unknown }, options: UpstreamRequestOptions): Promise<Result> {
    const target = this.#registry.resolveName(params.name);
    if (!target || !target.upstream.info?.capabilities.prompts) throw new JsonRpcError(-32602, `Unknown prompt: ${params.name}`);
    return target.upstream.request({ method: 'prompts/get', params: { ...params, name: target.name } }, options);
  }

  /** `completion/complete` for a prompt (by name) or a resource template (by URI). */
  async complete(params: { ref: { type: string; name?: string; uri?: string }; [k: string]: unknown }, options: UpstreamRequestOptions): Promise<Result> {
    const ref = params.ref;
    if (ref.type === 'ref/prompt' && typeof ref.name === 'string') {
      const target = this.#registry.resolveName(ref.name);
      if (!target) throw new JsonRpcError(-32602, `Unknown prompt: ${ref.name}`);
      return target.upstream.request({ method: 'completion/complete', params: { ...params, ref: { ...ref, name: target.name } } }, options);
    }
    if (ref.type === 'ref/resource' && typeof ref.uri === 'string') {
      return this.#byUri(ref.uri, (u) => u.request({ method: 'completion/complete', params }, options), 'completions');
    }
    throw new JsonRpcError(-32602, 'completion/complete needs a ref of type ref/prompt (with a name) or ref/resource (with a uri)');
  }

  /** Subscribes a session to a resource; the upstream is subscribed once, for the first session. */
  async subscribe(sessionId: string, uri: string, options: UpstreamRequestOptions): Promise<Result> {
    let sessions = this.#subscriptions.get(uri);
    if (!sessions) {
      await this.#byUri(uri, (u) => u.request({ method: 'resources/subscribe', params: { uri } }, options));
      sessions = this.#subscriptions.get(uri) ?? new Set();
      this.#subscriptions.set(uri, sessions);
    }
    sessions.add(sessionId);
    return {};
  }

  /** Unsubscribes a session; the upstream is unsubscribed when no session is left. */
  async unsubscribe(sessionId: string, uri: string, options: UpstreamRequestOptions): Promise<Result> {
    const sessions = this.#subscriptions.get(uri);
    if (!sessions?.delete(sessionId)) return {};
    if (sessions.size === 0) {
      this.#subscriptions.delete(uri);
      await this.#byUri(uri, (u) => u.request({ method: 'resources/unsubscribe', params: { uri } }, options)).catch((error: unknown) => {
        this.#logger.debug({ uri, err: errorMessage(error) }, 'upstream unsubscribe failed');
      });
    }
    return {};
  }

  /** Whether a session subscribed to a resource. */
  isSubscribed(sessionId: string, uri: string): boolean {
    return this.#subscriptions.get(uri)?.has(sessionId) ?? false;
  }

  /**
   * Sets a session's logging level. Upstreams are asked for the most verbose level any
   * session wants; each session then only gets messages at or above its own level.
   */
  async setLevel(sessionId: string, level: LoggingLevel, options: UpstreamRequestOptions): Promise<Result> {
    this.#levels.set(sessionId, level);
    await this.#applyLevel(options);
    return {};
  }

  /** Whether a log message of `level` goes to the session. */
  wantsLog(sessionId: string, level: string): boolean {
    const wanted = this.#levels.get(sessionId);
    if (wanted === undefined) return true;
    return LOGGING_LEVELS.indexOf(level as LoggingLevel) >= LOGGING_LEVELS.indexOf(wanted);
  }

  /** Forgets a closed session: its subscriptions and logging level. */
  async forget(sessionId: string): Promise<void> {
    this.#levels.delete(sessionId);
    for (const uri of [...this.#subscriptions.keys()]) {
      await this.unsubscribe(sessionId, uri, {}).catch(() => undefined);
    }
    await this.#applyLevel({}).catch(() => undefined);
  }

  async #applyLevel(options: UpstreamRequestOptions): Promise<void> {
    let most: LoggingLevel | undefined;
    for (const level of this.#levels.values()) {
      if (most === undefined || LOGGING_LEVELS.indexOf(level) < LOGGING_LEVELS.indexOf(most)) most = level;
    }
    if (most === undefined || most === this.#upstreamLevel) return;
    this.#upstreamLevel = most;
    await Promise.all(this.#registry.supporting('logging').map((u) => u.request({ method: 'logging/setLevel', params: { level: most } }, options)));
  }

  #learn(method: ListMethod, upstream: Upstream, result: Result): void {
    if (!this.#registry.prefixed) return;
    if (method === 'resources/list') {
      for (const r of ((result as { resources?: Array<{ uri?: unknown }> }).resources ?? [])) if (typeof r.uri === 'string') this.#resourceOwners.set(r.uri, upstream);
    } else if (method === 'resources/templates/list') {
      for (const t of ((result as { resourceTemplates?: Array<{ uriTemplate?: unknown }> }).resourceTemplates ?? [])) {
        if (typeof t.uriTemplate !== 'string' || this.#templates.some((x) => x.upstream === upstream && x.template.toString() === t.uriTemplate)) continue;
        try {
          this.#templates.push({ template: new UriTemplate(t.uriTemplate), upstream });
        } catch (error) {
          this.#logger.debug({ upstream: upstream.name, template: t.uriTemplate, err: errorMessage(error) }, 'ignoring an unusable resource template');
        }
      }
    }
  }

  async #byUri(uri: string, send: (u: Upstream) => Promise<Result>, capability: 'resources' | 'completions' = 'resources'): Promise<Result> {
    const candidates = this.#registry.supporting(capability);
    if (candidates.length === 0) throw new JsonRpcError(-32601, 'Method not found');
    const owner = this.#resourceOwners.get(uri) ?? this.#templates.find((t) => t.template.match(uri) !== null)?.upstream;
    if (owner) return send(owner);
    if (candidates.length === 1) return send(candidates[0]!);
    // Not listed by anyone (yet): ask each upstream in turn; the first that answers owns it.
    let last: unknown;
    for (const upstream of candidates) {
      try {
        const result = await send(upstream);
        this.#resourceOwners.set(uri, upstream);
        return result;
      } catch (error) {
        last = error;
      }
    }
    throw last;
  }
}

function encodeCursor(index: number, cursor: string | undefined): string {
  return Buffer.from(JSON.stringify(cursor === undefined ? { u: index } : { u: index, c: cursor })).toString('base64url');
}

function decodeCursor(value: unknown, upstreams: number): { index: number; cursor: string | undefined } {
  if (value === undefined) return { index: 0, cursor: undefined };
  try {
    const parsed = JSON.parse(Buffer.from(String(value), 'base64url').toString('utf8')) as { u?: unknown; c?: unknown };
    if (typeof parsed.u === 'number' && Number.isInteger(parsed.u) && parsed.u >= 0 && parsed.u < upstreams && (parsed.c === undefined || typeof parsed.c === 'string')) {
      return { index: parsed.u, cursor: parsed.c as string | undefined };
    }
  } catch {
    // Falls through to the error below.
  }
  throw new JsonRpcError(-32602, 'Invalid cursor');
}
