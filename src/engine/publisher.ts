/**
 * Publication of a committed snapshot's outbox: one Kafka transaction per snapshot, split
 * into produce requests the broker takes, retried while the trouble passes, and never stuck
 * on a record that can never go out. Such a record (a reply topic deleted or internal, an
 * output over the broker's limit, a topic we may not write) is set aside: a short notice
 * goes to the DLQ in its place, so the rest of the snapshot, and every later one, goes out.
 * Above it, the publication of committed snapshots in order, a group of them per transaction.
 */
import { CoordError, errorMessage, isCoordError } from '../errors';
import type { Logger } from '../log';
import { withAdmin, type Kafka, type Producer, type RecordMetadata } from '../messaging/clients';
import { H } from '../messaging/headers';
import { classifyProduceError, endsPublication, outboxProducer, transactionalIdRefused, type ProduceFailure } from '../messaging/kafka';
import type { Store, WriteOps } from '../store/rocks';
import { pendingOutboxes, publishedOps, type OutRecord, type Outbox } from './layout';
import { failPoint } from './failpoints';
import { backoffMs, pause, type Health } from './health';
import { tpKey } from './state';

export interface PublisherDeps {
  readonly kafka: Kafka;
  readonly log: Logger;
  readonly health: Health;
  readonly transactionalId: string;
  readonly dlqTopic: string;
  /**
   * Topics whose records are never set aside (the snapshot markers, the changelog, the worker
   * commands): a gap there would break the chain of markers or lose an effect, so a refusal is
   * the environment's to fix, retried and shown on /readyz.
   */
  readonly protectedTopics: ReadonlySet<string>;
  /** Most bytes in one produce request; a single larger record goes alone. */
  readonly maxRequestBytes: number;
  /**
   * Whether this instance may still publish for the activation that committed the outbox: it
   * is running, still active, and its group membership is fresh. Checked before every retry and
   * before any new producer, so an instance cut off from the group never fences the one that
   * took over when it comes back.
   */
  readonly mayPublish: () => boolean;
}

export interface Publisher {
  /**
   * A new transactional producer: every earlier one under our id (another instance, or an earlier
   * self) is fenced. Throws TRANSACTIONAL_ID_FORBIDDEN when this principal may not use the id.
   */
  fence(): Promise<void>;
  /**
   * Publishes `records` in one transaction, retrying while the trouble passes; resolves with
   * the offset of the last record that went to `tracked` (a one-partition topic), if any.
   * Throws FENCED when another instance took over, TRANSACTIONAL_ID_FORBIDDEN when the broker
   * refuses this principal its transactional id (an ACL missing), or PUBLISH_FAILED when stopped.
   */
  publish(records: readonly OutRecord[], tracked: string, stamp: Readonly<Record<string, string>>, trackedStamp: Readonly<Record<string, string>>): Promise<bigint | undefined>;
  close(): Promise<void>;
  /** Records set aside since start, by the reason's code (DLQ_REFUSED: a DLQ record the broker refused, dropped). */
  readonly setAside: Readonly<Record<string, number>>;
}

/** What a record weighs in a produce request: key, value, headers and the per-record framing. */
const weight = (r: OutRecord): number => {
  let n = 64 + (r.key?.length ?? 0) + (r.value?.length ?? 0);
  for (const [k, v] of Object.entries(r.headers)) n += k.length + v.length + 8;
  return n;
};

/** Consecutive runs of records, each within `budget` bytes (a single heavier record alone). */
export const chunksOf = (records: readonly OutRecord[], budget: number): OutRecord[][] => {
  const chunks: OutRecord[][] = [];
  let current: OutRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    const w = weight(r);
    if (current.length > 0 && bytes + w > budget) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += w;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
};

/** Headers every record of a publication gets (its generation), and those the tracked topic's records get too (the lag). */
interface Stamps {
  readonly all: Readonly<Record<string, string>>;
  readonly tracked: string | undefined;
  readonly trackedOnly: Readonly<Record<string, string>>;
}

