import { strict as assert } from 'node:assert';
import { setImmediate as turn } from 'node:timers/promises';
import type { RawRecord } from '../../src/engine/decode';
import { Gatherer, unfolded, type GatherOptions } from '../../src/engine/gather';
import { seeded } from '../support/random';

const record = (offset: number, bytes = 1, partition = 0): RawRecord => ({
  topic: 't',
  partition,
  offset: String(offset),
  key: null,
  value: Buffer.alloc(bytes),
  timestamp: '0',
});

const records = (n: number, bytes = 1): RawRecord[] => Array.from({ length: n }, (_, i) => record(i, bytes));

const offsets = (rs: readonly RawRecord[]): string[] => rs.map((r) => r.offset);

/** Every gatherer a test made, closed after it so that a push left waiting cannot hold the run open. */
const made: Gatherer[] = [];

/** batchTimeoutMs 0: take returns what is there at once, so no test depends on a linger. */
const gatherer = (opts: Partial<GatherOptions> = {}): Gatherer => {
  const g = new Gatherer({ batchSize: 100, batchTimeoutMs: 0, maxBuffered: 1_000, maxBufferedBytes: 1_000_000_000, maxBatchBytes: 1_000_000, ...opts });
  made.push(g);
  return g;
};

const noHeartbeat = async (): Promise<void> => undefined;

/** Tracks whether a promise has settled, to say "still waiting" without a clock. */
const watch = <T>(p: Promise<T>): { readonly done: boolean; readonly promise: Promise<T> } => {
  const w = { done: false, promise: p };
  void p.then(() => void (w.done = true));
  return w;
};

