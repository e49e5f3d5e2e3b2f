/** Builds the real parts from a configuration: the kafkajs client, the registry client and the codec. */
import type { Kafka } from './messaging/clients';
import type { Config } from './config';
import type { Logger } from './log';
import { createCodec, type Codec } from './messaging/codec';
import { createKafka } from './messaging/kafka';
import { createRegistryClient, type RegistryClient } from './messaging/registry';
import { withChangelogEnvelopes } from './messaging/changelog';
import { loadContracts } from './messaging/schemas';
import { signerFromConfig, type Signer } from './messaging/signing';

export interface Parts {
  readonly kafka: Kafka;
  readonly registry: RegistryClient;
  readonly codec: Codec;
  /** What the configuration signs its records with (COORD_SIGNING_KEY), for the clients built on these parts. */
  readonly signer: Signer | undefined;
}

export const createParts = (config: Config, clientId: string, log: Logger): Parts => {
  const kafka = createKafka(config, clientId, log);
  const registry = createRegistryClient({ url: config.schemaRegistryUrl, auth: config.schemaRegistryAuth });
  const codec = createCodec({ registry, contracts: withChangelogEnvelopes(loadContracts()) });
  return { kafka, registry, codec, signer: signerFromConfig(config) };
};