const NO_STAMPS: Stamps = { all: {}, tracked: undefined, trackedOnly: {} };

/**
 * `{ ...headers, ...stamps, ...more }`, as a copy then assignments: the same keys in the same order, at a fraction of
 * the cost of spreads that override (V8 clones a plain spread fast); a publication stamps every record it sends.
 */
const stamped = (headers: Readonly<Record<string, string>>, stamps: Readonly<Record<string, string>>, more?: Readonly<Record<string, string>>): Record<string, string> => {
  const out = { ...headers };
  for (const k in stamps) out[k] = stamps[k];
  if (more !== undefined) for (const k in more) out[k] = more[k];
  return out;
};

/** The records as kafkajs sends them, grouped by topic in one pass (the order within a topic kept). */
const byTopic = (records: readonly OutRecord[], stamps: Stamps): { topic: string; messages: { key: string | null; value: Buffer | null; headers: Record<string, string> }[] }[] => {
  const groups = new Map<string, { key: string | null; value: Buffer | null; headers: Record<string, string> }[]>();
  for (const r of records) {
    let g = groups.get(r.topic);
    if (g === undefined) groups.set(r.topic, (g = []));
    const headers = r.topic === stamps.tracked ? stamped(r.headers, stamps.all, stamps.trackedOnly) : stamped(r.headers, stamps.all);
    g.push({ key: r.key, value: r.value, headers });
  }
  return [...groups].map(([topic, messages]) => ({ topic, messages }));
};

/** The smallest produce budget the publisher falls back to when a topic takes less than it thought. */
const MIN_BUDGET = 16 * 1024;
/** A set-aside record's value is kept in its DLQ notice up to this size. */
const NOTICE_VALUE_BYTES = 64 * 1024;

