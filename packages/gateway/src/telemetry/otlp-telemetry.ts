import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Counter, type Histogram, type Span, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { canonicalDigest } from '@tollgate/policy';
import type { Logger } from 'pino';
import type { TelemetryConfig } from '../config/gateway-config.js';
import { GatewayError, errorMessage } from '../gateway-error.js';
import type { GatewayEvent } from '../ledger/decision-sink.js';
import { JsonRpcError, REFUSAL_META_KEY } from '../pipeline/call-result.js';
import type { Telemetry, TelemetryDependencies, TelemetryMetrics, ToolCallStart, UpstreamCallStart } from './telemetry.js';

/** The instrumentation scope's name (the tracer's and the meter's). */
const SCOPE = '@tollgate/gateway';

/** Bucket bounds of the gateway's own latency histograms (s), as Prometheus has them. */
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Bucket bounds the MCP semantic conventions give their operation durations (s). */
const MCP_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/** A span's bounds: an agent chooses tool names and trace state, so nothing on a span grows without limit. */
const SPAN_LIMITS = { attributeValueLengthLimit: 512, attributeCountLimit: 64, eventCountLimit: 32, attributePerEventCountLimit: 16, linkCountLimit: 0 };
/** How often export failures are logged at most (they are counted every time). */
const FAILURE_LOG_INTERVAL_MS = 60_000;

/** The agent's `_meta` as a carrier of W3C trace context: only string values count. */
const META_GETTER: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = Object.hasOwn(carrier, key) ? carrier[key] : undefined;
    return typeof value === 'string' ? value : undefined;
  },
};
const META_SETTER: TextMapSetter<Record<string, unknown>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/** One agent `tools/call` in progress: its span, and what the gateway learnt of it on the way. */
interface CallScope {
  readonly span: Span;
  /** The context whose active span is {@link span}: the parent of the call's child spans. */
  readonly context: Context;
  /** The ledger's call id, from the call's first decision event. */
  callId: string | undefined;
  /** The code of the last decision recorded. */
  decisionCode: string | undefined;
  /** Set once the call was sent upstream: its result is then the upstream's, not the gateway's. */
  forwarded: boolean;
  /** Why the upstream could not be reached (`upstream.unavailable`), when it could not. */
  upstreamFailure: string | undefined;
  ended: boolean;
}

/**
 * {@link Telemetry} on the OpenTelemetry SDK, exporting OTLP/HTTP (JSON): a tracer provider with
 * a bounded batch span processor, and a meter provider read periodically. Nothing is registered
 * globally (several gateways may share a process, each with its own providers): spans are
 * parented explicitly, and the call in progress is found through this instance's own
 * `AsyncLocalStorage`.
 */
export class OtlpTelemetry implements Telemetry {
  readonly metrics: TelemetryMetrics;
  readonly #config: TelemetryConfig;
  readonly #logger: Logger;
  readonly #tracerProvider: TracerProvider | undefined;
  readonly #meterProvider: MeterProvider | undefined;
  readonly #tracer: ReturnType<TracerProvider['getTracer']> | undefined;
  readonly #propagator = new W3CTraceContextPropagator();
  readonly #scope = new AsyncLocalStorage<CallScope>();
  readonly #serverDuration: Histogram | undefined;
  readonly #clientDuration: Histogram | undefined;
  readonly #failures = { traces: { count: 0, loggedAt: -Infinity }, metrics: { count: 0, loggedAt: -Infinity } };
  #shutdown: Promise<void> | undefined;

