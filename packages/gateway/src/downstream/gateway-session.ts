import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult, CreateTaskResult, Notification, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import { Protocol, type RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Agent } from '@tollgate/policy';
import type { Logger } from 'pino';
import { GatewayError, errorMessage } from '../gateway-error.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { JsonRpcError } from '../pipeline/call-result.js';
import type { Caller, ToolCallParams, ToolCallPipeline } from '../pipeline/tool-call-pipeline.js';
import { DEFAULT_TASK_TTL_MS, GatewayTaskStore, TASK_POLL_INTERVAL_MS } from './gateway-task-store.js';
import type { UpstreamRequestOptions } from '../upstream/upstream.js';
import type { UpstreamRegistry } from '../upstream/upstream-registry.js';
import type { NetworkTransport, Telemetry } from '../telemetry/telemetry.js';
import { AgentMessageGuard } from './agent-message-guard.js';
import { IGNORED_NOTIFICATIONS, methodLabel } from './agent-notifications.js';
import type { LoggingLevel, PassthroughRouter } from './passthrough-router.js';

/** The name and version the gateway reports to agents in `initialize`. */
export const GATEWAY_SERVER_INFO = Object.freeze({ name: 'tollgate', version: '0.1.0' });

/** What one agent session needs. */
export interface GatewaySessionOptions {
  readonly registry: UpstreamRegistry;
  readonly pipeline: ToolCallPipeline;
  readonly router: PassthroughRouter;
  /** Who the session's calls are made as. */
  readonly agent: Agent;
  /** The MCP session id (policy scope `session`, ledger `session_id`). */
  readonly sessionId: string;
  readonly logger: Logger;
  /** Counts dropped notifications and requests with invalid params. */
  readonly metrics?: GatewayMetrics;
  /** Traces every `tools/call` (when the gateway has telemetry on). */
  readonly telemetry?: Telemetry;
  /** How the agent is connected, for its calls' spans: `pipe` (stdio) or `tcp` (HTTP, the default). */
  readonly transport?: NetworkTransport;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/**
 * One agent's MCP session with the gateway: a low-level SDK `Server` whose `tools/list`
 * and `tools/call` go through the decision pipeline, and whose every other method passes
 * through to the upstreams unchanged, in both directions. What the agent sends is checked
 * first ({@link AgentMessageGuard}): requests with malformed params get -32602 in words, and
 * of the agent's notifications only those MCP defines for clients reach the session, which
 * consumes them (a cancellation cancels the call upstream) and passes none on as it is.
 *
 * @example
 * const session = new GatewaySession({ registry, pipeline, router, agent, sessionId, logger });
 * await session.connect(new StdioServerTransport());
 */
export class GatewaySession {
  readonly sessionId: string;
  readonly agent: Agent;
  /** The SDK server speaking to the agent. */
  readonly server: Server;
  readonly #options: GatewaySessionOptions;
  readonly #unsubscribe: Array<() => void> = [];
  /** Request methods this session answers (the SDK's `initialize` and `ping`, and those registered here). */
  readonly #served = new Set<string>(['initialize', 'ping', 'tasks/get', 'tasks/result', 'tasks/list', 'tasks/cancel']);
  readonly #tasks: GatewayTaskStore;
  #closed = false;
  /** Called once when the session ends (the agent left or the gateway closed it). */
  onclose: (() => void) | undefined;

  constructor(options: GatewaySessionOptions) {
    this.#options = options;
    this.sessionId = options.sessionId;
    this.agent = options.agent;
    const { registry } = options;
    const capabilities = registry.capabilities();
    const only = registry.upstreams.length === 1 ? registry.upstreams[0]!.info : undefined;
    this.#tasks = new GatewayTaskStore();
    this.server = new Server(
      { ...GATEWAY_SERVER_INFO },
      {
        // Agents may ask for a tools/call to run as an MCP task (2025-11-25): answered at once with
        // a task they follow with tasks/get and tasks/result — what a call held for approval needs.
        capabilities: { ...capabilities, tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } },
        taskStore: this.#tasks,
        ...(only?.instructions ? { instructions: only.instructions } : {}),
      },
    );
    this.#handlers(capabilities);
    this.server.fallbackNotificationHandler = async (notification) => {
      // Notifications the SDK does not consume are never passed on: a tools/call without an id
      // would reach the upstream with no decision. Of what the guard lets by, only
      // roots/list_changed gets here (and is ignored); anything else is counted as dropped.
      if (!IGNORED_NOTIFICATIONS.has(notification.method)) this.#dropped(notification.method);
    };
    this.server.onclose = () => this.#closedByTransport();
    this.#unsubscribe.push(
      registry.onNotification((_upstream, notification) => this.#relay(notification)),
      registry.onToolsChanged(() => {
        void this.server.sendToolListChanged().catch(() => undefined);
      }),
    );
  }

