import { strict as assert } from 'node:assert';
import { isCoordError } from '../../src/errors';
import { createPendingTable } from '../../src/client/pending';

interface R {
  readonly correlationId: string;
  readonly status: string;
}
const ids = (f: string) => ({ fingerprint: f, rawFingerprint: `raw-${f}` });
const table = (o: { maxInFlight?: number; maxLag?: number } = {}) => createPendingTable<R>({ maxInFlight: o.maxInFlight ?? 2, maxLag: o.maxLag });
const code = (c: string) => (err: unknown) => isCoordError(err) && err.code === c;
/** A promise's state after the microtasks and timers already due have run. */
const settled = async <T>(p: Promise<T>): Promise<boolean> => {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  return done;
};

describe('client pending table: the in-flight bound', () => {
  it('hands out places up to maxInFlight at once, and no more', async () => {
    const t = table({ maxInFlight: 2 });
    await t.acquire(Date.now() + 1_000);
    await t.acquire(Date.now() + 1_000);
    assert.equal(t.stats.inFlight, 2);
    assert.equal(t.hasRoom(), false);
  });

  it('makes the next sender wait until a place is released, then gives it that place', async () => {
    const t = table({ maxInFlight: 1 });
    await t.acquire(Date.now() + 1_000);
    const third = t.acquire(Date.now() + 5_000);
    assert.equal(await settled(third), false, 'it waits while the bound is reached');
    t.release();
    await third;
    assert.equal(t.stats.inFlight, 1);
  });

  it('refuses with BACKPRESSURE (retriable) once the deadline passes, naming the bound', async () => {
    const t = table({ maxInFlight: 1 });
    await t.acquire(Date.now() + 1_000);
    await assert.rejects(t.acquire(Date.now() + 30), (err: unknown) => code('BACKPRESSURE')(err) && (err as { retriable: boolean }).retriable && /maxInFlight 1/.test((err as Error).message));
    assert.equal(t.stats.inFlight, 1, 'the refused sender took nothing');
  });

  it('holds senders back while the published lag is over maxLag, and lets them go once it falls', async () => {
    const t = table({ maxInFlight: 10, maxLag: 100 });
    t.setLag(500);
    assert.equal(t.hasRoom(), false);
    const waiting = t.acquire(Date.now() + 5_000);
    assert.equal(await settled(waiting), false);
    t.setLag(50);
    await waiting;
    assert.equal(t.stats.inFlight, 1);
  });

  it('says the lag when it refuses for lag', async () =>
    assert.rejects(
      (() => {
        const t = table({ maxLag: 100 });
        t.setLag(500);
        return t.acquire(Date.now() + 20);
      })(),
      (err: unknown) => code('BACKPRESSURE')(err) && /500 records behind \(maxLag 100\)/.test((err as Error).message),
    ));

  it('never counts below zero when a place is released twice', () => {
    const t = table();
    t.release();
    assert.equal(t.stats.inFlight, 0);
  });
});

