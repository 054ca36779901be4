import type { DecisionFeed } from '../metrics/decision-feed.js';
import type { AppendOptions, CountedDecision, DecisionEvent, DecisionSink, GatewayEvent, SinkHealth } from './decision-sink.js';

/**
 * A {@link DecisionSink} in front of the ledger's that also tells a {@link DecisionFeed} of
 * every decision once the ledger has committed it — never before, so the console's live record
 * shows only what is on the record. Everything else passes through unchanged: events, their
 * order and append options (a deferred outcome stays deferred), counted decisions (when the
 * ledger counts limits with the decision, so does this sink), `close()` and `health()`.
 */
export class FeedSink implements DecisionSink {
  readonly #sink: DecisionSink;
  readonly #feed: DecisionFeed;
  readonly health?: () => Promise<SinkHealth>;
  readonly appendCounted?: (decision: CountedDecision) => Promise<unknown>;

  constructor(sink: DecisionSink, feed: DecisionFeed) {
    this.#sink = sink;
    this.#feed = feed;
    if (sink.health) this.health = () => sink.health!();
    if (sink.appendCounted) {
      this.appendCounted = async (counted) => {
        let decision: DecisionEvent | undefined;
        const committed = await sink.appendCounted!({
          limits: counted.limits,
          event: (results) => {
            const event = counted.event(results);
            decision = { ...event };
            return event;
          },
        });
        if (decision) this.#feed.record(decision);
        return committed;
      };
    }
  }

  async append(event: GatewayEvent, options?: AppendOptions): Promise<unknown> {
    // Taken now: the caller may reuse or change the event object after handing it over.
    const decision: DecisionEvent | undefined = event.type === 'decision' ? { ...event } : undefined;
    const committed = await (options === undefined ? this.#sink.append(event) : this.#sink.append(event, options));
    if (decision) this.#feed.record(decision);
    return committed;
  }

  close(): Promise<void> {
    return this.#sink.close();
  }
}