  /** Starts serving the agent over `transport`. */
  async connect(transport: Transport): Promise<void> {
    const metrics = this.#options.metrics;
    const guard = new AgentMessageGuard(transport, {
      serves: (method) => this.#served.has(method),
      ondropped: (method) => this.#dropped(method),
      oninvalid: () => metrics?.rejected('invalid_params'),
    });
    await this.server.connect(guard);
  }

  /** Ends the session. */
  async close(): Promise<void> {
    await this.server.close().catch(() => undefined);
    this.#closedByTransport();
  }

  #closedByTransport(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const off of this.#unsubscribe.splice(0)) off();
    void this.#options.router.forget(this.sessionId);
    this.onclose?.();
  }

  #dropped(method: string): void {
    this.#options.metrics?.droppedNotification(methodLabel(method));
    this.#options.logger.debug({ session: this.sessionId, agent: this.agent.id, method: method.slice(0, 200) }, 'dropped a notification the gateway does not pass on');
  }

  #handlers(capabilities: ReturnType<UpstreamRegistry['capabilities']>): void {
    const { pipeline, router } = this.#options;
    const served = this.#served;
    // Every handler is registered through here, so the guard knows which methods' params to check.
    const server = {
      setRequestHandler: ((schema, handler) => {
        served.add(methodOf(schema));
        this.server.setRequestHandler(schema, handler);
      }) as Server['setRequestHandler'],
    };
    const options = (extra: Extra, token?: unknown): UpstreamRequestOptions => ({
      signal: extra.signal,
      ...(token !== undefined
        ? {
            onprogress: (progress) => {
              void extra.sendNotification({ method: 'notifications/progress', params: { ...progress, progressToken: token as string | number } }).catch(() => undefined);
            },
          }
        : {}),
    });
    const token = (params: unknown): unknown => (params as { _meta?: { progressToken?: unknown } } | undefined)?._meta?.progressToken;

    // Every tool may be called as a task (never must be): the gateway runs it and keeps the result.
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: pipeline.listTools().map((t) => ({ ...t, execution: { ...t.execution, taskSupport: 'optional' as const } })) }));
    // Registered through Protocol, not Server: Server's override re-validates every result
    // against CallToolResultSchema, which would reshape (strip) what the upstream answered.
    // Upstream results pass through unchanged; the gateway's own refusals are well-formed.
    served.add('tools/call');
    Protocol.prototype.setRequestHandler.call(this.server, CallToolRequestSchema, async (request: { params: ToolCallParams }, extra: Extra) => {
      const { task, ...p } = request.params;
      if (task !== undefined && extra.taskStore) return this.#startTask(p, task as { ttl?: number }, extra);
      const progressToken = token(p);
      const call = (): Promise<unknown> =>
        relay(() =>
          pipeline.call(p, {
            agent: this.agent,
            sessionId: this.sessionId,
            signal: extra.signal,
            ...(progressToken !== undefined ? { onprogress: options(extra, progressToken).onprogress } : {}),
            ...this.#elicitation(),
          }),
        );
      const { telemetry, transport = 'tcp' } = this.#options;
      if (!telemetry) return call();
      const known = this.#options.registry.findTool(p.name) !== undefined;
      return telemetry.toolCall({ name: p.name, known, arguments: p.arguments, meta: p._meta, requestId: extra.requestId, sessionId: this.sessionId, agentId: this.agent.id, transport }, call);
    });
    if (capabilities.resources) {
      server.setRequestHandler(ListResourcesRequestSchema, async (r, extra) => relay(() => router.list('resources/list', r.params, options(extra, token(r.params)))));
      server.setRequestHandler(ListResourceTemplatesRequestSchema, async (r, extra) => relay(() => router.list('resources/templates/list', r.params, options(extra, token(r.params)))));
      server.setRequestHandler(ReadResourceRequestSchema, async (r, extra) => relay(() => router.readResource(r.params, options(extra, token(r.params)))));
      server.setRequestHandler(SubscribeRequestSchema, async (r, extra) => relay(() => router.subscribe(this.sessionId, r.params.uri, options(extra))));
      server.setRequestHandler(UnsubscribeRequestSchema, async (r, extra) => relay(() => router.unsubscribe(this.sessionId, r.params.uri, options(extra))));
    }
    if (capabilities.prompts) {
      server.setRequestHandler(ListPromptsRequestSchema, async (r, extra) => relay(() => router.list('prompts/list', r.params, options(extra, token(r.params)))));
      server.setRequestHandler(GetPromptRequestSchema, async (r, extra) => relay(() => router.getPrompt(r.params, options(extra, token(r.params)))));
    }
    if (capabilities.completions) {
      server.setRequestHandler(CompleteRequestSchema, async (r, extra) => relay(() => router.complete(r.params, options(extra))));
    }
    if (capabilities.logging) {
      server.setRequestHandler(SetLevelRequestSchema, async (r, extra) => relay(() => router.setLevel(this.sessionId, r.params.level as LoggingLevel, options(extra))));
    }
  }

  /**
   * A task-augmented `tools/call`: answered at once with a task in `working` state while the
   * call goes through the pipeline in the background; a call held for an approval shows
   * "awaiting approval <id> until <time>" as the task's status and waits until the request is
   * decided or expires (no hold_max: the agent polls). `tasks/cancel` withdraws the wait.
   */
  async #startTask(params: ToolCallParams, task: { ttl?: number }, extra: Extra): Promise<CreateTaskResult> {
    const store = extra.taskStore!;
    const created = await store.createTask({ ttl: typeof task.ttl === 'number' && task.ttl > 0 ? task.ttl : DEFAULT_TASK_TTL_MS, pollInterval: TASK_POLL_INTERVAL_MS });
    const id = created.taskId;
    const cancel = this.#tasks.onCancel(id);
    const status = (message: string): void => {
      void store.updateTaskStatus(id, 'working', message).catch(() => undefined);
    };
    void (async () => {
      let result: CallToolResult;
      let failed = false;
      try {
        result = await relay(() =>
          this.#options.pipeline.call(params, {
            agent: this.agent,
            sessionId: this.sessionId,
            signal: cancel.signal,
            onheld: (approval) => status(`awaiting approval ${approval.id} until ${approval.expiresAt.toISOString()}`),
            onprogress: (progress) => {
              if (progress.message) status(progress.message);
            },
            ...this.#elicitation(),
          }),
        );
      } catch (error) {
        failed = true;
        const text = error instanceof JsonRpcError || error instanceof McpError ? `${error.message} (JSON-RPC error ${error.code})` : errorMessage(error);
        result = { content: [{ type: 'text', text }], isError: true };
      } finally {
        cancel.done();
      }
      if (cancel.signal.aborted) return;
      await store.storeTaskResult(id, failed ? 'failed' : 'completed', result).catch((error: unknown) => {
        this.#options.logger.warn({ session: this.sessionId, task: id, err: errorMessage(error) }, 'could not store a task result');
      });
    })();
    return { task: created };
  }

  /** How the pipeline may ask this agent's own user (MCP elicitation), when the client declared it. */
  #elicitation(): Pick<Caller, 'elicit'> {
    if (!this.server.getClientCapabilities()?.elicitation) return {};
    return {
      elicit: async (request, timeoutMs) => {
        const answer = await this.server.elicitInput({ mode: 'form', message: request.message, requestedSchema: request.requestedSchema as never }, { timeout: timeoutMs });
        return { action: answer.action, ...(answer.content ? { content: answer.content as Record<string, unknown> } : {}) };
      },
    };
  }

  #relay(notification: Notification): void {
    if (this.#closed) return;
    const { router } = this.#options;
    const params = (notification.params ?? {}) as Record<string, unknown>;
    if (notification.method === 'notifications/message' && !router.wantsLog(this.sessionId, String(params.level))) return;
    if (notification.method === 'notifications/resources/updated' && !router.isSubscribed(this.sessionId, String(params.uri))) return;
    this.server.notification(notification as ServerNotification).catch((error: unknown) => {
      this.#options.logger.debug({ session: this.sessionId, method: notification.method, err: errorMessage(error) }, 'could not relay a notification');
    });
  }
}

/** The method a request schema of the SDK is for. */
function methodOf(schema: unknown): string {
  return (schema as { shape: { method: { value: string } } }).shape.method.value;
}

/**
 * Runs a forwarding handler and turns upstream failures into the JSON-RPC error the agent
 * would have got from the upstream itself (without the SDK's "MCP error" prefix).
 */
async function relay<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof JsonRpcError) throw error;
    if (error instanceof McpError) {
      const prefix = `MCP error ${error.code}: `;
      const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
      throw Object.assign(new JsonRpcError(error.code, message), error.data !== undefined ? { data: error.data } : {});
    }
    if (error instanceof GatewayError) throw new JsonRpcError(-32603, error.message);
    throw error;
  }
}
