/**
 * Step 1 of the pass: the consumer's fetches flow into a bounded buffer, and the pass takes
 * up to `batchSize` records, lingering at most `batchTimeoutMs` for more once one has come
 * (unless a request is among them: an ask does not wait for company).
 * A full buffer makes the fetch callback wait (heartbeating), which pauses fetching.
 *
 * Under a backlog a batch grows (`maxBatchSize`): a pass costs less a record the more it folds
 * (one store write, one digest step, one output per entity changed, however many records changed
 * it). It doubles while at least a batch's worth more waits, and falls back to `batchSize` once
 * the backlog is gone. A batch that takes requests never grows, and after one with no request
 * behind it the next one is short again: an ask that arrives while a pass runs waits for that
 * pass, which should be short. A backlog of requests folds at `batchSize` too: a request's pass
 * keeps every request's reply, remembered reply and explain record until it ends, and past a
 * few hundred requests they outlive V8's young generation (test/bench/fold.ts with the
 * coordinator's 8 MB semi-spaces: 38 µs a request at 500 a pass, 47 µs at 1000 and at 4000;
 * live, 15 454 requests/s at a fixed 500 against 13 585/s growing to 5000).
 *
 * The buffer has two lanes: requests (`first`, with their `companion`s: the coordinator's are the
 * sessions' events, since a client opens its session and then asks in it) and the rest (the
 * fleet's events, ticks). A batch takes the requests first, so an ask is never queued behind a
 * backlog of heartbeats, and takes no events then: an ask's pass under a fleet's heartbeats folds
 * the ask alone (about a quarter of the time of the pass with a hundred heartbeats it used to
 * share). Events are not starved by it: after a batch of requests that left events waiting, the
 * next takes at most half a batch of requests and then the events, so they fold at least every
 * other pass. Each lane has its own bounds. A full requests lane makes its fetch wait (`push`); a
 * full events lane pauses the partition instead (`offer`, `whenRoom`), because kafkajs fetches
 * again only once every batch of the last fetch was handled: a fetch of events that waited would
 * hold the requests' next fetch back. Each partition belongs to one lane and a batch takes a
 * prefix of each, so every snapshot still folds each partition in offset order, and its marker's
 * input ranges stay contiguous.
 */
import type { RawRecord } from './decode';
import { tpKey } from './state';

export interface GatherOptions {
  readonly batchSize: number;
  /** Most records a batch grows to while a backlog waits; none (or batchSize): batches never grow. */
  readonly maxBatchSize?: number;
  readonly batchTimeoutMs: number;
  /** Most records held in each lane; a fetch waits while its lane is past it. */
  readonly maxBuffered: number;
  /** Most key and value bytes held in each lane; a fetch waits while its lane is past it. */
  readonly maxBufferedBytes: number;
  /** Most value bytes in one batch. */
  readonly maxBatchBytes: number;
  /** The topics whose records a batch takes first (requests); none: one lane. */
  readonly first?: (topic: string) => boolean;
  /**
   * Topics whose records travel in the requests' lane without being requests (the sessions'
   * events: a client opens its session, then asks in it). A batch with requests takes them too;
   * alone they neither cut a linger short nor keep a batch from growing or from taking events.
   */
  readonly companion?: (topic: string) => boolean;
}

/**
 * The most records the batch after one of `limit` takes: twice as many (up to `maxBatchSize`)
 * while `behind` records, at least a batch's worth, still wait; `batchSize` once fewer do, or when
 * the batch took a request (`tookRequest`) and no request waits behind it (`requestsBehind`).
 */
export const nextBatchLimit = (opts: Pick<GatherOptions, 'batchSize' | 'maxBatchSize'>, limit: number, behind: number, tookRequest: boolean, requestsBehind: number): number => {
  const most = Math.max(opts.batchSize, opts.maxBatchSize ?? opts.batchSize);
  if (tookRequest && requestsBehind === 0) return opts.batchSize;
  return behind >= limit ? Math.min(limit * 2, most) : opts.batchSize;
};

/** What a record holds in memory, roughly: its key and value. */
const weight = (r: RawRecord): number => (r.key?.length ?? 0) + (r.value?.length ?? 0);

class Lane {
  records: RawRecord[] = [];
  bytes = 0;

  full(opts: GatherOptions): boolean {
    return this.records.length > opts.maxBuffered || this.bytes > opts.maxBufferedBytes;
  }

  clear(): void {
    this.records = [];
    this.bytes = 0;
  }
}

