/** One isolated deployment per test: its own topic prefix, group and folder on the shared stack. */
import { makeConfig, type Config } from '../../src/config';
import { createClient, type Client } from '../../src/client/client';
import { createLogger } from '../../src/log';
import { provision } from '../../src/messaging/provision';
import { createParts, type Parts } from '../../src/runtime';
import { registerTestKeys } from './secure';
import type { TestStack } from './stack';

let counter = 0;

/** A topic prefix no other test (or earlier run on the same broker) uses. */
export const uniquePrefix = (name: string): string => `t${process.pid}x${Date.now().toString(36)}x${counter++}-${name}`;

export const testLog = () => createLogger(process.env.TEST_LOG === '1' ? 'debug' : 'error', { component: 'test' });

export interface Deployment {
  readonly config: Config;
  readonly parts: Parts;
  client(): Promise<Client>;
  close(): Promise<void>;
}

export const deployment = async (stack: TestStack, name: string, overrides: Partial<Config> = {}): Promise<Deployment> => {
  const prefix = uniquePrefix(name);
  const config = makeConfig({ kafkaBrokers: stack.brokers.split(','), schemaRegistryUrl: stack.registryUrl, topicPrefix: prefix, groupId: `${prefix}-coordinator`, ...stack.connection, ...overrides });
  const log = testLog();
  const parts = createParts(config, `test-${name}`, log);
  // A registry on a busy machine may miss one deadline while forty subjects are registered at once: a bounded retry.
  for (let attempt = 1; ; attempt++) {
    try {
      await provision({ config, codec: parts.codec, log });
      break;
    } catch (err) {
      if (attempt >= 4 || (err as { code?: string }).code !== 'SCHEMA_REGISTRY') throw err;
      await new Promise((r) => setTimeout(r, 2_000 * attempt));
    }
  }
  if (stack.secure !== undefined) await registerTestKeys(stack.secure, parts, prefix);
  const clients: Client[] = [];
  return {
    config,
    parts,
    client: async () => {
      const c = createClient({ kafka: parts.kafka, codec: parts.codec, log, topicPrefix: prefix, replyTopic: config.replyTopic, askTimeoutMs: 20_000, signer: parts.signer });
      await c.start();
      clients.push(c);
      return c;
    },
    close: async () => {
      await Promise.all(clients.map((c) => c.close()));
    },
  };
};
