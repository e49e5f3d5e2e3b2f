import { strict as assert } from 'node:assert';
import { DEPLOY_TIMEOUT_MS, QUERY, queryOf } from '../../projections/model';
import {
  createLogicalSource,
  createPhysicalSource,
  createQuery,
  createSink,
  deploy,
  dropQuery,
  fragmentIndexOf,
  fragmentReport,
  fragmentReports,
  fragmentStatus,
  getQuery,
  given,
  listQueries,
  plan,
  REPLY_TO,
  sessionClosed,
  sessionOpened,
  startQuery,
  stop,
  stopQuery,
  T0,
  tick,
  workerHeartbeat,
  workerRegistered,
  type Then,
} from '../support/given';

// Two workers; cars enters on w1; the sink goes to the least-loaded worker, w2.
const world = [workerRegistered('w1'), workerRegistered('w2'), createLogicalSource('cars'), createPhysicalSource('cars-w1', 'cars', 'w1'), createSink('out'), sessionOpened('s1')];
const created = [...world, createQuery('q1', { session: 's1' })];
const deploying = [...created, startQuery('q1', { correlationId: 'start-1' })];
const running = [...deploying, ...fragmentReports('q1', 2, 'RUNNING')];

/** The id of fragment `index` of q1 after `history`: ids carry their deployment, so a spec reads them back. */
const fragmentIdOf = (history: Parameters<typeof given>[0], index: number): string => queryOf(given(history).when(getQuery('q1')).state, 'q1')?.fragments[index]?.fragmentId ?? 'none';

describe('queries: create', () => {
  it('replies OK with the query CREATED as payload', () =>
    given(world)
      .when(createQuery('q1', { session: 's1' }))
      .thenReplies('OK', 'q1')
      .thenPayloadFields('coord.v1.Query', { name: 'q1', session: { string: 's1' }, state: 'CREATED', sources: ['cars'], sink: 'out', fragments: [] }));

  it('keeps the plan as the client gave it, with the sources and sink it names', () =>
    given(world)
      .when(createQuery('q1', { plan: '{"sources":["cars"],"sink":"out","operators":[{"op":"filter"}]}' }))
      .thenField(QUERY, 'q1', 'plan', '{"sources":["cars"],"sink":"out","operators":[{"op":"filter"}]}')
      .thenField(QUERY, 'q1', 'sources', ['cars'])
      .thenField(QUERY, 'q1', 'sink', 'out')
      .thenField(QUERY, 'q1', 'session', null));

  it('reads a logical source once when the plan names it twice', () =>
    given(world)
      .when(createQuery('q1', { sources: ['cars', 'cars'] }))
      .thenField(QUERY, 'q1', 'sources', ['cars']));

  it('refuses an invalid query name with INVALID_ARGUMENT, naming it', () =>
    given(world)
      .when(createQuery('9q'))
      .thenReplies('INVALID_ARGUMENT', 'query name "9q"')
      .thenChanges(0));

  it('refuses a plan that is not JSON', () =>
    given(world)
      .when(createQuery('q1', { plan: '{sources' }))
      .thenReplies('INVALID_ARGUMENT', 'the plan is not JSON')
      .thenState(QUERY, 'q1', undefined));

  it('refuses a plan that is a JSON array', () =>
    given(world)
      .when(createQuery('q1', { plan: '["cars"]' }))
      .thenReplies('INVALID_ARGUMENT', 'the plan must be a JSON object'));

  it('refuses a plan with no sources', () =>
    given(world)
      .when(createQuery('q1', { plan: plan([], 'out') }))
      .thenReplies('INVALID_ARGUMENT', '"sources" must be a non-empty array'));

  it('refuses a plan whose sources are not all names', () =>
    given(world)
      .when(createQuery('q1', { plan: '{"sources":["cars",7],"sink":"out"}' }))
      .thenReplies('INVALID_ARGUMENT', '"sources"'));

  it('refuses a plan without a sink', () =>
    given(world)
      .when(createQuery('q1', { plan: '{"sources":["cars"]}' }))
      .thenReplies('INVALID_ARGUMENT', '"sink" must name a sink'));

  it('refuses a temporary query without a session', () =>
    given(world)
      .when(createQuery('q1', { temporary: true }))
      .thenReplies('INVALID_ARGUMENT', 'temporary query q1 needs an owner session'));

  it('refuses a second query of the same name with ALREADY_EXISTS', () =>
    given(created)
      .when(createQuery('q1', { sources: ['cars'], sink: 'out' }))
      .thenReplies('ALREADY_EXISTS', 'q1')
      .thenChanges(0));

  it('refuses a plan that reads a logical source that does not exist, naming it', () =>
    given(world)
      .when(createQuery('q1', { sources: ['cars', 'bikes'] }))
      .thenReplies('NOT_FOUND', 'logical source bikes')
      .thenState(QUERY, 'q1', undefined));

  it('refuses a plan that writes to a sink that does not exist, naming it', () =>
    given(world)
      .when(createQuery('q1', { sink: 'nowhere' }))
      .thenReplies('NOT_FOUND', 'sink nowhere'));

  it('refuses a session that was closed with FAILED_PRECONDITION', () =>
    given([...world, sessionClosed('s1')])
      .when(createQuery('q1', { session: 's1' }))
      .thenReplies('FAILED_PRECONDITION', 'session s1 is not open'));

  it('refuses a session that was never opened', () =>
    given(world)
      .when(createQuery('q1', { session: 'ghost' }))
      .thenReplies('FAILED_PRECONDITION', 'session ghost'));
});

