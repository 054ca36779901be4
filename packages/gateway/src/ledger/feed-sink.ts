import type { DecisionFeed } from '../metrics/decision-feed.js';
import type { DecisionEvent, DecisionSink, GatewayEvent, SinkHealth } from './decision-sink.js';

/**
 * A {@link DecisionSink} in front of the ledger's that also tells a {@link DecisionFeed} of
 * every decision once the ledger has committed it — never before, so the console's live record
 * shows only what is on the record. Everything else passes through unchanged: events, their
 * order, `close()` and `health()`.
 */
export class FeedSink implements DecisionSink {
  readonly #sink: DecisionSink;
  readonly #feed: DecisionFeed;
  readonly health?: () => Promise<SinkHealth>;

  constructor(sink: DecisionSink, feed: DecisionFeed) {
    this.#sink = sink;
    this.#feed = feed;
    if (sink.health) this.health = () => sink.health!();
  }

  async append(event: GatewayEvent): Promise<unknown> {
    // Taken now: the caller may reuse or change the event object after handing it over.
    const decision: DecisionEvent | undefined = event.type === 'decision' ? { ...event } : undefined;
    const committed = await this.#sink.append(event);
    if (decision) this.#feed.record(decision);
    return committed;
  }

  close(): Promise<void> {
    return this.#sink.close();
  }
}
