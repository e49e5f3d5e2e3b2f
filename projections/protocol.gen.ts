// Generated from schemas/*.avsc by src/messaging/protocol-types.ts (make build): do not edit.
// The records as the codec decodes them: longs are bigint, a union is null or its branch wrapped
// (`{ string: 'x' }`), an enum is its symbols, and defaults are filled in, so every field is there.

/**
 * Request on <prefix>.requests.system: keep the history at a snapshot timestamp readable past
 * historyRetentionMs; acquiring an existing name renews its lease. Replies OK with the ReadHold,
 * FAILED_PRECONDITION below the compaction frontier, or INVALID_ARGUMENT.
 */
export type AcquireReadHold = {
  readonly name: string;
  /**
   * Read the state as of this earlier snapshot timestamp (hybrid) instead of now; refused below the
   * compaction frontier.
   */
  readonly asOfTs: { readonly long: bigint } | null;
  /** Log time after which the hold lapses unless acquired again; at most a day. */
  readonly leaseMs: bigint;
};

/**
 * Request on <prefix>.requests.system: a range of ids that is never handed out again, across
 * restarts, kill -9 and replay. Replies OK with an IdRange, or INVALID_ARGUMENT.
 */
export type AllocIds = {
  /** 1 to 1000000. */
  readonly count: number;
};

/**
 * Request on <prefix>.requests.system: consecutive hybrid timestamps (physical ms << 18 | logical),
 * later than every snapshot and every timestamp handed out before. Replies OK with a
 * TimestampRange, or INVALID_ARGUMENT.
 */
export type AllocTimestamps = {
  /** 1 to 10000. */
  readonly count: number;
};

/**
 * On <prefix>.changelog, keyed by <entityType>/<key>: the last image of one entity changed in a
 * snapshot. Headers snapshot-id and seq.
 */
export type ChangelogRecord = {
  /**
   * worker, session, logical-source, physical-source, sink, query, allocation, oracle, read-hold,
   * settings.
   */
  readonly entityType: string;
  readonly key: string;
  readonly snapshotId: bigint;
  readonly snapshotTs: bigint;
  readonly op: ChangeOp;
  /** The entity's new image as JSON; null for a DELETE. */
  readonly image: { readonly string: string } | null;
};

export type ChangeOp = 'UPSERT' | 'DELETE';

/**
 * A part of a checkpoint on <prefix>.checkpoints (compacted), keyed <slot>/chunk/<index>: the
 * store's entries at one snapshot, in key order. A new instance with an empty folder restores the
 * newest checkpoint whose every chunk is there and whose digest the snapshot's marker proves, then
 * follows the log from it.
 */
export type CheckpointChunk = {
  /** The snapshot whose state this chunk belongs to. */
  readonly snapshotId: bigint;
  /**
   * 0 or 1: checkpoints alternate between two sets of keys, so a writer that dies half-way never
   * overwrites the last complete one.
   */
  readonly slot: number;
  /** The chunk's place in the checkpoint, from 0. */
  readonly index: number;
  /** Store entries (key, value), in key order, continuing the previous chunk's. */
  readonly entries: readonly CheckpointEntry[];
};

export type CheckpointEntry = {
  readonly key: string;
  readonly value: Buffer;
};

/**
 * The last record of a checkpoint on <prefix>.checkpoints, keyed <slot>/manifest, written once
 * every chunk is: which snapshot it holds and how to check it.
 */
export type CheckpointManifest = {
  readonly snapshotId: bigint;
  readonly slot: number;
  /** How many chunks (indexes 0 to chunks - 1) the checkpoint has. */
  readonly chunks: number;
  /** How many store entries the chunks hold together. */
  readonly entries: bigint;
  /** The state digest of the snapshot (hex), as its SnapshotMarker records it. */
  readonly digest: string;
  /**
   * sha256 over every entry in order (key, 0, value length as 4 bytes, value): the chunks are whole
   * and untouched.
   */
  readonly contentSha256: string;
  /** The version of the deciding logic that folded the snapshot. */
  readonly logicVersion: number;
  /** When the writer began (wall clock; shown to operators, never folded). */
  readonly writtenAtMs: bigint;
};

/**
 * Request on <prefix>.requests.catalog, keyed by the source name: create a logical source. Replies
 * OK with the LogicalSource, or ALREADY_EXISTS.
 */
export type CreateLogicalSource = {
  readonly name: string;
  readonly fields: readonly Field[];
};

/** One field of a logical source's schema. */
export type Field = {
  readonly name: string;
  /** The field's type, as the stream engine names it (e.g. INT64, FLOAT64, STRING). */
  readonly type: string;
};

/**
 * Request on <prefix>.requests.catalog, keyed by the name: where a logical source's data enters, on
 * one worker. Replies OK with the PhysicalSource, ALREADY_EXISTS, NOT_FOUND (no such logical
 * source), FAILED_PRECONDITION (worker not registered, DEAD or DEREGISTERED) or INVALID_ARGUMENT.
 */
export type CreatePhysicalSource = {
  readonly name: string;
  readonly logicalSource: string;
  readonly workerId: string;
  /** e.g. kafka, csv, tcp */
  readonly connectorType: string;
  /** Connector options, passed to the worker as they are. */
  readonly options: Readonly<Record<string, string>>;
};

/**
 * Request on <prefix>.requests.query, keyed by the query name. Replies OK with the Query (CREATED),
 * ALREADY_EXISTS, NOT_FOUND (a source or the sink), FAILED_PRECONDITION (session not open) or
 * INVALID_ARGUMENT.
 */
export type CreateQuery = {
  readonly name: string;
  /**
   * Opaque JSON: {"sources": [logical source names], "sink": sink name, "operators": [...]};
   * sources and sink are validated, the rest goes to the workers as it is.
   */
  readonly plan: string;
  /** The owner session. */
  readonly session: { readonly string: string } | null;
  /** Stopped and dropped when its session closes or expires; needs a session. */
  readonly temporary: boolean;
};

