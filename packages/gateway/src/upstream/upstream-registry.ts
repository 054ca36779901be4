import type { Notification, ServerCapabilities, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { GatewayError, errorMessage } from '../gateway-error.js';
import type { Upstream } from './upstream.js';

/** The separator of prefixed names: `<server>__<tool>` when the gateway has several upstreams. */
export const NAME_SEPARATOR = '__';

/** A tool as agents see it, and where it really lives. */
export interface RoutedTool {
  /** The name agents call (prefixed when there are several upstreams). */
  readonly name: string;
  /** The upstream that serves it. */
  readonly upstream: Upstream;
  /** The tool exactly as the upstream listed it (its own name, its input schema). */
  readonly tool: Tool;
  /** The tool as agents see it in `tools/list`: the upstream's, renamed when prefixed. */
  readonly exposed: Tool;
}

/** What an upstream sent, with who sent it. */
export type UpstreamNotificationListener = (upstream: Upstream, notification: Notification) => void;

/**
 * The upstreams behind the gateway: connects them, keeps each one's tool catalog (refreshed
 * when it announces `notifications/tools/list_changed` or reconnects), resolves the names
 * agents use to an upstream and its own names, and fans upstream notifications out.
 *
 * @example
 * const registry = new UpstreamRegistry([new StdioUpstream(config, logger)], logger);
 * await registry.start();
 * registry.findTool('fetch_ohlcv')?.upstream.name // 'ccxt'
 */
export class UpstreamRegistry {
  /** The upstreams, in configuration order. */
  readonly upstreams: readonly Upstream[];
  /** Whether names are prefixed `<server>__` (more than one upstream). */
  readonly prefixed: boolean;
  readonly #byName: ReadonlyMap<string, Upstream>;
  readonly #logger: Logger;
  readonly #catalogs = new Map<string, readonly RoutedTool[]>();
  #tools = new Map<string, RoutedTool>();
  #list: readonly RoutedTool[] = [];
  readonly #listeners = new Set<UpstreamNotificationListener>();
  readonly #toolListeners = new Set<() => void>();

  constructor(upstreams: readonly Upstream[], logger: Logger) {
    if (upstreams.length === 0) throw new GatewayError('upstream.invalid', 'the gateway needs at least one upstream');
    this.upstreams = Object.freeze([...upstreams]);
    this.prefixed = upstreams.length > 1;
    this.#byName = new Map(upstreams.map((u) => [u.name, u]));
    this.#logger = logger;
    for (const upstream of upstreams) {
      upstream.onnotification = (notification) => this.#onNotification(upstream, notification);
      upstream.onreconnect = () => {
        void this.refreshTools(upstream);
      };
    }
  }

  /**
   * Connects every upstream and loads their tool lists.
   * @throws GatewayError `upstream.unavailable` naming the first upstream that could not be reached.
   */
  async start(): Promise<void> {
    const results = await Promise.allSettled(this.upstreams.map(async (u) => {
      await u.connect();
      await this.#loadTools(u);
    }));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.close();
      throw failed.reason instanceof GatewayError ? failed.reason : new GatewayError('upstream.unavailable', errorMessage(failed.reason), { cause: failed.reason });
    }
    this.#rebuild();
  }

  /** The upstream of that name. */
  upstream(name: string): Upstream | undefined {
    return this.#byName.get(name);
  }

  /** Every tool of every upstream, as agents see them, in upstream order. */
  tools(): readonly RoutedTool[] {
    return this.#list;
  }

  /** The tool agents call by this name, or undefined when no upstream has it. */
  findTool(name: string): RoutedTool | undefined {
    return this.#tools.get(name);
  }

  /**
   * Splits a prefixed name (`<server>__<name>`) into its upstream and the upstream's own name.
   * With one upstream, every name belongs to it unchanged.
   */
  resolveName(name: string): { upstream: Upstream; name: string } | undefined {
    if (!this.prefixed) return { upstream: this.upstreams[0]!, name };
    const at = name.indexOf(NAME_SEPARATOR);
    if (at <= 0) return undefined;
    const upstream = this.#byName.get(name.slice(0, at));
    return upstream ? { upstream, name: name.slice(at + NAME_SEPARATOR.length) } : undefined;
  }

  /** The name agents see for an upstream's own name. */
  exposedName(upstream: Upstream, name: string): string {
    return this.prefixed ? `${upstream.name}${NAME_SEPARATOR}${name}` : name;
  }

  /**
   * What the gateway offers agents: tools always (with list-change notifications), and
   * resources, prompts, completions and logging when any upstream offers them.
   */
  capabilities(): ServerCapabilities {
    const caps: ServerCapabilities = { tools: { listChanged: true } };
    for (const u of this.upstreams) {
      const c = u.info?.capabilities;
      if (!c) continue;
      if (c.resources) caps.resources = { subscribe: Boolean(caps.resources?.subscribe || c.resources.subscribe), listChanged: true };
      if (c.prompts) caps.prompts = { listChanged: true };
      if (c.completions) caps.completions = {};
      if (c.logging) caps.logging = {};
    }
    return caps;
  }

  /** The upstreams that declared a capability (e.g. `resources`). */
  supporting(capability: keyof ServerCapabilities): Upstream[] {
    return this.upstreams.filter((u) => u.info?.capabilities[capability] !== undefined);
  }

  /** Listens to every notification of every upstream; returns the unsubscribe function. */
  onNotification(listener: UpstreamNotificationListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Listens to changes of the combined tool list; returns the unsubscribe function. */
  onToolsChanged(listener: () => void): () => void {
    this.#toolListeners.add(listener);
    return () => this.#toolListeners.delete(listener);
  }

  /** Reloads one upstream's tools and tells listeners when the combined list changed. */
  async refreshTools(upstream: Upstream): Promise<void> {
    try {
      await this.#loadTools(upstream);
    } catch (error) {
      this.#logger.warn({ upstream: upstream.name, err: errorMessage(error) }, 'could not reload the upstream\'s tools');
      return;
    }
    this.#rebuild();
    for (const listener of this.#toolListeners) listener();
  }

  /** Closes every upstream. */
  async close(): Promise<void> {
    await Promise.allSettled(this.upstreams.map((u) => u.close()));
  }

  async #loadTools(upstream: Upstream): Promise<void> {
    if (!upstream.info?.capabilities.tools) {
      this.#catalogs.set(upstream.name, []);
      return;
    }
    const tools: RoutedTool[] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;
    // Bounded, so a server that keeps returning cursors cannot keep the gateway listing forever.
    for (let page = 0; page < 1000; page++) {
      const result = await upstream.request({ method: 'tools/list', ...(cursor !== undefined ? { params: { cursor } } : {}) });
      const list = (result as { tools?: unknown }).tools;
      if (!Array.isArray(list)) throw new GatewayError('upstream.invalid', `upstream "${upstream.name}" answered tools/list without a tools array`);
      for (const item of list as Tool[]) {
        if (!item || typeof item.name !== 'string' || item.inputSchema === null || typeof item.inputSchema !== 'object') {
          this.#logger.warn({ upstream: upstream.name, tool: (item as { name?: unknown } | null)?.name }, 'skipping a tool without a name or input schema');
          continue;
        }
        if (seen.has(item.name)) {
          this.#logger.warn({ upstream: upstream.name, tool: item.name }, 'the upstream lists this tool twice; keeping the first');
          continue;
        }
        seen.add(item.name);
        const name = this.exposedName(upstream, item.name);
        tools.push({ name, upstream, tool: item, exposed: name === item.name ? item : { ...item, name } });
      }
      cursor = typeof (result as { nextCursor?: unknown }).nextCursor === 'string' ? (result as { nextCursor: string }).nextCursor : undefined;
      if (cursor === undefined) break;
    }
    this.#catalogs.set(upstream.name, tools);
  }

  #rebuild(): void {
    const map = new Map<string, RoutedTool>();
    const list: RoutedTool[] = [];
    for (const u of this.upstreams) {
      for (const t of this.#catalogs.get(u.name) ?? []) {
        map.set(t.name, t);
        list.push(t);
      }
    }
    this.#tools = map;
    this.#list = Object.freeze(list);
  }

  #onNotification(upstream: Upstream, notification: Notification): void {
    if (notification.method === 'notifications/tools/list_changed') {
      // The gateway announces its own tools/list_changed once it has reloaded the list.
      void this.refreshTools(upstream);
      return;
    }
    for (const listener of this.#listeners) {
      try {
        listener(upstream, notification);
      } catch (error) {
        this.#logger.warn({ upstream: upstream.name, method: notification.method, err: errorMessage(error) }, 'a notification listener failed');
      }
    }
  }
}
