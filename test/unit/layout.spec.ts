import { strict as assert } from 'node:assert';
import { dedupeKey, dedupeTimeKey, encodeMeta, explainKey, historyKey, markerPositionEntry, META, offsetKey, outboxKey, publishedOps, readLineage, stateKey, WIPE } from '../../src/engine/layout';

// The layout's bytes are a contract with every folder already written and every replay digest: these pin them.
describe("the snapshot's RocksDB layout", () => {
  it('spells every key as folders written before it was given an owner', () => {
    assert.equal(stateKey('query', 'q1'), 's/query/q1');
    assert.equal(historyKey('query', 'q1', 42n), 'h/query/q1/00000000000000000042');
    assert.equal(offsetKey('coord.requests.query', 3), 'o/coord.requests.query/3');
    assert.equal(outboxKey(7n), 'x/00000000000000000007');
    assert.equal(dedupeKey('c-1'), 'd/c-1');
    assert.equal(dedupeTimeKey(1_700_000_000_000, 'c-1'), 't/001700000000000/c-1');
    assert.equal(explainKey('c-1'), 'e/c-1');
    assert.equal(META.snapshot, 'm/snapshot');
  });

  it('encodes the meta as before, and reads a lineage an older store did not record as version 1, proven', () => {
    const meta = { id: 5n, ts: 9n, logTimeMs: 11, digest: 0n };
    const Z = '0'.repeat(64);
    assert.equal(encodeMeta(meta, { logicVersion: 1, proven: true }).toString(), `{"id":"5","ts":"9","logTimeMs":11,"digest":"${Z}","logicVersion":1}`);
    assert.equal(encodeMeta(meta, { logicVersion: 2, proven: false }).toString(), `{"id":"5","ts":"9","logTimeMs":11,"digest":"${Z}","logicVersion":2,"proven":false}`);
    assert.deepEqual(readLineage(Buffer.from('{"id":"5","ts":"9","logTimeMs":11,"digest":"00"}')), { logicVersion: 1, proven: true });
  });

  it("keeps a marker's position under m/marker, byte for byte as the publication and the replay wrote it", () => {
    const [key, value] = markerPositionEntry({ snapshotId: 12n, offset: 340n, generation: 3 });
    assert.equal(key, 'm/marker');
    assert.equal(value.toString(), '{"id":"12","offset":"340","generation":3}');
  });

  it('writes a publication as the outboxes deleted and, when a marker went out, its position', () => {
    const ops = publishedOps([outboxKey(1n), outboxKey(2n)], { snapshotId: 2n, offset: 8n, generation: 1 });
    assert.deepEqual(ops.deletes, ['x/00000000000000000001', 'x/00000000000000000002']);
    assert.equal(ops.puts.length, 1);
    assert.deepEqual(publishedOps(['x/1'], undefined), { puts: [], deletes: ['x/1'] });
  });

  it('empties the whole store with one range', () => assert.deepEqual(WIPE.deleteRanges, [['', '\uffff']]));
});