/**
 * Request on <prefix>.requests.catalog, keyed by the name: where a query's results go. Replies OK
 * with the Sink, ALREADY_EXISTS or INVALID_ARGUMENT.
 */
export type CreateSink = {
  readonly name: string;
  /** e.g. kafka, print */
  readonly type: string;
  readonly options: Readonly<Record<string, string>>;
};

/**
 * Command on <prefix>.worker-commands, keyed by the worker id: run this fragment and report its
 * FragmentStatus.
 */
export type DeployFragment = {
  readonly queryName: string;
  readonly fragmentId: string;
  readonly kind: FragmentKind;
  readonly plan: string;
  readonly physicalSource: { readonly string: string } | null;
  readonly connectorType: { readonly string: string } | null;
  /** The physical source's connector options. */
  readonly options: Readonly<Record<string, string>>;
  /** The sink a SINK fragment writes to. */
  readonly sink: { readonly string: string } | null;
};

export type FragmentKind = 'SOURCE' | 'SINK';

/**
 * Request on <prefix>.requests.system. Replies OK with CoordinatorInfo: the snapshot, the oracle,
 * the frontier, counts, the settings in force.
 */
export type DescribeCoordinator = Record<string, never>;

/**
 * Request on <prefix>.requests.catalog, keyed by the source name: drop a logical source. Replies
 * OK, NOT_FOUND, or FAILED_PRECONDITION naming the queries and physical sources that use it. A
 * create and a drop of one name in the same snapshot cancel out: both OK, no net change.
 */
export type DropLogicalSource = {
  readonly name: string;
  /** Also stop and drop the queries that read it and drop its physical sources. */
  readonly cascade: boolean;
};

/**
 * Request on <prefix>.requests.catalog, keyed by the name. Replies OK, NOT_FOUND, or
 * FAILED_PRECONDITION while a running query reads it.
 */
export type DropPhysicalSource = {
  readonly name: string;
  /** Also stop and drop the queries that read it. */
  readonly cascade: boolean;
};

/**
 * Request on <prefix>.requests.query, keyed by the query name. Replies OK, NOT_FOUND, or
 * FAILED_PRECONDITION while it runs. The changelog shows a DELETE.
 */
export type DropQuery = {
  readonly name: string;
};

/**
 * Request on <prefix>.requests.catalog, keyed by the name. Replies OK, NOT_FOUND, or
 * FAILED_PRECONDITION while a query writes to it.
 */
export type DropSink = {
  readonly name: string;
  /** Also stop and drop the queries that write to it. */
  readonly cascade: boolean;
};

/**
 * Request on <prefix>.requests.system: what the coordinator did with the request sent under
 * correlationId, from its own records (kept for dedupeRetentionMs of log time). Replies OK with an
 * Explanation, or NOT_FOUND saying since when records are gone.
 */
export type ExplainRequest = {
  readonly correlationId: string;
};

/**
 * Event on <prefix>.events.infra, keyed by the worker id: a fragment's status as its worker sees
 * it. Reports of an older incarnation change nothing.
 */
export type FragmentStatus = {
  readonly workerId: string;
  readonly incarnation: string;
  readonly queryName: string;
  readonly fragmentId: string;
  readonly status: FragmentReport;
  /** Why it FAILED. */
  readonly reason: string;
};

export type FragmentReport = 'RUNNING' | 'FAILED' | 'STOPPED';

/**
 * Request on <prefix>.requests.catalog, keyed by the source name: read a logical source. Replies OK
 * with the LogicalSource, or NOT_FOUND.
 */
export type GetLogicalSource = {
  readonly name: string;
  /**
   * Read the state as of this earlier snapshot timestamp (hybrid) instead of now; refused below the
   * compaction frontier.
   */
  readonly asOfTs: { readonly long: bigint } | null;
};

/**
 * Request on <prefix>.requests.catalog, keyed by the name. Replies OK with the PhysicalSource, or
 * NOT_FOUND.
 */
export type GetPhysicalSource = {
  readonly name: string;
  /**
   * Read the state as of this earlier snapshot timestamp (hybrid) instead of now; refused below the
   * compaction frontier.
   */
  readonly asOfTs: { readonly long: bigint } | null;
};

/**
 * Request on <prefix>.requests.query, keyed by the query name. Replies OK with the Query, or
 * NOT_FOUND.
 */
export type GetQuery = {
  readonly name: string;
  /**
   * Read the state as of this earlier snapshot timestamp (hybrid) instead of now; refused below the
   * compaction frontier.
   */
  readonly asOfTs: { readonly long: bigint } | null;
};

/**
 * Request on <prefix>.requests.system. Replies OK with a SettingsChange whose before and after are
 * both the settings in force (nothing changes).
 */
export type GetSettings = Record<string, never>;

/**
 * Request on <prefix>.requests.catalog, keyed by the name. Replies OK with the Sink, or NOT_FOUND.
 */
export type GetSink = {
  readonly name: string;
  /**
   * Read the state as of this earlier snapshot timestamp (hybrid) instead of now; refused below the
   * compaction frontier.
   */
  readonly asOfTs: { readonly long: bigint } | null;
};

/**
 * Request on <prefix>.requests.catalog: every logical source. Replies OK with a LogicalSourceList.
 */
export type ListLogicalSources = {
  /**
   * Read the state as of this earlier snapshot timestamp (hybrid) instead of now; refused below the
   * compaction frontier.
   */
  readonly asOfTs: { readonly long: bigint } | null;
};

/** Request on <prefix>.requests.catalog. Replies OK with a PhysicalSourceList. */
export type ListPhysicalSources = {
  /** Only those feeding this logical source. */
  readonly logicalSource: { readonly string: string } | null;
  /**
   * Read the state as of this earlier snapshot timestamp (hybrid) instead of now; refused below the
   * compaction frontier.
   */
  readonly asOfTs: { readonly long: bigint } | null;
};

/** Request on <prefix>.requests.query. Replies OK with a QueryList. */
export type ListQueries = {
  /** Only the queries of this session. */
  readonly session: { readonly string: string } | null;
  /**
   * Read the state as of this earlier snapshot timestamp (hybrid) instead of now; refused below the
   * compaction frontier.
   */
  readonly asOfTs: { readonly long: bigint } | null;
};

