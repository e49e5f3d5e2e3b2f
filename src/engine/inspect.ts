/**
 * Offline inspection of a coordinator's RocksDB folder (a replayed one, or a stopped
 * coordinator's dataDir), with no broker and no registry: the store opened read-only, the
 * read requests answered by the projections' own Get and List deciders over the state it
 * holds, what it stands at, and the entities that differ between two folders.
 */
import type * as avro from 'avsc';
import { handlerTable, PROJECTIONS, type Image, type Message, type PassContext, type Projection, type Status } from '../../projections';
import { CoordError } from '../errors';
import { plain } from '../messaging/codec';
import { loadContracts, type Contracts } from '../messaging/schemas';
import { digestHex } from '../store/digest';
import { openStore } from '../store/rocks';
import { decodeStop, type ReplayStop } from './replay-stop';
import { imageKeyOf, recordedLogicVersion, storedImageEntries, storedOffsets, storedReplayStop } from './layout';
import { loadState } from './load';
import type { SnapshotMeta, WorkingState } from './state';

/** The requests that only read: the ones inspection answers. Any other would change a state nobody will ever commit. */
export const READ_REQUESTS: ReadonlySet<string> = new Set([
  'coord.v1.GetLogicalSource',
  'coord.v1.ListLogicalSources',
  'coord.v1.GetPhysicalSource',
  'coord.v1.ListPhysicalSources',
  'coord.v1.GetSink',
  'coord.v1.ListSinks',
  'coord.v1.GetQuery',
  'coord.v1.ListQueries',
  'coord.v1.ListWorkers',
  'coord.v1.ListReadHolds',
  'coord.v1.DescribeCoordinator',
]);

/** A reply as a client decodes it from the wire: unions wrapped, longs bigint; `correlationId` is empty. */
export interface InspectedReply {
  readonly correlationId: string;
  readonly status: Status;
  readonly message: string;
  readonly snapshotId: bigint;
  readonly snapshotTs: bigint;
  readonly payload: { readonly type: string; readonly value: Record<string, unknown> } | null;
}

export interface InputPosition {
  readonly topic: string;
  readonly partition: number;
  /** The next offset the folder's state would read (all before it are folded). */
  readonly nextOffset: bigint;
}

export interface LogicVersion {
  readonly version: number;
  /** Recorded with the last snapshot, or by the replay that wrote the folder. */
  readonly source: 'snapshot' | 'replay';
}

export interface Inspection {
  readonly dir: string;
  /** The last snapshot the folder holds (id 0: none). */
  readonly meta: SnapshotMeta;
  /** The digest its entities sum to, read now; equal to `meta.digest` unless the folder is damaged. */
  readonly computedDigest: string;
  readonly inputs: readonly InputPosition[];
  /** Where the replay that wrote the folder stopped; undefined for a coordinator's own folder. */
  readonly stop: ReplayStop | undefined;
  readonly logicVersion: LogicVersion | undefined;
  /** Answers one read request (see READ_REQUESTS) as the coordinator would have at the folder's snapshot. */
  ask(type: string, value: Record<string, unknown>): InspectedReply;
  /** Every entity's image as stored (`s/<entity>/<key>`, JSON), in key order. */
  entities(): AsyncIterable<readonly [string, Buffer]>;
  close(): Promise<void>;
}


/** Through the record's Avro type and back, so a value has exactly the shape it has after a trip on Kafka (defaults filled, unions wrapped). */
const overTheWire = (type: avro.Type, value: unknown): Record<string, unknown> => plain(type.fromBuffer(type.toBuffer(value))) as Record<string, unknown>;

const contractType = (contracts: Contracts, fullName: string): avro.Type => {
  const c = contracts.get(fullName);
  if (c === undefined) throw new CoordError('SCHEMA_UNKNOWN', `schemas/ holds no ${fullName}; is the checkout complete?`);
  return c.type;
};

const answer = (state: WorkingState, meta: SnapshotMeta, contracts: Contracts, projections: readonly Projection[]) => {
  const handlers = handlerTable(projections);
  const replyType = contractType(contracts, 'coord.v1.Reply');
  const ctx: PassContext = { snapshotId: meta.id, snapshotTs: meta.ts, logTimeMs: meta.logTimeMs };
  return (type: string, value: Record<string, unknown>): InspectedReply => {
    const handler = handlers.get(type);
    if (!READ_REQUESTS.has(type) || handler === undefined) throw new CoordError('WRONG_TOPIC', `${type} is not a read request; inspection answers only ${[...READ_REQUESTS].join(', ')}`);
    const request = overTheWire(contractType(contracts, type), value);
    const msg: Message<never> = {
      type,
      value: request as never,
      key: typeof request.name === 'string' ? request.name : null,
      correlationId: undefined,
      timestampMs: meta.logTimeMs,
    };
    const decision = handler.decide(msg, state, ctx);
    // The read deciders change nothing; one that did would be a bug, and its answer a lie about the folder.
    if (decision.changes.length > 0 || (decision.commands?.length ?? 0) > 0 || (decision.answers?.length ?? 0) > 0)
      throw new Error(`the decider of ${type} changed the state; a read must not`);
    const draft = decision.reply ?? { status: 'INTERNAL' as const, message: `${type} gave no reply`, payload: null };
    const wire = overTheWire(replyType, {
      correlationId: '',
      status: draft.status,
      message: draft.message,
      snapshotId: meta.id,
      snapshotTs: meta.ts,
      payload: draft.payload === null ? null : { [draft.payload.type]: draft.payload.value },
    });
    const branch = wire.payload === null ? undefined : Object.entries(wire.payload as Record<string, Record<string, unknown>>)[0];
    return {
      correlationId: '',
      status: wire.status as Status,
      message: wire.message as string,
      snapshotId: wire.snapshotId as bigint,
      snapshotTs: wire.snapshotTs as bigint,
      payload: branch === undefined ? null : { type: branch[0], value: branch[1] },
    };
  };
};

