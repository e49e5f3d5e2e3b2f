import { strict as assert } from 'node:assert';
import { DEFAULT_SETTINGS, DEPLOY_TIMEOUT_MS, PHYSICAL_SOURCE, QUERY, SETTINGS, type Settings } from '../../projections/model';
import {
  createLogicalSource,
  createPhysicalSource,
  createQuery,
  createSink,
  fragmentReport,
  fragmentReports,
  given,
  REPLY_TO,
  sessionClosed,
  sessionHeartbeat,
  sessionOpened,
  startQuery,
  stop,
  stopQuery,
  T0,
  tick,
  workerDeregistered,
  workerHeartbeat,
  workerRegistered,
} from '../support/given';

const at = (ms: number) => ({ timestampMs: T0 + ms });

// cars enters on w1; q1's sink goes to w2. w2 and the session keep speaking; w1 falls silent after T0.
const world = [workerRegistered('w1'), workerRegistered('w2'), createLogicalSource('cars'), createPhysicalSource('cars-w1', 'cars', 'w1'), createSink('out'), sessionOpened('s1')];
const deploying = [...world, createQuery('q1', { session: 's1' }), startQuery('q1', { correlationId: 'start-1' })];
const running = [...deploying, ...fragmentReports('q1', 2, 'RUNNING')];
const othersAlive = (ms: number) => [workerHeartbeat('w2', at(ms)), sessionHeartbeat('s1', at(ms))];
/** w1 is declared DEAD by this tick: 15 s of silence, the default workerTimeoutMs. */
const w1Dies = [...othersAlive(14_000), tick(T0 + 15_000)];