  constructor(config: TelemetryConfig, deps: TelemetryDependencies) {
    this.#config = config;
    this.#logger = deps.logger.child({ component: 'telemetry' });
    const resource = resourceFromAttributes({
      ...config.resourceAttributes,
      'service.name': config.serviceName,
      'service.version': deps.serviceVersion,
      'service.instance.id': randomUUID(),
    });
    const exporterOptions = { headers: { ...config.headers }, timeoutMillis: config.exportTimeoutMs, concurrencyLimit: config.maxConcurrentExports };
    const report = (signal: 'traces' | 'metrics', result: ExportResult): void => {
      const ok = result.code === ExportResultCode.SUCCESS;
      deps.onexport?.(signal, ok);
      if (!ok) this.#failed(signal, result.error);
    };

    const traces = config.traces;
    if (traces) {
      const ratio = new TraceIdRatioBasedSampler(traces.sampleRatio);
      const sampler = traces.followAgentSampling ? new ParentBasedSampler({ root: ratio }) : new ParentBasedSampler({ root: ratio, remoteParentSampled: ratio, remoteParentNotSampled: ratio });
      const exporter = new ReportingTraceExporter({ ...exporterOptions, url: traces.url }, (result) => report('traces', result));
      this.#tracerProvider = new TracerProvider({
        resource,
        sampler,
        spanLimits: SPAN_LIMITS,
        spanProcessors: [
          new BatchSpanProcessor({
            exporter,
            maxQueueSize: traces.maxQueueSize,
            maxExportBatchSize: traces.maxExportBatchSize,
            scheduledDelayMillis: traces.scheduleDelayMs,
            exportTimeoutMillis: config.exportTimeoutMs,
          }),
        ],
      });
      this.#tracer = this.#tracerProvider.getTracer(SCOPE, deps.serviceVersion);
    }

    const metrics = config.metrics;
    if (metrics) {
      const exporter = new ReportingMetricExporter({ ...exporterOptions, url: metrics.url }, (result) => report('metrics', result));
      this.#meterProvider = new MeterProvider({
        resource,
        readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: metrics.intervalMs, exportTimeoutMillis: config.exportTimeoutMs })],
      });
      const meter = this.#meterProvider.getMeter(SCOPE, deps.serviceVersion);
      const decisions: Counter = meter.createCounter('tollgate.decisions', { description: 'Tool call decisions, by upstream, tool, effect and code.', unit: '{decision}' });
      const decisionDuration = meter.createHistogram('tollgate.decision.duration', {
        description: 'Time from receiving a tools/call to its decision being recorded (validation, policy, limits, ledger).',
        unit: 's',
        advice: { explicitBucketBoundaries: LATENCY_BUCKETS },
      });
      const upstreamDuration = meter.createHistogram('tollgate.upstream.duration', { description: 'Time the upstream took to answer a forwarded tools/call.', unit: 's', advice: { explicitBucketBoundaries: LATENCY_BUCKETS } });
      const commitDuration = meter.createHistogram('tollgate.ledger.commit.duration', { description: 'Time one ledger batch took to commit.', unit: 's', advice: { explicitBucketBoundaries: LATENCY_BUCKETS } });
      const batchSize = meter.createHistogram('tollgate.ledger.batch.size', { description: 'Events per ledger commit (group commit).', unit: '{event}', advice: { explicitBucketBoundaries: BATCH_BUCKETS } });
      this.#serverDuration = meter.createHistogram('mcp.server.operation.duration', {
        description: 'MCP request duration as observed on the receiver from the time it was received until the result or ack is sent.',
        unit: 's',
        advice: { explicitBucketBoundaries: MCP_BUCKETS },
      });
      this.#clientDuration = meter.createHistogram('mcp.client.operation.duration', {
        description: 'The duration of the MCP request as observed on the sender from the time it was sent until the response is received.',
        unit: 's',
        advice: { explicitBucketBoundaries: MCP_BUCKETS },
      });
      meter
        .createObservableGauge('tollgate.policy.revision', { description: 'The revision of the active policy bundle.', unit: '{revision}' })
        .addCallback((observe) => {
          const revision = deps.policyRevision();
          if (typeof revision === 'number') observe.observe(revision);
        });
      this.metrics = {
        decision(server, tool, effect, code, seconds) {
          decisions.add(1, { 'tollgate.server': server, 'gen_ai.tool.name': tool, 'tollgate.decision.effect': effect, ...(code ? { 'tollgate.decision.code': code } : {}) });
          decisionDuration.record(seconds, { 'tollgate.decision.effect': effect });
        },
        upstream(server, status, seconds) {
          upstreamDuration.record(seconds, { 'tollgate.server': server, 'tollgate.upstream.status': status });
        },
        ledgerBatch(events, seconds) {
          batchSize.record(events);
          commitDuration.record(seconds);
        },
      };
    } else {
      this.metrics = { decision: () => undefined, upstream: () => undefined, ledgerBatch: () => undefined };
    }
  }

  async toolCall<T>(call: ToolCallStart, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const attributes: Attributes = {
      'mcp.method.name': 'tools/call',
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': call.name,
      'jsonrpc.request.id': String(call.requestId),
      'mcp.session.id': call.sessionId,
      'network.transport': call.transport,
      'tollgate.agent.id': call.agentId,
    };
    const tracer = this.#tracer;
    if (!tracer) {
      let errorType: string | undefined;
      try {
        const result = await run();
        if ((result as { isError?: unknown } | undefined)?.isError === true) errorType = 'tool_error';
        return result;
      } catch (error) {
        errorType = errorTypeOf(error);
        throw error;
      } finally {
        this.#serverDuration?.record((performance.now() - started) / 1000, operationAttributes(call.known ? call.name : undefined, errorType));
      }
    }
    const parent = this.#parentOf(call.meta);
    const span = tracer.startSpan(call.known ? `tools/call ${call.name}` : 'tools/call', { kind: SpanKind.SERVER, attributes }, parent);
    if (span.isRecording() && this.#config.traces!.argumentsSha256) {
      // Taken here, before the call is decided, so that a hidden tool costs what an unknown one does.
      try {
        span.setAttribute('tollgate.arguments.sha256', canonicalDigest(call.arguments ?? {}));
      } catch {
        // Arguments with no canonical form (a non-finite number) are refused as invalid; they get no digest.
      }
    }
    const scope: CallScope = { span, context: trace.setSpan(parent, span), callId: undefined, decisionCode: undefined, forwarded: false, upstreamFailure: undefined, ended: false };
    let errorType: string | undefined;
    try {
      const result = await this.#scope.run(scope, run);
      const refusalCode = scope.forwarded ? undefined : refusalCodeOf(result);
      const code = scope.upstreamFailure ?? refusalCode ?? scope.decisionCode;
      if (code !== undefined) span.setAttribute('tollgate.decision.code', code);
      if ((result as { isError?: unknown } | undefined)?.isError === true) {
        errorType = 'tool_error';
        span.setStatus({ code: SpanStatusCode.ERROR, message: code ?? 'tool_error' });
      }
      return result;
    } catch (error) {
      errorType = errorTypeOf(error);
      if (error instanceof JsonRpcError) span.setAttribute('rpc.response.status_code', String(error.code));
      if (scope.decisionCode !== undefined) span.setAttribute('tollgate.decision.code', scope.decisionCode);
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
      throw error;
    } finally {
      if (errorType !== undefined) span.setAttribute('error.type', errorType);
      scope.ended = true;
      span.end();
      this.#serverDuration?.record((performance.now() - started) / 1000, operationAttributes(call.known ? call.name : undefined, errorType));
    }
  }

  async upstreamCall<T>(call: UpstreamCallStart, params: Readonly<Record<string, unknown>> | undefined, run: (params: Record<string, unknown>) => Promise<T>): Promise<T> {
    const scope = this.#scope.getStore();
    if (scope) scope.forwarded = true;
    const started = performance.now();
    const attributes: Attributes = {
      'mcp.method.name': 'tools/call',
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': call.tool,
      'network.transport': call.transport,
      'tollgate.server': call.server,
      ...(call.address !== undefined ? { 'server.address': call.address } : {}),
      ...(call.port !== undefined ? { 'server.port': call.port } : {}),
      ...(call.protocolVersion !== undefined ? { 'mcp.protocol.version': call.protocolVersion } : {}),
    };
    const span = this.#tracer && scope && !scope.ended ? this.#tracer.startSpan(`tools/call ${call.tool}`, { kind: SpanKind.CLIENT, attributes }, scope.context) : undefined;
    let forwarded: Record<string, unknown> = { ...(params ?? {}) };
    if (span) {
      // What the agent sent is not passed on as the upstream's parent: the gateway's own span is.
      // Without tracing (metrics only), the agent's context passes through untouched.
      const original = params?._meta;
      const meta: Record<string, unknown> = original !== null && typeof original === 'object' && !Array.isArray(original) ? { ...(original as Record<string, unknown>) } : {};
      delete meta.traceparent;
      delete meta.tracestate;
      this.#propagator.inject(trace.setSpan(ROOT_CONTEXT, span), meta, META_SETTER);
      forwarded = { ...forwarded, _meta: meta };
    }
    let errorType: string | undefined;
    try {
      const result = await run(forwarded);
      if ((result as { isError?: unknown } | undefined)?.isError === true) {
        errorType = 'tool_error';
        span?.setStatus({ code: SpanStatusCode.ERROR, message: 'tool_error' });
      }
      return result;
    } catch (error) {
      errorType = errorTypeOf(error);
      if (error instanceof GatewayError && scope) scope.upstreamFailure = error.code;
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'number') span?.setAttribute('rpc.response.status_code', String(code));
      span?.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
      throw error;
    } finally {
      if (errorType !== undefined) span?.setAttribute('error.type', errorType);
      span?.end();
      this.#clientDuration?.record((performance.now() - started) / 1000, { ...operationAttributes(call.tool, errorType), 'tollgate.server': call.server });
    }
  }

  ledgerAppend<T>(event: GatewayEvent, append: () => Promise<T>): Promise<T> {
    const scope = this.#scope.getStore();
    // Called at once, whatever happens below: the sink's order is the order of append() calls.
    const appended = append();
    if (!scope || scope.ended || !this.#tracer) return appended;
    const callId = 'callId' in event ? (event.callId ?? undefined) : undefined;
    if (event.type === 'decision') {
      // The first decision names the call; a timer that outlived another call runs in its scope, and is not its.
      scope.callId ??= event.callId;
      if (event.callId !== scope.callId) return appended;
      const span = scope.span;
      const code = typeof event.detail?.code === 'string' ? event.detail.code : undefined;
      scope.decisionCode = code;
      const revision = event.policyRevision === null ? undefined : Number(event.policyRevision);
      const decided: Attributes = {
        'tollgate.call.id': event.callId,
        'tollgate.server': event.server,
        'tollgate.decision.effect': event.effect,
        ...(event.rule !== null ? { 'tollgate.decision.rule': event.rule } : {}),
        ...(code !== undefined ? { 'tollgate.decision.code': code } : {}),
        ...(revision !== undefined && Number.isSafeInteger(revision) ? { 'tollgate.policy.revision': revision } : {}),
        ...(event.policyDigest !== null ? { 'tollgate.policy.digest': event.policyDigest } : {}),
        ...(event.approvalId ? { 'tollgate.approval.id': event.approvalId } : {}),
        ...(event.shadowEffect ? { 'tollgate.decision.shadow.effect': event.shadowEffect } : {}),
        ...(event.shadowRule ? { 'tollgate.decision.shadow.rule': event.shadowRule } : {}),
      };
      span.setAttributes(decided);
      span.addEvent('tollgate.decision', decided);
    } else {
      // A request for approval is filed by the call itself, before its held decision is recorded.
      if (event.type === 'approval.requested') scope.callId ??= event.callId;
      if (callId === undefined || callId !== scope.callId) return appended;
      if ('approvalId' in event) {
        // approval.requested, .granted, .denied, .expired of this call.
        scope.span.addEvent(`tollgate.${event.type}`, { 'tollgate.approval.id': event.approvalId });
        scope.span.setAttribute('tollgate.approval.id', event.approvalId);
      }
    }
    const child = this.#tracer.startSpan('tollgate.ledger.append', { kind: SpanKind.INTERNAL, attributes: { 'tollgate.ledger.event': event.type } }, scope.context);
    appended.then(
      () => child.end(),
      (error: unknown) => {
        child.setAttribute('error.type', 'ledger.unavailable');
        child.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
        child.end();
      },
    );
    return appended;
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      const bound = this.#config.exportTimeoutMs + 1000;
      let timer: NodeJS.Timeout | undefined;
      const stopped = Promise.allSettled([this.#tracerProvider?.shutdown(), this.#meterProvider?.shutdown()]);
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(resolve, bound, 'late');
        timer.unref();
      });
      if ((await Promise.race([stopped, late])) === 'late') this.#logger.warn({ timeoutMs: bound }, 'telemetry was not flushed in time; what was still queued is dropped');
      clearTimeout(timer);
    })();
    return this.#shutdown;
  }

  /** The parent of an agent's call: the remote span its `_meta.traceparent` names, else none. */
  #parentOf(meta: unknown): Context {
    if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return ROOT_CONTEXT;
    return this.#propagator.extract(ROOT_CONTEXT, meta as Record<string, unknown>, META_GETTER);
  }

  /** Logs an export failure, at most once a minute per signal, with how many there were since. */
  #failed(signal: 'traces' | 'metrics', error: Error | undefined): void {
    const failures = this.#failures[signal];
    failures.count++;
    const now = performance.now();
    if (now - failures.loggedAt < FAILURE_LOG_INTERVAL_MS) return;
    this.#logger.warn({ signal, failures: failures.count, err: error ? errorMessage(error) : 'unknown' }, 'telemetry export failed; calls are not affected, the data is dropped');
    failures.loggedAt = now;
    failures.count = 0;
  }
}

