import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Message } from '../../projections';
import { QUERY, SETTINGS } from '../../projections/model';
import { settingsValue, UsageError } from '../../src/cli/commands';
import { payloadText } from '../../src/cli/format';
import { makeConfig } from '../../src/config';
import { initialSettingsValue } from '../../src/engine/initial-settings';
import { SETTING_NAMES } from '../../projections/system/settings';
import { plain } from '../../src/messaging/codec';
import { loadContracts, parseAvro, type Contract } from '../../src/messaging/schemas';
import {
  clockTick,
  createLogicalSource,
  createPhysicalSource,
  createQuery,
  createSink,
  describeCoordinator,
  dropLogicalSource,
  explainRequest,
  fragmentReports,
  getLogicalSource,
  getSettings,
  given,
  sessionOpened,
  startQuery,
  T0,
  tick,
  updateSettings,
  workerRegistered,
} from '../support/given';

const at = (ms: number) => ({ timestampMs: T0 + ms });
const ts = (ms: number): bigint => BigInt(T0 + ms) << 18n;

// Two workers with room to spare: only maxAllocations can refuse a start.
const world = [
  workerRegistered('w1', { slots: 8 }),
  createLogicalSource('cars'),
  createPhysicalSource('cars-w1', 'cars', 'w1'),
  createSink('out'),
  sessionOpened('s1'),
  createQuery('q1', { session: 's1' }),
  createQuery('q2', { session: 's1' }),
];
const q1Running = [...world, startQuery('q1', { correlationId: 'start-q1' }), ...fragmentReports('q1', 2, 'RUNNING')];

describe('settings: UpdateSettings', () => {
  it('changes the settings and answers with the values before and after', () => {
    const t = given([])
      .when(updateSettings({ maxAllocations: 64, historyRetentionMs: 5_000 }))
      .thenReplies('OK', 'revision 1', 'maxAllocations 1000 → 64')
      .thenField(SETTINGS, 'current', 'maxAllocations', 64)
      .thenField(SETTINGS, 'current', 'historyRetentionMs', 5_000)
      .thenField(SETTINGS, 'current', 'revision', 1);
    const p = t.decision.reply?.payload?.value as { before: Record<string, bigint>; after: Record<string, bigint>; changed: string[] };
    assert.equal(p.before.maxAllocations, 1_000n);
    assert.equal(p.after.maxAllocations, 64n);
    assert.deepEqual(p.changed, ['maxAllocations', 'historyRetentionMs']);
  });

  it('refuses a value out of its bounds with INVALID_ARGUMENT naming the bound, and changes nothing', () =>
    given([])
      .when(updateSettings({ maxAllocations: 5, maxValueBytes: 10 }))
      .thenReplies('INVALID_ARGUMENT', 'maxValueBytes must be from 1024 to 2147483647, got 10')
      .thenChanges(0)
      .thenState(SETTINGS, 'current', undefined));

  it('refuses a long beyond the largest setting in ms', () =>
    given([])
      .when(updateSettings({ historyRetentionMs: 2 ** 52 }))
      .thenReplies('INVALID_ARGUMENT', 'historyRetentionMs must be from 0 to 1000000000000')
      .thenChanges(0));

  it('refuses a workerTimeoutMs below workerSuspectMs, checked against the values in force', () =>
    given([updateSettings({ workerSuspectMs: 2_000, workerTimeoutMs: 4_000 })])
      .when(updateSettings({ workerTimeoutMs: 1_000 }))
      .thenReplies('INVALID_ARGUMENT', 'workerTimeoutMs (1000) must be at least workerSuspectMs (2000)')
      .thenChanges(0));

  it('refuses a principal without the admin role with PERMISSION_DENIED', () =>
    given([])
      .when(updateSettings({ maxAllocations: 1 }, { principal: { name: 'frontend-1', roles: ['frontend'] } }))
      .thenReplies('PERMISSION_DENIED', 'frontend-1', 'admin')
      .thenChanges(0));

  it('lets an admin principal change settings', () =>
    given([])
      .when(updateSettings({ maxAllocations: 1 }, { principal: { name: 'ops', roles: ['admin'] } }))
      .thenReplies('OK')
      .thenField(SETTINGS, 'current', 'maxAllocations', 1));

  it('answers OK and changes nothing when every value given is the one in force', () =>
    given([updateSettings({ maxAllocations: 9 })])
      .when(updateSettings({ maxAllocations: 9 }))
      .thenReplies('OK', 'unchanged')
      .thenChanges(0));

  it('reads the settings with GetSettings, changing nothing', () =>
    given([updateSettings({ maxCachedAllocations: 3 })])
      .when(getSettings())
      .thenReplies('OK', 'revision 1')
      .thenChanges(0)
      .thenPayloadFields('coord.v1.SettingsChange', { changed: [] }));
});

