/**
 * The log's clock: while this instance is active it appends a Tick every tickIntervalMs, and,
 * while the log has no settings yet, proposes the local configuration as the initial ones
 * (src/engine/initial-settings.ts). A standby never ticks.
 */
import type { StateView } from '../../projections';
import type { Config } from '../config';
import { errorMessage } from '../errors';
import type { Logger } from '../log';
import type { Kafka } from '../messaging/clients';
import type { Codec } from '../messaging/codec';
import { requestProducer } from '../messaging/kafka';
import { signed, signerFromConfig } from '../messaging/signing';
import { topicName } from '../messaging/topics';
import type { Health } from './health';
import { initialSettingsMessage, needsInitialSettings, PROPOSE_AGAIN_MS } from './initial-settings';

export interface TickerDeps {
  readonly kafka: Kafka;
  readonly codec: Codec;
  readonly log: Logger;
  readonly health: Health;
  readonly config: Config;
  /** Whether this instance is the active one now: a tick comes only from it. */
  readonly active: () => boolean;
  /** The state of the last committed snapshot, to see whether the log has settings yet. */
  readonly state: () => StateView;
  /** The activation this instance publishes under, named in its proposals' correlation ids. */
  readonly generation: () => number;
}

export interface Ticker {
  /** Starts ticking (once: a ticker already started goes on). */
  start(): void;
  /** Stops ticking and closes its producer; a ticker never started stops at once. */
  stop(): Promise<void>;
}

export const createTicker = (deps: TickerDeps): Ticker => {
  const { codec, config, health, log } = deps;
  const ticksTopic = topicName(config.topicPrefix, 'internal.ticks');
  let ticker: NodeJS.Timeout | undefined;
  let stop: () => Promise<void> = async () => undefined;
  let proposedAtMs = Number.NEGATIVE_INFINITY;
  // Ticks and proposals are signed as any sender's records are, for a log that requires signatures.
  const signer = signerFromConfig(config);

  const start = (): void => {
    if (ticker !== undefined) return;
    const tickProducer = requestProducer(deps.kafka);
    const connected = tickProducer.connect();
    let busy = false;
    ticker = setInterval(() => {
      if (busy || !deps.active()) return;
      busy = true;
      void (async () => {
        await connected;
        // The clock only: the settings are state (src/engine/initial-settings.ts).
        const value = await codec.encode(ticksTopic, 'coord.v1.Tick', { tickMs: BigInt(Date.now()) });
        await tickProducer.send({ topic: ticksTopic, acks: -1, messages: [signed(signer, 'internal.ticks', { key: null, value })] });
        if (!needsInitialSettings(deps.state())) health.ok('settings');
        else if (Date.now() - proposedAtMs >= PROPOSE_AGAIN_MS) {
          // Not folded since the last proposal (refused, say, to a principal without the admin role): shown on /readyz once it lasts.
          if (proposedAtMs > 0) health.failing('settings', `the initial settings proposed ${Date.now() - proposedAtMs} ms ago are not on the log yet; see the reply on ${topicName(config.topicPrefix, 'replies')}`);
          proposedAtMs = Date.now();
          const generation = deps.generation();
          const topics = { system: topicName(config.topicPrefix, 'requests.system'), replies: topicName(config.topicPrefix, 'replies') };
          const message = await initialSettingsMessage(codec, topics, config, `initial-settings-${generation}-${proposedAtMs}`, signer);
          await tickProducer.send({ topic: topics.system, acks: -1, messages: [message] });
          log.info('proposed the local configuration as the initial settings of this log', { generation });
        }
      })()
        .catch((err) => log.warn('could not append a tick', { error: errorMessage(err) }))
        .finally(() => (busy = false));
    }, config.tickIntervalMs);
    stop = async () => {
      clearInterval(ticker);
      await connected.catch(() => undefined);
      await tickProducer.disconnect().catch(() => undefined);
    };
  };

  return { start, stop: () => stop() };
};