describe('queries: start', () => {
  it('defers its reply and leaves the query DEPLOYING with the start waiting', () =>
    given(created)
      .when(startQuery('q1', { correlationId: 'start-1', deadlineMs: T0 + 5_000 }))
      .thenNoReply()
      .thenField(QUERY, 'q1', 'state', 'DEPLOYING')
      .thenField(QUERY, 'q1', 'pending', { correlationId: 'start-1', replyTo: REPLY_TO, deadlineMs: T0 + 5_000 }));

  it('gives a start with a deadline until that deadline to deploy', () =>
    given(created)
      .when(startQuery('q1', { correlationId: 'start-1', deadlineMs: T0 + 5_000 }))
      .thenField(QUERY, 'q1', 'deployBy', T0 + 5_000));

  it('gives a start without a deadline DEPLOY_TIMEOUT_MS from the log time to deploy, not from an older stamp on the request', () =>
    given([...created, workerHeartbeat('w1', { timestampMs: T0 + 3_000 })])
      .when(startQuery('q1', { correlationId: 'start-1', timestampMs: T0 }))
      .thenField(QUERY, 'q1', 'deployBy', T0 + 3_000 + DEPLOY_TIMEOUT_MS));

  it('places the source fragment on the worker of the physical source and the sink on the least-loaded worker', () =>
    given(created)
      .when(startQuery('q1'))
      .thenFragments('q1', [
        { kind: 'SOURCE', workerId: 'w1', physicalSource: 'cars-w1', status: 'DEPLOYING' },
        { kind: 'SINK', workerId: 'w2', physicalSource: null, status: 'DEPLOYING' },
      ]));

  it('places one source fragment for each available physical source of a logical source', () =>
    given([...created, workerRegistered('w3'), createPhysicalSource('cars-w3', 'cars', 'w3')])
      .when(startQuery('q1'))
      .thenFragments('q1', [
        { kind: 'SOURCE', workerId: 'w1', physicalSource: 'cars-w1', status: 'DEPLOYING' },
        { kind: 'SOURCE', workerId: 'w3', physicalSource: 'cars-w3', status: 'DEPLOYING' },
        { kind: 'SINK', workerId: 'w2', physicalSource: null, status: 'DEPLOYING' },
      ]));

  it('puts the sink on the worker with the most free slots, whatever its name', () =>
    given([workerRegistered('a', { slots: 2 }), workerRegistered('b', { slots: 8 }), createLogicalSource('cars'), createPhysicalSource('cars-a', 'cars', 'a'), createSink('out'), createQuery('q1')])
      .when(startQuery('q1'))
      .thenCommands([deploy('a', 'q1#0'), deploy('b', 'q1#1')]));

  it('never puts the sink on a worker that is not ACTIVE', () =>
    given([...created, workerRegistered('w3', { slots: 100, timestampMs: T0 - 6_000 }), tick(T0)])
      .when(startQuery('q1'))
      .thenFragments('q1', [
        { kind: 'SOURCE', workerId: 'w1', physicalSource: 'cars-w1', status: 'DEPLOYING' },
        { kind: 'SINK', workerId: 'w2', physicalSource: null, status: 'DEPLOYING' },
      ]));

  it('sends DeployFragment to the worker of each fragment', () =>
    given(created)
      .when(startQuery('q1'))
      .thenCommands([deploy('w1', 'q1#0'), deploy('w2', 'q1#1')]));

  it('tells a source fragment its physical source and connector, and the sink fragment its sink', () => {
    const t = given([...world.slice(0, 3), createPhysicalSource('cars-w1', 'cars', 'w1', { connectorType: 'tcp', options: { port: '9000' } }), createSink('out'), createQuery('q1')]).when(startQuery('q1'));
    const [source, sink] = t.decision.commands ?? [];
    assert.deepStrictEqual(
      { ...source.value, fragmentId: fragmentIndexOf(String(source.value.fragmentId)) },
      { queryName: 'q1', fragmentId: 'q1#0', kind: 'SOURCE', plan: plan(['cars'], 'out'), physicalSource: { string: 'cars-w1' }, connectorType: { string: 'tcp' }, options: { port: '9000' }, sink: null },
    );
    assert.deepStrictEqual(
      { ...sink.value, fragmentId: fragmentIndexOf(String(sink.value.fragmentId)) },
      { queryName: 'q1', fragmentId: 'q1#1', kind: 'SINK', plan: plan(['cars'], 'out'), physicalSource: null, connectorType: null, options: {}, sink: { string: 'out' } },
    );
  });

  it('takes one slot for each fragment, held for the query’s session', () =>
    given(created)
      .when(startQuery('q1'))
      .thenAllocations([
        { workerId: 'w1', session: 's1', cached: false },
        { workerId: 'w2', session: 's1', cached: false },
      ]));

  it('gives each deployment new fragment ids, so late reports of an earlier one touch nothing', () => {
    const ids = (t: Then): string[] => queryOf(t.state, 'q1')?.fragments.map((f) => f.fragmentId) ?? [];
    const first = ids(given(created).when(startQuery('q1')));
    const second = ids(given([...running, stopQuery('q1'), ...fragmentReports('q1', 2, 'STOPPED')]).when(startQuery('q1', { correlationId: 'start-2' })));
    assert.equal(second.length, 2);
    assert.deepStrictEqual(second.filter((id) => first.includes(id)), []);
  });

  it('replies NOT_FOUND for a query that does not exist', () =>
    given(world)
      .when(startQuery('ghost'))
      .thenReplies('NOT_FOUND', 'ghost')
      .thenCommands([]));

  it('refuses a start while the query is DEPLOYING for another request', () =>
    given(deploying)
      .when(startQuery('q1', { correlationId: 'start-2' }))
      .thenReplies('FAILED_PRECONDITION', 'q1 is DEPLOYING')
      .thenChanges(0)
      .thenCommands([]));

  it('refuses a start while the query is RUNNING', () =>
    given(running)
      .when(startQuery('q1', { correlationId: 'start-2' }))
      .thenReplies('FAILED_PRECONDITION', 'q1 is RUNNING'));

  it('refuses a start of a query whose session is closed', () =>
    given([...created, sessionClosed('s1')])
      .when(startQuery('q1'))
      .thenReplies('FAILED_PRECONDITION', 'session s1, which is not open'));

  it('refuses a start when a logical source has no physical source', () =>
    given([...world, createLogicalSource('bikes'), createQuery('q2', { sources: ['cars', 'bikes'] })])
      .when(startQuery('q2'))
      .thenReplies('FAILED_PRECONDITION', 'logical source bikes has no physical source on an ACTIVE worker')
      .thenChanges(0)
      .thenCommands([]));

  it('refuses a start when the only physical source is on a worker that is not ACTIVE', () =>
    given([...created, workerHeartbeat('w2', { timestampMs: T0 + 6_000 }), tick(T0 + 6_000)])
      .when(startQuery('q1'))
      .thenReplies('FAILED_PRECONDITION', 'logical source cars has no physical source on an ACTIVE worker'));

  it('keeps a retried start with the same correlation id waiting, to be answered where it now listens', () =>
    given(deploying)
      .when(startQuery('q1', { correlationId: 'start-1', replyTo: 'elsewhere' }))
      .thenNoReply()
      .thenCommands([])
      .thenField(QUERY, 'q1', 'state', 'DEPLOYING')
      .thenField(QUERY, 'q1', 'pending', { correlationId: 'start-1', replyTo: 'elsewhere', deadlineMs: null }));

  describe('deadlines in the pass', () => {
    const withDeadline = [...created, startQuery('q1', { correlationId: 'start-1', deadlineMs: T0 + 2_000 })];

    it('refuses with DEADLINE_EXCEEDED a start that reaches the pass after its deadline', async () =>
      (await given(created).whenInOnePass([startQuery('q1', { correlationId: 'start-1', deadlineMs: T0 + 2_000, timestampMs: T0 + 5_000 })]))
        .thenRepliesTo('start-1', 'DEADLINE_EXCEEDED', `deadline ${T0 + 2_000}`)
        .thenField(QUERY, 'q1', 'state', 'CREATED'));

    it('keeps a retried start waiting when the retry reaches the pass after the deadline', async () =>
      (await given(withDeadline).whenInOnePass([startQuery('q1', { correlationId: 'start-1', deadlineMs: T0 + 2_000, replyTo: 'elsewhere', timestampMs: T0 + 5_000 })]))
        .thenNoReplyTo('start-1')
        .thenField(QUERY, 'q1', 'state', 'DEPLOYING')
        .thenField(QUERY, 'q1', 'pending', { correlationId: 'start-1', replyTo: 'elsewhere', deadlineMs: T0 + 2_000 }));

    it('refuses with DEADLINE_EXCEEDED another start past its deadline while one waits', async () =>
      (await given(withDeadline).whenInOnePass([startQuery('q1', { correlationId: 'start-2', deadlineMs: T0 + 2_000, timestampMs: T0 + 5_000 })]))
        .thenRepliesTo('start-2', 'DEADLINE_EXCEEDED')
        .thenField(QUERY, 'q1', 'pending', { correlationId: 'start-1', replyTo: REPLY_TO, deadlineMs: T0 + 2_000 }));
  });

  it('answers the retried start where it now listens once every fragment runs', () =>
    given([...deploying, startQuery('q1', { correlationId: 'start-1', replyTo: 'elsewhere' }), fragmentReport('q1', 0, 'RUNNING')])
      .when(fragmentReport('q1', 1, 'RUNNING'))
      .thenAnswer('start-1', 'OK', 'elsewhere'));

  it('starts a STOPPING query again, with new fragments', () =>
    given([...running, stopQuery('q1')])
      .when(startQuery('q1', { correlationId: 'start-2' }))
      .thenNoReply()
      .thenField(QUERY, 'q1', 'state', 'DEPLOYING')
      .thenCommands([deploy('w1', 'q1#0'), deploy('w2', 'q1#1')]));

  describe('a late STOPPED report of the deployment before a restart', () => {
    const old = given([...running, stopQuery('q1')]).when(getQuery('q1'));
    const [source] = queryOf(old.state, 'q1')?.fragments ?? [];
    const restarted = [...running, stopQuery('q1'), startQuery('q1', { correlationId: 'start-2' })];

    it('leaves the new deployment alone', () =>
      given(restarted)
        .when(fragmentStatus('w1', 'q1', source.fragmentId, 'STOPPED'))
        .thenCommands([])
        .thenAnswers([])
        .thenField(QUERY, 'q1', 'state', 'DEPLOYING')
        .thenFragments('q1', [
          { kind: 'SOURCE', workerId: 'w1', physicalSource: 'cars-w1', status: 'DEPLOYING' },
          { kind: 'SINK', workerId: 'w2', physicalSource: null, status: 'DEPLOYING' },
        ]));

    it('sends the old fragment’s slot to the session’s cache', () =>
      given(restarted)
        .when(fragmentStatus('w1', 'q1', source.fragmentId, 'STOPPED'))
        .thenAllocations([
          { workerId: 'w1', session: 's1', cached: true },
          { workerId: 'w2', session: 's1', cached: false, releaseTo: 'CACHE' },
          { workerId: 'w1', session: 's1', cached: false },
          { workerId: 'w2', session: 's1', cached: false },
        ]));
  });

  it('starts a FAILED query again', () =>
    given([...running, fragmentReport('q1', 0, 'FAILED')])
      .when(startQuery('q1', { correlationId: 'start-2' }))
      .thenNoReply()
      .thenField(QUERY, 'q1', 'state', 'DEPLOYING')
      .thenField(QUERY, 'q1', 'reason', ''));
});