export class Gatherer {
  /** [requests, the rest]; with no `first`, everything goes in the second. */
  private readonly lanes: readonly [Lane, Lane] = [new Lane(), new Lane()];
  private wakeTaker: (() => void) | undefined;
  private wakePushers: (() => void)[] = [];
  /** Told once the events lane is within its bounds again (a paused partition resumes). */
  private roomWaiters: (() => void)[] = [];
  private closed = false;
  /** Most records the next batch takes: batchSize, or more while a backlog waits. */
  private limit: number;
  /** The last batch took requests and no events while some waited: this one takes events too. */
  private eventsOwed = false;
  /** Requests in the requests' lane (the rest of it: their companions). */
  private asks = 0;
  /** What the last take found, for `unshift` to put back with its batch. */
  private beforeTake: { readonly limit: number; readonly eventsOwed: boolean } | undefined;

  constructor(private readonly opts: GatherOptions) {
    this.limit = opts.batchSize;
  }

  /** Most records the next batch takes. */
  get batchLimit(): number {
    return this.limit;
  }

  get size(): number {
    return this.lanes[0].records.length + this.lanes[1].records.length;
  }

  /** Key and value bytes held. */
  get sizeBytes(): number {
    return this.lanes[0].bytes + this.lanes[1].bytes;
  }

  private laneOf(r: RawRecord): Lane {
    return this.isFirst(r.topic) ? this.lanes[0] : this.lanes[1];
  }

  /** Whether a topic's records go in the requests lane (requests and their companions). */
  isFirst(topic: string): boolean {
    return this.isAsk(topic) || this.opts.companion?.(topic) === true;
  }

  private isAsk(topic: string): boolean {
    return this.opts.first?.(topic) === true;
  }

  /** Puts records in their lanes, at the back or (`front`) in front. */
  private add(records: readonly RawRecord[], front = false): void {
    for (const lane of this.lanes) {
      const mine = records.filter((r) => this.laneOf(r) === lane);
      if (mine.length === 0) continue;
      if (front) lane.records.unshift(...mine);
      else lane.records.push(...mine);
      for (const r of mine) lane.bytes += weight(r);
      if (lane === this.lanes[0]) for (const r of mine) if (this.isAsk(r.topic)) this.asks++;
    }
  }

  /**
   * Adds records of the events lane without waiting; true when the lane is now past its bounds,
   * so the caller should fetch no more of it until `whenRoom` says (a fetch that waited here
   * would hold back the next fetch of every partition, requests included).
   */
  offer(records: readonly RawRecord[]): boolean {
    this.add(records);
    this.wakeTaker?.();
    return this.lanes[1].full(this.opts);
  }

  /** Calls `fn` once the events lane is within its bounds again; never after `drop` or `close`. */
  whenRoom(fn: () => void): void {
    if (!this.lanes[1].full(this.opts)) fn();
    else this.roomWaiters.push(fn);
  }

