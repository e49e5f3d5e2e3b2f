/** Topic names of the public protocol, under a configurable prefix. */

export const TOPIC_KINDS = [
  'events.infra',
  'events.session',
  'requests.catalog',
  'requests.query',
  'requests.system',
  'internal.ticks',
  'replies',
  'changelog',
  'snapshots',
  'checkpoints',
  'worker-commands',
  'dlq',
] as const;

export type TopicKind = (typeof TOPIC_KINDS)[number];

/** Topics the coordinator consumes, in the order of the pass's stages (infrastructure and ticks, sessions, catalog, queries, system). */
export const INPUT_KINDS: readonly TopicKind[] = [
  'events.infra',
  'internal.ticks',
  'events.session',
  'requests.catalog',
  'requests.query',
  'requests.system',
];

export const topicName = (prefix: string, kind: TopicKind): string => `${prefix}.${kind}`;

export interface TopicSpec {
  readonly topic: string;
  readonly numPartitions: number;
  readonly configEntries?: readonly { name: string; value: string }[];
}

/** Every topic the deployment needs; created explicitly, since brokers should not auto-create. */
export const topicSpecs = (prefix: string, partitions = 1): TopicSpec[] =>
  TOPIC_KINDS.map((kind) => ({
    topic: topicName(prefix, kind),
    numPartitions: kind === 'internal.ticks' || kind === 'snapshots' || kind === 'checkpoints' ? 1 : partitions,
    // The inputs and the markers are the history that replay and takeover rebuild from: kept forever.
    configEntries: [
      ...(INPUT_KINDS.includes(kind) || kind === 'snapshots' ? [{ name: 'retention.ms', value: '-1' }] : []),
      // The log is the clock: the broker stamps every input, so no producer's clock skews liveness or deadlines.
      ...(INPUT_KINDS.includes(kind) ? [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] : []),
      // A checkpoint's chunks and manifest are keyed by slot: compaction keeps the last two checkpoints, so the topic grows with the state, not the history.
      ...(kind === 'checkpoints' ? [{ name: 'cleanup.policy', value: 'compact' }, { name: 'max.message.bytes', value: String(2 * 1024 * 1024) }] : []),
    ],
  }));