/** Request on <prefix>.requests.system. Replies OK with a ReadHoldList. */
export type ListReadHolds = Record<string, never>;

/** Request on <prefix>.requests.catalog. Replies OK with a SinkList. */
export type ListSinks = {
  /**
   * Read the state as of this earlier snapshot timestamp (hybrid) instead of now; refused below the
   * compaction frontier.
   */
  readonly asOfTs: { readonly long: bigint } | null;
};

/**
 * Request on <prefix>.requests.system: every worker the coordinator knows, in id order. Replies OK
 * with a WorkerList.
 */
export type ListWorkers = {
  /** Also list DEAD and DEREGISTERED workers. */
  readonly includeGone: boolean;
};

/**
 * Admin request on <prefix>.requests.system: register a principal's Ed25519 public key under a key
 * id. Records signed with it (headers signing-key-id, signature) speak for that principal with
 * these roles. Replies OK (also when the same key is registered again), ALREADY_EXISTS for a key id
 * registered to another key or principal, INVALID_ARGUMENT, or PERMISSION_DENIED to a principal
 * that is not an admin.
 */
export type RegisterPrincipalKey = {
  /** The key's id, as senders name it in the signing-key-id header; never reused. */
  readonly keyId: string;
  /** The principal the key speaks for (the owner recorded on what it creates). */
  readonly principal: string;
  /**
   * Its roles: admin (settings, keys, anything of anyone), coordinator (ticks), any other name for
   * the ACL roles it mirrors.
   */
  readonly roles: readonly string[];
  /** The Ed25519 public key, base64 of its 32 bytes. */
  readonly publicKey: string;
};

/** Request on <prefix>.requests.system. Replies OK or NOT_FOUND. */
export type ReleaseReadHold = {
  readonly name: string;
};

/** The answer to a request, on the topic its reply-to header named, keyed by its correlation id. */
export type Reply = {
  readonly correlationId: string;
  readonly status: ReplyStatus;
  /** Human-readable: what was wrong, with which value, and what to do. */
  readonly message: string;
  /**
   * The snapshot that applied the request; -1 when it was refused before any snapshot (undecodable
   * input).
   */
  readonly snapshotId: bigint;
  /** The hybrid timestamp of that snapshot: physical ms << 18 | logical. */
  readonly snapshotTs: bigint;
  readonly payload:
    | { readonly 'coord.v1.LogicalSource': LogicalSource }
    | { readonly 'coord.v1.WorkerList': WorkerList }
    | { readonly 'coord.v1.LogicalSourceList': LogicalSourceList }
    | { readonly 'coord.v1.PhysicalSource': PhysicalSource }
    | { readonly 'coord.v1.PhysicalSourceList': PhysicalSourceList }
    | { readonly 'coord.v1.Sink': Sink }
    | { readonly 'coord.v1.SinkList': SinkList }
    | { readonly 'coord.v1.Query': Query }
    | { readonly 'coord.v1.QueryList': QueryList }
    | { readonly 'coord.v1.IdRange': IdRange }
    | { readonly 'coord.v1.TimestampRange': TimestampRange }
    | { readonly 'coord.v1.ReadHold': ReadHold }
    | { readonly 'coord.v1.ReadHoldList': ReadHoldList }
    | { readonly 'coord.v1.CoordinatorInfo': CoordinatorInfo }
    | { readonly 'coord.v1.SettingsChange': SettingsChange }
    | { readonly 'coord.v1.Explanation': Explanation }
    | null;
};

export type ReplyStatus =
  | 'OK'
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'CONFLICT'
  | 'ABORTED'
  | 'DEADLINE_EXCEEDED'
  | 'INTERNAL'
  | 'PERMISSION_DENIED';

/** A logical source as the catalog holds it. */
export type LogicalSource = {
  readonly name: string;
  readonly fields: readonly Field[];
};

/** Workers as the coordinator holds them. */
export type WorkerList = {
  readonly workers: readonly WorkerInfo[];
};

export type WorkerInfo = {
  readonly workerId: string;
  readonly incarnation: string;
  readonly host: string;
  readonly slots: number;
  readonly capabilities: readonly string[];
  readonly state: WorkerState;
  readonly lastHeartbeatMs: bigint;
  readonly statistics: { readonly map: Readonly<Record<string, number>> } | null;
};

export type WorkerState = 'ACTIVE' | 'SUSPECT' | 'DEAD' | 'DRAINING' | 'DEREGISTERED';

/** Every logical source. */
export type LogicalSourceList = {
  readonly logicalSources: readonly LogicalSource[];
};

/** A physical source as the catalog holds it. */
export type PhysicalSource = {
  readonly name: string;
  readonly logicalSource: string;
  readonly workerId: string;
  readonly connectorType: string;
  readonly options: Readonly<Record<string, string>>;
  /** False while its worker is DEAD or DEREGISTERED. */
  readonly available: boolean;
};

/** Physical sources. */
export type PhysicalSourceList = {
  readonly physicalSources: readonly PhysicalSource[];
};

/** A sink as the catalog holds it. */
export type Sink = {
  readonly name: string;
  readonly type: string;
  readonly options: Readonly<Record<string, string>>;
};

/** Sinks. */
export type SinkList = {
  readonly sinks: readonly Sink[];
};

/** A query as the coordinator holds it. */
export type Query = {
  readonly name: string;
  readonly session: { readonly string: string } | null;
  readonly temporary: boolean;
  readonly plan: string;
  readonly sources: readonly string[];
  readonly sink: string;
  readonly state: QueryState;
  /** Why it FAILED or was aborted. */
  readonly reason: string;
  /** Slots its last start took from the session's cache. */
  readonly reused: number;
  readonly fragments: readonly Fragment[];
  /**
   * The verified principal that made it: only it or an admin may stop or drop it (a query) or renew
   * or release it (a hold); null when made unsigned.
   */
  readonly owner: { readonly string: string } | null;
};

