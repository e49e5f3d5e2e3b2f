/**
 * Registers principals' public keys on a deployment's log (RegisterPrincipalKey on
 * `<prefix>.requests.system`), as the secured stack's provisioning and the tests do; an operator
 * does the same with `coordctl key register`. Sent, not asked: the records wait on the log for
 * the coordinator, which may not run yet, and the same key again changes nothing.
 */
import { randomUUID } from 'node:crypto';
import type { Codec } from './codec';
import type { Kafka } from './clients';
import { H } from './headers';
import { requestProducer } from './kafka';
import { signed, type Signer } from './signing';
import { topicName } from './topics';

export interface KeyRegistration {
  readonly keyId: string;
  readonly principal: string;
  readonly roles: readonly string[];
  /** Ed25519, base64 of its 32 bytes. */
  readonly publicKey: string;
}

/** Appends one RegisterPrincipalKey per key, signed by `signer` (an admin's key; none while signatures are not yet required). */
export const registerSigningKeys = async (deps: { kafka: Kafka; codec: Codec; topicPrefix: string; signer?: Signer }, keys: readonly KeyRegistration[]): Promise<void> => {
  const topic = topicName(deps.topicPrefix, 'requests.system');
  const messages = await Promise.all(
    keys.map(async (k) =>
      signed(deps.signer, 'requests.system', {
        key: k.keyId,
        value: await deps.codec.encode(topic, 'coord.v1.RegisterPrincipalKey', { keyId: k.keyId, principal: k.principal, roles: [...k.roles], publicKey: k.publicKey }),
        headers: { [H.correlationId]: `register-key-${k.keyId}-${randomUUID()}`, [H.replyTo]: topicName(deps.topicPrefix, 'replies') },
      }),
    ),
  );
  const producer = requestProducer(deps.kafka);
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
};
