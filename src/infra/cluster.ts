/**
 * A multi-node Apache Kafka cluster in KRaft mode on 127.0.0.1 (every node both broker and
 * controller), replicated as production runs it: replication factor 3 (or the node count when
 * smaller), `min.insync.replicas=2`, and the transaction state log replicated alike. Each node
 * can be killed and started again on its own, so fault tests can lose a leader, the
 * transaction coordinator or the active controller; `brokers.json` says where each one is.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoordError } from '../errors';
import { brokerAnswers, plaintext } from '../messaging/kafka';
import type { InfraDist } from './downloads';
import { log4jProperties } from './kafka-server';
import { freePort, spawnService, waitUntil, type Service } from './process';
import type { JavaRuntime } from './tools';

export interface ClusterOptions {
  readonly dist: InfraDist;
  readonly java: JavaRuntime;
  /** Holds one folder per node (`node-<id>`) and `brokers.json`. */
  readonly dir: string;
  readonly nodes: number;
  /** Broker port of node 1; the others follow (port + 1, …). Free ports when absent. */
  readonly firstPort?: number;
  /** Controller port of node 1; the others follow. Free ports when absent. */
  readonly firstControllerPort?: number;
  readonly detached?: boolean;
  readonly heapMb?: number;
  /** Where `brokers.json` and, when detached, the pid files `kafka-<id>.pid` go; `dir` when absent. */
  readonly recordDir?: string;
}

export interface ClusterNode {
  readonly id: number;
  readonly port: number;
  readonly controllerPort: number;
  /**
   * A second client listener, PROXIED, on `proxiedPort`, which advertises `proxyPort`: a proxy
   * (toxiproxy in the fault tests) listening there and forwarding to `proxiedPort` carries every
   * connection of a client that bootstraps from the proxy ports, and none of the others'.
   */
  readonly proxiedPort: number;
  readonly proxyPort: number;
  /** The running JVM's pid, or undefined while the node is down. */
  readonly pid: number | undefined;
  readonly logDir: string;
}

export interface KafkaCluster {
  /** Every node's broker address, comma-separated, as clients bootstrap. */
  readonly brokers: string;
  readonly nodes: readonly ClusterNode[];
  readonly services: readonly Service[];
  /** SIGKILL (`hard`, the default) or SIGTERM one node and wait until it has gone. */
  stopNode(id: number, opts?: { hard?: boolean }): Promise<void>;
  /** The node that leads the KRaft quorum (the active controller), as the nodes' quorum-state files say; undefined while none is known. */
  activeController(): number | undefined;
  /** Starts a stopped node again on its own data and ports; resolves once it answers. */
  startNode(id: number): Promise<void>;
  stop(): Promise<void>;
}

/** The file a test or an operator reads to find a node, its port, its pid and its data. */
export const BROKERS_FILE = 'brokers.json';
/** The pid file of a detached node (`make infra`), beside `brokers.json`. */
export const clusterPidFile = (id: number): string => `kafka-${id}.pid`;

interface NodePorts {
  readonly port: number;
  readonly controllerPort: number;
  readonly proxiedPort: number;
  readonly proxyPort: number;
}

const nodeProperties = (id: number, p: NodePorts, voters: string, dataDir: string, replication: number): string =>
  [
    'process.roles=broker,controller',
    `node.id=${id}`,
    `controller.quorum.voters=${voters}`,
    `listeners=PLAINTEXT://127.0.0.1:${p.port},PROXIED://127.0.0.1:${p.proxiedPort},CONTROLLER://127.0.0.1:${p.controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${p.port},PROXIED://127.0.0.1:${p.proxyPort}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,PROXIED:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${dataDir}`,
    'num.partitions=1',
    // Topics created without a replication factor (the coordinator's) get the cluster's.
    `default.replication.factor=${replication}`,
    `min.insync.replicas=${Math.min(2, replication)}`,
    `offsets.topic.replication.factor=${replication}`,
    'offsets.topic.num.partitions=4',
    `transaction.state.log.replication.factor=${replication}`,
    `transaction.state.log.min.isr=${Math.min(2, replication)}`,
    'transaction.state.log.num.partitions=4',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'log.retention.hours=-1',
    // A node that comes back is leader again soon, so a test sees the cluster whole before the next fault.
    'leader.imbalance.check.interval.seconds=10',
    '',
  ].join('\n');

interface NodeSlot extends NodePorts {
  readonly id: number;
  readonly dir: string;
  readonly props: string;
  readonly jvm: readonly string[];
  service: Service | undefined;
}