export const createPublisher = (deps: PublisherDeps): Publisher => {
  const { kafka, log, health } = deps;
  let producer: Producer | undefined;
  let known = new Set<string>();
  let budget = deps.maxRequestBytes;
  const setAside: Record<string, number> = {};

  const refreshTopics = async (): Promise<void> => {
    known = new Set(await withAdmin(kafka, (admin) => admin.listTopics(), { retry: { retries: 2 } }));
  };

  /** The error publication ends with after `kind`, a failure it cannot go on after; undefined for any other. */
  const ending = (kind: ProduceFailure, err: unknown): CoordError | undefined => {
    if (kind === 'transactional-id-refused') return transactionalIdRefused(deps.transactionalId, err);
    if (kind === 'fenced') return new CoordError('FENCED', `another coordinator instance became active and fenced this one: ${errorMessage(err)}`, { cause: err });
    return undefined;
  };

  const fence = async (): Promise<void> => {
    const old = producer;
    producer = undefined;
    await old?.disconnect().catch(() => undefined);
    const p = outboxProducer(kafka, deps.transactionalId);
    try {
      await p.connect();
      await (await p.transaction()).abort();
    } catch (err) {
      await p.disconnect().catch(() => undefined);
      // A principal without its transactional id's ACL is refused here first, before anything is published.
      throw classifyProduceError(err) === 'transactional-id-refused' ? transactionalIdRefused(deps.transactionalId, err) : err;
    }
    producer = p;
  };

  /** The DLQ notice that takes a record's place: where it was going and why it could not. */
  const notice = (r: OutRecord, code: string, reason: string): OutRecord => {
    setAside[code] = (setAside[code] ?? 0) + 1;
    log.warn('an output can never be published; a notice goes to the DLQ in its place', { topic: r.topic.slice(0, 300), code, reason: reason.slice(0, 300) });
    return {
      topic: deps.dlqTopic,
      key: r.key,
      value: r.value !== null && r.value.length <= NOTICE_VALUE_BYTES ? r.value : Buffer.alloc(0),
      headers: { ...r.headers, [H.dlqCode]: code, [H.dlqReason]: reason, [H.dlqTopic]: r.topic.slice(0, 300) },
    };
  };

  /** Records for topics that cannot take them (internal, or missing) are set aside before any send; our own are retried. */
  const route = async (records: readonly OutRecord[]): Promise<OutRecord[]> => {
    if (records.some((r) => !known.has(r.topic))) await refreshTopics();
    return records.map((r) => {
      if (deps.protectedTopics.has(r.topic) || r.topic === deps.dlqTopic) return r;
      if (r.topic.startsWith('__')) return notice(r, 'REPLY_TO_FORBIDDEN', `topic ${r.topic} is internal to Kafka`);
      if (!known.has(r.topic)) return notice(r, 'REPLY_TOPIC_MISSING', `topic ${r.topic} does not exist`);
      return r;
    });
  };

  /** A new producer after a failure, only while this instance may still publish: otherwise it would fence the one that took over. */
  const refence = async (): Promise<void> => {
    if (!deps.mayPublish()) throw new CoordError('PUBLISH_FAILED', 'this instance is no longer the active one (stopping, or its group membership lapsed); the outbox waits in the store');
    await fence();
  };

  /** Sends in one transaction; returns the offset of the last record sent to `tracked`. */
  const sendAll = async (records: readonly OutRecord[], commit: boolean, stamps: Stamps = NO_STAMPS): Promise<bigint | undefined> => {
    const tracked = stamps.tracked;
    if (producer === undefined) await refence();
    const txn = await (producer as Producer).transaction();
    try {
      let last: bigint | undefined;
      for (const chunk of chunksOf(records, budget)) {
        const sent: RecordMetadata[] = await txn.sendBatch({ acks: -1, topicMessages: byTopic(chunk, stamps) });
        const at = sent.find((m) => m.topicName === tracked)?.baseOffset;
        if (at !== undefined) last = BigInt(at) + BigInt(chunk.filter((r) => r.topic === tracked).length - 1);
      }
      if (commit) await txn.commit();
      else await txn.abort();
      return last;
    } catch (err) {
      await txn.abort().catch(() => undefined);
      throw err;
    }
  };

  /** Sends `records` in a transaction that is then aborted (read_committed readers never see it): only to learn whether the broker takes them. */
  const trial = async (records: readonly OutRecord[]): Promise<{ readonly kind: ProduceFailure; readonly err: unknown } | undefined> => {
    try {
      await sendAll(records, false);
      return undefined;
    } catch (err) {
      const kind = classifyProduceError(err);
      // kafkajs leaves a transaction that failed in a state no later call leaves.
      if (!endsPublication(kind)) await refence().catch(() => (producer = undefined));
      return { kind, err };
    }
  };

  /**
   * After a refusal for good: finds which records the broker refuses, per topic and then per
   * record, and sets them aside. Returns the records to send, and whether anything changed.
   */
  const isolate = async (records: readonly OutRecord[], refusal: ProduceFailure): Promise<{ records: OutRecord[]; changed: boolean }> => {
    await refreshTopics().catch(() => undefined);
    let changed = false;
    const routed = await route(records);
    if (routed.some((r, i) => r !== records[i])) changed = true;
    /** What takes a refused record's place: a notice, or nothing for a DLQ record (a notice of it would be refused too). */
    const verdict = new Map<OutRecord, OutRecord | null>();
    const setAsideAs = (r: OutRecord, code: string, reason: string): void => {
      if (r.topic !== deps.dlqTopic) verdict.set(r, notice(r, code, reason));
      else {
        setAside.DLQ_REFUSED = (setAside.DLQ_REFUSED ?? 0) + 1;
        log.error('the DLQ refuses a record; it is dropped', { reason: reason.slice(0, 300) });
        verdict.set(r, null);
      }
    };
    const topics = [...new Set(routed.map((r) => r.topic))].filter((t) => !deps.protectedTopics.has(t));
    for (const topic of topics) {
      if (!deps.mayPublish()) break;
      const group = routed.filter((r) => r.topic === topic);
      const failed = await trial(group);
      const ended = failed === undefined ? undefined : ending(failed.kind, failed.err);
      if (ended !== undefined) throw ended;
      const kind = failed?.kind;
      if (kind === 'topic-refused' && topic !== deps.dlqTopic) {
        for (const r of group) setAsideAs(r, 'PUBLISH_REFUSED', `the broker refuses writes to ${topic}`);
      } else if (kind === 'record-refused') {
        for (const r of group) if ((await trial([r]))?.kind === 'record-refused') setAsideAs(r, 'OUTPUT_TOO_LARGE', `the broker refuses this ${r.value?.length ?? 0}-byte record on ${topic} (too large or invalid)`);
      }
    }
    if (verdict.size > 0) changed = true;
    if (!changed && refusal === 'record-refused' && budget > MIN_BUDGET) {
      // Each record goes alone but not together: a topic takes less per request than we send.
      budget = Math.max(MIN_BUDGET, Math.floor(budget / 2));
      changed = true;
      log.warn('a produce request was refused as too large; sending smaller ones', { maxRequestBytes: budget });
    }
    return { records: routed.flatMap((r) => { const v = verdict.get(r); return v === undefined ? [r] : v === null ? [] : [v]; }), changed };
  };

  const publish = async (input: readonly OutRecord[], tracked: string, all: Readonly<Record<string, string>>, trackedOnly: Readonly<Record<string, string>>): Promise<bigint | undefined> => {
    const stamps: Stamps = { all, tracked, trackedOnly };
    let records = await route(input).catch((err: unknown) => {
      health.failing('publish', `cannot list topics: ${errorMessage(err)}`);
      return [...input];
    });
    for (let attempt = 1; ; attempt++) {
      // Losing the right to publish ends the attempts, but never before the first: a clean stop publishes what it committed.
      if (attempt > 1 && !deps.mayPublish())
        throw new CoordError('PUBLISH_FAILED', 'this instance is no longer the active one (stopping, or its group membership lapsed); the outbox waits in the store');
      try {
        const last = await sendAll(records, true, stamps);
        health.ok('publish');
        return last;
      } catch (err) {
        const kind = classifyProduceError(err);
        const ended = ending(kind, err);
        if (ended !== undefined) throw ended;
        const t = health.failing('publish', errorMessage(err));
        log.warn('publishing the outbox failed', { attempt, kind, error: errorMessage(err), failingForMs: Date.now() - t.sinceMs });
        await refence().catch((e: unknown) => {
          producer = undefined;
          log.warn('could not start a new producer yet', { error: errorMessage(e) });
        });
        if (kind !== 'retriable') {
          const isolated = await isolate(records, kind).catch((e: unknown) => {
            if (isCoordError(e, 'FENCED') || isCoordError(e, 'TRANSACTIONAL_ID_FORBIDDEN')) throw e;
            return { records, changed: false };
          });
          records = isolated.records;
          if (isolated.changed) continue;
        }
        await pause(backoffMs(attempt), () => !deps.mayPublish());
      }
    }
  };

  return {
    fence,
    publish,
    close: async () => {
      await producer?.disconnect().catch(() => undefined);
      producer = undefined;
    },
    setAside,
  };
};

