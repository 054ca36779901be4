import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult, Result, Tool } from '@modelcontextprotocol/sdk/types.js';
import { canonicalDigest, finiteCopy, nonFinitePaths, type Agent, type CompiledPolicy, type Decision } from '@tollgate/policy';
import type { Logger } from 'pino';
import { DEFAULT_REQUEST_LIMITS } from '../config/gateway-config.js';
import { GatewayError, errorMessage } from '../gateway-error.js';
import type { DecisionSink, GatewayEvent, JsonObject, JsonValue, OutcomeEvent } from '../ledger/decision-sink.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { PolicySource } from '../policy/policy-source.js';
import type { RoutedTool, UpstreamRegistry } from '../upstream/upstream-registry.js';
import { refusal, unknownTool } from './call-result.js';
import { GATEWAY_RULES, gatewayRefusal, refusalCode, type CallDecision } from './gateway-decision.js';

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
  /**
   * The decision deadline (ms, default 5000): the limits and the decision's commit must be done
   * within it, or the call is refused (`decision.timeout`) and can never be forwarded later.
   */
  readonly decisionTimeoutMs?: number;
  /** Wait for the outcome event's commit before answering (default false). */
  readonly awaitOutcome?: boolean;
  /** Makes call ids (default: random UUIDs). */
  readonly newCallId?: () => string;
}

