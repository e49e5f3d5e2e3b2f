/**
 * The client library's metrics, in a registry the embedding application passes in. Several
 * clients may share one registry: each family is registered once and told apart by `client`.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ClientMetrics {
  /** An ask began (it may wait for a place first); `ended` says how it settled. */
  askStarted(): { ended(outcome: string): void };
  /** A place for an ask or a send was taken or given back. */
  places(n: number): void;
  /** A reply nobody waits for (late, duplicate, someone else's, undecodable) was dropped. */
  dropped(): void;
  /** A send or ask waited for a place (`in_flight`) or for the coordinator's lag (`lag`). */
  waited(reason: 'in_flight' | 'lag', seconds: number): void;
  /** A reply consumer was made anew after kafkajs gave the last one up for good. */
  renewed(): void;
}

/** Seconds an ask may take, from a few milliseconds to the longest timeouts. */
const ASK_SECONDS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The family of this name in `registry`, or a new one: a second client on the same registry shares it. */
const family = <M>(registry: Registry, name: string, create: () => M): M => (registry.getSingleMetric(name) as M | undefined) ?? create();

export const createClientMetrics = (registry: Registry, client: string): ClientMetrics => {
  const registers = [registry];
  const asks = family(registry, 'coord_client_asks_in_flight', () => new Gauge({ name: 'coord_client_asks_in_flight', help: 'Asks started and not settled yet (waiting for a place or for their reply).', labelNames: ['client'], registers }));
  const places = family(registry, 'coord_client_in_flight', () => new Gauge({ name: 'coord_client_in_flight', help: 'Places taken by asks and sends, bounded by maxInFlight.', labelNames: ['client'], registers }));
  const latency = family(
    registry,
    'coord_client_ask_duration_seconds',
    () => new Histogram({ name: 'coord_client_ask_duration_seconds', help: 'Time from ask() to its settling, retries included, by outcome: the reply status, or TIMEOUT, BACKPRESSURE, ABORTED, CLOSED, ERROR.', labelNames: ['client', 'outcome'], buckets: ASK_SECONDS, registers }),
  );
  const dropped = family(registry, 'coord_client_replies_dropped_total', () => new Counter({ name: 'coord_client_replies_dropped_total', help: 'Replies nobody waited for (late, duplicate, another client’s, undecodable), dropped.', labelNames: ['client'], registers }));
  const waits = family(registry, 'coord_client_backpressure_waits_total', () => new Counter({ name: 'coord_client_backpressure_waits_total', help: 'Sends and asks that waited for a place (in_flight) or for the coordinator’s lag to fall under maxLag (lag).', labelNames: ['client', 'reason'], registers }));
  const waitSeconds = family(registry, 'coord_client_backpressure_wait_seconds_total', () => new Counter({ name: 'coord_client_backpressure_wait_seconds_total', help: 'Time sends and asks spent waiting under backpressure.', labelNames: ['client', 'reason'], registers }));
  const renewals = family(registry, 'coord_client_reply_consumer_renewals_total', () => new Counter({ name: 'coord_client_reply_consumer_renewals_total', help: 'Reply consumers made anew (going on from where the last one got to) after kafkajs gave one up for good.', labelNames: ['client'], registers }));

  const labels = { client };
  asks.set(labels, 0);
  places.set(labels, 0);
  dropped.inc(labels, 0);
  renewals.inc(labels, 0);
  for (const reason of ['in_flight', 'lag']) {
    waits.inc({ client, reason }, 0);
    waitSeconds.inc({ client, reason }, 0);
  }

  return {
    askStarted: () => {
      const from = performance.now();
      asks.inc(labels);
      let done = false;
      return {
        ended: (outcome) => {
          if (done) return;
          done = true;
          asks.dec(labels);
          latency.observe({ client, outcome }, (performance.now() - from) / 1_000);
        },
      };
    },
    places: (n) => places.set(labels, n),
    dropped: () => dropped.inc(labels),
    renewed: () => renewals.inc(labels),
    waited: (reason, seconds) => {
      waits.inc({ client, reason });
      waitSeconds.inc({ client, reason }, seconds);
    },
  };
};