describe('settings: effects', () => {
  it('lowering maxAllocations below what is in use stops nothing', () =>
    given(q1Running)
      .when(updateSettings({ maxAllocations: 1 }, at(1_000)))
      .thenReplies('OK')
      .thenCommands([])
      .thenField(QUERY, 'q1', 'state', 'RUNNING')
      .thenAllocations([
        { workerId: 'w1', session: 's1', cached: false },
        { workerId: 'w1', session: 's1', cached: false },
      ]));

  it('lowering maxAllocations below what is in use refuses new starts', () =>
    given([...q1Running, updateSettings({ maxAllocations: 1 }, at(1_000))])
      .when(startQuery('q2', at(1_100)))
      .thenReplies('RESOURCE_EXHAUSTED', 'maxAllocations 1')
      .thenChanges(0)
      .thenCommands([]));

  it('lowering maxAllocations: the next check loop stops nothing either', () =>
    given([...q1Running, updateSettings({ maxAllocations: 1 }, at(1_000))])
      .when(clockTick(T0 + 2_000))
      .thenCommands([])
      .thenField(QUERY, 'q1', 'state', 'RUNNING'));

  const versions = [createLogicalSource('cars', undefined, at(0)), dropLogicalSource('cars', at(100)), createLogicalSource('cars', undefined, at(200))];
  const compacted = [updateSettings({ historyRetentionMs: 1_000 }, at(0)), ...versions, clockTick(T0 + 5_000)];

  it('raising historyRetentionMs never moves the compaction frontier back', () => {
    const frontierBefore = given(compacted).when(describeCoordinator(at(5_100))).decision.reply?.payload?.value.frontierTs as bigint;
    assert.equal(frontierBefore, ts(4_100));
    // Raised at 5.1 s: the frontier stays where it stood then, not 600 s back, and the next tick does not lower it.
    given([...compacted, updateSettings({ historyRetentionMs: 600_000 }, at(5_100)), clockTick(T0 + 5_150)])
      .when(describeCoordinator(at(5_200)))
      .thenPayloadFields('coord.v1.CoordinatorInfo', { frontierTs: frontierBefore });
  });

  it('raising historyRetentionMs keeps refusing reads below what was compacted', () =>
    given([...compacted, updateSettings({ historyRetentionMs: 600_000 }, at(5_100))])
      .when(getLogicalSource('cars', { asOfTs: ts(0), ...at(5_200) }))
      .thenReplies('FAILED_PRECONDITION', 'below the compaction frontier'));

  it('a Tick carrying only the clock changes no setting', () =>
    given([updateSettings({ maxAllocations: 5 })])
      .when(clockTick(T0 + 1_000))
      .thenChanges(0));
});

describe('settings: initial values and old Ticks', () => {
  const fileA = { maxAllocations: 10, workerSuspectMs: 1_000, workerTimeoutMs: 3_000 };
  const fileB = { maxAllocations: 99, workerSuspectMs: 7_000, workerTimeoutMs: 9_000 };

  it('takes the first instance’s local configuration as the initial settings of a log that has none', () =>
    given([])
      .when(updateSettings(fileA, { initial: true }))
      .thenReplies('OK', 'initial')
      .thenField(SETTINGS, 'current', 'maxAllocations', 10)
      .thenField(SETTINGS, 'current', 'revision', 1));

  it('a takeover by an instance with a different local file changes nothing', () =>
    given([updateSettings(fileA, { initial: true, correlationId: 'initial-a' })])
      .when(updateSettings(fileB, { initial: true, correlationId: 'initial-b' }))
      .thenReplies('OK', 'ignored')
      .thenChanges(0)
      .thenField(SETTINGS, 'current', 'maxAllocations', 10)
      .thenField(SETTINGS, 'current', 'workerSuspectMs', 1_000));

  it('an initial proposal after an UpdateSettings changes nothing', () =>
    given([updateSettings({ maxAllocations: 3 })])
      .when(updateSettings(fileB, { initial: true }))
      .thenChanges(0)
      .thenField(SETTINGS, 'current', 'maxAllocations', 3));

  it('an old Tick still sets the settings it carries while no request has set them (old logs replay the same)', () =>
    given([])
      .when(tick(T0, { maxAllocations: 7 }))
      .thenField(SETTINGS, 'current', 'maxAllocations', 7)
      .thenField(SETTINGS, 'current', 'revision', undefined));

  it('an old Tick carrying settings changes nothing once a request has set them', () =>
    given([updateSettings({ maxAllocations: 5 })])
      .when(tick(T0 + 1_000, { maxAllocations: 7, historyRetentionMs: 1 }))
      .thenField(SETTINGS, 'current', 'maxAllocations', 5)
      .thenField(SETTINGS, 'current', 'historyRetentionMs', 600_000));

  it('an initial proposal takes over settings that only old Ticks set', () =>
    given([tick(T0, { maxAllocations: 7 })])
      .when(updateSettings(fileA, { initial: true }))
      .thenField(SETTINGS, 'current', 'maxAllocations', 10)
      .thenField(SETTINGS, 'current', 'revision', 1));
});