describe('gather: Gatherer', () => {
  afterEach(() => {
    for (const g of made.splice(0)) g.close();
  });

  describe('take', () => {
    it('returns at most batchSize records, oldest first', async () => {
      const g = gatherer({ batchSize: 2 });
      await g.push(records(5), noHeartbeat);
      assert.deepStrictEqual(offsets(await g.take(0)), ['0', '1']);
      assert.deepStrictEqual(offsets(await g.take(0)), ['2', '3']);
      assert.equal(g.size, 1);
    });

    it('returns an empty batch when no record comes within idleMs', async () => {
      assert.deepStrictEqual(await gatherer().take(1), []);
    });

    it('waits for a first record and returns it once pushed', async () => {
      const g = gatherer();
      const taking = watch(g.take(60_000));
      await turn();
      assert.equal(taking.done, false);
      await g.push([record(7)], noHeartbeat);
      assert.deepStrictEqual(offsets(await taking.promise), ['7']);
    });

    it('lingers for more records until the batch is full', async () => {
      const g = gatherer({ batchSize: 2, batchTimeoutMs: 60_000 });
      await g.push([record(0)], noHeartbeat);
      const taking = watch(g.take(0));
      await turn();
      assert.equal(taking.done, false);
      await g.push([record(1)], noHeartbeat);
      assert.deepStrictEqual(offsets(await taking.promise), ['0', '1']);
    });

    it('stops at maxBatchBytes', async () => {
      const g = gatherer({ maxBatchBytes: 10 });
      await g.push(records(4, 4), noHeartbeat);
      assert.deepStrictEqual(offsets(await g.take(0)), ['0', '1']);
      assert.deepStrictEqual(offsets(await g.take(0)), ['2', '3']);
    });

    it('returns a record larger than maxBatchBytes on its own', async () => {
      const g = gatherer({ maxBatchBytes: 10 });
      await g.push([record(0, 50), record(1, 1)], noHeartbeat);
      assert.deepStrictEqual(offsets(await g.take(0)), ['0']);
      assert.deepStrictEqual(offsets(await g.take(0)), ['1']);
    });

    it('counts a null value as zero bytes', async () => {
      const g = gatherer({ maxBatchBytes: 4 });
      await g.push([record(0, 4), { ...record(1), value: null }, record(2, 1)], noHeartbeat);
      assert.deepStrictEqual(offsets(await g.take(0)), ['0', '1']);
    });

    it('returns an empty batch when closed while waiting', async () => {
      const g = gatherer();
      const taking = g.take(60_000);
      g.close();
      assert.deepStrictEqual(await taking, []);
    });
  });

  describe('push', () => {
    it('resolves at once while the buffer is within maxBuffered', async () => {
      const g = gatherer({ maxBuffered: 2 });
      let beats = 0;
      await g.push(records(2), async () => void beats++);
      assert.equal(g.size, 2);
      assert.equal(beats, 0);
    });

    it('waits while the buffer is past maxBuffered', async () => {
      const g = gatherer({ maxBuffered: 2 });
      const pushing = watch(g.push(records(3), noHeartbeat));
      await turn();
      assert.equal(pushing.done, false);
      assert.equal(g.size, 3);
      g.close();
      await pushing.promise;
    });

    it('waits while the buffer holds more than maxBufferedBytes, however few records', async () => {
      const g = gatherer({ maxBuffered: 1_000, maxBufferedBytes: 1_000, batchSize: 1 });
      const pushing = watch(g.push(records(2, 600), noHeartbeat));
      await turn();
      assert.equal(pushing.done, false, 'two records of 600 bytes are past 1 000 bytes');
      assert.equal(g.sizeBytes, 1_200);
      await g.take(0);
      await pushing.promise;
      assert.equal(g.sizeBytes, 600, 'a take gives the bytes back');
    });

    it('resumes, heartbeating, once a take brings the buffer back to maxBuffered', async () => {
      const g = gatherer({ maxBuffered: 2, batchSize: 1 });
      let beats = 0;
      const pushing = watch(g.push(records(3), async () => void beats++));
      await turn();
      assert.equal(pushing.done, false);
      await g.take(0);
      await pushing.promise;
      assert.equal(g.size, 2);
      assert.ok(beats >= 1, 'expected a heartbeat while the push waited');
    });

    it('keeps waiting after a take that leaves the buffer past maxBuffered', async () => {
      const g = gatherer({ maxBuffered: 1, batchSize: 1 });
      const pushing = watch(g.push(records(4), noHeartbeat));
      await g.take(0);
      await turn();
      assert.equal(pushing.done, false);
      assert.equal(g.size, 3);
      g.close();
      await pushing.promise;
    });

    it('resumes when drop empties the buffer', async () => {
      const g = gatherer({ maxBuffered: 2 });
      const pushing = watch(g.push(records(3), noHeartbeat));
      await turn();
      assert.equal(pushing.done, false);
      g.drop();
      await pushing.promise;
      assert.equal(g.size, 0);
    });
  });

  describe('unshift', () => {
    it('puts records back in front of the buffer, in their order', async () => {
      const g = gatherer({ batchSize: 2 });
      await g.push(records(3), noHeartbeat);
      const batch = await g.take(0);
      g.unshift(batch);
      assert.deepStrictEqual(offsets(await g.take(0)), ['0', '1']);
      assert.deepStrictEqual(offsets(await g.take(0)), ['2']);
    });
  });

  describe('drop', () => {
    it('forgets every record', async () => {
      const g = gatherer();
      await g.push(records(3), noHeartbeat);
      g.drop();
      assert.equal(g.size, 0);
      assert.deepStrictEqual(await g.take(0), []);
    });
  });

  describe('requests first', () => {
    const on = (topic: string, offset: number): RawRecord => ({ ...record(offset), topic });
    const lanes = (opts: Partial<GatherOptions> = {}): Gatherer => gatherer({ first: (t) => t.startsWith('requests'), ...opts });

    it('takes the requests alone before the events fetched ahead of them, then the events, each partition in offset order', async () => {
      const g = lanes({ batchSize: 4 });
      await g.push([on('events', 0), on('events', 1), on('events', 2)], noHeartbeat);
      await g.push([on('requests', 0), on('requests', 1)], noHeartbeat);
      const batch = await g.take(0);
      assert.deepStrictEqual(batch.map((r) => `${r.topic}:${r.offset}`), ['requests:0', 'requests:1'], 'an ask waits for no events in its own pass');
      assert.deepStrictEqual((await g.take(0)).map((r) => `${r.topic}:${r.offset}`), ['events:0', 'events:1', 'events:2']);
    });

    it('folds the events at least every other batch, in half a batch at least, however many requests come', async () => {
      const g = lanes({ batchSize: 4, maxBuffered: 100 });
      await g.push(Array.from({ length: 6 }, (_, i) => on('events', i)), noHeartbeat);
      await g.push(Array.from({ length: 12 }, (_, i) => on('requests', i)), noHeartbeat);
      const batches: string[][] = [];
      while (g.size > 0) batches.push((await g.take(0)).map((r) => `${r.topic}:${r.offset}`));
      assert.deepStrictEqual(batches, [
        ['requests:0', 'requests:1', 'requests:2', 'requests:3'],
        ['requests:4', 'requests:5', 'events:0', 'events:1'],
        ['requests:6', 'requests:7', 'requests:8', 'requests:9'],
        ['requests:10', 'requests:11', 'events:2', 'events:3'],
        ['events:4', 'events:5'],
      ]);
    });

    it('owes the events nothing after a batch of requests with none waiting, nor after a drop', async () => {
      const g = lanes({ batchSize: 4 });
      await g.push([on('requests', 0)], noHeartbeat);
      await g.take(0);
      await g.push([on('events', 0)], noHeartbeat);
      await g.push([on('requests', 1)], noHeartbeat);
      assert.deepStrictEqual((await g.take(0)).map((r) => `${r.topic}:${r.offset}`), ['requests:1'], 'no events waited when the last batch was taken');
      g.drop();
      await g.push([on('events', 1)], noHeartbeat);
      await g.push([on('requests', 2)], noHeartbeat);
      assert.deepStrictEqual((await g.take(0)).map((r) => `${r.topic}:${r.offset}`), ['requests:2'], 'a drop forgets what was owed');
    });

    it('takes a request at once rather than lingering for more, while events alone linger', async () => {
      const g = lanes({ batchSize: 4, batchTimeoutMs: 60_000 });
      await g.push([on('events', 0)], noHeartbeat);
      const events = watch(g.take(0));
      await turn();
      assert.equal(events.done, false, 'an events-only batch lingers for more');
      await g.push([on('requests', 0)], noHeartbeat);
      assert.deepStrictEqual((await events.promise).map((r) => `${r.topic}:${r.offset}`), ['requests:0']);
      await g.push([on('requests', 1)], noHeartbeat);
      const started = performance.now();
      assert.deepStrictEqual((await g.take(0)).map((r) => `${r.topic}:${r.offset}`), ['requests:1', 'events:0'], 'the events left waiting come in the next batch');
      assert.ok(performance.now() - started < 1_000, 'a batch with a request did not linger');
    });

    it('takes half a batch of requests and then the events after a batch of requests alone', async () => {
      const g = lanes({ batchSize: 2 });
      await g.push([on('events', 0)], noHeartbeat);
      await g.push([on('requests', 0), on('requests', 1), on('requests', 2)], noHeartbeat);
      assert.deepStrictEqual((await g.take(0)).map((r) => `${r.topic}:${r.offset}`), ['requests:0', 'requests:1']);
      assert.deepStrictEqual((await g.take(0)).map((r) => `${r.topic}:${r.offset}`), ['requests:2', 'events:0']);
    });

    it('never holds a request fetch back behind a full events lane', async () => {
      const g = lanes({ maxBuffered: 2 });
      const events = watch(g.push([on('events', 0), on('events', 1), on('events', 2)], noHeartbeat));
      await turn();
      assert.equal(events.done, false, 'the events lane is past maxBuffered: its fetch waits');
      await g.push([on('requests', 0)], noHeartbeat);
      assert.equal(g.size, 4);
    });

    it('takes events offered without waiting, and says when their lane is past its bounds', () => {
      const g = lanes({ maxBuffered: 2 });
      assert.equal(g.offer([on('events', 0), on('events', 1)]), false);
      assert.equal(g.offer([on('events', 2)]), true);
      assert.equal(g.size, 3);
    });

    it('tells once, when a take makes room in the events lane, and never after a drop', async () => {
      const g = lanes({ maxBuffered: 2, batchSize: 2 });
      g.offer([on('events', 0), on('events', 1), on('events', 2)]);
      let resumed = 0;
      g.whenRoom(() => resumed++);
      assert.equal(resumed, 0, 'the lane is still full');
      await g.take(0);
      assert.equal(resumed, 1);
      await g.take(0);
      assert.equal(resumed, 1, 'told once');
      g.offer([on('events', 3), on('events', 4), on('events', 5)]);
      g.whenRoom(() => resumed++);
      g.drop();
      assert.equal(resumed, 1, 'a drop forgets who waited: the activation that follows resumes every partition itself');
      g.whenRoom(() => resumed++);
      assert.equal(resumed, 2, 'an empty lane has room at once');
    });

    it('puts a batch back in front of each lane, to be taken again as it was', async () => {
      const g = lanes({ batchSize: 3 });
      await g.push([on('events', 0), on('events', 1), on('events', 2)], noHeartbeat);
      await g.push([on('requests', 0), on('requests', 1), on('requests', 2), on('requests', 3)], noHeartbeat);
      const alone = await g.take(0);
      assert.deepStrictEqual(alone.map((r) => `${r.topic}:${r.offset}`), ['requests:0', 'requests:1', 'requests:2']);
      g.unshift(alone);
      assert.deepStrictEqual(await g.take(0), alone, 'requests alone again, though the take had left events owed');
      const mixed = await g.take(0);
      assert.deepStrictEqual(mixed.map((r) => `${r.topic}:${r.offset}`), ['requests:3', 'events:0', 'events:1']);
      g.unshift(mixed);
      assert.deepStrictEqual(await g.take(0), mixed, 'both lanes put back, and the events still owed');
      assert.equal(g.size, 1);
    });

    it('takes a request’s companions with it, but lets them alone linger, grow and take events', async () => {
      const companion = (t: string): boolean => t.startsWith('sessions');
      const g = lanes({ batchSize: 4, batchTimeoutMs: 60_000, companion });
      await g.push([on('events', 0)], noHeartbeat);
      await g.push([on('sessions', 0)], noHeartbeat);
      const taking = watch(g.take(0));
      await turn();
      assert.equal(taking.done, false, 'a companion does not cut the linger short');
      await g.push([on('requests', 0)], noHeartbeat);
      assert.deepStrictEqual((await taking.promise).map((r) => `${r.topic}:${r.offset}`), ['sessions:0', 'requests:0'], 'the companion comes with the request, the events wait');
      assert.equal(g.size, 1, 'the event waits for the next batch');
      const grows = lanes({ batchSize: 2, maxBatchSize: 8, companion });
      grows.offer(Array.from({ length: 30 }, (_, i) => on('events', i)));
      await grows.push([on('sessions', 0)], noHeartbeat);
      const first = await grows.take(0);
      assert.deepStrictEqual(first.map((r) => `${r.topic}:${r.offset}`), ['sessions:0', 'events:0'], 'a companion alone takes events');
      const sizes: number[] = [];
      for (let i = 0; i < 3; i++) sizes.push((await grows.take(0)).length);
      assert.deepStrictEqual(sizes, [4, 8, 8], 'and the batches grow under the backlog behind it');
    });

    it('owes the events a place even at batchSize 1, and past maxBatchBytes', async () => {
      const one = lanes({ batchSize: 1 });
      await one.push([on('events', 0)], noHeartbeat);
      await one.push([on('requests', 0), on('requests', 1), on('requests', 2)], noHeartbeat);
      const batches: string[][] = [];
      while (one.size > 0) batches.push((await one.take(0)).map((r) => `${r.topic}:${r.offset}`));
      assert.deepStrictEqual(batches, [['requests:0'], ['events:0'], ['requests:1'], ['requests:2']]);
      const big = (topic: string, offset: number): RawRecord => ({ ...record(offset, 600), topic });
      const bytes = lanes({ batchSize: 4, maxBatchBytes: 1_000 });
      await bytes.push([big('events', 0), big('events', 1)], noHeartbeat);
      await bytes.push([big('requests', 0), big('requests', 1), big('requests', 2)], noHeartbeat);
      assert.deepStrictEqual((await bytes.take(0)).map((r) => `${r.topic}:${r.offset}`), ['requests:0'], 'a second request would pass maxBatchBytes');
      assert.deepStrictEqual((await bytes.take(0)).map((r) => `${r.topic}:${r.offset}`), ['requests:1', 'events:0'], 'the first event owed is taken past maxBatchBytes');
    });
  });
});

