import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the receiver does with an export: take it, or accept the connection and never answer. */
export type ReceiverMode = 'ok' | 'hang';

/** One OTLP attribute value as OTLP/JSON encodes it. */
interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: AnyValue[] };
}

type KeyValues = Array<{ key: string; value: AnyValue }> | undefined;

/** A span as the receiver got it, its attributes decoded. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly name: string;
  /** OTLP's enum: 1 internal, 2 server, 3 client. */
  readonly kind: number;
  readonly attributes: Record<string, unknown>;
  /** OTLP's enum: 0 unset, 1 ok, 2 error. */
  readonly status: { readonly code: number; readonly message: string };
  readonly events: ReadonlyArray<{ readonly name: string; readonly attributes: Record<string, unknown> }>;
  readonly resource: Record<string, unknown>;
  readonly scope: string;
}

/** One data point of a metric, its attributes decoded. */
export interface ReceivedPoint {
  readonly attributes: Record<string, unknown>;
  /** A sum's or gauge's value. */
  readonly value?: number;
  /** A histogram's count and sum. */
  readonly count?: number;
  readonly sum?: number;
}

/** A real OTLP/HTTP (JSON) receiver on 127.0.0.1, as a collector would be, for the tests. */
export interface OtlpReceiver {
  /** Its base URL (`http://127.0.0.1:<port>`), what `telemetry.otlp.endpoint` names. */
  readonly url: string;
  mode: ReceiverMode;
  /** Every span received so far. */
  spans(): ReceivedSpan[];
  /** The data points of metric `name` in the latest export that had it. */
  metric(name: string): ReceivedPoint[] | undefined;
  /** The raw bodies of every export taken, for checking what was never sent. */
  readonly bodies: string[];
  /** Requests that arrived (taken or held), by path. */
  readonly arrivals: Map<string, number>;
  /** Content types the exports came with. */
  readonly contentTypes: Set<string>;
  /** Waits until `probe` holds (checked whenever an export arrives, and every 25 ms). */
  until<T>(what: string, probe: () => T | undefined | false, timeoutMs?: number): Promise<T>;
  /** Forgets what was received and what arrived. */
  clear(): void;
  close(): Promise<void>;
}

function decode(value: AnyValue | undefined): unknown {
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(decode);
  return undefined;
}

function attributesOf(list: KeyValues): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, decode(kv.value)]));
}

/**
 * Starts a receiver that takes `POST /v1/traces` and `POST /v1/metrics` in OTLP/JSON and keeps
 * what it got. In `hang` mode it reads a request and never answers it (a collector that is
 * stuck); what it holds then is not kept.
 */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const metrics = new Map<string, ReceivedPoint[]>();
  const bodies: string[] = [];
  const arrivals = new Map<string, number>();
  const contentTypes = new Set<string>();
  const held: ServerResponse[] = [];
  const waiters = new Set<() => void>();
  let mode: ReceiverMode = 'ok';

  const take = (path: string, body: string): void => {
    bodies.push(body);
    const doc = JSON.parse(body) as Record<string, unknown>;
    if (path === '/v1/traces') {
      for (const rs of (doc.resourceSpans as Array<Record<string, unknown>> | undefined) ?? []) {
        const resource = attributesOf((rs.resource as { attributes?: KeyValues } | undefined)?.attributes);
        for (const ss of (rs.scopeSpans as Array<Record<string, unknown>> | undefined) ?? []) {
          const scope = String((ss.scope as { name?: string } | undefined)?.name ?? '');
          for (const s of (ss.spans as Array<Record<string, unknown>> | undefined) ?? []) {
            const status = (s.status as { code?: number; message?: string } | undefined) ?? {};
            spans.push({
              traceId: String(s.traceId),
              spanId: String(s.spanId),
              parentSpanId: String(s.parentSpanId ?? ''),
              traceState: String(s.traceState ?? ''),
              name: String(s.name),
              kind: Number(s.kind),
              attributes: attributesOf(s.attributes as KeyValues),
              status: { code: Number(status.code ?? 0), message: String(status.message ?? '') },
              events: ((s.events as Array<{ name: string; attributes?: KeyValues }> | undefined) ?? []).map((e) => ({ name: e.name, attributes: attributesOf(e.attributes) })),
              resource,
              scope,
            });
          }
        }
      }
    } else {
      for (const rm of (doc.resourceMetrics as Array<Record<string, unknown>> | undefined) ?? []) {
        for (const sm of (rm.scopeMetrics as Array<Record<string, unknown>> | undefined) ?? []) {
          for (const m of (sm.metrics as Array<Record<string, unknown>> | undefined) ?? []) {
            const data = (m.sum ?? m.gauge ?? m.histogram) as { dataPoints?: Array<Record<string, unknown>> } | undefined;
            const points = (data?.dataPoints ?? []).map((p): ReceivedPoint => ({
              attributes: attributesOf(p.attributes as KeyValues),
              ...(p.asInt !== undefined ? { value: Number(p.asInt) } : {}),
              ...(p.asDouble !== undefined ? { value: Number(p.asDouble) } : {}),
              ...(p.count !== undefined ? { count: Number(p.count) } : {}),
              ...(p.sum !== undefined ? { sum: Number(p.sum) } : {}),
            }));
            metrics.set(String(m.name), points);
          }
        }
      }
    }
    for (const wake of [...waiters]) wake();
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '';
    arrivals.set(path, (arrivals.get(path) ?? 0) + 1);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (mode === 'hang') {
        held.push(res);
        return;
      }
      contentTypes.add(String(req.headers['content-type']));
      if (req.method !== 'POST' || (path !== '/v1/traces' && path !== '/v1/metrics')) {
        res.writeHead(404).end();
        return;
      }
      try {
        take(path, Buffer.concat(chunks).toString('utf8'));
      } catch (error) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ message: String(error) }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    set mode(next: ReceiverMode) {
      mode = next;
    },
    spans: () => [...spans],
    metric: (name) => metrics.get(name),
    bodies,
    arrivals,
    contentTypes,
    async until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = probe();
        if (value !== undefined && value !== false) return value;
        if (Date.now() > deadline) throw new Error(`the OTLP receiver timed out waiting for ${what}`);
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            waiters.delete(wake);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(wake, 25);
          waiters.add(wake);
        });
      }
    },
    clear() {
      spans.length = 0;
      metrics.clear();
      bodies.length = 0;
      arrivals.clear();
      contentTypes.clear();
    },
    async close() {
      for (const res of held.splice(0)) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
