import { strict as assert } from 'node:assert';
import { makeConfig, type Config } from '../../src/config';
import { isCoordError } from '../../src/errors';
import { createRegistryClient } from '../../src/messaging/registry';
import { topicName } from '../../src/messaging/topics';
import { deployment, type Deployment } from '../support/deployment';
import { testStack } from '../support/stack';

describe('the secured registry (Apicurio behind Keycloak, TEST_SECURE_REGISTRY=1)', function () {
  this.timeout(120_000);
  let d: Deployment;
  const as = (principal: string): Config => {
    const secure = testStack().secure;
    if (secure === undefined) throw new Error('this suite needs the secured stack with its registry: run it with TEST_SECURE_REGISTRY=1 (make test-secure-registry)');
    return makeConfig({ ...d.config, ...secure.connection(principal) });
  };
  const schema = JSON.stringify({ type: 'record', name: 'Forged', namespace: 'coord.v1', fields: [{ name: 'evil', type: 'string' }] });
  const subject = (): string => `${topicName(d.config.topicPrefix, 'requests.catalog')}-coord.v1.Forged`;

  before(async () => {
    // Provisions as the run's coordinator principal: registering the protocol's schemas is its right.
    d = await deployment(testStack(), 'secure-registry');
  });

  after(async () => {
    await d?.close();
  });

  it('refuses a frontend registering a schema (403), and a client without credentials (401)', async () => {
    const frontend = createRegistryClient({ url: d.config.schemaRegistryUrl, auth: as('frontend').schemaRegistryAuth });
    await assert.rejects(frontend.register(subject(), schema), (err: unknown) => isCoordError(err, 'SCHEMA_REGISTRY_FORBIDDEN') && /POST .* with 403/.test((err as Error).message));
    const nobody = createRegistryClient({ url: d.config.schemaRegistryUrl });
    await assert.rejects(nobody.register(subject(), schema), (err: unknown) => isCoordError(err, 'SCHEMA_REGISTRY_FORBIDDEN') && /with 401/.test((err as Error).message));
    assert.ok(!(await nobody.subjects()).includes(subject()), 'the forged subject exists');
  });

  it('lets the coordinator register, and a frontend find the id of what it registered', async () => {
    const coordinator = createRegistryClient({ url: d.config.schemaRegistryUrl, auth: as('coordinator').schemaRegistryAuth });
    const id = await coordinator.register(`${subject()}-allowed`, schema);
    const frontend = createRegistryClient({ url: d.config.schemaRegistryUrl, auth: as('frontend').schemaRegistryAuth });
    assert.equal(await frontend.register(`${subject()}-allowed`, schema), id);
  });
});
