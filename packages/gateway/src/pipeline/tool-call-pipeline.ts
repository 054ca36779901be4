import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult, Result, Tool } from '@modelcontextprotocol/sdk/types.js';
import { canonicalDigest, type Agent, type CompiledPolicy, type Decision } from '@tollgate/policy';
import type { Logger } from 'pino';
import { GatewayError, errorMessage } from '../gateway-error.js';
import type { DecisionSink, GatewayEvent, JsonObject, JsonValue, OutcomeEvent } from '../ledger/decision-sink.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { PolicySource } from '../policy/policy-source.js';
import type { RoutedTool, UpstreamRegistry } from '../upstream/upstream-registry.js';
import { ArgumentValidator } from './argument-validator.js';
import { refusal, unknownTool, type RefusalCode } from './call-result.js';

/** Who is calling, and how to reach them while the call runs. */
export interface Caller {
  readonly agent: Agent;
  /** The MCP session (policy scope `session`; the ledger's `session_id`). */
  readonly sessionId: string;
  /** Aborted when the agent cancels the call or goes away. */
  readonly signal?: AbortSignal;
  /** Relays upstream progress to the agent; set only when the agent sent a progress token. */
  readonly onprogress?: (progress: { progress: number; total?: number; message?: string }) => void;
}

/** The `params` of a `tools/call` request. */
export interface ToolCallParams {
  readonly name: string;
  readonly arguments?: Record<string, unknown>;
  readonly _meta?: Record<string, unknown>;
  readonly [key: string]: unknown;
}

/** Dependencies of a {@link ToolCallPipeline}. */
export interface ToolCallPipelineOptions {
  readonly registry: UpstreamRegistry;
  readonly policies: PolicySource;
  readonly sink: DecisionSink;
  readonly logger: Logger;
  readonly metrics?: GatewayMetrics;
  readonly validator?: ArgumentValidator;
  /** Wait for the outcome event's commit before answering (default false). */
  readonly awaitOutcome?: boolean;
  /** Makes call ids (default: random UUIDs). */
  readonly newCallId?: () => string;
}

/**
 * The decision pipeline of DESIGN §4 for `tools/list` and `tools/call`:
 * hidden tools are unknown; arguments are validated against the tool's input schema; the
 * upstream's policy decides; the decision is committed to the ledger; only then is an
 * allowed call forwarded, and its outcome recorded. Fails closed: a decision the ledger
 * could not record is never forwarded (`ledger.unavailable`).
 *
 * @example
 * const result = await pipeline.call({ name: 'cancel_order', arguments: { exchange_id: 'binance', id: '42' } }, { agent, sessionId });
 * result.structuredContent // { code: 'policy.denied', rule: 'tools.cancel_order.deny_if[0]', decision_id: '…' }
 */
export class ToolCallPipeline {
  readonly #registry: UpstreamRegistry;
  readonly #policies: PolicySource;
  readonly #sink: DecisionSink;
  readonly #logger: Logger;
  readonly #metrics: GatewayMetrics | undefined;
  readonly #validator: ArgumentValidator;
  readonly #awaitOutcome: boolean;
  readonly #newCallId: () => string;
  #inFlight = 0;
  #idle: Array<() => void> = [];
  #closing = false;
  readonly #pendingOutcomes = new Set<Promise<unknown>>();
  readonly #heldOutcomes: Array<{ event: OutcomeEvent; result: unknown; done: () => void }> = [];
  #holdTimer: NodeJS.Timeout | undefined;

  constructor(options: ToolCallPipelineOptions) {
    this.#registry = options.registry;
    this.#policies = options.policies;
    this.#sink = options.sink;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#validator = options.validator ?? new ArgumentValidator();
    this.#awaitOutcome = options.awaitOutcome ?? false;
    this.#newCallId = options.newCallId ?? randomUUID;
  }

  /** Calls being decided or forwarded right now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * The tools agents see: every upstream tool except those the policy hides or denies
   * whatever the arguments (DESIGN §4).
   */
  listTools(): Tool[] {
    const tools: Tool[] = [];
    for (const t of this.#registry.tools()) {
      const policy = this.#policies.policyFor(t.upstream.name);
      if (policy && policy.isListed(t.tool.name)) tools.push(t.exposed);
    }
    return tools;
  }

