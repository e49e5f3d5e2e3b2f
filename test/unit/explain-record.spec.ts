import { strict as assert } from 'node:assert';
import type { ExplainRecord } from '../../projections/system/explain';
import { decodeExplainRecord, encodeExplainRecord } from '../../src/engine/explain';

const position = { topic: 'coord.requests.catalog', partition: 2, offset: '9007199254740993', logTimeMs: 1_700_000_000_123, snapshotId: '42' };
const record: ExplainRecord = {
  correlationId: 'c-1',
  requestType: 'coord.v1.StartQuery',
  key: 'q1',
  position,
  snapshotTs: '445906944000000000',
  stage: 'queries',
  orderInStage: 3,
  retries: [{ ...position, offset: '7' }],
  replyStatus: 'OK',
  replyMessage: 'query q1 is RUNNING — “quoted” \u{1F680}',
  deferred: true,
  answeredBy: { position: { ...position, offset: '8' }, recordType: 'coord.v1.FragmentStatus' },
  changes: [{ entity: 'query', key: 'q1', before: null, after: '{"name":"q1","plan":"{\\"a\\":1}"}', net: true }],
  changesOmitted: 1,
  commands: [{ workerId: 'w1', recordType: 'coord.v1.DeployFragment', fragmentId: 'q1#1-0' }],
  dlqCode: null,
  dlqReason: null,
};

describe('explain records in the store', () => {
  it('reads back a record as it was written, every field', () => assert.deepStrictEqual(decodeExplainRecord(encodeExplainRecord(record)), record));

  it('reads back a refused record: no type, no stage, a DLQ code', () => {
    const refused: ExplainRecord = { ...record, requestType: '', key: null, stage: null, orderInStage: -1, retries: [], replyStatus: null, replyMessage: null, deferred: false, answeredBy: null, changes: [], changesOmitted: 0, commands: [], dlqCode: 'SCHEMA_UNKNOWN', dlqReason: 'no schema 7' };
    assert.deepStrictEqual(decodeExplainRecord(encodeExplainRecord(refused)), refused);
  });

  it('still reads a record an earlier release kept as JSON text', () => assert.deepStrictEqual(decodeExplainRecord(Buffer.from(JSON.stringify(record))), record));

  it('is smaller than the JSON text it replaces', () => assert.ok(encodeExplainRecord(record).length < Buffer.byteLength(JSON.stringify(record))));
});