export type QueryState = 'CREATED' | 'DEPLOYING' | 'RUNNING' | 'STOPPING' | 'STOPPED' | 'FAILED';

/** One fragment of a deployed query. */
export type Fragment = {
  readonly fragmentId: string;
  readonly kind: FragmentKind;
  readonly workerId: string;
  readonly physicalSource: { readonly string: string } | null;
  readonly status: FragmentState;
};

export type FragmentState = 'DEPLOYING' | 'RUNNING' | 'FAILED' | 'STOPPING' | 'STOPPED';

/** Queries. */
export type QueryList = {
  readonly queries: readonly Query[];
};

/** Ids first .. first + count - 1. */
export type IdRange = {
  readonly first: bigint;
  readonly count: number;
};

/** Hybrid timestamps first .. first + count - 1. */
export type TimestampRange = {
  readonly first: bigint;
  readonly count: number;
};

/** A read hold. */
export type ReadHold = {
  readonly name: string;
  readonly ts: bigint;
  readonly expiresAtMs: bigint;
  /**
   * The verified principal that made it: only it or an admin may stop or drop it (a query) or renew
   * or release it (a hold); null when made unsigned.
   */
  readonly owner: { readonly string: string } | null;
};

/** Read holds and the compaction frontier. */
export type ReadHoldList = {
  readonly holds: readonly ReadHold[];
  readonly frontierTs: bigint;
};

/** Where the coordinator stands. */
export type CoordinatorInfo = {
  readonly snapshotId: bigint;
  readonly snapshotTs: bigint;
  readonly logTimeMs: bigint;
  readonly oracleTs: bigint;
  readonly frontierTs: bigint;
  readonly workers: number;
  readonly openSessions: number;
  readonly queries: number;
  readonly allocationsInUse: number;
  readonly allocationsCached: number;
  readonly settings: Readonly<Record<string, bigint>>;
};

/**
 * The settings before and after an UpdateSettings (equal when nothing changed, and for
 * GetSettings), by name.
 */
export type SettingsChange = {
  readonly before: Readonly<Record<string, bigint>>;
  readonly after: Readonly<Record<string, bigint>>;
  /** The names whose value changed, in name order. */
  readonly changed: readonly string[];
};

/** What the coordinator did with one request, from its own records (see coordctl explain). */
export type Explanation = {
  readonly correlationId: string;
  /** Full record name; empty when the record could not be decoded. */
  readonly requestType: string;
  readonly key: { readonly string: string } | null;
  /** Where the request is on the log, its log time, and the snapshot that applied it. */
  readonly position: LogPosition;
  readonly snapshotTs: bigint;
  /**
   * The stage that decided it; null when it was refused before the pass ordered it (the decoder).
   */
  readonly stage: { readonly string: string } | null;
  /** 0-based position among the records of its stage in that snapshot; -1 when not ordered. */
  readonly orderInStage: number;
  /**
   * Later records under the same id and request, answered with the same reply and no effect (at
   * most 16 kept).
   */
  readonly retries: readonly LogPosition[];
  /** null while a deferred reply is still to come. */
  readonly replyStatus: { readonly string: string } | null;
  readonly replyMessage: { readonly string: string } | null;
  readonly deferred: boolean;
  readonly answeredBy: { readonly 'coord.v1.DeferredAnswer': DeferredAnswer } | null;
  readonly changes: readonly ExplainedChange[];
  /** Changes beyond the 32 kept. */
  readonly changesOmitted: number;
  readonly commands: readonly ExplainedCommand[];
  readonly dlqCode: { readonly string: string } | null;
  readonly dlqReason: { readonly string: string } | null;
  /**
   * Log time after which this record is gone (its log time plus dedupeRetentionMs in force now).
   */
  readonly keptUntilLogTimeMs: bigint;
};

export type LogPosition = {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly logTimeMs: bigint;
  readonly snapshotId: bigint;
};

export type DeferredAnswer = {
  /**
   * The record whose decision completed the request (a FragmentStatus, a Tick past the deadline…)
   * and its snapshot.
   */
  readonly position: LogPosition;
  readonly recordType: string;
};

export type ExplainedChange = {
  readonly entity: string;
  readonly key: string;
  /** JSON image, null: did not exist. */
  readonly before: { readonly string: string } | null;
  /** JSON image, null: deleted. */
  readonly after: { readonly string: string } | null;
  /**
   * False when the snapshot cancelled it out (a create and a drop in one pass): no state change, no
   * changelog record.
   */
  readonly net: boolean;
};

export type ExplainedCommand = {
  readonly workerId: string;
  readonly recordType: string;
  readonly fragmentId: string;
};

/**
 * Admin request on <prefix>.requests.system: revoke a registered key; records signed with it are
 * refused from then on. Replies OK, NOT_FOUND, FAILED_PRECONDITION for the last admin key while
 * signatures are required, or PERMISSION_DENIED to a principal that is not an admin.
 */
export type RevokePrincipalKey = {
  /** The key's id. */
  readonly keyId: string;
};

/** Event on <prefix>.events.session, keyed by the session id: the frontend closes its session. */
export type SessionClosed = {
  readonly sessionId: string;
};

/** Event on <prefix>.events.session, keyed by the session id: the session is alive. */
export type SessionHeartbeat = {
  readonly sessionId: string;
};

/**
 * Event on <prefix>.events.session, keyed by the session id: a frontend opens a session; it stays
 * alive while it heartbeats.
 */
export type SessionOpened = {
  readonly sessionId: string;
  /** Who opened it, for people reading the state (e.g. cli@host). */
  readonly client: string;
};

/**
 * One per snapshot on <prefix>.snapshots, keyed by the snapshot id: what the pass consumed and the
 * digest of the state it produced. Replay cuts the same batches from these and compares digests.
 */