/**
 * The decision pipeline of DESIGN §4 for `tools/list` and `tools/call`: find the tool, let its
 * upstream's policy decide (hidden, then the arguments against the tool's input schema, then
 * the rules and limits), record the decision, and only then forward an allowed call and
 * record its outcome. Every refusal — the policy's, and the gateway's own (shutting down, no
 * policy, limits unavailable, decision deadline passed) — is a decision with a stable rule id
 * and goes through one path that records it before the agent is answered. Fails closed: a
 * decision the ledger could not record is never forwarded (`ledger.unavailable`), and one it
 * did not record within the decision deadline never will be (`decision.timeout`).
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
  readonly #decisionTimeoutMs: number;
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
    this.#decisionTimeoutMs = options.decisionTimeoutMs ?? DEFAULT_REQUEST_LIMITS.decisionTimeoutMs;
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
   * Stops taking calls (new ones are refused with `gateway.closing`, and recorded), waits for
   * the calls in flight and their outcome events, or until `timeoutMs` passes. Resolves with
   * the calls still running.
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
    const deadline = started + this.#decisionTimeoutMs;
    const routed = this.#registry.findTool(params.name);
    if (!routed) throw unknownTool(params.name);
    const server = routed.upstream.name;
    const tool = routed.tool.name;
    const policy = this.#policies.policyFor(server);
    const args = (params.arguments ?? {}) as Record<string, unknown>;
    const call: CallContext = { identity: { callId, agentId: caller.agent.id, sessionId: caller.sessionId, server, tool }, args, routed, started, deadline };

    if (this.#closing) {
      return this.#refuse(call, gatewayRefusal(GATEWAY_RULES.closing, 'gateway.closing', 'the gateway is shutting down and takes no new calls; retry on another replica', policy));
    }
    // A policy must govern every upstream; without one nothing is forwarded.
    if (!policy) {
      this.#logger.error({ server }, 'no active policy for this upstream; refusing the call');
      return this.#refuse(call, gatewayRefusal(GATEWAY_RULES.noPolicy, 'policy.unavailable', `no policy governs upstream "${server}", so no call to it is forwarded`, undefined));
    }

    const request = { tool, args, agent: caller.agent, session: { id: caller.sessionId } };
    // 1. Hidden before anything else, so that nothing about a hidden tool leaks.
    if (policy.hides(tool)) {
      const decision = policy.decide(request);
      this.#observe(server, tool, decision.effect, decision.code, started);
      // Not awaited: the answer must look exactly like a non-existent tool's, timing included.
      this.#append(this.#decisionEvent(call, decision, nonFinitePaths(args).length > 0)).catch((error: unknown) => {
        this.#logger.error({ callId, server, tool, err: errorMessage(error) }, 'could not record the decision about a hidden tool');
      });
      throw unknownTool(params.name);
    }

    // 2.–7. The policy decides: the arguments against the tool's input schema as the upstream
    // advertises it, then the rules and the limits (which may live in PostgreSQL, hence async).
    let decision: Decision;
    try {
      const decided = await within(policy.decideAsync(request, { inputSchema: routed.tool.inputSchema }), deadline);
      if (decided === LATE) {
        this.#logger.error({ callId, server, tool, timeoutMs: this.#decisionTimeoutMs }, 'the limits were not checked within the decision deadline; refusing the call');
        return this.#refuse(call, gatewayRefusal(GATEWAY_RULES.decisionTimeout, 'decision.timeout', `the limit store did not answer within ${this.#decisionTimeoutMs} ms, so the call was not forwarded`, policy));
      }
      decision = decided;
    } catch (error) {
      this.#logger.error({ callId, server, tool, err: errorMessage(error) }, 'the policy could not decide (limit store unavailable?)');
      return this.#refuse(call, gatewayRefusal(GATEWAY_RULES.limitsUnavailable, 'limits.unavailable', 'the limit store could not be reached, so the call was not forwarded', policy));
    }
    if (decision.effect !== 'allow') return this.#refuse(call, decision);

    // The decision is durable before the call is forwarded; if it cannot be recorded, or not in
    // time, the call does not happen.
    const recording = this.#append(this.#decisionEvent(call, decision, false));
    let recorded: unknown;
    try {
      recorded = await within(recording, deadline);
    } catch (error) {
      this.#logger.error({ callId, server, tool, err: errorMessage(error) }, 'the ledger could not record the decision; the call was not forwarded');
      this.#observe(server, tool, 'allow', 'ledger.unavailable', started);
      return refusal('the ledger could not record the decision, so the call was not forwarded', { code: 'ledger.unavailable', rule: decision.rule, decision_id: callId }, routed.tool.outputSchema);
    }
    if (recorded === LATE) {
      this.#logger.error({ callId, server, tool, timeoutMs: this.#decisionTimeoutMs }, 'the ledger did not record the decision within the decision deadline; the call was not forwarded');
      this.#observe(server, tool, 'allow', 'decision.timeout', started);
      this.#recordAbandoned(call, recording);
      return refusal(`the ledger did not record the decision within ${this.#decisionTimeoutMs} ms, so the call was not forwarded and never will be`, {
        code: 'decision.timeout',
        rule: GATEWAY_RULES.decisionTimeout,
        decision_id: callId,
      }, routed.tool.outputSchema);
    }
    this.#observe(server, tool, 'allow', null, started);

    // Forward, then record the outcome.
    return this.#forward(routed, params, caller, call.identity);
  }

  /**
   * The one path of every refusal: the decision is recorded (within the decision deadline)
   * before the agent hears of it. A refusal the ledger could not record is answered as
   * `ledger.unavailable` (or `decision.timeout`): nothing is forwarded either way.
   */
  async #refuse(call: CallContext, decision: CallDecision): Promise<CallToolResult> {
    const { identity, routed, started } = call;
    const { callId, server, tool } = identity;
    const outputSchema = routed.tool.outputSchema;
    const code = refusalCode(decision);
    let recorded: unknown;
    try {
      recorded = await within(this.#append(this.#decisionEvent(call, decision, (decision as Partial<Decision>).non_finite !== undefined)), call.deadline);
    } catch (error) {
      this.#logger.error({ callId, server, tool, err: errorMessage(error) }, 'the ledger could not record a refusal');
      this.#observe(server, tool, decision.effect, 'ledger.unavailable', started);
      return refusal('the ledger could not record the decision, so the call was not forwarded', { code: 'ledger.unavailable', rule: decision.rule, decision_id: callId }, outputSchema);
    }
    if (recorded === LATE) {
      this.#logger.error({ callId, server, tool }, 'the ledger did not record a refusal within the decision deadline');
      this.#observe(server, tool, decision.effect, 'decision.timeout', started);
      return refusal(`the ledger did not record the decision within ${this.#decisionTimeoutMs} ms, so the call was not forwarded`, {
        code: 'decision.timeout',
        rule: decision.rule,
        decision_id: callId,
      }, outputSchema);
    }
    this.#observe(server, tool, decision.effect, code, started);
    const d = decision as Partial<Decision>;
    const extra: Record<string, unknown> = {};
    if (d.retry_after !== undefined) extra.retry_after = d.retry_after;
    if (d.approval) {
      extra.approvers = d.approval.approvers;
      extra.approval_timeout_ms = d.approval.timeout_ms;
    }
    if (d.errors) extra.errors = d.errors;
    return refusal(decision.reason, { code, rule: decision.rule, decision_id: callId, ...extra }, outputSchema);
  }

  /**
   * An allowed decision whose commit outlived the deadline: the call was refused, so once the
   * decision is recorded after all, an outcome says it was never forwarded (the ledger then
   * shows no allowed call without an outcome).
   */
  #recordAbandoned(call: CallContext, recording: Promise<void>): void {
    recording.then(
      () =>
        this.#outcome({
          type: 'outcome',
          ...call.identity,
          status: 'cancelled',
          durationMs: 0,
          reason: `not forwarded: the decision was recorded after the ${this.#decisionTimeoutMs} ms decision deadline`,
          detail: { code: 'decision.timeout', forwarded: false },
        }),
      () => undefined,
    );
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
        return refusal(`${error.message}; the call may or may not have run`, { code: 'upstream.unavailable', rule: null, decision_id: identity.callId }, routed.tool.outputSchema);
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

  /**
   * The ledger event of a decision. Arguments holding non-finite numbers (refused as invalid)
   * are recorded with those numbers named as strings: RFC 8785, and so the ledger's digest, has
   * no representation for them, and the refusal must still be on the record.
   */
  #decisionEvent(call: CallContext, decision: CallDecision, nonFinite: boolean): DecisionEventDraft {
    // A gateway refusal has none of a policy decision's optional parts.
    const d = decision as Partial<Decision>;
    const detail: JsonObject = {};
    if (decision.code) detail.code = decision.code;
    if (d.retry_after !== undefined) detail.retry_after = d.retry_after;
    if (d.limits) detail.limits = d.limits as unknown as JsonValue;
    if (d.approval) detail.approval = d.approval as unknown as JsonValue;
    if (d.errors) detail.errors = d.errors as unknown as JsonValue;
    if (d.non_finite) detail.non_finite = d.non_finite as unknown as JsonValue;
    const shadow = d.shadow;
    // The would-be effect and rule have columns of their own; its reason and code are kept here.
    if (shadow) detail.shadow = { reason: shadow.reason, code: shadow.code };
    if (nonFinite && detail.non_finite === undefined) detail.non_finite = nonFinitePaths(call.args);
    return {
      type: 'decision',
      ...call.identity,
      args: (nonFinite ? finiteCopy(call.args) : call.args) as JsonValue,
      effect: decision.effect,
      rule: decision.rule,
      reason: decision.reason,
      policyRevision: decision.revision === null ? null : String(decision.revision),
      policyDigest: decision.digest,
      ...(d.approval_id !== undefined ? { approvalId: d.approval_id } : {}),
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

/** One call on its way through the pipeline. */
interface CallContext {
  readonly identity: OutcomeIdentity;
  readonly args: Record<string, unknown>;
  readonly routed: RoutedTool;
  /** `performance.now()` when the call arrived. */
  readonly started: number;
  /** `performance.now()` by which the limits and the decision's commit must be done. */
  readonly deadline: number;
}

/** What {@link within} resolves with when the deadline passed first. */
const LATE: unique symbol = Symbol('late');

/** `promise`'s value, or {@link LATE} if `deadline` (a `performance.now()` time) passes first. */
function within<T>(promise: Promise<T>, deadline: number): Promise<T | typeof LATE> {
  const left = deadline - performance.now();
  if (left <= 0) {
    promise.catch(() => undefined);
    return Promise.resolve(LATE);
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof LATE>((resolve) => {
    timer = setTimeout(resolve, left, LATE);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