describe('liveness: a DEAD worker’s queries and sources', () => {
  it('fails a RUNNING query with a fragment on the DEAD worker, saying why', () =>
    given([...running, ...othersAlive(14_000)])
      .when(tick(T0 + 15_000))
      .thenField(QUERY, 'q1', 'state', 'FAILED')
      .thenField(QUERY, 'q1', 'reason', 'worker w1 is DEAD'));

  it('marks the lost fragment FAILED and tells the fragments on live workers to stop', () =>
    given([...running, ...othersAlive(14_000)])
      .when(tick(T0 + 15_000))
      .thenCommands([stop('w2', 'q1#1')])
      .thenFragments('q1', [
        { kind: 'SOURCE', workerId: 'w1', physicalSource: 'cars-w1', status: 'FAILED' },
        { kind: 'SINK', workerId: 'w2', physicalSource: null, status: 'STOPPING' },
      ]));

  it('marks the DEAD worker’s physical sources unavailable', () =>
    given([...running, ...othersAlive(14_000)])
      .when(tick(T0 + 15_000))
      .thenField(PHYSICAL_SOURCE, 'cars-w1', 'available', false));

  it('frees the failed query’s slot on the DEAD worker at once, and keeps its slot on a live worker until that worker confirms', () =>
    given([...running, ...othersAlive(14_000)])
      .when(tick(T0 + 15_000))
      .thenAllocations([{ workerId: 'w2', session: 's1', cached: false, releaseTo: 'FREE' }]));

  it('frees the failed query’s slot on a live worker when it confirms the fragment STOPPED', () =>
    given([...running, ...othersAlive(14_000), tick(T0 + 15_000)])
      .when(fragmentReport('q1', 1, 'STOPPED', at(15_000)))
      .thenAllocations([]));

  it('frees a failed query’s slot that waits for a confirmation when its worker is declared DEAD', () =>
    given([...running, fragmentReport('q1', 1, 'FAILED'), ...othersAlive(14_000)])
      .when(tick(T0 + 15_000))
      .thenAllocations([]));

  it('frees a stopped query’s slot that waits for a confirmation when its worker deregisters', () =>
    given([...running, stopQuery('q1'), fragmentReport('q1', 1, 'STOPPED')])
      .when(workerDeregistered('w1', at(1_000)))
      .thenAllocations([{ workerId: 'w2', session: 's1', cached: true }]));

  it('frees a slot that waits for a confirmation when its worker registers with a new incarnation', () =>
    given([...running, fragmentReport('q1', 1, 'FAILED')])
      .when(workerRegistered('w1', { incarnation: 'i2', ...at(1_000) }))
      .thenAllocations([]));

  it('answers a start still waiting ABORTED with the reason', () =>
    given([...deploying, ...othersAlive(14_000)])
      .when(tick(T0 + 15_000))
      .thenAnswer('start-1', 'ABORTED', REPLY_TO, 'worker w1 is DEAD'));

  it('does it once: a second tick changes nothing, sends nothing and answers nothing', () =>
    given([...deploying, ...w1Dies, ...othersAlive(29_000)])
      .when(tick(T0 + 30_000))
      .thenChanges(0)
      .thenCommands([])
      .thenAnswers([]));

  it('leaves a query with no fragment on the DEAD worker RUNNING', () =>
    given([
      workerRegistered('w1'),
      workerRegistered('w2'),
      workerRegistered('w3', { slots: 8 }),
      createLogicalSource('cars'),
      createPhysicalSource('cars-w2', 'cars', 'w2'),
      createSink('out'),
      createQuery('q2'),
      startQuery('q2'),
      ...fragmentReports('q2', 2, 'RUNNING'),
      workerHeartbeat('w2', at(14_000)),
      workerHeartbeat('w3', at(14_000)),
    ])
      .when(tick(T0 + 15_000))
      .thenField(QUERY, 'q2', 'state', 'RUNNING')
      .thenCommands([]));

  it('makes a STOPPING query STOPPED when its last unconfirmed fragment was on the DEAD worker', () =>
    given([...running, stopQuery('q1'), fragmentReport('q1', 1, 'STOPPED'), ...othersAlive(14_000)])
      .when(tick(T0 + 15_000))
      .thenField(QUERY, 'q1', 'state', 'STOPPED')
      .thenCommands([]));

  it('makes the physical sources available again when the worker registers anew', () =>
    given([...running, ...w1Dies])
      .when(workerRegistered('w1', { incarnation: 'i2', ...at(16_000) }))
      .thenField(PHYSICAL_SOURCE, 'cars-w1', 'available', true));

  it('fails the queries of a worker that registers with a new incarnation while alive', () =>
    given(running)
      .when(workerRegistered('w1', { incarnation: 'i2', ...at(1_000) }))
      .thenField(QUERY, 'q1', 'state', 'FAILED')
      .thenField(QUERY, 'q1', 'reason', 'worker w1 is replaced by a new incarnation')
      .thenCommands([stop('w2', 'q1#1')]));

  it('fails the queries of a worker that deregisters, and its sources become unavailable', () =>
    given(running)
      .when(workerDeregistered('w1', at(1_000)))
      .thenField(QUERY, 'q1', 'state', 'FAILED')
      .thenField(QUERY, 'q1', 'reason', 'worker w1 is DEREGISTERED')
      .thenField(PHYSICAL_SOURCE, 'cars-w1', 'available', false)
      .thenCommands([stop('w2', 'q1#1')]));

  it('refuses to start a query whose only physical source is on a DEAD worker', () =>
    given([...running, ...w1Dies])
      .when(startQuery('q1', { correlationId: 'start-2', ...at(16_000) }))
      .thenReplies('FAILED_PRECONDITION', 'logical source cars has no physical source on an ACTIVE worker'));
});