export type SnapshotMarker = {
  readonly snapshotId: bigint;
  /** Hybrid timestamp: physical ms << 18 | logical. */
  readonly snapshotTs: bigint;
  /** The log time of the pass: newest record timestamp folded so far. */
  readonly logTimeMs: bigint;
  /** Hex sum mod 2^256 of sha256(key, 0, image) over every entity image after the pass. */
  readonly digest: string;
  readonly inputs: readonly OffsetRange[];
  /** Input records in the pass. */
  readonly records: number;
  /** Entities whose image changed. */
  readonly changes: number;
  /**
   * Input records of the pass refused before any decider saw them (null on markers of coordinators
   * that did not record them). Such a verdict can depend on the world outside the log (what the
   * Schema Registry knew then), so it is recorded here and a replay reaches the same one.
   */
  readonly rejected: { readonly array: readonly RecordedVerdict[] } | null;
  /**
   * The version of the deciding logic that folded this snapshot. Digests are comparable only
   * between folds of one version: a replay or a catch-up by another version re-decides the snapshot
   * and does not compare its digest. Markers written before the version was recorded read as 1.
   */
  readonly logicVersion: number;
};

export type OffsetRange = {
  readonly topic: string;
  readonly partition: number;
  /** First offset of the pass on this partition. */
  readonly fromOffset: bigint;
  /** Last offset of the pass on this partition (inclusive). */
  readonly toOffset: bigint;
};

export type RecordedVerdict = {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  /** The DLQ code the record was refused with (SCHEMA_UNKNOWN, DECODE_LIMIT, …). */
  readonly code: string;
};

/**
 * Request on <prefix>.requests.query, keyed by the query name: place, allocate and deploy. The
 * reply is deferred until every fragment reports RUNNING (OK with the Query, and how many slots
 * came from the session's cache), or one FAILS or the deadline passes (ABORTED). Refused at once
 * with NOT_FOUND, FAILED_PRECONDITION (already running, no physical source on an ACTIVE worker) or
 * RESOURCE_EXHAUSTED (no free slot, maxAllocations reached).
 */
export type StartQuery = {
  readonly name: string;
};

/**
 * Command on <prefix>.worker-commands, keyed by the worker id: stop this fragment and report
 * STOPPED.
 */
export type StopFragment = {
  readonly queryName: string;
  readonly fragmentId: string;
};

/**
 * Request on <prefix>.requests.query, keyed by the query name: StopFragment to its workers; its
 * slots stay cached for its session for allocationIdleMs. Replies OK with the Query (STOPPING, then
 * STOPPED once the workers confirm), NOT_FOUND or FAILED_PRECONDITION.
 */
export type StopQuery = {
  readonly name: string;
};

/**
 * The log's clock on <prefix>.internal.ticks, appended by the active coordinator every
 * tickIntervalMs. It carries only the clock (tickMs); the settings are state, changed by
 * UpdateSettings. The settings fields are kept, nullable, so Ticks written before settings became
 * state still decode: such a Tick sets the settings it carries only while no UpdateSettings has set
 * them (see schemas/README.md).
 */
export type Tick = {
  /**
   * Wall time of the coordinator that appended it, ms; the pass uses the record's log timestamp.
   */
  readonly tickMs: bigint;
  /** Written only by coordinators before settings became state; null since. */
  readonly workerSuspectMs: { readonly long: bigint } | null;
  /** Written only by coordinators before settings became state; null since. */
  readonly workerTimeoutMs: { readonly long: bigint } | null;
  /**
   * Log time without a heartbeat after which a session is EXPIRED. Written only by coordinators
   * before settings became state; null since.
   */
  readonly sessionTimeoutMs: { readonly long: bigint } | null;
  /**
   * Slots the whole deployment may hold, in use and cached. Written only by coordinators before
   * settings became state; null since.
   */
  readonly maxAllocations: { readonly int: number } | null;
  /**
   * How long a stopped query's slots stay cached for its session. Written only by coordinators
   * before settings became state; null since.
   */
  readonly allocationIdleMs: { readonly long: bigint } | null;
  /**
   * Cached slots a session may keep. Written only by coordinators before settings became state;
   * null since.
   */
  readonly maxCachedAllocations: { readonly int: number } | null;
  /**
   * Log time the history stays readable asOf without a read hold. Written only by coordinators
   * before settings became state; null since.
   */
  readonly historyRetentionMs: { readonly long: bigint } | null;
  /**
   * Input values larger than this are refused to the DLQ. Written only by coordinators before
   * settings became state; null since.
   */
  readonly maxValueBytes: { readonly int: number } | null;
  /**
   * Log time a reply is remembered for retries under the same correlation id. Written only by
   * coordinators before settings became state; null since.
   */
  readonly dedupeRetentionMs: { readonly long: bigint } | null;
  /**
   * Log time a worker DEAD or DEREGISTERED, or a session CLOSED or EXPIRED, is kept before it is
   * removed from the state. Written only by coordinators before settings became state; null since.
   */
  readonly goneRetentionMs: { readonly long: bigint } | null;
  /**
   * The longest a request's deadline-ms may hold a deferred reply or slots past the log time the
   * request was applied at. Written only by coordinators before settings became state; null since.
   */
  readonly maxDeadlineMs: { readonly long: bigint } | null;
};

/**
 * Admin request on <prefix>.requests.system: change the settings the fold decides with. Every field
 * is optional; the ones given are checked (a value out of its bounds is INVALID_ARGUMENT naming the
 * bound, and nothing changes) and take effect for every decision of the snapshot that applies it
 * after it in the pass's order, and for the decoder from the next snapshot. Replies OK with a
 * SettingsChange (before and after), or PERMISSION_DENIED to a principal that is not an admin.
 */
