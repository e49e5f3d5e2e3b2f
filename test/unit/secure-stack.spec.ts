import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registryRealm } from '../../src/infra/keycloak';
import { ensureSecrets, signingRoles } from '../../src/infra/secure';
import { readRunEnv } from '../../src/cli/run-env';
import { secureInfra } from '../../src/cli/secure-infra';
import type { SecureBroker } from '../../src/infra/secure';

describe('the secured stack material', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'coord-secrets-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes one secrets file per principal, readable by its owner only, and keeps it on the next start', () => {
    const first = ensureSecrets(dir, ['frontend', 'worker']).passwords;
    const file = join(dir, 'frontend.env');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const env = readRunEnv(file);
    assert.equal(env.KAFKA_SASL_USERNAME, 'frontend');
    assert.equal(env.KAFKA_SASL_PASSWORD, first.get('frontend'));
    assert.equal(env.SCHEMA_REGISTRY_AUTH, `frontend:${first.get('frontend')}`);
    assert.notEqual(first.get('frontend'), first.get('worker'));
    const again = ensureSecrets(dir, ['frontend', 'worker', 'reader']).passwords;
    assert.equal(again.get('frontend'), first.get('frontend'));
    assert.match(readFileSync(join(dir, 'reader.env'), 'utf8'), /^KAFKA_SASL_USERNAME=reader$/m);
  });

  it('gives each principal an Ed25519 signing key (0600) named in its secrets file, kept on the next start', () => {
    const first = ensureSecrets(dir, ['frontend']).signingKeys.get('frontend');
    assert.ok(first !== undefined);
    assert.equal(statSync(first.file).mode & 0o777, 0o600);
    const env = readRunEnv(join(dir, 'frontend.env'));
    assert.equal(env.COORD_SIGNING_KEY, first.file);
    assert.equal(env.COORD_SIGNING_KEY_ID, 'frontend-1');
    assert.equal(Buffer.from(first.publicKey, 'base64').length, 32);
    assert.deepEqual(ensureSecrets(dir, ['frontend']).signingKeys.get('frontend'), first);
    assert.deepEqual([signingRoles('admin'), signingRoles('coordinator'), signingRoles('worker-2'), signingRoles('frontendx')], [['admin'], ['coordinator'], ['worker'], []]);
  });

  it('gives the admin sr-admin, the coordinator sr-developer and everyone else sr-readonly in the registry realm', () => {
    const realm = registryRealm(new Map([['admin', 'a'], ['coordinator', 'c'], ['frontend', 'f']])) as { users: { serviceAccountClientId: string; realmRoles: string[] }[]; clients: { clientId: string; secret?: string }[] };
    const roleOf = (c: string) => realm.users.find((u) => u.serviceAccountClientId === c)?.realmRoles;
    assert.deepEqual(roleOf('admin'), ['sr-admin']);
    assert.deepEqual(roleOf('coordinator'), ['sr-developer']);
    assert.deepEqual(roleOf('frontend'), ['sr-readonly']);
    assert.equal(realm.clients.find((c) => c.clientId === 'frontend')?.secret, 'f');
  });

  it('secures the registry unless SECURE_REGISTRY=0 says not to, and writes its https address and CA to run.env', () => {
    assert.equal(secureInfra.registryEnabled({}), true);
    assert.equal(secureInfra.registryEnabled({ SECURE_REGISTRY: '1' }), true);
    assert.equal(secureInfra.registryEnabled({ SECURE_REGISTRY: '0' }), false);
    assert.equal(secureInfra.registryEnabled({ SECURE_REGISTRY: 'false' }), false);
    const secure = { tls: { caFile: '/x/ca.pem' }, secretsDir: '/x/secrets' } as unknown as SecureBroker;
    const withTls = secureInfra.runEnv(secure, 'https://127.0.0.1:8443/apis/ccompat/v7');
    assert.equal(withTls.SCHEMA_REGISTRY_TLS_URL, 'https://127.0.0.1:8443/apis/ccompat/v7');
    assert.equal(withTls.SCHEMA_REGISTRY_CA_LOCATION, '/x/ca.pem');
    assert.equal(withTls.KAFKA_SSL_CA_LOCATION, '/x/ca.pem');
    // An open registry, and a plain stack, blank what an earlier secured run wrote.
    assert.equal(secureInfra.runEnv(secure).SCHEMA_REGISTRY_TLS_URL, '');
    assert.equal(secureInfra.runEnv(undefined).SCHEMA_REGISTRY_CA_LOCATION, '');
  });

});