/** Input offsets to commit to Kafka, for monitoring only (the truth is in RocksDB). */
export type Commits = readonly { readonly topic: string; readonly partition: number; readonly offset: string }[];

/**
 * `earlier` and `later` together, each partition at its offset in `later` where it has one: a
 * pass's commits name only the partitions it read, so the commits of several passes are merged,
 * never replaced, or a partition read only by an earlier pass would never be committed.
 */
export const mergeCommits = (earlier: Commits | undefined, later: Commits): Commits => {
  if (earlier === undefined || earlier.length === 0) return later;
  const byPartition = new Map<string, Commits[number]>();
  for (const c of earlier) byPartition.set(tpKey(c.topic, c.partition), c);
  for (const c of later) byPartition.set(tpKey(c.topic, c.partition), c);
  return [...byPartition.values()];
};

export interface PublicationDeps {
  readonly publisher: Publisher;
  readonly store: Store;
  readonly log: Logger;
  readonly snapshotsTopic: string;
  /** The store write, retried while it fails (src/engine/coordinator.ts). */
  readonly write: (ops: WriteOps) => Promise<void>;
  /** The activation the outputs are published under: a late one from a fenced instance carries an older generation. */
  readonly generation: () => number;
  /** Input records on the log not folded yet, stamped on the markers for clients to throttle on. */
  readonly lag: () => bigint;
  /** Whether an earlier outbox was given up: a later one must not go out before it. */
  readonly stoodDown: () => boolean;
  /** A publication that took `seconds`, of the outboxes under `keys`, for /metrics. */
  readonly observed?: (keys: readonly string[], seconds: number) => void;
  /** A publication failed: the instance stops or stands down (src/engine/coordinator.ts). */
  readonly failed: (err: unknown) => void;
  /** The newest queued snapshot went out: its input offsets, to commit for monitoring. */
  readonly caughtUp: (commits: Commits) => void;
}