export type UpdateSettings = {
  /** Log time without a heartbeat after which a worker is SUSPECT. */
  readonly workerSuspectMs: { readonly long: bigint } | null;
  /** Log time without a heartbeat after which a worker is DEAD; at least workerSuspectMs. */
  readonly workerTimeoutMs: { readonly long: bigint } | null;
  /** Log time without a heartbeat after which a session is EXPIRED. */
  readonly sessionTimeoutMs: { readonly long: bigint } | null;
  /**
   * Slots the whole deployment may hold, in use and cached. Lowering it below what is held refuses
   * new starts and stops nothing.
   */
  readonly maxAllocations: { readonly int: number } | null;
  /** How long a stopped query's slots stay cached for its session. */
  readonly allocationIdleMs: { readonly long: bigint } | null;
  /** Cached slots a session may keep. */
  readonly maxCachedAllocations: { readonly int: number } | null;
  /**
   * Log time the history stays readable asOf without a read hold. Raising it never brings back
   * history already compacted.
   */
  readonly historyRetentionMs: { readonly long: bigint } | null;
  /**
   * Input values larger than this are refused to the DLQ; takes effect from the next snapshot (the
   * decoder of a snapshot uses the value in force before it).
   */
  readonly maxValueBytes: { readonly int: number } | null;
  /** Log time a request is remembered for retries and explained; at least maxDeadlineMs. */
  readonly dedupeRetentionMs: { readonly long: bigint } | null;
  /** Log time a gone worker or session stays in the state. */
  readonly goneRetentionMs: { readonly long: bigint } | null;
  /** The longest a request's deadline-ms may hold a deferred reply or slots. */
  readonly maxDeadlineMs: { readonly long: bigint } | null;
  /**
   * 1: every input record must carry a signature by a registered key (RegisterPrincipalKey),
   * verified in the fold; 0: none needed. Setting it to 1 is FAILED_PRECONDITION while no key with
   * the admin role is registered.
   */
  readonly signaturesRequired: { readonly int: number } | null;
  /**
   * Sent by a coordinator from its local configuration when it becomes active: applied only while
   * no UpdateSettings has set the settings on this log; otherwise answered OK with nothing changed.
   */
  readonly initial: boolean;
};

/** Event on <prefix>.events.infra, keyed by the worker id: the worker leaves on purpose. */
export type WorkerDeregistered = {
  readonly workerId: string;
  readonly incarnation: string;
};

/**
 * Event on <prefix>.events.infra, keyed by the worker id: the worker takes no new fragments and
 * will deregister.
 */
export type WorkerDraining = {
  readonly workerId: string;
  readonly incarnation: string;
};

/**
 * Event on <prefix>.events.infra, keyed by the worker id: the worker is alive. Its log time is what
 * the check loop compares.
 */
export type WorkerHeartbeat = {
  readonly workerId: string;
  readonly incarnation: string;
};

/**
 * Event on <prefix>.events.infra, keyed by the worker id: a worker (re)starts. A new incarnation
 * fences reports of the old one.
 */
export type WorkerRegistered = {
  readonly workerId: string;
  /** Unique per start of the worker process; events of an older incarnation are ignored. */
  readonly incarnation: string;
  readonly host: string;
  /** How many fragments it can run at once. */
  readonly slots: number;
  readonly capabilities: readonly string[];
};

/**
 * Event on <prefix>.events.infra, keyed by the worker id: the latest figures a worker reports (also
 * counts as a heartbeat).
 */
export type WorkerStatistics = {
  readonly workerId: string;
  readonly incarnation: string;
  /** Named figures, e.g. cpu, memoryBytes, recordsPerSecond. */
  readonly statistics: Readonly<Record<string, number>>;
};

/** A slot taken on a worker. Key: the allocation id. Topic <prefix>.changelog.allocation. */
export type ChangelogAllocationImage = {
  /** The allocation's id, also the record key. */
  readonly allocationId: string;
  /** The worker whose slot it takes. */
  readonly workerId: string;
  /** The session it is held for, or null. */
  readonly session: { readonly string: string } | null;
  /** The fragment using it, or null while it is cached. */
  readonly fragmentId: { readonly string: string } | null;
  /** Log time (epoch ms) at which a cached allocation is released, or null while in use. */
  readonly cachedUntilMs: { readonly long: bigint } | null;
  /** CACHE or FREE once its fragment was told to stop, else null. */
  readonly releaseTo: { readonly string: string } | null;
};

/**
 * The source block of every changelog envelope, after Debezium's: where and when a change was made.
 */
export type ChangelogChangeSource = {
  /** The protocol version of the record (coord.v1). */
  readonly version: string;
  /** Always coord. */
  readonly connector: string;
  /** The deployment's topic prefix. */
  readonly name: string;
  /**
   * Log time (epoch ms) of the snapshot that made the change: the fold's clock, not a wall clock.
   */
  readonly ts_ms: bigint;
  /** The snapshot that made the change. */
  readonly snapshot_id: bigint;
  /**
   * That snapshot's hybrid timestamp (physical ms << 18 | logical): the asOf to read the same state
   * back.
   */
  readonly snapshot_ts: bigint;
  /**
   * The coordinator activation that decided the snapshot; the generation header tells which one
   * published it.
   */
  readonly generation: number;
  /**
   * The record's place in its snapshot's outputs, as the seq header: (snapshot_id, seq) identifies
   * it.
   */
  readonly seq: number;
};

/**
 * A logical source: a named stream with a field schema. Key: its name. Topic
 * <prefix>.changelog.logical-source.
 */
export type ChangelogLogicalSourceImage = {
  /** The logical source's name, also the record key. */
  readonly name: string;
  /** Its fields, in order. */
  readonly fields: readonly ChangelogFieldImage[];
  /** Hybrid timestamp of the snapshot that created it. */
  readonly createdAtTs: bigint;
};

/** One field of a logical source. */
export type ChangelogFieldImage = {
  /** The field's name. */
  readonly name: string;
  /** Its type as the client gave it (e.g. INT64). */
  readonly type: string;
};

/**
 * Where a logical source's data enters: a connector on one worker. Key: its name. Topic
 * <prefix>.changelog.physical-source.
 */
export type ChangelogPhysicalSourceImage = {
  /** The physical source's name, also the record key. */
  readonly name: string;
  /** The logical source it feeds. */
  readonly logicalSource: string;
  /** The worker that hosts it. */
  readonly workerId: string;
  /** The connector's type, as the client gave it. */
  readonly connectorType: string;
  /** The connector's options. */
  readonly options: Readonly<Record<string, string>>;
  /** False while its worker is DEAD or DEREGISTERED. */
  readonly available: boolean;
  /** Hybrid timestamp of the snapshot that created it. */
  readonly createdAtTs: bigint;
};

