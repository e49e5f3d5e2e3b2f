import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, makeConfig } from '../../src/config';
import { isCoordError } from '../../src/errors';
import { kafkaSaslOptions, kafkaSslOptions, parseToken, tokenFromCommand } from '../../src/messaging/security';

const refused = (fn: () => unknown, message: RegExp): void =>
  assert.throws(fn, (err: unknown) => isCoordError(err, 'CONFIG_INVALID') && message.test((err as Error).message));

describe('Kafka security settings', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'coord-security-'));
    writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n');
    writeFileSync(join(dir, 'client.pem'), 'CERT');
    writeFileSync(join(dir, 'client.key'), 'KEY');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the secured profile from the environment as run.env and a role secrets file give it', () => {
    const { config } = loadConfig({
      KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SSL_CA_LOCATION: join(dir, 'ca.pem'),
      KAFKA_SASL_USERNAME: 'frontend',
      KAFKA_SASL_PASSWORD: 'secret',
    });
    assert.equal(config.kafkaSaslMechanism, 'scram-sha-512');
    assert.deepEqual(kafkaSslOptions(config), { rejectUnauthorized: true, ca: ['-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n'] });
    assert.deepEqual(kafkaSaslOptions(config), { mechanism: 'scram-sha-512', username: 'frontend', password: 'secret' });
  });

  it('refuses SASL PLAIN without TLS, and names both ways out', () => {
    refused(() => makeConfig({ kafkaSaslMechanism: 'plain', kafkaSaslUsername: 'u', kafkaSaslPassword: 'p' }), /KAFKA_SECURITY_PROTOCOL=SASL_SSL.*KAFKA_ALLOW_PLAIN_WITHOUT_TLS/);
    refused(() => makeConfig({ kafkaSecurityProtocol: 'SASL_PLAINTEXT', kafkaSaslMechanism: 'plain', kafkaSaslUsername: 'u', kafkaSaslPassword: 'p' }), /in clear/);
  });

  it('allows PLAIN without TLS only when explicitly allowed, and PLAIN over TLS always', () => {
    assert.equal(makeConfig({ kafkaSaslMechanism: 'plain', kafkaSaslUsername: 'u', kafkaSaslPassword: 'p', kafkaAllowPlainWithoutTls: true }).kafkaSaslMechanism, 'plain');
    assert.equal(makeConfig({ kafkaSecurityProtocol: 'SASL_SSL', kafkaSaslMechanism: 'plain', kafkaSaslUsername: 'u', kafkaSaslPassword: 'p' }).kafkaSaslMechanism, 'plain');
  });

  it('refuses a client certificate without its key, a SASL protocol without a mechanism, and a mechanism on a protocol without SASL', () => {
    refused(() => makeConfig({ kafkaSslCertLocation: join(dir, 'client.pem') }), /go together/);
    refused(() => makeConfig({ kafkaSecurityProtocol: 'SASL_SSL' }), /needs kafkaSaslMechanism/);
    refused(() => makeConfig({ kafkaSecurityProtocol: 'SSL', kafkaSaslMechanism: 'scram-sha-256', kafkaSaslUsername: 'u', kafkaSaslPassword: 'p' }), /use SASL_SSL/);
    refused(() => makeConfig({ kafkaSaslMechanism: 'scram-sha-256' }), /needs kafkaSaslUsername/);
  });

  it('gives kafkajs the client certificate and key for mutual TLS', () => {
    const c = makeConfig({ kafkaSslCertLocation: join(dir, 'client.pem'), kafkaSslKeyLocation: join(dir, 'client.key') });
    assert.deepEqual(kafkaSslOptions(c), { rejectUnauthorized: true, cert: 'CERT', key: 'KEY' });
  });

  it('says which file it cannot read', () => {
    const c = makeConfig({ kafkaSslCaLocation: join(dir, 'missing.pem') });
    refused(() => kafkaSslOptions(c), /the CA file \(kafkaSslCaLocation\) .*missing\.pem/);
  });

  describe('OAUTHBEARER', () => {
    it('takes a token from the hook a library user passes', async () => {
      const sasl = kafkaSaslOptions(makeConfig({ kafkaSecurityProtocol: 'SASL_SSL', kafkaSaslMechanism: 'oauthbearer' }), { oauthBearerProvider: async () => ({ value: 'hooked' }) });
      assert.equal(sasl?.mechanism, 'oauthbearer');
      assert.deepEqual(await (sasl as { oauthBearerProvider: () => Promise<{ value: string }> }).oauthBearerProvider(), { value: 'hooked' });
    });

    it('takes a token from a command, bare or as JSON', async () => {
      assert.deepEqual(await tokenFromCommand("printf 'abc.def.ghi\\n'")(), { value: 'abc.def.ghi' });
      assert.deepEqual(parseToken('{"access_token":"t1","expires_in":300}'), { value: 't1' });
      assert.deepEqual(parseToken('{"value":"t2"}'), { value: 't2' });
    });

    it('says so when there is no way to get a token, or the command prints none or fails', async () => {
      refused(() => kafkaSaslOptions(makeConfig({ kafkaSecurityProtocol: 'SASL_SSL', kafkaSaslMechanism: 'oauthbearer' })), /needs a token/);
      refused(() => parseToken('{"token_type":"bearer"}'), /printed no token/);
      await assert.rejects(tokenFromCommand('exit 3')(), (err: unknown) => isCoordError(err, 'KAFKA_AUTH'));
    });
  });
});