describe('queries: fragment reports', () => {
  it('keeps the start waiting while only some fragments run', () =>
    given(deploying)
      .when(fragmentReport('q1', 0, 'RUNNING'))
      .thenNoReply()
      .thenAnswers([])
      .thenField(QUERY, 'q1', 'state', 'DEPLOYING')
      .thenFragments('q1', [
        { kind: 'SOURCE', workerId: 'w1', physicalSource: 'cars-w1', status: 'RUNNING' },
        { kind: 'SINK', workerId: 'w2', physicalSource: null, status: 'DEPLOYING' },
      ]));

  it('answers the start OK once every fragment reports RUNNING, and the query is RUNNING', () => {
    const t = given([...deploying, fragmentReport('q1', 0, 'RUNNING')]).when(fragmentReport('q1', 1, 'RUNNING'));
    const answer = t.thenAnswer('start-1', 'OK', REPLY_TO, 'q1 is RUNNING on 2 fragments');
    t.thenField(QUERY, 'q1', 'state', 'RUNNING').thenField(QUERY, 'q1', 'pending', null);
    assert.equal(answer.reply.payload?.type, 'coord.v1.Query');
    assert.equal(answer.reply.payload?.value.state, 'RUNNING');
  });

  it('does not answer twice when a fragment repeats RUNNING', () =>
    given(running)
      .when(fragmentReport('q1', 1, 'RUNNING'))
      .thenAnswers([])
      .thenCommands([])
      .thenChanges(0));

  it('aborts a waiting start when a fragment FAILS: ABORTED with the reason', () =>
    given([...deploying, fragmentReport('q1', 1, 'RUNNING')])
      .when(fragmentReport('q1', 0, 'FAILED', { reason: 'port 9000 in use' }))
      .thenAnswer('start-1', 'ABORTED', REPLY_TO, 'q1 was aborted', 'failed on worker w1', 'port 9000 in use'));

  it('tells the other fragments to stop when one FAILS', () =>
    given([...deploying, fragmentReport('q1', 1, 'RUNNING')])
      .when(fragmentReport('q1', 0, 'FAILED'))
      .thenCommands([stop('w2', 'q1#1')]));

  it('marks the query FAILED with the reason when a fragment FAILS', () =>
    given(deploying)
      .when(fragmentReport('q1', 1, 'FAILED', { reason: 'disk full' }))
      .thenField(QUERY, 'q1', 'state', 'FAILED')
      .thenField(QUERY, 'q1', 'pending', null)
      .thenFragments('q1', [
        { kind: 'SOURCE', workerId: 'w1', physicalSource: 'cars-w1', status: 'STOPPING' },
        { kind: 'SINK', workerId: 'w2', physicalSource: null, status: 'FAILED' },
      ]));

  it('frees the failed fragment’s slot at once and keeps the others taken until their workers confirm', () =>
    given(deploying)
      .when(fragmentReport('q1', 1, 'FAILED', { reason: 'disk full' }))
      .thenAllocations([{ workerId: 'w1', session: 's1', cached: false, releaseTo: 'FREE' }]));

  it('frees a failed query’s slot, uncached, when its worker confirms the fragment STOPPED', () =>
    given([...deploying, fragmentReport('q1', 1, 'FAILED', { reason: 'disk full' })])
      .when(fragmentReport('q1', 0, 'STOPPED'))
      .thenAllocations([]));

  it('fails a RUNNING query whose fragment reports STOPPED without being told to, and stops the others', () =>
    given(running)
      .when(fragmentReport('q1', 0, 'STOPPED'))
      .thenCommands([stop('w2', 'q1#1')])
      .thenField(QUERY, 'q1', 'state', 'FAILED')
      .thenField(QUERY, 'q1', 'reason', `fragment ${fragmentIdOf(running, 0)} stopped on worker w1 without being told to`));

  it('aborts a waiting start when a fragment reports STOPPED without being told to', () =>
    given([...deploying, fragmentReport('q1', 1, 'RUNNING')])
      .when(fragmentReport('q1', 0, 'STOPPED'))
      .thenAnswer('start-1', 'ABORTED', REPLY_TO, 'q1 was aborted', 'stopped on worker w1 without being told to'));

  it('says in the reason when a worker gave none', () => {
    const t = given(deploying).when(fragmentReport('q1', 1, 'FAILED'));
    assert.match(String(queryOf(t.state, 'q1')?.reason), /^fragment q1#\d+-1 failed on worker w2: no reason given$/);
  });

  it('fails a RUNNING query whose fragment FAILS, with nothing to answer', () =>
    given(running)
      .when(fragmentReport('q1', 0, 'FAILED', { reason: 'crashed' }))
      .thenAnswers([])
      .thenCommands([stop('w2', 'q1#1')])
      .thenField(QUERY, 'q1', 'state', 'FAILED'));

  it('ignores a report from an older incarnation of the worker', () =>
    given([workerRegistered('w1', { incarnation: 'old' }), workerRegistered('w1', { incarnation: 'new' }), ...created.slice(1), startQuery('q1', { correlationId: 'start-1' })])
      .when(fragmentReport('q1', 0, 'FAILED', { incarnation: 'old' }))
      .thenChanges(0)
      .thenCommands([])
      .thenAnswers([])
      .thenField(QUERY, 'q1', 'state', 'DEPLOYING'));

  it('ignores a RUNNING report from an older incarnation, so the start keeps waiting', () =>
    given([workerRegistered('w1', { incarnation: 'old' }), workerRegistered('w1', { incarnation: 'new' }), ...created.slice(1), startQuery('q1', { correlationId: 'start-1' }), fragmentReport('q1', 1, 'RUNNING')])
      .when(fragmentReport('q1', 0, 'RUNNING', { incarnation: 'old' }))
      .thenChanges(0)
      .thenAnswers([]));

  it('ignores a report from a worker it does not know', () =>
    given(deploying)
      .when(fragmentStatus('ghost', 'q1', 'q1#1-0', 'RUNNING', { incarnation: 'i1' }))
      .thenChanges(0)
      .thenCommands([]));

  it('tells a worker to stop a fragment of a query it does not know', () =>
    given(world)
      .when(fragmentStatus('w1', 'gone', 'gone#3-0', 'RUNNING'))
      .thenChanges(0)
      .thenCommands([stop('w1', 'gone#0')]));

  it('changes nothing when a worker reports STOPPED a fragment of a query it does not know', () =>
    given(world)
      .when(fragmentStatus('w1', 'gone', 'gone#3-0', 'STOPPED'))
      .thenChanges(0)
      .thenCommands([]));

  it('frees a dropped query’s slot when its worker reports the fragment STOPPED', () =>
    given([...world, createQuery('free'), startQuery('free'), ...fragmentReports('free', 2, 'RUNNING'), stopQuery('free'), dropQuery('free')])
      .when(fragmentReport('free', 0, 'STOPPED'))
      .thenAllocations([{ workerId: 'w2', session: null, cached: false, releaseTo: 'CACHE' }]));

  it('tells a worker to stop a fragment of an earlier deployment that still reports RUNNING', () =>
    given(running)
      .when(fragmentStatus('w1', 'q1', 'q1#0-0', 'RUNNING')) // deployment 0: ids start at 1, so never this one
      .thenChanges(0)
      .thenCommands([stop('w1', 'q1#0')]));

  it('tells a fragment that was told to stop, and reports RUNNING late, to stop again', () =>
    given([...running, stopQuery('q1')])
      .when(fragmentReport('q1', 0, 'RUNNING'))
      .thenCommands([stop('w1', 'q1#0')])
      .thenField(QUERY, 'q1', 'state', 'STOPPING'));

  it('keeps a stopping query STOPPING until its last fragment reports STOPPED', () =>
    given([...running, stopQuery('q1')])
      .when(fragmentReport('q1', 0, 'STOPPED'))
      .thenField(QUERY, 'q1', 'state', 'STOPPING'));

  it('makes a stopping query STOPPED when its last fragment reports STOPPED', () =>
    given([...running, stopQuery('q1'), fragmentReport('q1', 0, 'STOPPED')])
      .when(fragmentReport('q1', 1, 'STOPPED'))
      .thenField(QUERY, 'q1', 'state', 'STOPPED'));

  it('makes a stopping query STOPPED when its last fragment reports FAILED instead of STOPPED', () =>
    given([...running, stopQuery('q1'), fragmentReport('q1', 0, 'STOPPED')])
      .when(fragmentReport('q1', 1, 'FAILED', { reason: 'crashed while stopping' }))
      .thenField(QUERY, 'q1', 'state', 'STOPPED'));
});

describe('queries: stop', () => {
  it('stops a RUNNING query: OK, StopFragment to each fragment, STOPPING until they confirm', () =>
    given(running)
      .when(stopQuery('q1'))
      .thenReplies('OK', 'stopping query q1')
      .thenPayloadFields('coord.v1.Query', { state: 'STOPPING' })
      .thenCommands([stop('w1', 'q1#0'), stop('w2', 'q1#1')])
      .thenFragments('q1', [
        { kind: 'SOURCE', workerId: 'w1', physicalSource: 'cars-w1', status: 'STOPPING' },
        { kind: 'SINK', workerId: 'w2', physicalSource: null, status: 'STOPPING' },
      ]));

  it('answers a start still waiting ABORTED when the query is stopped before it runs', () =>
    given(deploying)
      .when(stopQuery('q1'))
      .thenReplies('OK')
      .thenAnswer('start-1', 'ABORTED', REPLY_TO, 'q1 was stopped before it ran'));

  it('replies OK and changes nothing when the query is already STOPPING', () =>
    given([...running, stopQuery('q1', { correlationId: 'stop-1' })])
      .when(stopQuery('q1', { correlationId: 'stop-2' }))
      .thenReplies('OK', 'already STOPPING')
      .thenChanges(0)
      .thenCommands([]));

  it('replies OK and changes nothing when the query is already STOPPED', () =>
    given([...running, stopQuery('q1', { correlationId: 'stop-1' }), ...fragmentReports('q1', 2, 'STOPPED')])
      .when(stopQuery('q1', { correlationId: 'stop-2' }))
      .thenReplies('OK', 'already STOPPED')
      .thenChanges(0));

  it('refuses to stop a query that was never started', () =>
    given(created)
      .when(stopQuery('q1'))
      .thenReplies('FAILED_PRECONDITION', 'q1 is CREATED, not running'));

  it('refuses to stop a FAILED query', () =>
    given([...running, fragmentReport('q1', 0, 'FAILED')])
      .when(stopQuery('q1'))
      .thenReplies('FAILED_PRECONDITION', 'q1 is FAILED'));

  it('replies NOT_FOUND for a query that does not exist', () =>
    given(world)
      .when(stopQuery('ghost'))
      .thenReplies('NOT_FOUND', 'ghost'));
});

describe('queries: drop', () => {
  it('drops a query that was never started', () =>
    given(created)
      .when(dropQuery('q1'))
      .thenReplies('OK', 'dropped query q1')
      .thenState(QUERY, 'q1', undefined));

  it('drops a STOPPED query', () =>
    given([...running, stopQuery('q1'), ...fragmentReports('q1', 2, 'STOPPED')])
      .when(dropQuery('q1'))
      .thenReplies('OK')
      .thenState(QUERY, 'q1', undefined));

  it('refuses to drop a RUNNING query', () =>
    given(running)
      .when(dropQuery('q1'))
      .thenReplies('FAILED_PRECONDITION', 'q1 is RUNNING; stop it before dropping it')
      .thenChanges(0));

  it('refuses to drop a DEPLOYING query', () =>
    given(deploying)
      .when(dropQuery('q1'))
      .thenReplies('FAILED_PRECONDITION', 'q1 is DEPLOYING'));

  it('replies NOT_FOUND for a query that does not exist', () =>
    given(world)
      .when(dropQuery('ghost'))
      .thenReplies('NOT_FOUND', 'ghost'));

  it('lets the name be created again afterwards', () =>
    given([...created, dropQuery('q1')])
      .when(createQuery('q1'))
      .thenReplies('OK'));
});

describe('queries: get and list', () => {
  it('returns a query with its fragments', () => {
    const t = given(running).when(getQuery('q1'));
    t.thenReplies('OK').thenPayloadFields('coord.v1.Query', { name: 'q1', state: 'RUNNING', reused: 0 });
    const fragments = t.decision.reply?.payload?.value.fragments as { fragmentId: string; workerId: string; physicalSource: unknown; status: string }[];
    assert.deepStrictEqual(
      fragments.map((f) => [fragmentIndexOf(f.fragmentId), f.workerId, f.physicalSource, f.status]),
      [
        ['q1#0', 'w1', { string: 'cars-w1' }, 'RUNNING'],
        ['q1#1', 'w2', null, 'RUNNING'],
      ],
    );
  });

  it('replies NOT_FOUND for a query that does not exist', () =>
    given(world)
      .when(getQuery('ghost'))
      .thenReplies('NOT_FOUND', 'ghost'));

  it('lists every query in name order', () => {
    const t = given([...created, createQuery('a0')]).when(listQueries());
    t.thenReplies('OK', '2 queries');
    assert.deepStrictEqual(
      (t.decision.reply?.payload?.value.queries as { name: string }[]).map((q) => q.name),
      ['a0', 'q1'],
    );
  });

  it('lists only the queries of a session when asked', () => {
    const t = given([...created, sessionOpened('s2'), createQuery('a0', { session: 's2' }), createQuery('b0')]).when(listQueries({ session: 's2' }));
    assert.deepStrictEqual(
      (t.decision.reply?.payload?.value.queries as { name: string }[]).map((q) => q.name),
      ['a0'],
    );
  });

  it('changes nothing', () =>
    given(running)
      .when(listQueries())
      .thenChanges(0));
});