/** A principal's registered public key. Key: the key id. Topic <prefix>.changelog.principal-key. */
export type ChangelogPrincipalKeyImage = {
  /** The key's id, also the record key. */
  readonly keyId: string;
  /** The principal it speaks for. */
  readonly principal: string;
  /** Its roles, sorted. */
  readonly roles: readonly string[];
  /** Ed25519 public key, base64 of its 32 bytes. */
  readonly publicKey: string;
  /** Hybrid timestamp of the snapshot that registered it. */
  readonly registeredAtTs: bigint;
};

/**
 * A query with its fragments. Key: its name. Topic <prefix>.changelog.query. The address of a
 * deferred reply is the coordinator's own business and is not shown.
 */
export type ChangelogQueryImage = {
  /** The query's name, also the record key. */
  readonly name: string;
  /** The session that created it, or null. */
  readonly session: { readonly string: string } | null;
  /** A temporary query goes with its session. */
  readonly temporary: boolean;
  /** The plan as the client gave it (opaque JSON text). */
  readonly plan: string;
  /** The logical sources it reads. */
  readonly sources: readonly string[];
  /** The sink it writes to. */
  readonly sink: string;
  /** CREATED, DEPLOYING, RUNNING, STOPPING, STOPPED or FAILED (a dropped query is deleted). */
  readonly state: string;
  /** Its fragments in the current deployment, empty before the first start. */
  readonly fragments: readonly ChangelogFragmentImage[];
  /** Log time (epoch ms) by which a DEPLOYING query must be RUNNING, else null. */
  readonly deployBy: { readonly long: bigint } | null;
  /** Why it FAILED or was aborted, else empty. */
  readonly reason: string;
  /** Slots the last start took from the session's cache. */
  readonly reused: number;
  /** Hybrid timestamp of the snapshot that created it. */
  readonly createdAtTs: bigint;
  /**
   * The verified principal that created it (only it or an admin may stop or drop it); null when
   * created unsigned.
   */
  readonly owner: { readonly string: string } | null;
};

/** One fragment of a deployed query. */
export type ChangelogFragmentImage = {
  /** <query>#<deployment>-<n>. */
  readonly fragmentId: string;
  /** SOURCE or SINK. */
  readonly kind: string;
  /** The worker it runs on. */
  readonly workerId: string;
  /** The physical source a SOURCE fragment reads; null for the sink fragment. */
  readonly physicalSource: { readonly string: string } | null;
  /** The allocation (slot) it holds. */
  readonly allocation: string;
  /** DEPLOYING, RUNNING, FAILED, STOPPING or STOPPED. */
  readonly status: string;
};

/** A read hold that keeps history readable. Key: its name. Topic <prefix>.changelog.read-hold. */
export type ChangelogReadHoldImage = {
  /** The hold's name, also the record key. */
  readonly name: string;
  /** The hybrid timestamp whose state it keeps readable. */
  readonly ts: bigint;
  /** Log time (epoch ms) at which it lapses unless renewed. */
  readonly expiresAtMs: bigint;
  /**
   * The verified principal that acquired it (only it or an admin may renew or release it); null
   * when acquired unsigned.
   */
  readonly owner: { readonly string: string } | null;
};

/** A frontend's session. Key: the session id. Topic <prefix>.changelog.session. */
export type ChangelogSessionImage = {
  /** The session's id, also the record key. */
  readonly sessionId: string;
  /** The client that opened it. */
  readonly client: string;
  /** OPEN, CLOSED or EXPIRED. */
  readonly state: string;
  /** Hybrid timestamp of the snapshot that opened it. */
  readonly openedAtTs: bigint;
  /** Log time (epoch ms) of its last sign of life. */
  readonly lastHeartbeatMs: bigint;
  /** Log time (epoch ms) it was CLOSED or EXPIRED, else null. */
  readonly goneAtMs: { readonly long: bigint } | null;
  /**
   * The verified principal that opened it (only it or an admin may close it); null when opened
   * unsigned.
   */
  readonly owner: { readonly string: string } | null;
};

/**
 * The settings the coordinator decides with, as they travel on the log. Key: current. Topic
 * <prefix>.changelog.settings.
 */
export type ChangelogSettingsImage = {
  /** A worker without heartbeat this long is SUSPECT. */
  readonly workerSuspectMs: bigint;
  /** A worker without heartbeat this long is DEAD. */
  readonly workerTimeoutMs: bigint;
  /** A session without heartbeat this long is EXPIRED. */
  readonly sessionTimeoutMs: bigint;
  /** The cap on allocations across the deployment. */
  readonly maxAllocations: bigint;
  /** How long a stopped query's slots stay cached for its session. */
  readonly allocationIdleMs: bigint;
  /** The most slots a session keeps cached. */
  readonly maxCachedAllocations: bigint;
  /** How long history stays readable without a read hold. */
  readonly historyRetentionMs: bigint;
  /** Input values larger than this go to the DLQ. */
  readonly maxValueBytes: bigint;
  /** How long a reply is remembered for retries. */
  readonly dedupeRetentionMs: bigint;
  /** How long a gone worker or session stays in the state. */
  readonly goneRetentionMs: bigint;
  /** The longest a request's deadline may hold anything. */
  readonly maxDeadlineMs: bigint;
  /** The compaction frontier (hybrid timestamp) when these settings took effect. */
  readonly frontierFloorTs: bigint;
  /** 1: every input record must be signed by a registered key; 0: not. */
  readonly signaturesRequired: bigint;
};

/** A sink queries write to. Key: its name. Topic <prefix>.changelog.sink. */
export type ChangelogSinkImage = {
  /** The sink's name, also the record key. */
  readonly name: string;
  /** The sink's type, as the client gave it. */
  readonly type: string;
  /** The sink's options. */
  readonly options: Readonly<Record<string, string>>;
  /** Hybrid timestamp of the snapshot that created it. */
  readonly createdAtTs: bigint;
};