describe('liveness: a session that goes', () => {
  // The workers stay alive; the session s1 falls silent after T0 and expires at T0 + 30 s.
  const workersAlive = [workerHeartbeat('w1', at(29_000)), workerHeartbeat('w2', at(29_000))];
  const temp = [...world, sessionOpened('s2'), createQuery('tq', { session: 's1', temporary: true }), createQuery('kept', { session: 's1' }), startQuery('tq', { correlationId: 'start-tq' })];
  const tempRunning = [...temp, ...fragmentReports('tq', 2, 'RUNNING')];
  const keepAlive = (ms: number) => [...workersAlive, sessionHeartbeat('s2', at(ms))];

  it('drops an expired session’s temporary queries', () =>
    given([...tempRunning, ...keepAlive(29_000)])
      .when(tick(T0 + 30_000))
      .thenState(QUERY, 'tq', undefined));

  it('tells the workers to stop the fragments of the temporary queries it drops', () =>
    given([...tempRunning, ...keepAlive(29_000)])
      .when(tick(T0 + 30_000))
      .thenCommands([stop('w1', 'tq#0'), stop('w2', 'tq#1')]));

  it('answers a temporary query’s waiting start ABORTED when its session expires', () =>
    given([...temp, ...keepAlive(29_000)])
      .when(tick(T0 + 30_000))
      .thenAnswer('start-tq', 'ABORTED', REPLY_TO, 'its session s1 is gone'));

  it('keeps the slots of the temporary queries it drops until their workers confirm the fragments stopped', () =>
    given([...temp, ...keepAlive(29_000)])
      .when(tick(T0 + 30_000))
      .thenAllocations([
        { workerId: 'w1', session: 's1', cached: false, releaseTo: 'FREE' },
        { workerId: 'w2', session: 's1', cached: false, releaseTo: 'FREE' },
      ]));

  it('frees the slots of a dropped temporary query as its workers confirm the fragments stopped', () =>
    given([...tempRunning, ...keepAlive(29_000), tick(T0 + 30_000), fragmentReport('tq', 0, 'STOPPED', at(30_000))])
      .when(fragmentReport('tq', 1, 'STOPPED', at(30_000)))
      .thenAllocations([]));

  it('releases the session’s cached slots when it expires', () =>
    given([...world, createQuery('q1', { session: 's1' }), startQuery('q1', { correlationId: 'start-q1' }), stopQuery('q1'), ...fragmentReports('q1', 2, 'STOPPED'), ...keepAlive(29_000)])
      .when(tick(T0 + 30_000))
      .thenAllocations([]));

  it('keeps the session’s queries that are not temporary', () =>
    given([...tempRunning, ...keepAlive(29_000)])
      .when(tick(T0 + 30_000))
      .thenField(QUERY, 'kept', 'state', 'CREATED'));

  it('leaves other sessions’ cached slots alone', () =>
    given([...world, sessionOpened('s2'), createQuery('q2', { session: 's2' }), startQuery('q2'), stopQuery('q2'), ...fragmentReports('q2', 2, 'STOPPED'), ...keepAlive(29_000)])
      .when(tick(T0 + 30_000))
      .thenAllocations([
        { workerId: 'w1', session: 's2', cached: true },
        { workerId: 'w2', session: 's2', cached: true },
      ]));

  it('does the same when the session is closed: temporary queries dropped and their fragments told to stop', () =>
    given([...tempRunning, createQuery('q1', { session: 's1' })])
      .when(sessionClosed('s1', at(1_000)))
      .thenState(QUERY, 'tq', undefined)
      .thenField(QUERY, 'kept', 'state', 'CREATED')
      .thenCommands([stop('w1', 'tq#0'), stop('w2', 'tq#1')]));

  it('frees the slots of a closed session’s temporary queries as their workers confirm the fragments stopped', () =>
    given([...tempRunning, sessionClosed('s1', at(1_000)), fragmentReport('tq', 0, 'STOPPED', at(2_000))])
      .when(fragmentReport('tq', 1, 'STOPPED', at(2_000)))
      .thenAllocations([]));

  it('releases the cached slots of a session that is closed', () =>
    given([...world, createQuery('q1', { session: 's1' }), startQuery('q1'), stopQuery('q1'), ...fragmentReports('q1', 2, 'STOPPED')])
      .when(sessionClosed('s1', at(1_000)))
      .thenAllocations([]));

  it('gives back, uncached, the slots of a query whose session is gone by the time its workers confirm the stop', () =>
    given([...world, createQuery('q1', { session: 's1' }), startQuery('q1', { correlationId: 'start-q1' }), ...fragmentReports('q1', 2, 'RUNNING'), stopQuery('q1', at(1_000)), sessionClosed('s1', at(2_000)), fragmentReport('q1', 0, 'STOPPED', at(3_000))])
      .when(fragmentReport('q1', 1, 'STOPPED', at(3_000)))
      .thenAllocations([]));
});

