import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS, loadConfig, makeConfig } from '../../src/config';

describe('config', () => {
  let dir: string;
  const configFile = (name: string, content: unknown): string => {
    const file = join(dir, name);
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'coord-config-'));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('DEFAULTS', () => {
    it('is frozen, broker list included', () => {
      assert.ok(Object.isFrozen(DEFAULTS));
      assert.ok(Object.isFrozen(DEFAULTS.kafkaBrokers));
    });
  });

  describe('makeConfig', () => {
    it('returns the defaults when given nothing', () => {
      assert.deepStrictEqual(makeConfig(), DEFAULTS);
    });

    it('applies an override and keeps the other defaults', () => {
      const c = makeConfig({ batchSize: 10 });
      assert.equal(c.batchSize, 10);
      assert.equal(c.groupId, DEFAULTS.groupId);
    });

    it('mutates neither DEFAULTS nor the overrides', () => {
      const overrides = { batchSize: 10, kafkaBrokers: ['a:1'] };
      makeConfig(overrides);
      assert.equal(DEFAULTS.batchSize, 500);
      assert.deepStrictEqual(DEFAULTS.kafkaBrokers, ['127.0.0.1:9092']);
      assert.deepStrictEqual(overrides, { batchSize: 10, kafkaBrokers: ['a:1'] });
    });

    it('returns a frozen config', () => {
      assert.ok(Object.isFrozen(makeConfig({ batchSize: 10 })));
    });

    it('ignores an override that is undefined', () => {
      assert.equal(makeConfig({ batchSize: undefined }).batchSize, DEFAULTS.batchSize);
    });

    it('refuses an unknown key, naming it', () => {
      assert.throws(() => makeConfig({ batchSise: 10 } as never), { code: 'CONFIG_INVALID', message: /batchSise/ });
    });

    it('moves the default reply topic with the topic prefix', () => {
      assert.equal(makeConfig({ topicPrefix: 'team1' }).replyTopic, 'team1.replies');
    });

    it('keeps an explicit reply topic when the topic prefix changes', () => {
      assert.equal(makeConfig({ topicPrefix: 'team1', replyTopic: 'mine' }).replyTopic, 'mine');
    });
  });

  describe('makeConfig refuses invalid values with CONFIG_INVALID', () => {
    it('refuses a batch size of 0', () => {
      assert.throws(() => makeConfig({ batchSize: 0 }), { code: 'CONFIG_INVALID', message: /batchSize.*0/ });
    });

    it('refuses a maxBatchSize below batchSize or past what a snapshot marker may list', () => {
      assert.throws(() => makeConfig({ batchSize: 100, maxBatchSize: 50 }), { code: 'CONFIG_INVALID', message: /maxBatchSize must be at least batchSize \(100\), got 50/ });
      assert.throws(() => makeConfig({ maxBatchSize: 5_001 }), { code: 'CONFIG_INVALID', message: /maxBatchSize must be at most 5000/ });
      assert.equal(makeConfig({ batchSize: 100, maxBatchSize: 100 }).maxBatchSize, 100, 'equal: batches never grow');
      assert.equal(loadConfig({ COORD_MAX_BATCH_SIZE: '800' }).config.maxBatchSize, 800);
    });

    it('refuses a negative integer, naming the key', () => {
      assert.throws(() => makeConfig({ batchTimeoutMs: -1 }), { code: 'CONFIG_INVALID', message: /batchTimeoutMs=-1/ });
    });

    it('refuses a port above 65535', () => {
      assert.throws(() => makeConfig({ httpPort: 70000 }), { code: 'CONFIG_INVALID', message: /httpPort.*70000/ });
    });

    it('refuses a SASL mechanism without a username', () => {
      assert.throws(() => makeConfig({ kafkaSaslMechanism: 'plain', kafkaSaslPassword: 'secret' }), {
        code: 'CONFIG_INVALID',
        message: /kafkaSaslMechanism needs kafkaSaslUsername/,
      });
    });

    it('accepts a SASL mechanism with username and password', () => {
      const c = makeConfig({ kafkaSaslMechanism: 'scram-sha-512', kafkaSaslUsername: 'u', kafkaSaslPassword: 'p' });
      assert.equal(c.kafkaSaslMechanism, 'scram-sha-512');
    });

    it('refuses an unknown SASL mechanism, naming it', () => {
      assert.throws(() => makeConfig({ kafkaSaslMechanism: 'gssapi' as never }), { code: 'CONFIG_INVALID', message: /kafkaSaslMechanism="gssapi"/ });
    });

    it('refuses a topic prefix with a forbidden character, naming it', () => {
      assert.throws(() => makeConfig({ topicPrefix: 'my/prefix' }), { code: 'CONFIG_INVALID', message: /topicPrefix.*my\/prefix/ });
    });

    it('refuses a registry URL that is not http(s)', () => {
      assert.throws(() => makeConfig({ schemaRegistryUrl: 'ftp://registry' }), { code: 'CONFIG_INVALID', message: /schemaRegistryUrl.*ftp:\/\/registry/ });
    });

    it('refuses an unknown log level', () => {
      assert.throws(() => makeConfig({ logLevel: 'loud' as never }), { code: 'CONFIG_INVALID', message: /logLevel="loud"/ });
    });
  });

  describe('loadConfig', () => {
    it('returns the defaults from an empty environment and no flags', () => {
      assert.deepStrictEqual(loadConfig({}), { config: DEFAULTS, rest: [] });
    });

    it('reads the JSON file named by --config over the defaults', () => {
      const file = configFile('flag.json', { groupId: 'from-file', batchSize: 10 });
      const { config } = loadConfig({}, ['--config', file]);
      assert.equal(config.groupId, 'from-file');
      assert.equal(config.batchSize, 10);
    });

    it('reads the JSON file named by COORD_CONFIG', () => {
      const file = configFile('env.json', { groupId: 'from-file' });
      assert.equal(loadConfig({ COORD_CONFIG: file }).config.groupId, 'from-file');
    });

    it('lets the environment override the file', () => {
      const file = configFile('under-env.json', { groupId: 'from-file', httpHost: 'file-host' });
      const { config } = loadConfig({ COORD_CONFIG: file, COORD_GROUP_ID: 'from-env' });
      assert.equal(config.groupId, 'from-env');
      assert.equal(config.httpHost, 'file-host');
    });

    it('lets flags override the environment and the file', () => {
      const file = configFile('under-flags.json', { batchSize: 10, groupId: 'from-file' });
      const { config } = loadConfig({ COORD_CONFIG: file, COORD_BATCH_SIZE: '20', COORD_GROUP_ID: 'from-env' }, ['--batch-size=30']);
      assert.equal(config.batchSize, 30);
      assert.equal(config.groupId, 'from-env');
    });

    it('reads a flag value from the next argument', () => {
      assert.equal(loadConfig({}, ['--group-id', 'g1']).config.groupId, 'g1');
    });

    it('returns unknown flags and positional arguments in rest, in order', () => {
      const { config, rest } = loadConfig({}, ['serve', '--verbose', '--batch-size=5', '--color=no', 'x']);
      assert.deepStrictEqual(rest, ['serve', '--verbose', '--color=no', 'x']);
      assert.equal(config.batchSize, 5);
    });

    it('refuses a known flag with no value', () => {
      assert.throws(() => loadConfig({}, ['--batch-size']), { code: 'CONFIG_INVALID', message: /--batch-size needs a value/ });
    });

    it('ignores an empty environment variable', () => {
      assert.equal(loadConfig({ COORD_BATCH_SIZE: '' }).config.batchSize, DEFAULTS.batchSize);
    });

    it('splits and trims a broker list from the environment', () => {
      assert.deepStrictEqual(loadConfig({ KAFKA_BROKERS: ' a:1, b:2 ,' }).config.kafkaBrokers, ['a:1', 'b:2']);
    });

    it('parses booleans from the environment', () => {
      assert.equal(loadConfig({ KAFKA_SSL: 'true' }).config.kafkaSsl, true);
      assert.equal(loadConfig({ KAFKA_SSL: '0' }).config.kafkaSsl, false);
    });

    it('moves the default reply topic with a topic prefix from the environment', () => {
      assert.equal(loadConfig({ COORD_TOPIC_PREFIX: 'team2' }).config.replyTopic, 'team2.replies');
    });

    it('refuses a non-numeric COORD_BATCH_SIZE, naming the key and the value', () => {
      assert.throws(() => loadConfig({ COORD_BATCH_SIZE: 'abc' }), { code: 'CONFIG_INVALID', message: /batchSize="abc"/ });
    });

    it('refuses a boolean it cannot read, naming the key', () => {
      assert.throws(() => loadConfig({ KAFKA_SSL: 'yes' }), { code: 'CONFIG_INVALID', message: /kafkaSsl="yes"/ });
    });

    it('refuses a broker list with no entries', () => {
      assert.throws(() => loadConfig({ KAFKA_BROKERS: ' , ' }), { code: 'CONFIG_INVALID', message: /kafkaBrokers/ });
    });

    it('refuses a SASL mechanism from the environment without a username', () => {
      assert.throws(() => loadConfig({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_PASSWORD: 'p' }), {
        code: 'CONFIG_INVALID',
        message: /kafkaSaslUsername/,
      });
    });

    it('refuses a configuration file that does not exist, naming it', () => {
      const missing = join(dir, 'missing.json');
      assert.throws(() => loadConfig({ COORD_CONFIG: missing }), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'CONFIG_INVALID');
        assert.ok(err.message.includes(missing), err.message);
        return true;
      });
    });

    it('refuses a configuration file that is not JSON', () => {
      const file = configFile('broken.json', '{ batchSize: ');
      assert.throws(() => loadConfig({ COORD_CONFIG: file }), { code: 'CONFIG_INVALID', message: /cannot read configuration file/ });
    });

    it('refuses a configuration file that holds no JSON object', () => {
      const file = configFile('array.json', [1, 2]);
      assert.throws(() => loadConfig({ COORD_CONFIG: file }), { code: 'CONFIG_INVALID', message: /must hold a JSON object/ });
    });

    it('refuses an unknown key in the configuration file, naming it', () => {
      const file = configFile('unknown.json', { batchSise: 10 });
      assert.throws(() => loadConfig({ COORD_CONFIG: file }), { code: 'CONFIG_INVALID', message: /unknown configuration key batchSise/ });
    });
  });
});