  /** Adds records (of one partition, as a fetch hands them); resolves once their lane has room again, calling `heartbeat` while it waits. */
  async push(records: readonly RawRecord[], heartbeat: () => Promise<void>): Promise<void> {
    if (records.length === 0) return;
    const lane = this.laneOf(records[0]);
    this.add(records);
    this.wakeTaker?.();
    while (!this.closed && lane.full(this.opts)) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1_000);
        this.wakePushers.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await heartbeat();
    }
  }

  /** Puts the last batch back in front, to be taken again, as it was. */
  unshift(records: readonly RawRecord[]): void {
    this.add(records, true);
    if (this.beforeTake !== undefined) ({ limit: this.limit, eventsOwed: this.eventsOwed } = this.beforeTake);
  }

  /** Forgets every buffered record (the member's partitions were taken away or given anew). */
  drop(): void {
    for (const lane of this.lanes) lane.clear();
    this.limit = this.opts.batchSize;
    this.eventsOwed = false;
    this.asks = 0;
    this.beforeTake = undefined;
    // The partitions paused for room stay paused: whoever drops the buffer seeks and resumes them itself.
    this.roomWaiters = [];
    this.releasePushers();
  }

  /**
   * The next batch: waits for a first record (at most `idleMs`), then lingers for more until a
   * request comes; requests first. An ask never lingers: its pass starts at once, and what comes
   * meanwhile goes in the next one (publication groups the passes' outputs anyway).
   */
  async take(idleMs: number): Promise<RawRecord[]> {
    if (this.size === 0) await this.wait(idleMs);
    if (this.size === 0) return [];
    if (this.size < this.limit && this.opts.batchTimeoutMs > 0 && !this.requestWaits()) {
      const until = Date.now() + this.opts.batchTimeoutMs;
      while (!this.closed && this.size < this.limit && !this.requestWaits() && Date.now() < until) await this.wait(until - Date.now());
    }
    // A batch that takes requests never grows: an ask waits for a short pass, and a backlog of requests folds at batchSize.
    this.beforeTake = { limit: this.limit, eventsOwed: this.eventsOwed };
    const requests = this.requestWaits();
    const limit = requests ? this.opts.batchSize : this.limit;
    // A batch that takes requests takes no events either, so an ask's pass is short. After one that left
    // events waiting, the requests take at most half a batch (and never all of it), and the first event
    // is taken whatever its bytes, so the events (and the ticks among them) fold at least every other
    // pass, however many requests come.
    const owed = this.eventsOwed && this.lanes[1].records.length > 0;
    const most = [owed ? Math.min(Math.ceil(limit / 2), limit - 1) : limit, requests && !owed ? 0 : limit];
    const taken: RawRecord[][] = [[], []];
    let bytes = 0;
    let count = 0;
    for (const [i, lane] of this.lanes.entries()) {
      let n = 0;
      let full = false;
      while (n < lane.records.length && n < most[i]) {
        const size = lane.records[n].value?.length ?? 0;
        const exempt = count + n === 0 || (owed && i === 1 && n === 0);
        full = count + n >= limit || (!exempt && bytes + size > this.opts.maxBatchBytes);
        if (full) break;
        bytes += size;
        n++;
      }
      taken[i] = lane.records.splice(0, n);
      for (const r of taken[i]) lane.bytes -= weight(r);
      count += n;
      // A batch full by count or bytes before this lane was emptied takes nothing of the next one (but the event owed).
      if (full && !(owed && i === 0)) break;
    }
    const asksTaken = taken[0].reduce((n, r) => (this.isAsk(r.topic) ? n + 1 : n), 0);
    this.asks -= asksTaken;
    this.eventsOwed = asksTaken > 0 && taken[1].length === 0 && this.lanes[1].records.length > 0;
    this.limit = nextBatchLimit(this.opts, limit, this.size, asksTaken > 0, this.asks);
    this.releasePushers();
    return taken[1].length === 0 ? taken[0] : taken[0].length === 0 ? taken[1] : [...taken[0], ...taken[1]];
  }

  /** Whether a request (not only its companions) waits in the requests' lane. */
  private requestWaits(): boolean {
    return this.asks > 0;
  }

  close(): void {
    this.closed = true;
    this.roomWaiters = [];
    this.wakeTaker?.();
    this.releasePushers();
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wakeTaker === done) this.wakeTaker = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.wakeTaker = done;
    });
  }

  /** Wakes the fetches waiting for room: each looks again at its own lane. */
  private releasePushers(): void {
    if (!this.lanes[1].full(this.opts) && this.roomWaiters.length > 0) {
      const waiting = this.roomWaiters;
      this.roomWaiters = [];
      for (const resume of waiting) resume();
    }
    if (!this.closed && this.lanes[0].full(this.opts) && this.lanes[1].full(this.opts)) return;
    const waiting = this.wakePushers;
    this.wakePushers = [];
    for (const wake of waiting) wake();
  }
}

/** One partition's progress in `unfolded`: the first offset wanted, the highest taken, the offsets taken once out of order. */
interface PartitionSeen {
  readonly want: bigint | undefined;
  last: bigint;
  taken: Set<bigint> | undefined;
}

/**
 * The records of a batch not folded yet, each once, in the batch's order: a record is new when
 * its partition is expected (`expected`: the next offset to fold, keyed `topic:partition`), its
 * offset is at or past that, and no copy of it came earlier in the batch (a batch put back after
 * a rebalance may meet its refetched copy). A partition's offsets usually rise through a batch,
 * so a copy is looked for only once one does not.
 */
export const unfolded = (records: readonly RawRecord[], expected: ReadonlyMap<string, bigint>): RawRecord[] => {
  const lanes = new Map<string, PartitionSeen>();
  const fresh: RawRecord[] = [];
  let lastTopic: string | undefined;
  let lastPartition = -1;
  let lane: PartitionSeen | undefined;
  for (const r of records) {
    if (lane === undefined || r.topic !== lastTopic || r.partition !== lastPartition) {
      const k = tpKey(r.topic, r.partition);
      lane = lanes.get(k);
      if (lane === undefined) lanes.set(k, (lane = { want: expected.get(k), last: -1n, taken: undefined }));
      lastTopic = r.topic;
      lastPartition = r.partition;
    }
    if (lane.want === undefined) continue;
    const offset = BigInt(r.offset);
    if (offset < lane.want) continue;
    if (offset > lane.last) lane.last = offset;
    else {
      // Not past every offset taken from this partition so far: it may be a copy of one of them.
      lane.taken ??= new Set(fresh.filter((f) => f.topic === r.topic && f.partition === r.partition).map((f) => BigInt(f.offset)));
      if (lane.taken.has(offset)) continue;
    }
    lane.taken?.add(offset);
    fresh.push(r);
  }
  return fresh;
};
