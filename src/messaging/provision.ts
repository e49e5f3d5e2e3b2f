/** Makes a Kafka cluster and a registry ready for the coordinator: topics created, contracts registered. */
import type { Config } from '../config';
import type { Logger } from '../log';
import type { Codec } from './codec';
import { withAdmin } from './clients';
import { createKafka, ensureTopics } from './kafka';
import { RECORD_TOPICS } from './protocol';
import { topicName, topicSpecs } from './topics';

export const recordTopics = (prefix: string): Map<string, string> =>
  new Map(Object.entries(RECORD_TOPICS).map(([fullName, kind]) => [fullName, topicName(prefix, kind)]));

export const provision = async (deps: { config: Config; codec: Codec; log: Logger; partitions?: number }): Promise<void> => {
  const { config, codec, log } = deps;
  const created = await withAdmin(createKafka(config, 'coord-provision', log), (admin) => ensureTopics(admin, topicSpecs(config.topicPrefix, deps.partitions)));
  if (created.length > 0) log.info('created topics', { topics: created });
  await codec.registerAll(recordTopics(config.topicPrefix));
};
