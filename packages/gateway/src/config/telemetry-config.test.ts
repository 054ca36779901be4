import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../gateway-error.js';
import { parseGatewayConfig } from './config-loader.js';

const BASE = { listen: { stdio: true }, agent: { id: 'bot' }, upstreams: { x: { command: 'node' } }, policy: { dir: 'p' } };

function parse(telemetry: unknown, env: Record<string, string> = {}) {
  return parseGatewayConfig(JSON.stringify({ ...BASE, telemetry }), '/cfg/gateway.json', '/cfg', { env, readFile: () => { throw new Error('no files here'); } });
}

function problemsOf(telemetry: unknown): string[] {
  try {
    parse(telemetry);
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('config.invalid');
    return (error as GatewayError).problems.map((p) => p.message);
  }
  throw new Error('expected the configuration to be refused');
}

describe('gateway configuration: telemetry', () => {
  it('is off without the section: nothing to load', () => {
    expect(parseGatewayConfig(JSON.stringify(BASE), '/cfg/gateway.json').telemetry).toBeUndefined();
  });

  it('defaults everything but the endpoint, and appends each signal\'s path to it', () => {
    expect(parse({ otlp: { endpoint: 'http://127.0.0.1:4318/' } })).toMatchObject({
      telemetry: {
        serviceName: 'tollgate-gateway',
        resourceAttributes: {},
        headers: {},
        exportTimeoutMs: 5000,
        maxConcurrentExports: 2,
        traces: { url: 'http://127.0.0.1:4318/v1/traces', sampleRatio: 1, followAgentSampling: true, maxQueueSize: 2048, maxExportBatchSize: 512, scheduleDelayMs: 1000, argumentsSha256: false },
        metrics: { url: 'http://127.0.0.1:4318/v1/metrics', intervalMs: 60_000 },
      },
    });
    expect(parse({ otlp: { endpoint: 'https://collector.example.com/otlp' } }).telemetry?.traces?.url).toBe('https://collector.example.com/otlp/v1/traces');
  });

  it('takes every setting, signal URLs of their own, and headers with substituted secrets', () => {
    const telemetry = parse(
      {
        service_name: 'gw-eu',
        resource_attributes: { 'deployment.environment.name': 'prod' },
        otlp: { endpoint: 'http://collector:4318', headers: { authorization: 'Bearer ${OTLP_TOKEN}' }, timeout: '2s', max_concurrent_exports: 4 },
        traces: { endpoint: 'http://tempo:4318/v1/traces', sample_ratio: 0.25, follow_agent_sampling: false, max_queue_size: 100, max_export_batch_size: 10, schedule_delay: '200ms', arguments_sha256: true },
        metrics: { endpoint: 'http://mimir:4318/otlp/v1/metrics', interval: '15s' },
      },
      { OTLP_TOKEN: 'secret-token' },
    ).telemetry;
    expect(telemetry).toEqual({
      serviceName: 'gw-eu',
      resourceAttributes: { 'deployment.environment.name': 'prod' },
      headers: { authorization: 'Bearer secret-token' },
      exportTimeoutMs: 2000,
      maxConcurrentExports: 4,
      traces: { url: 'http://tempo:4318/v1/traces', sampleRatio: 0.25, followAgentSampling: false, maxQueueSize: 100, maxExportBatchSize: 10, scheduleDelayMs: 200, argumentsSha256: true },
      metrics: { url: 'http://mimir:4318/otlp/v1/metrics', intervalMs: 15_000 },
    });
  });

  it('exports only the signals left on; a small queue bounds the default batch', () => {
    const traces = parse({ otlp: { endpoint: 'http://c:4318' }, metrics: { enabled: false }, traces: { max_queue_size: 64 } }).telemetry!;
    expect(traces.metrics).toBeUndefined();
    expect(traces.traces).toMatchObject({ maxQueueSize: 64, maxExportBatchSize: 64 });
    expect(parse({ otlp: { endpoint: 'http://c:4318' }, traces: { enabled: false } }).telemetry!.traces).toBeUndefined();
  });

  it('refuses what would not work, naming the key and the fix', () => {
    expect(problemsOf({ otlp: { endpoint: 'http://c:4318' }, traces: { enabled: false }, metrics: { enabled: false } })).toEqual([expect.stringMatching(/exports nothing .*remove the telemetry section/)]);
    expect(problemsOf({ otlp: { endpoint: 'http://user:pw@c:4318' } })).toEqual([expect.stringMatching(/telemetry\.otlp\.endpoint must not hold credentials: put them in telemetry\.otlp\.headers/)]);
    expect(problemsOf({ otlp: { endpoint: 'http://c:4318' }, traces: { max_queue_size: 10, max_export_batch_size: 20 } })).toEqual([
      'telemetry.traces.max_export_batch_size (20) must not be more than telemetry.traces.max_queue_size (10)',
    ]);
    expect(problemsOf({ otlp: { endpoint: 'http://c:4318', timeout: '10s' }, metrics: { interval: '5s' } })).toEqual([expect.stringMatching(/telemetry\.metrics\.interval \(5000 ms\) must be at least telemetry\.otlp\.timeout \(10000 ms\)/)]);
  });

  it('refuses what the schema does not allow', () => {
    expect(problemsOf({})).toEqual([expect.stringMatching(/telemetry .*"otlp"/)]);
    expect(problemsOf({ otlp: { endpoint: 'grpc://c:4317' } })).toEqual([expect.stringMatching(/telemetry\.otlp\.endpoint must be an http:\/\/ or https:\/\/ URL/)]);
    expect(problemsOf({ otlp: { endpoint: 'http://c:4318' }, traces: { sample_ratio: 1.5 } })).toEqual([expect.stringMatching(/telemetry\.traces\.sample_ratio/)]);
    expect(problemsOf({ otlp: { endpoint: 'http://c:4318' }, metrics: { interval: 'often' } })).toEqual([expect.stringMatching(/telemetry\.metrics\.interval must be a duration/)]);
    expect(problemsOf({ otlp: { endpoint: 'http://c:4318' }, logs: {} })).toEqual([expect.stringMatching(/logs/)]);
  });

  it('loads the example of docs/gateway.md, "OpenTelemetry", as documented', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../../../docs/gateway.md', import.meta.url)), 'utf8');
    const start = doc.indexOf('<!-- telemetry-example -->');
    expect(start).toBeGreaterThan(0);
    const yaml = /```yaml\n([\s\S]*?)\n```/.exec(doc.slice(start))![1]!;
    const base = ['listen:', '  stdio: true', 'agent:', '  id: bot', 'upstreams:', '  x:', '    command: node', 'policy:', '  dir: p'].join('\n');
    const config = parseGatewayConfig(`${base}\n${yaml}\n`, '/cfg/gateway.yaml', '/cfg', { env: { OTLP_TOKEN: 't0k3n' }, readFile: () => '' });
    expect(config.telemetry).toEqual({
      serviceName: 'tollgate-gateway',
      resourceAttributes: { 'deployment.environment.name': 'production' },
      headers: { authorization: 'Bearer t0k3n' },
      exportTimeoutMs: 5000,
      maxConcurrentExports: 2,
      traces: { url: 'http://otel-collector:4318/v1/traces', sampleRatio: 0.1, followAgentSampling: true, maxQueueSize: 2048, maxExportBatchSize: 512, scheduleDelayMs: 1000, argumentsSha256: false },
      metrics: { url: 'http://otel-collector:4318/v1/metrics', intervalMs: 60_000 },
    });
  });
});
