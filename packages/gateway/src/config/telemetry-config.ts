import { parseDuration } from '@tollgate/policy';
import type { TelemetryConfig } from './gateway-config.js';

/** `telemetry` as the file has it (after schema validation). */
export interface RawTelemetry {
  service_name?: string;
  resource_attributes?: Record<string, string>;
  otlp: { endpoint: string; headers?: Record<string, string>; timeout?: string; max_concurrent_exports?: number };
  traces?: {
    enabled?: boolean;
    endpoint?: string;
    sample_ratio?: number;
    follow_agent_sampling?: boolean;
    max_queue_size?: number;
    max_export_batch_size?: number;
    schedule_delay?: string;
    arguments_sha256?: boolean;
  };
  metrics?: { enabled?: boolean; endpoint?: string; interval?: string };
}

/** The defaults of `telemetry`. */
export const TELEMETRY_DEFAULTS = Object.freeze({
  serviceName: 'tollgate-gateway',
  exportTimeoutMs: 5000,
  maxConcurrentExports: 2,
  sampleRatio: 1,
  maxQueueSize: 2048,
  maxExportBatchSize: 512,
  scheduleDelayMs: 1000,
  metricsIntervalMs: 60_000,
});

/**
 * Checks and defaults `telemetry`: the signals' URLs (no credentials in them: they go in
 * `otlp.headers`, which are never logged), a batch no larger than the queue, a metrics interval
 * no shorter than the export timeout, and at least one signal exported. Problems are reported
 * through `at`; undefined when the file has no `telemetry` section.
 */
export function resolveTelemetry(raw: RawTelemetry | undefined, at: (pointer: string, message: string) => void): TelemetryConfig | undefined {
  if (raw === undefined) return undefined;
  const url = (value: string, pointer: string, name: string): string => {
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      at(pointer, `${name} is not a URL (got "${value}"): use one like "http://127.0.0.1:4318"`);
      return value;
    }
    if (parsed.username !== '' || parsed.password !== '') {
      at(pointer, `${name} must not hold credentials: put them in telemetry.otlp.headers, e.g. { "authorization": "Bearer \${OTLP_TOKEN}" }`);
    }
    return parsed.href;
  };
  const base = url(raw.otlp.endpoint, '/telemetry/otlp/endpoint', 'telemetry.otlp.endpoint').replace(/\/+$/, '');
  const exportTimeoutMs = raw.otlp.timeout ? parseDuration(raw.otlp.timeout) : TELEMETRY_DEFAULTS.exportTimeoutMs;
  const traces = raw.traces ?? {};
  const metrics = raw.metrics ?? {};
  const tracesOn = traces.enabled ?? true;
  const metricsOn = metrics.enabled ?? true;
  if (!tracesOn && !metricsOn) at('/telemetry', 'telemetry exports nothing with traces.enabled and metrics.enabled both false: remove the telemetry section instead');
  const maxQueueSize = traces.max_queue_size ?? TELEMETRY_DEFAULTS.maxQueueSize;
  const maxExportBatchSize = traces.max_export_batch_size ?? Math.min(TELEMETRY_DEFAULTS.maxExportBatchSize, maxQueueSize);
  if (maxExportBatchSize > maxQueueSize) {
    at('/telemetry/traces/max_export_batch_size', `telemetry.traces.max_export_batch_size (${maxExportBatchSize}) must not be more than telemetry.traces.max_queue_size (${maxQueueSize})`);
  }
  const intervalMs = metrics.interval ? parseDuration(metrics.interval) : TELEMETRY_DEFAULTS.metricsIntervalMs;
  if (metricsOn && intervalMs < exportTimeoutMs) {
    at(metrics.interval ? '/telemetry/metrics/interval' : '/telemetry/otlp/timeout', `telemetry.metrics.interval (${intervalMs} ms) must be at least telemetry.otlp.timeout (${exportTimeoutMs} ms): an export may take that long`);
  }
  // The base endpoint gets each signal's path, as OTEL_EXPORTER_OTLP_ENDPOINT does.
  const tracesUrl = traces.endpoint ? url(traces.endpoint, '/telemetry/traces/endpoint', 'telemetry.traces.endpoint') : `${base}/v1/traces`;
  const metricsUrl = metrics.endpoint ? url(metrics.endpoint, '/telemetry/metrics/endpoint', 'telemetry.metrics.endpoint') : `${base}/v1/metrics`;
  return {
    serviceName: raw.service_name ?? TELEMETRY_DEFAULTS.serviceName,
    resourceAttributes: { ...(raw.resource_attributes ?? {}) },
    headers: { ...(raw.otlp.headers ?? {}) },
    exportTimeoutMs,
    maxConcurrentExports: raw.otlp.max_concurrent_exports ?? TELEMETRY_DEFAULTS.maxConcurrentExports,
    traces: tracesOn
      ? {
          url: tracesUrl,
          sampleRatio: traces.sample_ratio ?? TELEMETRY_DEFAULTS.sampleRatio,
          followAgentSampling: traces.follow_agent_sampling ?? true,
          maxQueueSize,
          maxExportBatchSize,
          scheduleDelayMs: traces.schedule_delay ? parseDuration(traces.schedule_delay) : TELEMETRY_DEFAULTS.scheduleDelayMs,
          argumentsSha256: traces.arguments_sha256 ?? false,
        }
      : undefined,
    metrics: metricsOn ? { url: metricsUrl, intervalMs } : undefined,
  };
}
