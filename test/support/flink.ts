/** Flink SQL in local mode, as an analytics user runs it: the README's statements, run by PyFlink (see `make flink`). */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import type { Config } from '../../src/config';
import { errorMessage } from '../../src/errors';
import { SUPER_USER, type SecureBroker } from '../../src/infra/secure';
import { projectRoot } from '../../src/messaging/schemas';
import { secureRegistryEnabled } from './secure';
import { testStack } from './stack';
import { readTopic } from './topics';

const ROOT = projectRoot();
/** Made by `make flink` (PyPI apache-flink in a virtualenv, the connector jars from Maven Central). */
const PYTHON = join(ROOT, '.cache/flink/venv/bin/python');
const JARS = join(ROOT, '.cache/flink/jars');
/** Flink's JVM starts, plans and runs one job for the three tables: slow on a busy machine, never unbounded. */
export const FLINK_TIMEOUT_MS = 300_000;

export const TABLES = ['logical_sources', 'queries', 'workers'] as const;

/**
 * What read_tables.py --secure fills the README's `${…}` placeholders with ("Running securely", "Flink SQL as the
 * reader"): `reader`'s credentials, as in its `.coord/secrets/<role>.env`, and the stack's CA for the broker and the
 * registry; the result topics are written as the super user, since writing is no part of the reader's role.
 */
const secureEnv = (secure: SecureBroker, reader: Config): Record<string, string> => {
  const sink = secure.connection(SUPER_USER);
  const need = (what: string, v: string | undefined): string => {
    if (v === undefined || v === '') throw new Error(`the reader's configuration has no ${what}`);
    return v;
  };
  return {
    KAFKA_SASL_USERNAME: need('SASL username', reader.kafkaSaslUsername),
    KAFKA_SASL_PASSWORD: need('SASL password', reader.kafkaSaslPassword),
    KAFKA_SSL_CA_LOCATION: need('CA', reader.kafkaSslCaLocation),
    SCHEMA_REGISTRY_AUTH: need('registry credentials', reader.schemaRegistryAuth),
    SCHEMA_REGISTRY_CA_LOCATION: secure.tls.caFile,
    FLINK_SINK_SASL_USERNAME: need('SASL username', sink.kafkaSaslUsername),
    FLINK_SINK_SASL_PASSWORD: need('SASL password', sink.kafkaSaslPassword),
  };
};

/**
 * The exceptions a failed Flink run names, first to last, each once: a JVM's stack trace ends in the shutdown's noise, so
 * the cause is not in its tail.
 */
const flinkCauses = (output: string): string[] => [...new Set(output.split('\n').map((l) => l.trim()).filter((l) => /^(: |Caused by: )?[\w.$]+(Exception|Error)\b/.test(l)))].slice(0, 12);

/** One run of read_tables.py; rejects with the causes it printed and the tails of its output. */
const runFlinkOnce = (prefix: string, reader: Config): Promise<void> =>
  new Promise((resolve, reject) => {
    const { secure, brokers, registryUrl, registryTlsUrl } = testStack();
    if (secureRegistryEnabled() && registryTlsUrl === undefined) throw new Error('the secured registry should answer https as well (registryTlsPort)');
    const secured = secure === undefined ? undefined : secureEnv(secure, reader);
    const args = [join(ROOT, 'test/flink/read_tables.py'), brokers, secured === undefined ? registryUrl : (registryTlsUrl ?? registryUrl), prefix, JARS, join(ROOT, 'README.md')];
    const child = spawn(PYTHON, secured === undefined ? args : [...args, '--secure'], {
      cwd: ROOT,
      env: { ...process.env, ...secured },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const failed = (what: string): Error => new Error(`${what}\ncauses:\n  ${flinkCauses(`${out}\n${err}`).join('\n  ') || '(none named)'}\n--- stdout (tail)\n${out.slice(-2_000)}\n--- stderr (tail)\n${err.slice(-3_000)}`);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(failed(`Flink did not finish within ${FLINK_TIMEOUT_MS} ms`));
    }, FLINK_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || last !== JSON.stringify(TABLES)) reject(failed(`Flink exited ${code}, its last line ${JSON.stringify(last.slice(0, 200))}`));
      else resolve();
    });
  });

/**
 * The README's Flink SQL, run by Flink itself in local mode to the end of each topic; Flink writes its tables to
 * `<prefix>.flink.<table>`. On a secured stack Flink connects as `reader`, the reader role's configuration (its ACLs for
 * `prefix` in place: `asRole`), with the README's options for a secured cluster, and reads the
 * registry over https when the stack serves it (TEST_SECURE_REGISTRY=1).
 *
 * A failed run is run once more, its causes printed: Flink's own clients (a JVM, a planner, a local cluster on a
 * machine shared with the brokers) can fail on a timeout of their own. The tables are read the same way again and
 * written by key, so a second run rewrites the same rows; a fault in what the coordinator wrote fails both.
 */
export const runFlink = async (prefix: string, reader: Config): Promise<void> => {
  try {
    await runFlinkOnce(prefix, reader);
  } catch (e) {
    const first = errorMessage(e);
    console.warn(`Flink's first run failed; running it once more. The first run:\n${first}`);
    await runFlinkOnce(prefix, reader).catch((again: unknown) => {
      throw new Error(`Flink failed twice.\nThe first run: ${first}\nThe second run: ${errorMessage(again)}`);
    });
  }
};

/** A table as Flink wrote it with upsert-kafka (JSON key and value, a tombstone for a removed row), rebuilt by key. */
export const flinkTable = async (kafka: Kafka, topic: string): Promise<Record<string, unknown>[]> => {
  const admin = kafka.admin();
  await admin.connect();
  const [end] = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const high = BigInt(end.high);
  const read = await readTopic(kafka, topic, (all) => high === 0n || all.some((r) => BigInt(r.message.offset) >= high - 1n), 60_000);
  const rows = new Map<string, Record<string, unknown>>();
  for (const { message } of read) {
    const key = message.key?.toString() ?? '';
    if (message.value === null) rows.delete(key);
    else rows.set(key, JSON.parse(message.value.toString()) as Record<string, unknown>);
  }
  return [...rows.values()];
};


/** Whether `make flink` has set Flink up. */
export const flinkReady = (): boolean => existsSync(PYTHON) && existsSync(JARS);

export const FLINK_SETUP = `Flink is not set up: run 'make flink' (it makes ${PYTHON} and ${JARS})`;
