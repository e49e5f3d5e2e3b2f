/** Makes a Kafka cluster and a registry ready for the coordinator: topics created, contracts registered. */
import type { Config } from '../config';
import type { Logger } from '../log';
import type { Codec } from './codec';
import { withAdmin } from './clients';
import { createKafka, ensureTopics } from './kafka';
import { changelogTables, changelogTopic, changelogTopicSpecs } from './changelog';
import { RECORD_TOPICS } from './protocol';
import { loadContracts } from './schemas';
import { topicName, topicSpecs } from './topics';

/** Every record of the protocol with the topic it travels on, the changelog's tables included. */
export const recordTopics = (prefix: string): Map<string, string> =>
  new Map([
    ...Object.entries(RECORD_TOPICS).map(([fullName, kind]) => [fullName, topicName(prefix, kind)] as const),
    ...[...changelogTables(loadContracts()).values()].map((t) => [t.envelopeName, changelogTopic(prefix, t.entity)] as const),
  ]);

export const provision = async (deps: { config: Config; codec: Codec; log: Logger; partitions?: number }): Promise<void> => {
  const { config, codec, log } = deps;
  const tables = changelogTables(loadContracts()).values();
  const specs = [...topicSpecs(config.topicPrefix, deps.partitions), ...changelogTopicSpecs(config.topicPrefix, tables, deps.partitions)];
  const created = await withAdmin(createKafka(config, 'coord-provision', log), (admin) => ensureTopics(admin, specs));
  if (created.length > 0) log.info('created topics', { topics: created });
  await codec.registerAll(recordTopics(config.topicPrefix));
};