describe('settings: coordctl settings set', () => {
  it('encodes int settings as Avro int and the others as long', () =>
    assert.deepEqual(settingsValue(['maxAllocations=64', 'historyRetentionMs=5000']), { initial: false, maxAllocations: { int: 64 }, historyRetentionMs: { long: 5_000n } }));

  it('refuses a value that does not fit the Avro int it travels in', () => assert.throws(() => settingsValue(['maxAllocations=2147483648']), (e: unknown) => e instanceof UsageError && /maxAllocations must be from 0 to 2147483647/.test(e.message)));

  it('refuses an unknown setting, listing the known ones', () => assert.throws(() => settingsValue(['maxAlocations=3']), (e: unknown) => e instanceof UsageError && /unknown setting "maxAlocations"; settings are workerSuspectMs/.test(e.message)));

  it('refuses a pair without =', () => assert.throws(() => settingsValue(['maxAllocations']), UsageError));
});

describe('explain: the records of one pass', () => {
  it('records a create that cancelled out with a drop in the same pass: its change is not net, in catalog order', async () => {
    const t = await given([]).whenInOnePass([
      createLogicalSource('cars', undefined, { correlationId: 'create-cars' }),
      dropLogicalSource('cars', { correlationId: 'drop-cars' }),
    ]);
    const create = t.explained('create-cars');
    assert.equal(create.stage, 'catalog');
    assert.equal(create.orderInStage, 0);
    assert.equal(t.explained('drop-cars').orderInStage, 1);
    assert.equal(create.replyStatus, 'OK');
    assert.deepEqual(
      create.changes.map((c) => ({ entity: c.entity, key: c.key, before: c.before, net: c.net })),
      [{ entity: 'logical-source', key: 'cars', before: null, net: false }],
    );
    assert.ok(create.changes[0].after?.includes('"name":"cars"'));
  });

  it('records a retry in the same pass on the first request’s record', async () => {
    const t = await given([]).whenInOnePass([createLogicalSource('cars', undefined, { correlationId: 'c1' }), createLogicalSource('cars', undefined, { correlationId: 'c1' })]);
    const r = t.explained('c1');
    assert.equal(r.retries.length, 1);
    assert.equal(r.retries[0].offset, '1');
    assert.equal(r.position.offset, '0');
  });

  it('records a deferred start and the worker commands it caused', async () => {
    const t = await given(world).whenInOnePass([startQuery('q1', { correlationId: 'start' })]);
    const r = t.explained('start');
    assert.equal(r.deferred, true);
    assert.equal(r.replyStatus, null);
    assert.deepEqual(
      r.commands.map((c) => [c.workerId, c.recordType]),
      [
        ['w1', 'coord.v1.DeployFragment'],
        ['w1', 'coord.v1.DeployFragment'],
      ],
    );
  });

  it('answers NOT_FOUND for an id it keeps no record of, saying how long records are kept', () =>
    given([updateSettings({ dedupeRetentionMs: 3_600_000 })])
      .when(explainRequest('gone', at(7_200_000)))
      .thenReplies('NOT_FOUND', 'kept for dedupeRetentionMs (3600000 ms of log time)', `before log time ${T0 + 3_600_000}`));
});