describe('liveness: deadlines of waiting starts', () => {
  const withDeadline = [...world, createQuery('q1', { session: 's1' }), startQuery('q1', { correlationId: 'start-1', deadlineMs: T0 + 2_000 })];

  it('aborts a DEPLOYING query on the first tick past its start’s deadline: ABORTED to the start', () =>
    given(withDeadline)
      .when(tick(T0 + 2_001))
      .thenAnswer('start-1', 'ABORTED', REPLY_TO, `deadline ${T0 + 2_000} passed`));

  it('tells every fragment to stop and marks the query FAILED when the deadline passes', () =>
    given([...withDeadline, fragmentReport('q1', 0, 'RUNNING')])
      .when(tick(T0 + 2_001))
      .thenCommands([stop('w1', 'q1#0'), stop('w2', 'q1#1')])
      .thenField(QUERY, 'q1', 'state', 'FAILED'));

  it('keeps an aborted start’s slots taken until its workers confirm the fragments stopped', () =>
    given([...withDeadline, fragmentReport('q1', 0, 'RUNNING')])
      .when(tick(T0 + 2_001))
      .thenAllocations([
        { workerId: 'w1', session: 's1', cached: false, releaseTo: 'FREE' },
        { workerId: 'w2', session: 's1', cached: false, releaseTo: 'FREE' },
      ]));

  it('judges a deadline by the log time, even when the tick carries an earlier stamp', () =>
    given([...withDeadline, ...othersAlive(3_000), workerHeartbeat('w1', at(3_000))])
      .when(tick(T0 + 1_000))
      .thenField(QUERY, 'q1', 'state', 'FAILED')
      .thenAnswer('start-1', 'ABORTED', REPLY_TO, `deadline ${T0 + 2_000} passed`));

  it('names in the reason the fragments that did not report RUNNING', () => {
    const t = given([...withDeadline, fragmentReport('q1', 0, 'RUNNING')]).when(tick(T0 + 2_001));
    const reason = String(t.state.get(QUERY, 'q1')?.reason);
    assert.match(reason, /q1#\d+-1 did not/);
    assert.doesNotMatch(reason, /q1#\d+-0/);
  });

  it('leaves the query DEPLOYING on a tick at its deadline', () =>
    given(withDeadline)
      .when(tick(T0 + 2_000))
      .thenChanges(0)
      .thenAnswers([]));

  it('leaves a query that ran before its deadline alone', () =>
    given([...withDeadline, ...fragmentReports('q1', 2, 'RUNNING')])
      .when(tick(T0 + 4_000))
      .thenChanges(0)
      .thenCommands([]));

  describe('a start whose deadline is further than maxDeadlineMs', () => {
    // The cap in force when the start is applied: 10 s of log time, whatever the client asked.
    const capped = [tick(T0, { maxDeadlineMs: 10_000 }), ...world, createQuery('q1', { session: 's1' }), startQuery('q1', { correlationId: 'start-1', deadlineMs: 9e15 })];
    const allAlive = (ms: number) => [...othersAlive(ms), workerHeartbeat('w1', at(ms))];

    it('keeps waiting on a tick maxDeadlineMs after the start', () =>
      given([...capped, ...allAlive(9_000)])
        .when(tick(T0 + 10_000, { maxDeadlineMs: 10_000 }))
        .thenChanges(0)
        .thenAnswers([]));

    it('aborts the start once maxDeadlineMs of log time has passed: ABORTED, saying the deadline was held', () =>
      given([...capped, ...allAlive(9_000)])
        .when(tick(T0 + 10_001, { maxDeadlineMs: 10_000 }))
        .thenField(QUERY, 'q1', 'state', 'FAILED')
        .thenAnswer('start-1', 'ABORTED', REPLY_TO, `held to log time ${T0 + 10_000} by maxDeadlineMs`, 'it asked for 9000000000000000'));

    it('tells the fragments to stop and frees their slots as the workers confirm', () =>
      given([...capped, ...allAlive(9_000)])
        .when(tick(T0 + 10_001, { maxDeadlineMs: 10_000 }))
        .thenCommands([stop('w1', 'q1#0'), stop('w2', 'q1#1')])
        .thenAllocations([
          { workerId: 'w1', session: 's1', cached: false, releaseTo: 'FREE' },
          { workerId: 'w2', session: 's1', cached: false, releaseTo: 'FREE' },
        ]));

    it('holds the slots no longer than the default maxDeadlineMs when the ticks carry none of their own', () =>
      given([...world, createQuery('q1', { session: 's1' }), startQuery('q1', { correlationId: 'start-1', deadlineMs: 9e15 }), ...allAlive(DEFAULT_SETTINGS.maxDeadlineMs - 1_000)])
        .when(tick(T0 + DEFAULT_SETTINGS.maxDeadlineMs + 1))
        .thenField(QUERY, 'q1', 'state', 'FAILED')
        .thenAnswer('start-1', 'ABORTED', REPLY_TO, 'maxDeadlineMs'));
  });

  describe('a start that gave no deadline', () => {
    // Everyone keeps speaking, so only the deployment's own time runs out.
    const allAlive = (ms: number) => [...othersAlive(ms), workerHeartbeat('w1', at(ms))];

    it('leaves the query DEPLOYING on a tick DEPLOY_TIMEOUT_MS after the start', () =>
      given([...deploying, ...allAlive(DEPLOY_TIMEOUT_MS - 1_000)])
        .when(tick(T0 + DEPLOY_TIMEOUT_MS))
        .thenChanges(0)
        .thenAnswers([]));

    it('aborts the query on the first tick past DEPLOY_TIMEOUT_MS: ABORTED to the start', () =>
      given([...deploying, ...allAlive(DEPLOY_TIMEOUT_MS - 1_000)])
        .when(tick(T0 + DEPLOY_TIMEOUT_MS + 1))
        .thenField(QUERY, 'q1', 'state', 'FAILED')
        .thenAnswer('start-1', 'ABORTED', REPLY_TO, `the deploy timeout (${DEPLOY_TIMEOUT_MS} ms) passed`));
  });
});

describe('liveness: settings carried by the Tick', () => {
  it('keeps the settings a tick carries for the deciders', () => {
    const t = given([workerRegistered('w1')]).when(tick(T0 + 1_000, { maxAllocations: 7, allocationIdleMs: 1_234, maxCachedAllocations: 3, historyRetentionMs: 9_000 }));
    const s = t.state.get(SETTINGS, 'current') as Settings | undefined;
    assert.deepStrictEqual(
      s && { maxAllocations: s.maxAllocations, allocationIdleMs: s.allocationIdleMs, maxCachedAllocations: s.maxCachedAllocations, historyRetentionMs: s.historyRetentionMs },
      { maxAllocations: 7, allocationIdleMs: 1_234, maxCachedAllocations: 3, historyRetentionMs: 9_000 },
    );
  });

  it('writes nothing when a tick carries the settings already in force', () =>
    given([tick(T0, { maxAllocations: 7 })])
      .when(tick(T0 + 1_000, { maxAllocations: 7 }))
      .thenChanges(0));

  describe('a tick that carries settings out of bounds', () => {
    const settingsAfter = (...ticks: Parameters<typeof tick>[]): Settings => {
      const t = given(ticks.slice(0, -1).map((a) => tick(...a))).when(tick(...ticks[ticks.length - 1]));
      return (t.state.get(SETTINGS, 'current') as Settings | undefined) ?? DEFAULT_SETTINGS;
    };

    it('keeps maxValueBytes in force when a tick says 0, so later records (and ticks) are still read', () =>
      assert.equal(settingsAfter([T0, { maxValueBytes: 0 }]).maxValueBytes, DEFAULT_SETTINGS.maxValueBytes));

    it('keeps dedupeRetentionMs when a tick says less than maxDeadlineMs or a negative time', () => {
      assert.equal(settingsAfter([T0, { dedupeRetentionMs: -1 }]).dedupeRetentionMs, DEFAULT_SETTINGS.dedupeRetentionMs);
      assert.equal(settingsAfter([T0, { dedupeRetentionMs: 1_000, maxDeadlineMs: 60_000 }]).dedupeRetentionMs, DEFAULT_SETTINGS.dedupeRetentionMs);
    });

    it('keeps the liveness thresholds when a tick would make a worker DEAD before SUSPECT', () => {
      const s = settingsAfter([T0, { suspectMs: 20_000, timeoutMs: 10_000 }]);
      assert.deepStrictEqual([s.workerSuspectMs, s.workerTimeoutMs], [DEFAULT_SETTINGS.workerSuspectMs, DEFAULT_SETTINGS.workerTimeoutMs]);
    });

    it('takes the values in bounds from the same tick', () => {
      const s = settingsAfter([T0, { maxValueBytes: 0, maxAllocations: 9 }]);
      assert.deepStrictEqual([s.maxValueBytes, s.maxAllocations], [DEFAULT_SETTINGS.maxValueBytes, 9]);
    });
  });
});