export const startKafkaCluster = async (o: ClusterOptions): Promise<KafkaCluster> => {
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > 9) throw new CoordError('INFRA_START_FAILED', `a cluster has 1 to 9 nodes, got ${o.nodes}`);
  mkdirSync(o.dir, { recursive: true });
  const replication = Math.min(3, o.nodes);
  const ids = Array.from({ length: o.nodes }, (_, i) => i + 1);
  const ports = await Promise.all(ids.map(async (id) => (o.firstPort !== undefined ? o.firstPort + id - 1 : freePort())));
  const controllerPorts = await Promise.all(ids.map(async (id) => (o.firstControllerPort !== undefined ? o.firstControllerPort + id - 1 : freePort())));
  // The proxied listener and its proxy's port: KAFKA_PORT+200 and +300 (and on), or free ports.
  const proxiedPorts = await Promise.all(ids.map(async (id) => (o.firstPort !== undefined ? o.firstPort + 199 + id : freePort())));
  const proxyPorts = await Promise.all(ids.map(async (id) => (o.firstPort !== undefined ? o.firstPort + 299 + id : freePort())));
  const voters = ids.map((id) => `${id}@127.0.0.1:${controllerPorts[id - 1]}`).join(',');
  const clusterId = randomBytes(16).toString('base64url');

  const slots: NodeSlot[] = ids.map((id) => {
    const dir = join(o.dir, `node-${id}`);
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir, { recursive: true });
    const props = join(dir, 'server.properties');
    const log4j = join(dir, 'log4j.properties');
    const p: NodePorts = { port: ports[id - 1], controllerPort: controllerPorts[id - 1], proxiedPort: proxiedPorts[id - 1], proxyPort: proxyPorts[id - 1] };
    writeFileSync(props, nodeProperties(id, p, voters, dataDir, replication));
    writeFileSync(log4j, log4jProperties(join(dir, 'kafka.log')));
    const jvm = ['-Xms128m', `-Xmx${o.heapMb ?? 512}m`, '-XX:+UseG1GC', `-Dlog4j.configuration=file:${log4j}`, '-cp', join(o.dist.kafkaLibs, '*')];
    // Every node is formatted with the one cluster id; the same folder is never formatted twice.
    const res = spawnSync(o.java.path, [...jvm, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, `--config=${props}`, '--ignore-formatted'], { encoding: 'utf8' });
    if (res.status !== 0) throw new CoordError('INFRA_START_FAILED', `formatting Kafka storage of node ${id} in ${dataDir} failed:\n${res.stdout}${res.stderr}`);
    return { id, ...p, dir, props, jvm, service: undefined };
  });

  const brokersFile = join(o.recordDir ?? o.dir, BROKERS_FILE);
  const nodes = (): ClusterNode[] =>
    slots.map((s) => ({ id: s.id, port: s.port, controllerPort: s.controllerPort, proxiedPort: s.proxiedPort, proxyPort: s.proxyPort, pid: s.service?.pid, logDir: join(s.dir, 'data') }));
  const record = (): void => writeFileSync(brokersFile, `${JSON.stringify(nodes(), null, 2)}\n`);
  const slot = (id: number): NodeSlot => {
    const s = slots.find((x) => x.id === id);
    if (s === undefined) throw new CoordError('INFRA_START_FAILED', `no node ${id} in a cluster of ${o.nodes}`);
    return s;
  };

  const launch = (s: NodeSlot): Service => {
    s.service = spawnService({
      name: `kafka-${s.id}`,
      command: o.java.path,
      args: [...s.jvm, 'kafka.Kafka', s.props],
      cwd: s.dir,
      logFile: join(s.dir, 'kafka.out'),
      detached: o.detached,
      pidFile: o.detached ? join(o.recordDir ?? o.dir, clusterPidFile(s.id)) : undefined,
    });
    record();
    return s.service;
  };
  const answers = (s: NodeSlot, service: Service): Promise<void> =>
    waitUntil(`Kafka node ${s.id} on 127.0.0.1:${s.port}`, () => brokerAnswers(plaintext([`127.0.0.1:${s.port}`])), { timeoutMs: 180_000, service });

  const stop = async (): Promise<void> => {
    await Promise.all(slots.map(async (s) => s.service?.stop()));
    for (const s of slots) s.service = undefined;
    rmSync(brokersFile, { force: true });
  };

  // The nodes start together: a KRaft quorum of three needs two voters before any of them answers.
  try {
    await Promise.all(slots.map((s) => answers(s, launch(s))));
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    brokers: slots.map((s) => `127.0.0.1:${s.port}`).join(','),
    get nodes() {
      return nodes();
    },
    get services() {
      return slots.flatMap((s) => (s.service === undefined ? [] : [s.service]));
    },
    activeController: () => {
      // Every voter keeps the leader it knows in its quorum-state; the newest epoch among the running ones wins.
      let best: { leaderId: number; leaderEpoch: number } | undefined;
      for (const s of slots) {
        if (s.service === undefined) continue;
        try {
          const q = JSON.parse(readFileSync(join(s.dir, 'data', '__cluster_metadata-0', 'quorum-state'), 'utf8')) as { leaderId?: number; leaderEpoch?: number };
          if (typeof q.leaderId === 'number' && q.leaderId > 0 && (best === undefined || (q.leaderEpoch ?? 0) > best.leaderEpoch))
            best = { leaderId: q.leaderId, leaderEpoch: q.leaderEpoch ?? 0 };
        } catch {
          /* not written yet */
        }
      }
      return best?.leaderId;
    },
    stopNode: async (id, opts = {}) => {
      const s = slot(id);
      if (s.service !== undefined && opts.hard !== false) {
        // kill -9 of the JVM alone, as a crashed machine: no shutdown hook, no controlled leader move.
        process.kill(s.service.pid, 'SIGKILL');
        await s.service.exited;
      }
      await s.service?.stop(15_000);
      s.service = undefined;
      record();
    },
    startNode: async (id) => {
      const s = slot(id);
      if (s.service !== undefined) return;
      await answers(s, launch(s));
    },
    stop,
  };
};

/** The whole cluster seen as one service, for code that starts and stops "Kafka" without caring how many nodes it has. */
export const clusterService = (c: KafkaCluster): Service => {
  const first = c.nodes[0];
  return {
    name: 'kafka',
    pid: first.pid ?? 0,
    logFile: join(first.logDir, '..', 'kafka.log'),
    exited: Promise.all(c.services.map((s) => s.exited)).then(() => null),
    stop: () => c.stop(),
  };
};