/**
 * Group commit: committed snapshots queue here, and one publication at a time drains the
 * queue, every snapshot waiting when it starts in one transaction. A quiet system publishes
 * each snapshot at once; a busy one needs fewer transactions than snapshots.
 */
export interface Publication {
  /** Queues a committed snapshot's outbox; resolves at once, unless so many records wait that the fold must wait for them. */
  enqueue(outbox: Outbox, commits: Commits): Promise<void>;
  /** Resolves once every queued outbox is published (or its publication failed, which stops or stands down). */
  published(): Promise<void>;
  /** Publishes, in order, the outboxes an earlier run or activation left in the store. */
  publishLeftovers(): Promise<void>;
  /** Forgets the queue: what waits stays in the store, and the next activation publishes it first, in order. */
  drop(): void;
}

/** Most records one transaction publishes: a backlog goes out in several, in order. */
const MAX_RECORDS_PER_TRANSACTION = 20_000;
/** Most records committed and waiting for publication before a pass waits for it (the fold may outrun it only so far). */
const MAX_QUEUED_RECORDS = 50_000;

/** Takes outboxes from the front of `from`, whole, up to the records one transaction carries (at least one). */
const takeGroup = (from: Outbox[]): Outbox[] => {
  let n = 0;
  let records = 0;
  while (n < from.length && (n === 0 || records + from[n].records.length <= MAX_RECORDS_PER_TRANSACTION)) records += from[n++].records.length;
  return from.splice(0, n);
};