describe('client pending table: the correlation map', () => {
  it('hands a reply to the ask waiting under its correlation id, and forgets the id', async () => {
    const t = table();
    const e = t.expect('c1', 'GetX', ids('f1'), 5_000);
    assert.equal(t.isWaiting('c1'), true);
    assert.equal(t.settle({ correlationId: 'c1', status: 'OK' }, 'f1'), true);
    assert.deepStrictEqual(await e.reply, { correlationId: 'c1', status: 'OK' });
    assert.equal(t.isWaiting('c1'), false);
    assert.equal(t.stats.waiting, 0);
  });

  it('takes a reply that names the request without its type (refused before decoding)', async () => {
    const t = table();
    const e = t.expect('c1', 'GetX', ids('f1'), 5_000);
    assert.equal(t.settle({ correlationId: 'c1', status: 'INVALID_ARGUMENT' }, 'raw-f1'), true);
    assert.equal((await e.reply).status, 'INVALID_ARGUMENT');
  });

  it('drops a duplicate reply (the second under one id) and counts it', async () => {
    const t = table();
    const e = t.expect('c1', 'GetX', ids('f1'), 5_000);
    t.settle({ correlationId: 'c1', status: 'OK' }, 'f1');
    assert.equal(t.settle({ correlationId: 'c1', status: 'OK' }, 'f1'), false);
    await e.reply;
    assert.equal(t.stats.dropped, 1);
  });

  it("drops another request's reply under the same id and keeps waiting for its own", async () => {
    const t = table();
    const e = t.expect('c1', 'GetX', ids('f1'), 5_000);
    assert.equal(t.settle({ correlationId: 'c1', status: 'CONFLICT' }, 'someone-else'), false);
    assert.equal(t.stats.dropped, 1);
    assert.equal(t.isWaiting('c1'), true);
    t.settle({ correlationId: 'c1', status: 'OK' }, 'f1');
    assert.equal((await e.reply).status, 'OK');
  });

  it('drops a reply nobody waits for', () => {
    const t = table();
    assert.equal(t.settle({ correlationId: 'nobody', status: 'OK' }), false);
    assert.equal(t.stats.dropped, 1);
  });

  it('rejects with ASK_TIMEOUT (retriable) when no reply comes in time, and drops the late reply', async () => {
    const t = table();
    const e = t.expect('c1', 'coord.v1.GetX', ids('f1'), 20);
    await assert.rejects(e.reply, (err: unknown) => code('ASK_TIMEOUT')(err) && (err as { retriable: boolean }).retriable && /coord\.v1\.GetX/.test((err as Error).message));
    assert.equal(t.settle({ correlationId: 'c1', status: 'OK' }, 'f1'), false);
    assert.equal(t.stats.dropped, 1);
  });

  it('rejects with ASK_ABORTED when its signal fires, and at once when it had fired already', async () => {
    const t = table();
    const ac = new AbortController();
    const e = t.expect('c1', 'GetX', ids('f1'), 60_000, ac.signal);
    ac.abort();
    await assert.rejects(e.reply, code('ASK_ABORTED'));
    await assert.rejects(t.expect('c2', 'GetX', ids('f2'), 60_000, ac.signal).reply, code('ASK_ABORTED'));
    assert.equal(t.stats.waiting, 0);
  });

  it('rejects with the error given to fail() (a send that failed), and forgets the id', async () => {
    const t = table();
    const e = t.expect('c1', 'GetX', ids('f1'), 60_000);
    e.fail(new Error('broker away'));
    await assert.rejects(e.reply, /broker away/);
    assert.equal(t.isWaiting('c1'), false);
  });

  it('a retry under the same id is not dropped by the earlier attempt timing out', async () => {
    const t = table();
    const first = t.expect('c1', 'GetX', ids('f1'), 10);
    await assert.rejects(first.reply, code('ASK_TIMEOUT'));
    const second = t.expect('c1', 'GetX', ids('f1'), 5_000);
    assert.equal(t.settle({ correlationId: 'c1', status: 'OK' }, 'f1'), true);
    assert.equal((await second.reply).status, 'OK');
  });
});

describe('client pending table: close', () => {
  it('rejects every waiting ask with CLIENT_CLOSED and empties the map', async () => {
    const t = table();
    const a = t.expect('a', 'GetX', ids('fa'), 60_000);
    const b = t.expect('b', 'GetX', ids('fb'), 60_000);
    t.close();
    await assert.rejects(a.reply, code('CLIENT_CLOSED'));
    await assert.rejects(b.reply, code('CLIENT_CLOSED'));
    assert.equal(t.stats.waiting, 0);
  });

  it('wakes a sender waiting for a place with CLIENT_CLOSED instead of letting it wait out its deadline', async () => {
    const t = table({ maxInFlight: 1 });
    await t.acquire(Date.now() + 1_000);
    const waiting = t.acquire(Date.now() + 60_000);
    const from = Date.now();
    t.close();
    await assert.rejects(waiting, code('CLIENT_CLOSED'));
    assert.ok(Date.now() - from < 1_000);
  });

  it('refuses places and asks after close', async () => {
    const t = table();
    t.close();
    assert.equal(t.hasRoom(), false);
    await assert.rejects(t.acquire(Date.now() + 1_000), code('CLIENT_CLOSED'));
    await assert.rejects(t.expect('c', 'GetX', ids('f'), 1_000).reply, code('CLIENT_CLOSED'));
  });
});