describe('explain: coordctl explain text', () => {
  const position = { topic: 'coord.requests.catalog', partition: 0, offset: 7n, logTimeMs: BigInt(T0), snapshotId: 12n };
  const base = {
    correlationId: 'c1',
    requestType: 'coord.v1.CreateSink',
    key: 'fleeting',
    position,
    snapshotTs: 99n,
    stage: 'catalog',
    orderInStage: 0,
    retries: [],
    replyStatus: 'OK',
    replyMessage: 'created sink fleeting',
    deferred: false,
    answeredBy: null,
    changes: [{ entity: 'sink', key: 'fleeting', before: null, after: '{"name":"fleeting"}', net: false }],
    changesOmitted: 0,
    commands: [],
    dlqCode: null,
    dlqReason: null,
    keptUntilLogTimeMs: BigInt(T0 + 86_400_000),
  };

  it('says a change was cancelled out in the snapshot, and where the request is on the log', () => {
    const text = payloadText({ type: 'coord.v1.Explanation', value: base });
    assert.match(text, /on the log\s+coord\.requests\.catalog\/0@7, log time 2023-11-14T22:13:20\.000Z, snapshot 12/);
    assert.match(text, /stage catalog, #0 in the stage/);
    assert.match(text, /sink\s+fleeting\s+cancelled out in the snapshot/);
    assert.match(text, /kept until\s+log time 2023-11-15T22:13:20\.000Z/);
  });

  it('says a decoder refusal went to the DLQ, with the reason', () => {
    const text = payloadText({
      type: 'coord.v1.Explanation',
      value: { ...base, requestType: '', key: null, stage: null, orderInStage: -1, changes: [], replyStatus: 'INVALID_ARGUMENT', replyMessage: 'not framed', dlqCode: 'WIRE_MALFORMED', dlqReason: 'not framed' },
    });
    assert.match(text, /request\s+\(undecodable\)/);
    assert.match(text, /refused before ordering/);
    assert.match(text, /DLQ\s+WIRE_MALFORMED: not framed/);
  });

  it('says what completed a deferred reply', () => {
    const text = payloadText({
      type: 'coord.v1.Explanation',
      value: { ...base, deferred: true, answeredBy: { position: { ...position, topic: 'coord.events.infra', snapshotId: 15n }, recordType: 'coord.v1.FragmentStatus' } },
    });
    assert.match(text, /deferred\s+sent in snapshot 15, completed by coord\.v1\.FragmentStatus at coord\.events\.infra\/0@7/);
  });
});

describe('settings: Ticks written before settings became state', () => {
  const oldTick = parseAvro(JSON.parse(readFileSync(join(__dirname, '../fixtures/coord.v1.Tick.before-settings-state.avsc'), 'utf8')));
  const ours = (loadContracts().get('coord.v1.Tick') as Contract).type;
  /** An old coordinator's Tick, written with its schema and read with ours, as the codec reads it. */
  const decodedOld = (atMs: number, maxAllocations: number): Message<unknown> => {
    const body = oldTick.toBuffer({
      tickMs: BigInt(atMs),
      workerSuspectMs: 5_000n,
      workerTimeoutMs: 15_000n,
      sessionTimeoutMs: 30_000n,
      maxAllocations,
      allocationIdleMs: 60_000n,
      maxCachedAllocations: 8,
      historyRetentionMs: 600_000n,
      maxValueBytes: 1_000_000,
      dedupeRetentionMs: 86_400_000n,
      goneRetentionMs: 86_400_000n,
      maxDeadlineMs: 600_000n,
    });
    const value = plain(ours.fromBuffer(body, ours.createResolver(oldTick))) as Record<string, unknown>;
    return { type: 'coord.v1.Tick', value, key: null, correlationId: undefined, timestampMs: atMs };
  };

  it('decodes an old Tick with our schema, its settings wrapped in their union branch', () => {
    const m = decodedOld(T0, 7);
    assert.deepEqual((m.value as Record<string, unknown>).maxAllocations, { int: 7 });
    assert.deepEqual((m.value as Record<string, unknown>).historyRetentionMs, { long: 600_000n });
  });

  it('an old Tick sets the settings it carries on a log no request has set them on', () =>
    given([])
      .when(decodedOld(T0, 7))
      .thenField(SETTINGS, 'current', 'maxAllocations', 7));

  it('an old Tick changes nothing once a request has set the settings', () =>
    given([updateSettings({ maxAllocations: 5 })])
      .when(decodedOld(T0 + 1_000, 7))
      .thenChanges(0)
      .thenField(SETTINGS, 'current', 'maxAllocations', 5));
});

describe('settings: the local configuration', () => {
  it('refuses to start with initial settings the log would refuse, naming the bound', () =>
    assert.throws(() => makeConfig({ historyRetentionMs: 2_000_000_000_000 }), /initial settings out of bounds: historyRetentionMs must be from 0 to 1000000000000/));

  it('proposes every setting, as the types they travel in', () => {
    const v = initialSettingsValue(makeConfig({ maxAllocations: 12, clientSessionTimeoutMs: 45_000 }));
    assert.deepEqual(v.maxAllocations, { int: 12 });
    assert.deepEqual(v.sessionTimeoutMs, { long: 45_000n });
    assert.equal(v.initial, true);
    assert.deepEqual(Object.keys(v).filter((k) => k !== 'initial').sort(), [...SETTING_NAMES].sort());
  });
});
