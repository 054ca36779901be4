import type { Telemetry } from '../telemetry/telemetry.js';
import type { DecisionSink, GatewayEvent, SinkHealth } from './decision-sink.js';

/**
 * A {@link DecisionSink} in front of another that lets telemetry see every event on its way to
 * the ledger: a decision's effect, rule, code and policy revision go on the span of the call it
 * decides, and its commit is timed as a child span. Everything else passes through unchanged:
 * events (each handed on at once, so their order is kept), results, `close()` and `health()`.
 */
export class TracedSink implements DecisionSink {
  readonly #sink: DecisionSink;
  readonly #telemetry: Telemetry;
  readonly health?: () => Promise<SinkHealth>;

  constructor(sink: DecisionSink, telemetry: Telemetry) {
    this.#sink = sink;
    this.#telemetry = telemetry;
    if (sink.health) this.health = () => sink.health!();
  }

  append(event: GatewayEvent): Promise<unknown> {
    return this.#telemetry.ledgerAppend(event, () => this.#sink.append(event));
  }

  close(): Promise<void> {
    return this.#sink.close();
  }
}