describe('gather: batches that grow under a backlog', () => {
  afterEach(() => {
    for (const g of made.splice(0)) g.close();
  });
  const on = (topic: string, from: number, n: number): RawRecord[] => Array.from({ length: n }, (_, i) => ({ ...record(from + i), topic }));
  const lanes = (opts: Partial<GatherOptions> = {}): Gatherer => gatherer({ first: (t) => t.startsWith('requests'), maxBuffered: 100_000, ...opts });
  const sizes = async (g: Gatherer, takes: number): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < takes; i++) out.push((await g.take(0)).length);
    return out;
  };

  it('doubles a batch while at least a batch more waits, up to maxBatchSize, and takes the rest in order', async () => {
    const g = lanes({ batchSize: 10, maxBatchSize: 80 });
    const all = on('events', 0, 400);
    await g.push(all, noHeartbeat);
    const taken: RawRecord[] = [];
    const seen: number[] = [];
    while (g.size > 0) {
      const batch = await g.take(0);
      seen.push(batch.length);
      taken.push(...batch);
    }
    // 10 taken with 390 behind: 20; 20 with 370: 40; then 80 while 80 or more wait; the last 10 at batchSize.
    assert.deepStrictEqual(seen, [10, 20, 40, 80, 80, 80, 80, 10]);
    assert.deepStrictEqual(offsets(taken), offsets(all));
    assert.equal(g.batchLimit, 10, 'the backlog is gone: back to batchSize');
  });

  it('falls back to batchSize once less than a batch waits', async () => {
    const g = lanes({ batchSize: 10, maxBatchSize: 80 });
    await g.push(on('events', 0, 45), noHeartbeat);
    assert.deepStrictEqual(await sizes(g, 3), [10, 20, 10]);
    assert.equal(g.batchLimit, 10);
  });

  it('folds a request that comes in under a backlog of events alone, and the events after it in a short batch', async () => {
    const g = lanes({ batchSize: 10, maxBatchSize: 80 });
    await g.push(on('events', 0, 1_000), noHeartbeat);
    assert.deepStrictEqual(await sizes(g, 4), [10, 20, 40, 80]);
    await g.push(on('requests', 0, 1), noHeartbeat);
    const withAsk = await g.take(0);
    assert.deepStrictEqual(withAsk.map((r) => `${r.topic}:${r.offset}`), ['requests:0'], 'the ask waits for no events in a pass of its own');
    assert.equal(g.batchLimit, 10, 'the next pass is a short one, for the next ask');
    assert.deepStrictEqual(await sizes(g, 2), [10, 20], 'then the events grow again');
  });

  it('starts again from batchSize after a drop', async () => {
    const g = lanes({ batchSize: 10, maxBatchSize: 80 });
    await g.push(on('events', 0, 500), noHeartbeat);
    assert.deepStrictEqual(await sizes(g, 3), [10, 20, 40]);
    g.drop();
    await g.push(on('events', 0, 500), noHeartbeat);
    assert.deepStrictEqual(await sizes(g, 1), [10]);
  });

  it('folds a backlog of requests at batchSize, and grows again for the events behind it', async () => {
    const g = lanes({ batchSize: 10, maxBatchSize: 80 });
    await g.push(on('requests', 0, 35), noHeartbeat);
    g.offer(on('events', 0, 300));
    // Requests alone, then half requests and half events, twice; the last five requests alone, one short batch of events after them, then the events grow.
    assert.deepStrictEqual(await sizes(g, 7), [10, 10, 10, 10, 5, 10, 20]);
  });

  it('never grows without maxBatchSize, or with maxBatchSize equal to batchSize', async () => {
    for (const opts of [{ batchSize: 10 }, { batchSize: 10, maxBatchSize: 10 }]) {
      const g = lanes(opts);
      await g.push(on('events', 0, 100), noHeartbeat);
      assert.deepStrictEqual(await sizes(g, 3), [10, 10, 10]);
    }
  });
});

