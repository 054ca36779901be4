import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult, Result, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { ApprovalBinding, ApprovalRecord } from '@tollgate/ledger';
import { canonicalDigest, finiteCopy, isPendingDecision, nonFinitePaths, revisionText, type Agent, type ApprovalState, type CompiledPolicy, type Decision, type LimitStore, type PendingDecision, type ToolCall } from '@tollgate/policy';
import type { Logger } from 'pino';
import type { ApprovalDesk, ApprovalWait } from '../approvals/approval-desk.js';
import { DEFAULT_REQUEST_LIMITS } from '../config/gateway-config.js';
import { GatewayError, errorMessage } from '../gateway-error.js';
import type { AppendOptions, DecisionSink, GatewayEvent, JsonObject, JsonValue, OutcomeEvent } from '../ledger/decision-sink.js';
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
  /** Told when the call starts waiting for a human approval (a task-augmented call shows it as its status). */
  readonly onheld?: (approval: { readonly id: string; readonly expiresAt: Date }) => void;
  /**
   * Asks the agent's own user in-band (MCP elicitation, form mode); set only when the agent's
   * client declared it can. Used for rules whose approvers include `"user"`.
   */
  readonly elicit?: (request: { readonly message: string; readonly requestedSchema: Record<string, unknown> }, timeoutMs: number) => Promise<ElicitAnswer>;
}

/** What the agent's user answered to an elicitation. */
export interface ElicitAnswer {
  readonly action: 'accept' | 'decline' | 'cancel';
  readonly content?: Record<string, unknown>;
}

/** The approver a rule names to let the agent's own user decide, asked in-band by elicitation. */
export const USER_APPROVER = 'user';

/** The `params` of a `tools/call` request. */
export interface ToolCallParams {
  readonly name: string;
  readonly arguments?: Record<string, unknown>;
  readonly _meta?: Record<string, unknown>;
  readonly [key: string]: unknown;
}

/** How a {@link ToolCallPipeline} handles calls that need a human approval. */
export interface PipelineApprovals {
  readonly desk: ApprovalDesk;
  /** `hold`: the call waits and runs once granted; `retry`: the agent is told to repeat it. */
  readonly mode: 'hold' | 'retry';
  /** hold mode, no progress token: the longest a call is held before the retry answer (ms). */
  readonly holdMaxMs: number;
  /** hold mode with a progress token: how often `notifications/progress` is sent (ms). */
  readonly progressIntervalMs: number;
}

/** Dependencies of a {@link ToolCallPipeline}. */
export interface ToolCallPipelineOptions {
  readonly registry: UpstreamRegistry;
  readonly policies: PolicySource;
  readonly sink: DecisionSink;
  /**
   * Where every decision counts its limits (in memory, or shared in PostgreSQL); default: the
   * store each compiled policy was compiled with.
   */
  readonly limits?: LimitStore;
  readonly logger: Logger;
  readonly metrics?: GatewayMetrics;
  /**
   * The decision deadline (ms, default 5000): the limits and the decision's commit must be done
   * within it, or the call is refused (`decision.timeout`) and can never be forwarded later.
   */
  readonly decisionTimeoutMs?: number;
  /**
   * Human approval (DESIGN §5): where requests are filed and decided, and how agents wait.
   * Without it a call that needs approval is answered `approval.required` with nothing to approve.
   */
  readonly approvals?: PipelineApprovals;
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
  readonly #limits: LimitStore | undefined;
  readonly #logger: Logger;
  readonly #metrics: GatewayMetrics | undefined;
  readonly #decisionTimeoutMs: number;
  readonly #approvals: PipelineApprovals | undefined;
  readonly #awaitOutcome: boolean;
  readonly #newCallId: () => string;
  #inFlight = 0;
  #idle: Array<() => void> = [];
  #closing = false;
  readonly #pendingOutcomes = new Set<Promise<unknown>>();