  /**
   * Decides, records and (when allowed) forwards one `tools/call`.
   * @throws JsonRpcError -32602 `Unknown tool` for a hidden or non-existent tool; the upstream's
   *   own JSON-RPC error when it answered with one.
   */
  async call(params: ToolCallParams, caller: Caller): Promise<CallToolResult> {
    const callId = this.#newCallId();
    if (this.#closing) {
      return refusal('the gateway is shutting down and takes no new calls; retry on another replica', { code: 'gateway.closing', rule: null, decision_id: callId });
    }
    this.#inFlight++;
    this.#metrics?.callsInFlight(1);
    try {
      return await this.#call(callId, params, caller);
    } finally {
      this.#inFlight--;
      this.#metrics?.callsInFlight(-1);
      if (this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  /**
   * Stops taking calls (new ones get `gateway.closing`), waits for the calls in flight and
   * their outcome events, or until `timeoutMs` passes. Resolves with the calls still running.
   */
  async drain(timeoutMs: number): Promise<number> {
    this.#closing = true;
    if (this.#inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#idle.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    this.#releaseOutcomes();
    await Promise.allSettled([...this.#pendingOutcomes]);
    return this.#inFlight;
  }

  async #call(callId: string, params: ToolCallParams, caller: Caller): Promise<CallToolResult> {
    const started = performance.now();
    const name = params.name;
    const routed = this.#registry.findTool(name);
    if (!routed) throw unknownTool(name);
    const server = routed.upstream.name;
    const tool = routed.tool.name;
    const policy = this.#policies.policyFor(server);
    const args = (params.arguments ?? {}) as Record<string, unknown>;
    const identity = { callId, agentId: caller.agent.id, sessionId: caller.sessionId, server, tool };

    // A policy must govern every upstream; without one nothing is forwarded.
    if (!policy) {
      this.#logger.error({ server }, 'no active policy for this upstream; refusing the call');
      return refusal(`no policy governs upstream "${server}"`, { code: 'policy.denied', rule: null, decision_id: callId });
    }

    // 1. Hidden before anything else, so that nothing about a hidden tool leaks.
    if (policy.hides(tool)) {
      const decision = policy.decide({ tool, args, agent: caller.agent, session: { id: caller.sessionId } });
      this.#observe(server, tool, decision.effect, decision.code, started);
      // Not awaited: the answer must look exactly like a non-existent tool's, timing included.
      this.#append(this.#decisionEvent(identity, args, decision)).catch((error: unknown) => {
        this.#logger.error({ callId, server, tool, err: errorMessage(error) }, 'could not record the decision about a hidden tool');
      });
      throw unknownTool(name);
    }

    // 2. Arguments against the tool's input schema (no coercion).
    const check = this.#validator.validate(routed.tool.inputSchema, params.arguments);
    if (!check.valid) {
      const reason = `invalid arguments for ${name}: ${check.message}`;
      const event = this.#decisionEvent(identity, args, null);
      event.effect = 'deny';
      event.rule = 'input_schema';
      event.reason = reason;
      event.policyRevision = revisionOf(policy);
      event.policyDigest = policy.digest;
      event.detail = { code: 'invalid_arguments', errors: check.errors.slice(0, 20) as JsonValue[] };
      return this.#refuse(event, 'invalid_arguments', reason, 'input_schema', undefined, server, tool, started);
    }

    // 3. The policy decides (limits may live in PostgreSQL, hence async).
    let decision: Decision;
    try {
      decision = await policy.decideAsync({ tool, args, agent: caller.agent, session: { id: caller.sessionId } });
    } catch (error) {
      this.#logger.error({ callId, server, tool, err: errorMessage(error) }, 'the policy could not decide (limit store unavailable?)');
      this.#observe(server, tool, 'deny', 'limits.unavailable', started);
      return refusal('the limit store could not be reached, so the call was not forwarded', { code: 'limits.unavailable', rule: null, decision_id: callId });
    }
    const event = this.#decisionEvent(identity, args, decision);
    if (decision.effect !== 'allow') {
      const code: RefusalCode = decision.effect === 'approval_required' ? 'approval.required' : decision.code === 'rate_limited' ? 'rate_limited' : 'policy.denied';
      return this.#refuse(event, code, decision.reason, decision.rule, decision, server, tool, started);
    }

    // 4. Durable decision first; if it cannot be recorded, the call does not happen.
    try {
      await this.#append(event);
    } catch (error) {
      this.#logger.error({ callId, server, tool, err: errorMessage(error) }, 'the ledger could not record the decision; the call was not forwarded');
      this.#observe(server, tool, 'allow', 'ledger.unavailable', started);
      return refusal('the ledger could not record the decision, so the call was not forwarded', { code: 'ledger.unavailable', rule: decision.rule, decision_id: callId });
    }
    this.#observe(server, tool, 'allow', null, started);

    // 5. Forward, then record the outcome.
    return this.#forward(routed, params, caller, identity);
  }

  async #forward(routed: RoutedTool, params: ToolCallParams, caller: Caller, identity: OutcomeIdentity): Promise<CallToolResult> {
    const forwarded: Record<string, unknown> = { ...params, name: routed.tool.name };
    const sent = performance.now();
    let result: Result;
    try {
      result = await routed.upstream.request(
        { method: 'tools/call', params: forwarded },
        { signal: caller.signal, onprogress: caller.onprogress },
      );
    } catch (error) {
      const durationMs = performance.now() - sent;
      const status: OutcomeEvent['status'] = caller.signal?.aborted
        ? 'cancelled'
        : error instanceof McpError && error.code === ErrorCode.RequestTimeout
          ? 'timeout'
          : 'error';
      this.#metrics?.upstream(identity.server, status, durationMs / 1000);
      const recorded = this.#outcome({ type: 'outcome', ...identity, status, durationMs, reason: errorMessage(error).slice(0, 2000) });
      if (this.#awaitOutcome) await recorded;
      if (error instanceof GatewayError && error.code === 'upstream.unavailable') {
        return refusal(`${error.message}; the call may or may not have run`, { code: 'upstream.unavailable', rule: null, decision_id: identity.callId });
      }
      throw error;
    }
    const durationMs = performance.now() - sent;
    this.#metrics?.upstream(identity.server, 'ok', durationMs / 1000);
    const outcome: OutcomeEvent = {
      type: 'outcome',
      ...identity,
      status: 'ok',
      durationMs,
      ...((result as { isError?: unknown }).isError === true ? { detail: { is_error: true } } : {}),
    };
    // The result's digest is computed when the outcome is recorded, off the answer's path.
    const recorded = this.#outcome(outcome, result);
    if (this.#awaitOutcome) await recorded;
    return result as CallToolResult;
  }

  /**
   * Records an outcome; never rejects (a failure is logged: the call already happened). Unless
   * the caller waits for it, outcomes are held for up to {@link OUTCOME_HOLD_MS} (or until
   * {@link OUTCOME_BATCH} wait) and appended together: a few commits carry many outcomes, and
   * decisions — which calls wait for — rarely queue behind an outcome's commit.
   */
  #outcome(event: OutcomeEvent, result?: unknown): Promise<void> {
    const p = new Promise<void>((done) => {
      if (this.#awaitOutcome) {
        void this.#recordOutcome(event, result).then(done);
        return;
      }
      this.#heldOutcomes.push({ event, result, done });
      if (this.#heldOutcomes.length >= OUTCOME_BATCH) this.#releaseOutcomes();
      else this.#holdTimer ??= setTimeout(() => this.#releaseOutcomes(), OUTCOME_HOLD_MS);
    });
    this.#pendingOutcomes.add(p);
    void p.finally(() => this.#pendingOutcomes.delete(p));
    return p;
  }

  #releaseOutcomes(): void {
    if (this.#holdTimer) {
      clearTimeout(this.#holdTimer);
      this.#holdTimer = undefined;
    }
    for (const { event, result, done } of this.#heldOutcomes.splice(0)) void this.#recordOutcome(event, result).then(done);
  }

  #recordOutcome(event: OutcomeEvent, result: unknown): Promise<void> {
    if (result !== undefined) {
      try {
        event.resultSha256 = canonicalDigest(result);
      } catch (error) {
        event.detail = { ...(event.detail ?? {}), digest_error: errorMessage(error) };
      }
    }
    return this.#append(event).then(
      () => undefined,
      (error: unknown) => {
        this.#logger.error({ callId: event.callId, server: event.server, tool: event.tool, err: errorMessage(error) }, 'could not record the outcome of a call');
      },
    );
  }

  async #refuse(
    event: DecisionEventDraft,
    code: RefusalCode,
    reason: string,
    rule: string | null,
    decision: Decision | undefined,
    server: string,
    tool: string,
    started: number,
  ): Promise<CallToolResult> {
    try {
      await this.#append(event);
    } catch (error) {
      this.#logger.error({ callId: event.callId, server, tool, err: errorMessage(error) }, 'the ledger could not record a refusal');
      this.#observe(server, tool, event.effect, 'ledger.unavailable', started);
      return refusal('the ledger could not record the decision, so the call was not forwarded', { code: 'ledger.unavailable', rule, decision_id: event.callId });
    }
    this.#observe(server, tool, event.effect, code, started);
    const extra: Record<string, unknown> = {};
    if (decision?.retry_after !== undefined) extra.retry_after = decision.retry_after;
    if (decision?.approval) {
      extra.approvers = decision.approval.approvers;
      extra.approval_timeout_ms = decision.approval.timeout_ms;
    }
    return refusal(reason, { code, rule, decision_id: event.callId, ...extra });
  }

  #decisionEvent(identity: OutcomeIdentity, args: Record<string, unknown>, decision: Decision | null): DecisionEventDraft {
    const detail: JsonObject = {};
    if (decision?.code) detail.code = decision.code;
    if (decision?.retry_after !== undefined) detail.retry_after = decision.retry_after;
    if (decision?.limits) detail.limits = decision.limits as unknown as JsonValue;
    if (decision?.approval) detail.approval = decision.approval as unknown as JsonValue;
    const shadow = decision?.shadow;
    // The would-be effect and rule have columns of their own; its reason and code are kept here.
    if (shadow) detail.shadow = { reason: shadow.reason, code: shadow.code };
    return {
      type: 'decision',
      ...identity,
      args: args as JsonValue,
      effect: decision?.effect ?? 'deny',
      rule: decision?.rule ?? null,
      reason: decision?.reason ?? '',
      policyRevision: decision ? (decision.revision === null ? null : String(decision.revision)) : null,
      policyDigest: decision?.digest ?? '',
      ...(decision?.approval_id !== undefined ? { approvalId: decision.approval_id } : {}),
      ...(shadow ? { shadowEffect: shadow.effect, shadowRule: shadow.rule } : {}),
      detail: Object.keys(detail).length > 0 ? detail : null,
    };
  }

  async #append(event: GatewayEvent): Promise<void> {
    const t0 = performance.now();
    try {
      await this.#sink.append(event);
      this.#metrics?.ledgerAppend((performance.now() - t0) / 1000, true);
    } catch (error) {
      this.#metrics?.ledgerAppend((performance.now() - t0) / 1000, false);
      throw error;
    }
  }

  #observe(server: string, tool: string, effect: string, code: string | null, started: number): void {
    this.#metrics?.decision(server, tool, effect, code, (performance.now() - started) / 1000);
  }
}

/** Longest an outcome is held back to be committed with others (milliseconds). */
const OUTCOME_HOLD_MS = 5;
/** Held outcomes are released at once when this many are waiting. */
const OUTCOME_BATCH = 128;

type OutcomeIdentity = { callId: string; agentId: string; sessionId: string; server: string; tool: string };
type DecisionEventDraft = Extract<GatewayEvent, { type: 'decision' }>;

function revisionOf(policy: CompiledPolicy): string | null {
  return policy.revision === null ? null : String(policy.revision);
}