describe('configuration values are read strictly', () => {
  it('refuses a number written in another notation', () =>
    assert.throws(() => loadConfig({ COORD_BATCH_SIZE: '1e3' }), (err: { code?: string; message: string }) => err.code === 'CONFIG_INVALID' && /batchSize/.test(err.message)));

  it('refuses a boolean where a number belongs', () =>
    assert.throws(() => makeConfig({ batchSize: true as unknown as number }), (err: { code?: string }) => err.code === 'CONFIG_INVALID'));

  it('reads a boolean flag standing alone as true, without taking the next flag as its value', () => {
    const { config } = loadConfig({}, ['--kafka-ssl', '--batch-size=5']);
    assert.equal(config.kafkaSsl, true);
    assert.equal(config.batchSize, 5);
  });
});

describe('the reply topic a principal reads', () => {
  it('is a frontend’s or a worker’s own, the only one its ACLs let it read, whatever sets the prefix', () => {
    assert.equal(makeConfig({ kafkaSaslUsername: 'frontend' }).replyTopic, 'coord.replies.frontend');
    assert.equal(makeConfig({ kafkaSaslUsername: 'worker-2', topicPrefix: 'shop' }).replyTopic, 'shop.replies.worker-2');
    // A prefix given on the command line after the principal came from the environment (COORD_ROLE's secrets).
    assert.equal(loadConfig({ KAFKA_SASL_USERNAME: 'frontend' }, ['--topic-prefix=prod']).config.replyTopic, 'prod.replies.frontend');
  });

  it('is the prefix’s shared one for any other principal, and the one named when it is named', () => {
    assert.equal(makeConfig({ kafkaSaslUsername: 'coordinator' }).replyTopic, 'coord.replies');
    assert.equal(makeConfig({ kafkaSaslUsername: 'reader', topicPrefix: 'p' }).replyTopic, 'p.replies');
    assert.equal(makeConfig({ kafkaSaslUsername: 'frontendx' }).replyTopic, 'coord.replies');
    assert.equal(makeConfig({ kafkaSaslUsername: 'frontend', replyTopic: 'mine' }).replyTopic, 'mine');
  });
});