  constructor(options: ToolCallPipelineOptions) {
    this.#registry = options.registry;
    this.#policies = options.policies;
    this.#sink = options.sink;
    this.#limits = options.limits;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#decisionTimeoutMs = options.decisionTimeoutMs ?? DEFAULT_REQUEST_LIMITS.decisionTimeoutMs;
    this.#approvals = options.approvals;
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
    // Held calls answer at once with the retry answer: their requests stay open.
    this.#approvals?.desk.interruptWaits();
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

    const request: ToolCall = { tool, args, agent: caller.agent, session: { id: caller.sessionId } };
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
    // A sink that keeps the counters counts them in the transaction that records the decision.
    if (this.#sink.appendCounted) {
      let step: Decision | PendingDecision;
      try {
        step = policy.prepare(request, { inputSchema: call.routed.tool.inputSchema });
      } catch (error) {
        this.#logger.error({ callId, server, tool, err: errorMessage(error) }, 'the policy could not decide');
        return this.#refuse(call, gatewayRefusal(GATEWAY_RULES.limitsUnavailable, 'limits.unavailable', 'the limit store could not be reached, so the call was not forwarded', policy));
      }
      if (isPendingDecision(step)) return this.#counted(call, policy, step, params, caller);
      if (step.effect === 'approval_required' && this.#approvals) return this.#approve(call, request, step, params, caller);
      if (step.effect !== 'allow') return this.#refuse(call, step);
      return this.#allow(call, step, params, caller);
    }
    const decided = await this.#decide(call, policy, request);
    if (!isDecision(decided)) return decided;
    if (decided.effect === 'approval_required' && this.#approvals) return this.#approve(call, request, decided, params, caller);
    if (decided.effect !== 'allow') return this.#refuse(call, decided);
    return this.#allow(call, decided, params, caller);
  }

  /**
   * Asks the policy, within the call's decision deadline. Answers the call itself (a recorded
   * refusal) when the limit store failed or was too slow.
   */
  async #decide(call: CallContext, policy: CompiledPolicy, request: ToolCall, approvals?: ApprovalState): Promise<Decision | CallToolResult> {
    const { callId, server, tool } = call.identity;
    try {
      const decided = await within(
        policy.decideAsync(request, {
          inputSchema: call.routed.tool.inputSchema,
          ...(this.#limits ? { limits: this.#limits } : {}),
          ...(approvals ? { approvals: () => approvals } : {}),
        }),
        call.deadline,
      );
      if (decided !== LATE) return decided;
      this.#logger.error({ callId, server, tool, timeoutMs: this.#decisionTimeoutMs }, 'the limits were not checked within the decision deadline; refusing the call');
      return this.#refuse(call, gatewayRefusal(GATEWAY_RULES.decisionTimeout, 'decision.timeout', `the limit store did not answer within ${this.#decisionTimeoutMs} ms, so the call was not forwarded`, policy));
    } catch (error) {
      this.#logger.error({ callId, server, tool, err: errorMessage(error) }, 'the policy could not decide (limit store unavailable?)');
      return this.#refuse(call, gatewayRefusal(GATEWAY_RULES.limitsUnavailable, 'limits.unavailable', 'the limit store could not be reached, so the call was not forwarded', policy));
    }
  }

  /**
   * A decision that waits for its limits, with a sink that keeps the counters: the sink counts
   * them and records the decision they lead to in one transaction, within the decision deadline;
   * then an allowed call is forwarded and a refusal answered (it is already on the record). If
   * the sink fails, nothing was counted or recorded, and the refusal (`limits.unavailable`) is
   * recorded like any other; if it is late, the call is refused (`decision.timeout`) and, should
   * the decision commit after all and have allowed it, an outcome says it was never forwarded.
   */
  async #counted(call: CallContext, policy: CompiledPolicy, step: PendingDecision, params: ToolCallParams, caller: Caller): Promise<CallToolResult> {
    const { identity, routed, started } = call;
    const { callId, server, tool } = identity;
    let decision: Decision | undefined;
    const recording = this.#sink.appendCounted!({
      limits: step.limits,
      event: (results) => this.#decisionEvent(call, (decision = step.finish(results)), false),
    });
    const t0 = performance.now();
    let recorded: unknown;
    try {
      recorded = await within(recording, call.deadline);
    } catch (error) {
      this.#metrics?.ledgerAppend((performance.now() - t0) / 1000, false);
      this.#logger.error({ callId, server, tool, err: errorMessage(error) }, 'the limits could not be counted with the decision (ledger or limit counters unavailable?)');
      return this.#refuse(call, gatewayRefusal(GATEWAY_RULES.limitsUnavailable, 'limits.unavailable', 'the limit store could not be reached, so the call was not forwarded', policy));
    }
    if (recorded === LATE) {
      this.#logger.error({ callId, server, tool, timeoutMs: this.#decisionTimeoutMs }, 'the limits and the decision were not recorded within the decision deadline; the call was not forwarded');
      this.#observe(server, tool, decision?.effect ?? 'allow', 'decision.timeout', started);
      this.#recordAbandoned(call, recording.then(() => {
        if (decision?.effect !== 'allow') throw new Error('not an allowed call');
      }));
      return refusal(`the ledger did not record the decision within ${this.#decisionTimeoutMs} ms, so the call was not forwarded and never will be`, {
        code: 'decision.timeout',
        rule: GATEWAY_RULES.decisionTimeout,
        decision_id: callId,
      }, routed.tool.outputSchema);
    }
    this.#metrics?.ledgerAppend((performance.now() - t0) / 1000, true);
    const d = decision!;
    if (d.effect !== 'allow') return this.#refusalAnswer(call, d);
    this.#observe(server, tool, 'allow', null, started);
    return this.#forward(routed, params, caller, identity);
  }

  /**
   * An allowed call: its decision is durable before it is forwarded; if it cannot be recorded,
   * or not in time, the call does not happen.
   */
  async #allow(call: CallContext, decision: Decision, params: ToolCallParams, caller: Caller): Promise<CallToolResult> {
    const { identity, routed, started } = call;
    const { callId, server, tool } = identity;
    const recording = this.#append(this.#decisionEvent(call, decision, false));
    let recorded: unknown;
    try {
      recorded = await within(recording, call.deadline);
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
    return this.#forward(routed, params, caller, identity);
  }

  /**
   * A call that needs a human approval (DESIGN §5). A granted, unused approval of exactly this
   * call (same server, tool, arguments, agent, policy revision and rule) is used — by exactly
   * one call across every replica — and the call is decided again with it (limits still apply).
   * A denied or expired one refuses the call once. Otherwise the call opens (or joins) the
   * request, and the held decision naming it is recorded; then, in retry mode, the agent is told
   * at once to repeat the call after a grant; in hold mode the call waits for the decision and
   * runs as soon as it is granted.
   */
  async #approve(call: CallContext, request: ToolCall, first: Decision, params: ToolCallParams, caller: Caller): Promise<CallToolResult> {
    const approvals = this.#approvals!;
    const { desk } = approvals;
    const { identity } = call;
    const argsSha256 = canonicalDigest(call.args);
    let decision = first;
    let current = call;
    for (let round = 0; ; round++) {
      const binding: ApprovalBinding = {
        server: identity.server,
        tool: identity.tool,
        argsSha256,
        agentId: identity.agentId,
        policyRevision: revisionText(decision.revision),
        policyDigest: decision.digest,
        rule: decision.rule!,
      };
      const policy = this.#policies.policyFor(identity.server);
      if (!policy) return this.#refuse(current, gatewayRefusal(GATEWAY_RULES.noPolicy, 'policy.unavailable', `no policy governs upstream "${identity.server}", so no call to it is forwarded`, undefined));
      let record: ApprovalRecord | undefined;
      try {
        const found = await within(desk.current(binding), current.deadline);
        if (found === LATE) return this.#refuse(current, gatewayRefusal(GATEWAY_RULES.decisionTimeout, 'decision.timeout', `the approval store did not answer within ${this.#decisionTimeoutMs} ms, so the call was not forwarded`, policy));
        record = found;
        if (record?.status === 'granted') {
          if (await desk.consume(record.id, identity.callId)) {
            const approved = await this.#decide(current, policy, request, { status: 'granted', id: record.id });
            if (!isDecision(approved)) {
              await desk.release(record.id, identity.callId).catch(() => undefined);
              return approved;
            }
            if (approved.effect === 'allow') return this.#allow(current, approved, params, caller);
            // Not run after all (a limit refused it): the grant stays for the next identical call.
            await desk.release(record.id, identity.callId).catch(() => undefined);
            return this.#refuse(current, approved);
          }
          // Another call used this grant first: this one asks anew.
          record = undefined;
        }
        if (record && (record.status === 'denied' || record.status === 'expired')) {
          const vote = record.votes.find((v) => v.decision === 'deny');
          const state: ApprovalState =
            record.status === 'denied' ? { status: 'denied', id: record.id, ...(vote ? { approver: vote.approver, reason: vote.reason } : {}) } : { status: 'expired', id: record.id };
          const refused = await this.#decide(current, policy, request, state);
          if (!isDecision(refused)) return refused;
          await desk.retire(record.id).catch(() => undefined);
          return this.#refuse(current, refused);
        }
      } catch (error) {
        this.#logger.error({ callId: identity.callId, server: identity.server, tool: identity.tool, err: errorMessage(error) }, 'the approval store could not be reached');
        return this.#refuse(current, gatewayRefusal(GATEWAY_RULES.approvalsUnavailable, 'approvals.unavailable', 'the approval store could not be reached, so the call was not forwarded', policy));
      }

      // No usable decision yet: open (or join) the request, and record the held decision.
      let opened: ApprovalRecord;
      try {
        const result = await within(
          desk.open({ binding, callId: identity.callId, sessionId: identity.sessionId, args: call.args as JsonValue, reason: decision.reason, requirement: decision.approval! }),
          current.deadline,
        );
        if (result === LATE) return this.#refuse(current, gatewayRefusal(GATEWAY_RULES.decisionTimeout, 'decision.timeout', `the approval request was not recorded within ${this.#decisionTimeoutMs} ms, so the call was not forwarded`, policy));
        opened = result.record;
      } catch (error) {
        this.#logger.error({ callId: identity.callId, server: identity.server, tool: identity.tool, err: errorMessage(error) }, 'could not open the approval request');
        return this.#refuse(current, gatewayRefusal(GATEWAY_RULES.approvalsUnavailable, 'approvals.unavailable', 'the approval request could not be opened and recorded, so the call was not forwarded', policy));
      }
      const held: Decision = { ...decision, approval_id: opened.id };
      let heldRecorded = false;
      // A rule that lets the agent's own user decide, and a client that can ask them: ask in-band first.
      if (caller.elicit && decision.approval?.approvers?.includes(USER_APPROVER) && opened.status === 'pending') {
        const recordedHeld = await this.#recordOnly(current, held);
        if (recordedHeld !== null) return recordedHeld;
        heldRecorded = true;
        if (await this.#askUser(opened, caller, identity.agentId)) {
          current = { ...call, deadline: performance.now() + this.#decisionTimeoutMs };
          continue;
        }
      }
      if (approvals.mode === 'retry') {
        return heldRecorded ? this.#pendingAnswer(current, held, opened, argsSha256) : this.#refuse(current, held, approvalRetryFields(opened, argsSha256), approvalText(held, opened));
      }
      if (!heldRecorded) {
        const recordedHeld = await this.#recordOnly(current, held);
        if (recordedHeld !== null) return recordedHeld;
      }

      const waited = await this.#hold(opened, caller);
      if (waited === 'timeout') return this.#pendingAnswer(current, held, opened, argsSha256, `held for ${Math.round(approvals.holdMaxMs / 1000)} s without a decision`);
      if (waited === 'closing') return this.#pendingAnswer(current, held, opened, argsSha256, 'the gateway is shutting down; the request stays open');
      if (waited === 'cancelled') return this.#pendingAnswer(current, held, opened, argsSha256, 'the call was cancelled; the request stays open');
      if (round >= MAX_APPROVAL_ROUNDS) return this.#pendingAnswer(current, held, opened, argsSha256, 'too many rounds');
      // Decided: the policy in force now decides again (it may have changed while the call waited).
      current = { ...call, deadline: performance.now() + this.#decisionTimeoutMs };
      const now = this.#policies.policyFor(identity.server);
      if (!now) return this.#refuse(current, gatewayRefusal(GATEWAY_RULES.noPolicy, 'policy.unavailable', `no policy governs upstream "${identity.server}", so no call to it is forwarded`, undefined));
      const again = await this.#decide(current, now, request);
      if (!isDecision(again)) return again;
      if (again.effect !== 'approval_required') return again.effect === 'allow' ? this.#allow(current, again, params, caller) : this.#refuse(current, again);
      decision = again;
    }
  }

  /**
   * hold mode: waits for the request's decision. With a progress token the call is kept alive
   * with `notifications/progress` every `progressIntervalMs` until the request is decided or
   * expires; without one it is held for at most `holdMaxMs`.
   */
  async #hold(record: ApprovalRecord, caller: Caller): Promise<ApprovalWait> {
    const { desk, holdMaxMs, progressIntervalMs } = this.#approvals!;
    const progress = caller.onprogress;
    const holdUntil = progress ? record.expiresAt.getTime() + 1 : Date.now() + holdMaxMs;
    caller.onheld?.({ id: record.id, expiresAt: record.expiresAt });
    let sent = 0;
    for (;;) {
      const until = progress ? Math.min(holdUntil, Date.now() + progressIntervalMs) : holdUntil;
      const waited = await desk.wait(record.id, until, caller.signal);
      if (waited !== 'timeout' || !progress || Date.now() >= holdUntil) return waited;
      progress({ progress: ++sent, message: `awaiting approval ${record.id} until ${record.expiresAt.toISOString()}` });
    }
  }

  /**
   * Asks the agent's own user whether this one call may run (MCP elicitation, form mode), until
   * the request expires, and records their answer as the vote of `user:<agent id>`. True when
   * they decided it (granted or denied); false when they did not answer, so that configured
   * approvers still can.
   */
  async #askUser(record: ApprovalRecord, caller: Caller, agentId: string): Promise<boolean> {
    const { desk } = this.#approvals!;
    const args = JSON.stringify(record.args);
    let answer: ElicitAnswer;
    try {
      answer = await caller.elicit!(
        {
          message:
            `The agent "${agentId}" asks to call ${record.tool} on ${record.server}: ${record.reason}\n` +
            `Arguments: ${args.length > 2000 ? `${args.slice(0, 2000)}…` : args}\n` +
            `Approve this call, once, with exactly these arguments?`,
          requestedSchema: {
            type: 'object',
            properties: {
              approve: { type: 'boolean', title: 'Approve this call', description: 'Run it once, with exactly these arguments' },
              reason: { type: 'string', title: 'Reason', description: 'Recorded with your decision' },
            },
            required: ['approve'],
          },
        },
        Math.max(1, record.expiresAt.getTime() - Date.now()),
      );
    } catch (error) {
      this.#logger.info({ approval: record.id, err: errorMessage(error) }, "the agent's user did not answer the approval request in-band");
      return false;
    }
    if (answer.action === 'cancel') return false;
    const grant = answer.action === 'accept' && answer.content?.approve === true;
    const given = typeof answer.content?.reason === 'string' && answer.content.reason.trim() !== '' ? answer.content.reason.slice(0, 2000) : null;
    const reason = given ?? (grant ? "approved in-band by the agent's user" : answer.action === 'decline' ? "declined by the agent's user" : "not approved by the agent's user");
    const outcome = await desk.vote(record.id, { kind: 'approver', id: `${USER_APPROVER}:${agentId}`, groups: [USER_APPROVER] }, grant ? 'grant' : 'deny', reason);
    if (outcome.status !== 200) this.#logger.warn({ approval: record.id, status: outcome.status, error: outcome.error }, "the agent's user's answer could not be recorded");
    return outcome.status === 200;
  }

  /** The answer to a held call that is not decided yet: the retry answer for the same approval. */
  #pendingAnswer(call: CallContext, held: Decision, record: ApprovalRecord, argsSha256: string, why?: string): CallToolResult {
    this.#observe(call.identity.server, call.identity.tool, held.effect, 'approval.required', call.started);
    return refusal(approvalText(held, record, why), { code: 'approval.required', rule: held.rule, decision_id: call.identity.callId, ...approvalRetryFields(record, argsSha256) }, call.routed.tool.outputSchema);
  }

  /** Records a decision without answering (a held call's); answers when the ledger failed. */
  async #recordOnly(call: CallContext, decision: Decision): Promise<CallToolResult | null> {
    const { callId, server, tool } = call.identity;
    let recorded: unknown;
    try {
      recorded = await within(this.#append(this.#decisionEvent(call, decision, false)), call.deadline);
    } catch (error) {
      this.#logger.error({ callId, server, tool, err: errorMessage(error) }, 'the ledger could not record a held decision');
      this.#observe(server, tool, decision.effect, 'ledger.unavailable', call.started);
      return refusal('the ledger could not record the decision, so the call was not forwarded', { code: 'ledger.unavailable', rule: decision.rule, decision_id: callId }, call.routed.tool.outputSchema);
    }
    if (recorded !== LATE) return null;
    this.#observe(server, tool, decision.effect, 'decision.timeout', call.started);
    return refusal(`the ledger did not record the decision within ${this.#decisionTimeoutMs} ms, so the call was not forwarded`, { code: 'decision.timeout', rule: decision.rule, decision_id: callId }, call.routed.tool.outputSchema);
  }

  /**
   * The one path of every refusal: the decision is recorded (within the decision deadline)
   * before the agent hears of it. A refusal the ledger could not record is answered as
   * `ledger.unavailable` (or `decision.timeout`): nothing is forwarded either way.
   */
  async #refuse(call: CallContext, decision: CallDecision, fields: Record<string, unknown> = {}, text?: string): Promise<CallToolResult> {
    const { identity, routed, started } = call;
    const { callId, server, tool } = identity;
    const outputSchema = routed.tool.outputSchema;
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
    return this.#refusalAnswer(call, decision, fields, text);
  }

  /** The answer to a refusal that is on the record. */
  #refusalAnswer(call: CallContext, decision: CallDecision, fields: Record<string, unknown> = {}, text?: string): CallToolResult {
    const { identity, routed, started } = call;
    const { callId, server, tool } = identity;
    const code = refusalCode(decision);
    this.#observe(server, tool, decision.effect, code, started);
    const d = decision as Partial<Decision>;
    const extra: Record<string, unknown> = {};
    if (d.retry_after !== undefined) extra.retry_after = d.retry_after;
    if (d.approval) {
      extra.approvers = d.approval.approvers;
      extra.approval_timeout_ms = d.approval.timeout_ms;
    }
    if (d.errors) extra.errors = d.errors;
    if (d.approval_id !== undefined) extra.approval_id = d.approval_id;
    return refusal(text ?? decision.reason, { code, rule: decision.rule, decision_id: callId, ...extra, ...fields }, routed.tool.outputSchema);
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
   * the caller waits for it, the result's digest is computed after the answer is on its way
   * (on the next turn of the event loop), and the outcome is appended as deferred: the ledger
   * commits it with the next decision rather than on its own, so no decision waits behind its
   * commit.
   */
  #outcome(event: OutcomeEvent, result?: unknown): Promise<void> {
    const p = this.#awaitOutcome
      ? this.#recordOutcome(event, result)
      : new Promise<void>((done) => setImmediate(() => void this.#recordOutcome(event, result).then(done)));
    this.#pendingOutcomes.add(p);
    void p.finally(() => this.#pendingOutcomes.delete(p));
    return p;
  }

  #recordOutcome(event: OutcomeEvent, result: unknown): Promise<void> {
    if (result !== undefined) {
      try {
        event.resultSha256 = canonicalDigest(result);
      } catch (error) {
        event.detail = { ...(event.detail ?? {}), digest_error: errorMessage(error) };
      }
    }
    return this.#append(event, { defer: !this.#awaitOutcome }).then(
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
      policyRevision: revisionText(decision.revision),
      policyDigest: decision.digest,
      ...(d.approval_id !== undefined ? { approvalId: d.approval_id } : {}),
      ...(shadow ? { shadowEffect: shadow.effect, shadowRule: shadow.rule } : {}),
      detail: Object.keys(detail).length > 0 ? detail : null,
    };
  }

  async #append(event: GatewayEvent, options?: AppendOptions): Promise<void> {
    const t0 = performance.now();
    try {
      await (options ? this.#sink.append(event, options) : this.#sink.append(event));
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

/** Tells a policy's decision from an answer already given (a recorded refusal). */
function isDecision(value: Decision | CallToolResult): value is Decision {
  return typeof (value as { effect?: unknown }).effect === 'string';
}

/** How many times a held call goes round (decided, then lost a grant to an identical call, …) before it is answered. */
const MAX_APPROVAL_ROUNDS = 8;

/** The machine-readable part of an answer about a pending approval: what to repeat, and until when. */
function approvalRetryFields(record: ApprovalRecord, argsSha256: string): Record<string, unknown> {
  return {
    approval_id: record.id,
    expires_at: record.expiresAt.toISOString(),
    args_sha256: argsSha256,
    approvers: record.approvers,
    min_approvals: record.minApprovals,
  };
}

/** The words of an answer about a pending approval: what a human must do, and what the agent does then. */
function approvalText(held: Decision, record: ApprovalRecord, why?: string): string {
  return (
    `${held.reason} — approval ${record.id} is pending until ${record.expiresAt.toISOString()}${why ? ` (${why})` : ''}. ` +
    `Ask a human approver to decide it (tollgate approvals approve ${record.id}); once it is granted, make exactly this call again — ` +
    'the same tool with the same arguments — and it runs once.'
  );
}

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
