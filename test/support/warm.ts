/**
 * A registry just started answers its first registrations slowly (it creates its storage and
 * compiles its paths on first use): on a loaded machine the first suite's provisioning, forty
 * registrations at once with the client's 10 s bound, timed out. The run registers the
 * contracts once, under a prefix of its own and with a wide bound, before any suite begins.
 */
import { withChangelogEnvelopes } from '../../src/messaging/changelog';
import { createCodec } from '../../src/messaging/codec';
import { recordTopics } from '../../src/messaging/provision';
import { createRegistryClient } from '../../src/messaging/registry';
import { loadContracts } from '../../src/messaging/schemas';

export const warmRegistry = async (url: string, auth: string | undefined): Promise<void> => {
  const codec = createCodec({ registry: createRegistryClient({ url, auth, timeoutMs: 120_000 }), contracts: withChangelogEnvelopes(loadContracts()) });
  await codec.registerAll(recordTopics('warm-up'));
};