/** The logic version the folder records: with its last snapshot (a coordinator that writes one), else from the replay that wrote it. */
const logicVersionOf = (recorded: number | undefined, stop: ReplayStop | undefined): LogicVersion | undefined => {
  if (recorded !== undefined) return { version: recorded, source: 'snapshot' };
  return stop === undefined ? undefined : { version: stop.logicVersion, source: 'replay' };
};

/**
 * Opens `dir` read-only and loads what it holds. Nothing is ever written to it: RocksDB's
 * read-only mode takes no lock and writes no file, and the store refuses writes.
 */
export const openInspection = async (dir: string, opts: { projections?: readonly Projection[]; contracts?: Contracts } = {}): Promise<Inspection> => {
  const store = await openStore(dir, { readOnly: true });
  try {
    const loaded = await loadState(store);
    const inputs: InputPosition[] = (await storedOffsets(store)).map(({ topic, partition, next }) => ({ topic, partition, nextOffset: next }));
    const rawStop = await storedReplayStop(store);
    const stop = rawStop === null ? undefined : decodeStop(rawStop);
    return {
      dir,
      meta: loaded.meta,
      computedDigest: digestHex(loaded.digest ?? 0n),
      inputs,
      stop,
      logicVersion: logicVersionOf(await recordedLogicVersion(store), stop),
      ask: answer(loaded.state, loaded.meta, opts.contracts ?? loadContracts(), opts.projections ?? PROJECTIONS),
      entities: () => storedImageEntries(store),
      close: () => store.close(),
    };
  } catch (err) {
    await store.close();
    throw err;
  }
};

export type Change = 'added' | 'removed' | 'changed';

export interface Difference {
  readonly entity: string;
  readonly key: string;
  /** From the first folder to the second. */
  readonly change: Change;
  readonly before: Image | null;
  readonly after: Image | null;
  /** Of a changed entity, the top-level fields whose values differ. */
  readonly fields: readonly string[];
}

const changedFields = (a: Image, b: Image): string[] =>
  [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((f) => JSON.stringify(a[f]) !== JSON.stringify(b[f])).sort();

const parse = (v: Buffer): Image => JSON.parse(v.toString()) as Image;

/**
 * The entities whose images differ between two sets of stored entities (each in key order,
 * as `Inspection.entities` gives them), in key order: added in `to`, removed from it, or
 * changed. Both are walked once side by side.
 */
export const diffEntities = async (from: AsyncIterable<readonly [string, Buffer]>, to: AsyncIterable<readonly [string, Buffer]>): Promise<Difference[]> => {
  const out: Difference[] = [];
  const a = from[Symbol.asyncIterator]();
  const b = to[Symbol.asyncIterator]();
  let x = await a.next();
  let y = await b.next();
  const push = (k: string, change: Change, before: Buffer | null, after: Buffer | null): void => {
    const { entity, key } = imageKeyOf(k);
    const was = before === null ? null : parse(before);
    const now = after === null ? null : parse(after);
    out.push({ entity, key, change, before: was, after: now, fields: was !== null && now !== null ? changedFields(was, now) : [] });
  };
  while (!x.done || !y.done) {
    if (y.done || (!x.done && x.value[0] < y.value[0])) {
      const [k, v] = x.value as readonly [string, Buffer];
      push(k, 'removed', v, null);
      x = await a.next();
    } else if (x.done || y.value[0] < x.value[0]) {
      push(y.value[0], 'added', null, y.value[1]);
      y = await b.next();
    } else {
      if (!x.value[1].equals(y.value[1])) push(x.value[0], 'changed', x.value[1], y.value[1]);
      x = await a.next();
      y = await b.next();
    }
  }
  return out;
};

/** The entities that differ between two folders, each opened read-only; see `diffEntities`. */
export const diffFolders = async (fromDir: string, toDir: string): Promise<{ from: SnapshotMeta; to: SnapshotMeta; differences: Difference[] }> => {
  const from = await openInspection(fromDir);
  try {
    const to = await openInspection(toDir);
    try {
      return { from: from.meta, to: to.meta, differences: await diffEntities(from.entities(), to.entities()) };
    } finally {
      await to.close();
    }
  } finally {
    await from.close();
  }
};