/**
 * A worker process as the coordinator sees it. Key: the worker id. Topic <prefix>.changelog.worker.
 */
export type ChangelogWorkerImage = {
  /** The worker's id, also the record key. */
  readonly workerId: string;
  /** Changes each time the worker process starts again under the same id. */
  readonly incarnation: string;
  /** Where it runs. */
  readonly host: string;
  /** How many fragments it can run at once. */
  readonly slots: number;
  /** What it offers (e.g. gpu), as registered. */
  readonly capabilities: readonly string[];
  /** ACTIVE, SUSPECT, DEAD, DRAINING or DEREGISTERED. */
  readonly state: string;
  /** Log time (epoch ms) of its last sign of life. */
  readonly lastHeartbeatMs: bigint;
  /** Hybrid timestamp (physical ms << 18 | logical) of the snapshot that registered it. */
  readonly registeredAtTs: bigint;
  /** Its latest statistics by name, or null before it sent any. */
  readonly statistics: { readonly map: Readonly<Record<string, number>> } | null;
  /** Log time (epoch ms) it became DEAD or DEREGISTERED, else null. */
  readonly goneAtMs: { readonly long: bigint } | null;
  /**
   * The verified principal that registered it: only it (or an admin) may report for this worker;
   * null when registered unsigned.
   */
  readonly owner: { readonly string: string } | null;
};

/** Every record of schemas/, by its full name. */
export type ProtocolRecords = {
  readonly 'coord.v1.AcquireReadHold': AcquireReadHold;
  readonly 'coord.v1.AllocIds': AllocIds;
  readonly 'coord.v1.AllocTimestamps': AllocTimestamps;
  readonly 'coord.v1.ChangelogRecord': ChangelogRecord;
  readonly 'coord.v1.CheckpointChunk': CheckpointChunk;
  readonly 'coord.v1.CheckpointManifest': CheckpointManifest;
  readonly 'coord.v1.CreateLogicalSource': CreateLogicalSource;
  readonly 'coord.v1.CreatePhysicalSource': CreatePhysicalSource;
  readonly 'coord.v1.CreateQuery': CreateQuery;
  readonly 'coord.v1.CreateSink': CreateSink;
  readonly 'coord.v1.DeployFragment': DeployFragment;
  readonly 'coord.v1.DescribeCoordinator': DescribeCoordinator;
  readonly 'coord.v1.DropLogicalSource': DropLogicalSource;
  readonly 'coord.v1.DropPhysicalSource': DropPhysicalSource;
  readonly 'coord.v1.DropQuery': DropQuery;
  readonly 'coord.v1.DropSink': DropSink;
  readonly 'coord.v1.ExplainRequest': ExplainRequest;
  readonly 'coord.v1.FragmentStatus': FragmentStatus;
  readonly 'coord.v1.GetLogicalSource': GetLogicalSource;
  readonly 'coord.v1.GetPhysicalSource': GetPhysicalSource;
  readonly 'coord.v1.GetQuery': GetQuery;
  readonly 'coord.v1.GetSettings': GetSettings;
  readonly 'coord.v1.GetSink': GetSink;
  readonly 'coord.v1.ListLogicalSources': ListLogicalSources;
  readonly 'coord.v1.ListPhysicalSources': ListPhysicalSources;
  readonly 'coord.v1.ListQueries': ListQueries;
  readonly 'coord.v1.ListReadHolds': ListReadHolds;
  readonly 'coord.v1.ListSinks': ListSinks;
  readonly 'coord.v1.ListWorkers': ListWorkers;
  readonly 'coord.v1.RegisterPrincipalKey': RegisterPrincipalKey;
  readonly 'coord.v1.ReleaseReadHold': ReleaseReadHold;
  readonly 'coord.v1.Reply': Reply;
  readonly 'coord.v1.RevokePrincipalKey': RevokePrincipalKey;
  readonly 'coord.v1.SessionClosed': SessionClosed;
  readonly 'coord.v1.SessionHeartbeat': SessionHeartbeat;
  readonly 'coord.v1.SessionOpened': SessionOpened;
  readonly 'coord.v1.SnapshotMarker': SnapshotMarker;
  readonly 'coord.v1.StartQuery': StartQuery;
  readonly 'coord.v1.StopFragment': StopFragment;
  readonly 'coord.v1.StopQuery': StopQuery;
  readonly 'coord.v1.Tick': Tick;
  readonly 'coord.v1.UpdateSettings': UpdateSettings;
  readonly 'coord.v1.WorkerDeregistered': WorkerDeregistered;
  readonly 'coord.v1.WorkerDraining': WorkerDraining;
  readonly 'coord.v1.WorkerHeartbeat': WorkerHeartbeat;
  readonly 'coord.v1.WorkerRegistered': WorkerRegistered;
  readonly 'coord.v1.WorkerStatistics': WorkerStatistics;
  readonly 'coord.v1.changelog.AllocationImage': ChangelogAllocationImage;
  readonly 'coord.v1.changelog.ChangeSource': ChangelogChangeSource;
  readonly 'coord.v1.changelog.LogicalSourceImage': ChangelogLogicalSourceImage;
  readonly 'coord.v1.changelog.PhysicalSourceImage': ChangelogPhysicalSourceImage;
  readonly 'coord.v1.changelog.PrincipalKeyImage': ChangelogPrincipalKeyImage;
  readonly 'coord.v1.changelog.QueryImage': ChangelogQueryImage;
  readonly 'coord.v1.changelog.ReadHoldImage': ChangelogReadHoldImage;
  readonly 'coord.v1.changelog.SessionImage': ChangelogSessionImage;
  readonly 'coord.v1.changelog.SettingsImage': ChangelogSettingsImage;
  readonly 'coord.v1.changelog.SinkImage': ChangelogSinkImage;
  readonly 'coord.v1.changelog.WorkerImage': ChangelogWorkerImage;
};

export type RecordName = keyof ProtocolRecords;