/** The attributes of an MCP operation-duration measurement. */
function operationAttributes(tool: string | undefined, errorType: string | undefined): Attributes {
  return {
    'mcp.method.name': 'tools/call',
    'gen_ai.operation.name': 'execute_tool',
    ...(tool !== undefined ? { 'gen_ai.tool.name': tool } : {}),
    ...(errorType !== undefined ? { 'error.type': errorType } : {}),
  };
}

/** `error.type` of a failed call: its JSON-RPC error code, the gateway's error code, or `_OTHER`. */
function errorTypeOf(error: unknown): string {
  if (error instanceof GatewayError) return error.code;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'number') return String(code);
  return '_OTHER';
}

/** The code of a refusal the gateway answered with (`_meta["tollgate/refusal"].code`). */
function refusalCodeOf(result: unknown): string | undefined {
  const refusal = (result as { _meta?: Record<string, unknown> } | undefined)?._meta?.[REFUSAL_META_KEY] as { code?: unknown } | undefined;
  return typeof refusal?.code === 'string' ? refusal.code : undefined;
}

/** The OTLP/HTTP span exporter, telling `onresult` how every export went. */
class ReportingTraceExporter extends OTLPTraceExporter {
  readonly #onresult: (result: ExportResult) => void;

  constructor(options: ConstructorParameters<typeof OTLPTraceExporter>[0], onresult: (result: ExportResult) => void) {
    super(options);
    this.#onresult = onresult;
  }

  override export(items: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    super.export(items, (result) => {
      this.#onresult(result);
      resultCallback(result);
    });
  }
}

/** The OTLP/HTTP metric exporter, telling `onresult` how every export went. */
class ReportingMetricExporter extends OTLPMetricExporter {
  readonly #onresult: (result: ExportResult) => void;

  constructor(options: ConstructorParameters<typeof OTLPMetricExporter>[0], onresult: (result: ExportResult) => void) {
    super(options);
    this.#onresult = onresult;
  }

  override export(items: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    super.export(items, (result) => {
      this.#onresult(result);
      resultCallback(result);
    });
  }
}