export const createPublication = (deps: PublicationDeps): Publication => {
  const { publisher, snapshotsTopic } = deps;

  /**
   * Committed snapshots' outboxes go out in order, however long the broker is away. Only
   * fencing (another instance owns the outputs now), standing down or a stop ends the attempts;
   * what can never be published is set aside by the publisher, so nothing loops.
   */
  const publishUntilDone = async (outboxes: readonly Outbox[]): Promise<WriteOps | undefined> => {
    if (outboxes.length === 0) return undefined;
    // After an earlier outbox was given up, a later one must not go out before it: both wait for the next activation.
    if (deps.stoodDown()) throw new CoordError('PUBLISH_FAILED', 'an earlier outbox is still unpublished; this one waits for it');
    const records = outboxes.length === 1 ? outboxes[0].records : outboxes.flatMap((o) => o.records);
    const generation = deps.generation();
    // Every output says which activation published it; a late one from a fenced instance carries an older generation.
    const publishFrom = performance.now();
    const last = await publisher.publish(records, snapshotsTopic, { [H.generation]: String(generation) }, { [H.lag]: deps.lag().toString() });
    failPoint('publish.before-outbox-clear');
    deps.observed?.(
      outboxes.map((o) => o.key),
      (performance.now() - publishFrom) / 1_000,
    );
    // Where the last marker landed, so a takeover reads the markers from there, not from the beginning.
    let marker: OutRecord | undefined;
    for (let i = records.length - 1; i >= 0 && marker === undefined; i--) if (records[i].topic === snapshotsTopic) marker = records[i];
    const position = last === undefined || marker === undefined || marker.key === null ? undefined : { snapshotId: BigInt(marker.key), offset: last, generation };
    // Published: the outboxes can go (the caller writes it). A crash before this delete publishes them again, with the same
    // (snapshot-id, seq); a failing write is retried alone, never by publishing again.
    return publishedOps(outboxes.map((o) => o.key), position);
  };

  /**
   * The deletes of published outboxes, written in order while the next publication runs: a
   * transaction need not wait for the store write after the one before (0.7 ms at the median,
   * 10 ms at the 99th percentile at 200 asks/s). A crash before a delete landed publishes that
   * outbox again at the next start, with the same (snapshot-id, seq), as a crash before the write
   * always did; while a delete is retried, later outboxes may go out too, so such a crash may
   * publish several again. The first failure is kept and ends the drain at its next step; nothing
   * after it is written. published() and publishLeftovers wait for every delete begun.
   */
  let clearing: Promise<void> = Promise.resolve();
  let clearFailure: { readonly err: unknown } | undefined;
  const clearLater = (ops: WriteOps): void => {
    clearing = clearing
      .then(() => (clearFailure === undefined ? deps.write(ops) : undefined))
      .catch((err: unknown) => {
        if (clearFailure !== undefined) return;
        clearFailure = { err };
        deps.log.warn('deleting a published outbox failed; the next start publishes it again', { error: errorMessage(err) });
      });
  };
  const cleared = async (): Promise<void> => {
    await clearing;
    if (clearFailure !== undefined) throw clearFailure.err;
  };

  let queue: Outbox[] = [];
  let queuedRecords = 0;
  let queuedCommits: Commits | undefined;
  let draining: Promise<void> | undefined;
  const drain = (): void => {
    if (draining !== undefined) return;
    draining = (async () => {
      // An outbox queued while the last deletes were written (drain() saw this drain still running) goes out too.
      do {
        while (queue.length > 0) {
          if (clearFailure !== undefined) throw clearFailure.err;
          const group = takeGroup(queue);
          queuedRecords -= group.reduce((n, o) => n + o.records.length, 0);
          const commits = queue.length === 0 ? queuedCommits : undefined;
          const ops = await publishUntilDone(group);
          if (ops !== undefined) clearLater(ops);
          if (commits !== undefined) deps.caughtUp(commits);
        }
        await cleared();
      } while (queue.length > 0);
    })()
      .catch((err: unknown) => deps.failed(err))
      .finally(() => (draining = undefined));
  };

  const published = async (): Promise<void> => {
    while (draining !== undefined) await draining;
    // After a failed publication too, every delete begun is written (or has failed) before the store may close.
    await clearing;
  };

  return {
    enqueue: async (outbox, commits) => {
      // The snapshot is committed; its outputs go out while the next batch is folded, in snapshot order.
      queue.push(outbox);
      queuedRecords += outbox.records.length;
      queuedCommits = mergeCommits(queuedCommits, commits);
      drain();
      // The fold may run ahead of publication, but only so far.
      if (queuedRecords > MAX_QUEUED_RECORDS) await published();
    },
    published,
    publishLeftovers: async () => {
      // A delete still being written would leave its outbox looking unpublished.
      await clearing;
      const left = await pendingOutboxes(deps.store);
      if (left.length === 0) return;
      deps.log.info('publishing outbox left by an earlier run', { snapshots: left.length, records: left.reduce((n, o) => n + o.records.length, 0) });
      while (left.length > 0) {
        const ops = await publishUntilDone(takeGroup(left));
        if (ops !== undefined) await deps.write(ops);
      }
    },
    drop: () => {
      queue = [];
      queuedRecords = 0;
    },
  };
};
