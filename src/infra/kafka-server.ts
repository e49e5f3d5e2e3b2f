/** A single-node Apache Kafka in KRaft mode (combined broker and controller) on 127.0.0.1. */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoordError } from '../errors';
import { brokerAnswers, plaintext } from '../messaging/kafka';
import type { InfraDist } from './downloads';
import { spawnService, waitUntil, type Service } from './process';
import { SUPER_USER, type SecureBroker } from './secure';
import type { JavaRuntime } from './tools';

export interface KafkaServerOptions {
  readonly dist: InfraDist;
  readonly java: JavaRuntime;
  /** Holds the configuration, the log and the data. */
  readonly dir: string;
  readonly port: number;
  readonly controllerPort: number;
  readonly detached?: boolean;
  readonly pidFile?: string;
  readonly heapMb?: number;
  /** The secured profile (SASL_SSL, ACLs): its lines override the plain listeners. */
  readonly secure?: SecureBroker;
}

const serverProperties = (o: KafkaServerOptions, dataDir: string): string =>
  [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${o.controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${o.port},CONTROLLER://127.0.0.1:${o.controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${o.port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${dataDir}`,
    'num.partitions=1',
    'default.replication.factor=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=4',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'log.retention.hours=-1',
    '',
  ].join('\n');

/** A Kafka node's log4j settings: one file, the chattiest loggers at WARN (the cluster's nodes use them too). */
export const log4jProperties = (logFile: string): string =>
  [
    'log4j.rootLogger=INFO, file',
    'log4j.appender.file=org.apache.log4j.FileAppender',
    `log4j.appender.file.File=${logFile}`,
    'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.logger.kafka.request.logger=WARN',
    'log4j.logger.state.change.logger=WARN',
    '',
  ].join('\n');

export const startKafkaServer = async (o: KafkaServerOptions): Promise<Service> => {
  const dataDir = join(o.dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const props = join(o.dir, 'server.properties');
  const log4j = join(o.dir, 'log4j.properties');
  writeFileSync(props, serverProperties(o, dataDir) + (o.secure?.properties(o.port, o.controllerPort) ?? ''));
  writeFileSync(log4j, log4jProperties(join(o.dir, 'kafka.log')));
  const classpath = join(o.dist.kafkaLibs, '*');
  const jvm = [`-Xms256m`, `-Xmx${o.heapMb ?? 768}m`, '-XX:+UseG1GC', `-Dlog4j.configuration=file:${log4j}`, '-cp', classpath];

  if (!existsSync(join(dataDir, 'meta.properties'))) {
    // KRaft storage must be formatted once with a cluster id; a restarted broker keeps its own.
    // A base64url id may start with '-'; the '=' form keeps the argument parser from taking it for a flag.
    const clusterId = randomBytes(16).toString('base64url');
    const res = spawnSync(o.java.path, [...jvm, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, `--config=${props}`, ...(o.secure?.formatArgs ?? [])], { encoding: 'utf8' });
    if (res.status !== 0) throw new CoordError('INFRA_START_FAILED', `formatting Kafka storage in ${dataDir} failed:\n${res.stdout}${res.stderr}`);
  }

  const service = spawnService({
    name: 'kafka',
    command: o.java.path,
    args: [...jvm, 'kafka.Kafka', props],
    cwd: o.dir,
    logFile: join(o.dir, 'kafka.out'),
    detached: o.detached,
    pidFile: o.pidFile,
  });
  const conn = { ...plaintext([`127.0.0.1:${o.port}`]), ...o.secure?.connection(SUPER_USER) };
  await waitUntil(`Kafka on 127.0.0.1:${o.port}`, () => brokerAnswers(conn), { timeoutMs: 90_000, service });
  return service;
};