describe('unfolded: the records of a batch not folded yet', () => {
  /** The rule, said plainly: an expected partition, at or past its next offset, the first copy. */
  const plainly = (rs: readonly RawRecord[], expected: ReadonlyMap<string, bigint>): RawRecord[] => {
    const seen = new Set<string>();
    return rs.filter((r) => {
      const want = expected.get(`${r.topic}:${r.partition}`);
      const id = `${r.topic}:${r.partition}:${r.offset}`;
      if (want === undefined || BigInt(r.offset) < want || seen.has(id)) return false;
      seen.add(id);
      return true;
    });
  };
  const at = (topic: string, partition: number, offset: number): RawRecord => ({ ...record(offset, 1, partition), topic });

  it('takes each record once, past what was folded, from expected partitions only', () => {
    const expected = new Map([['t:0', 5n], ['t:1', 0n]]);
    const batch = [at('t', 0, 4), at('t', 0, 5), at('t', 1, 0), at('t', 0, 6), at('u', 0, 9), at('t', 0, 5), at('t', 0, 6), at('t', 0, 7), at('t', 1, 0), at('t', 1, 1)];
    assert.deepEqual(unfolded(batch, expected).map((r) => `${r.topic}:${r.partition}:${r.offset}`), ['t:0:5', 't:1:0', 't:0:6', 't:0:7', 't:1:1']);
  });

  it('agrees with the rule said plainly on batches put back, refetched and interleaved', () => {
    // mulberry32: 32-bit arithmetic throughout, so every draw is as random as the next.
    const draw = seeded(7);
    const next = (n: number): number => Math.floor(draw() * n);
    const lanes = ['t:0', 't:1', 't:2', 'u:0', 'u:1'];
    let mixed = 0;
    for (let round = 0; round < 2_000; round++) {
      const expected = new Map<string, bigint>();
      for (const lane of lanes) if (next(4) > 0) expected.set(lane, BigInt(next(20)));
      const batch: RawRecord[] = [];
      for (let i = next(60); i > 0; i--) {
        const [topic, p] = lanes[next(lanes.length)].split(':');
        const partition = Number(p);
        // Runs in order, copies of what came before, and now and then an offset out of order.
        const prev = batch.filter((r) => r.topic === topic && r.partition === partition);
        const offset = next(5) === 0 && prev.length > 0 ? Number(prev[next(prev.length)].offset) : next(8) === 0 ? next(40) : prev.length === 0 ? next(25) : Number(prev[prev.length - 1].offset) + 1;
        batch.push(at(topic, partition, offset));
      }
      const fresh = unfolded(batch, expected);
      if (new Set(fresh.map((r) => `${r.topic}:${r.partition}`)).size > 1) mixed++;
      assert.deepEqual(fresh, plainly(batch, expected), `round ${round}`);
    }
    // The rounds mixed partitions and topics in one batch, where a copy must be told from another lane's record.
    assert.ok(mixed > 1_000, `only ${mixed} rounds took records of several partitions`);
  });
});
