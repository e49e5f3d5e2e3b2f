import { strict as assert } from 'node:assert';
import { LIMITS, QUERY, SESSION, shown, WORKER } from '../../projections/model';
import {
  acquireReadHold,
  createLogicalSource,
  createPhysicalSource,
  createQuery,
  createSink,
  dropLogicalSource,
  field,
  fragmentReport,
  getQuery,
  given,
  plan,
  releaseReadHold,
  sessionOpened,
  startQuery,
  workerRegistered,
  workerStatistics,
  type Then,
} from '../support/given';

/** Far more than any limit: a reply that echoed it would be as large. */
const HUGE = 'x'.repeat(100_000);
const chars = (n: number, c = 'a'): string => c.repeat(n);
const options = (n: number): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));

/** The reply says how long the input was and stays small: it does not carry the input. */
const echoesOnlyItsSize = (t: Then, size: number): void => {
  const message = t.decision.reply?.message ?? '';
  assert.ok(message.includes(`${size} characters`), `expected the size ${size} in: ${message.slice(0, 300)}`);
  assert.ok(message.length < 400, `the reply echoes ${message.length} characters`);
};

const world = [workerRegistered('w1'), createLogicalSource('cars'), createSink('out')];

describe('limits: what a message echoes', () => {
  it('echoes a plain name of at most 64 characters as it is', () => assert.equal(shown('cars-2024_v1'), 'cars-2024_v1'));

  it('quotes a value that is not a plain name, so blanks and control characters show', () => assert.equal(shown('bad name\n'), '"bad name\\n"'));

  it('cuts an echoed value to its first 64 characters and says how long it was', () =>
    assert.equal(shown(chars(70, 'b')), `"${chars(LIMITS.shownChars, 'b')}"… (70 characters)`));

  it('refuses an invalid name without echoing more than its start', () =>
    echoesOnlyItsSize(given().when(createLogicalSource(`bad name ${HUGE}`)).thenReplies('INVALID_ARGUMENT', 'limit of 255'), HUGE.length + 9));

  it('answers a Get of an unknown long name with NOT_FOUND, without echoing it', () =>
    echoesOnlyItsSize(given().when(getQuery(HUGE)).thenReplies('NOT_FOUND', 'does not exist'), HUGE.length));

  it('answers a drop of an unknown long name with NOT_FOUND, without echoing it', () =>
    echoesOnlyItsSize(given().when(dropLogicalSource(HUGE)).thenReplies('NOT_FOUND', 'does not exist'), HUGE.length));

  it('answers a start of an unknown long name with NOT_FOUND, without echoing it', () =>
    echoesOnlyItsSize(given().when(startQuery(HUGE)).thenReplies('NOT_FOUND', 'does not exist'), HUGE.length));

  it('answers the release of an unknown long read hold with NOT_FOUND, without echoing it', () =>
    echoesOnlyItsSize(given().when(releaseReadHold(HUGE)).thenReplies('NOT_FOUND', 'does not exist'), HUGE.length));

  it('refuses a physical source on an unknown long worker id without echoing it', () =>
    echoesOnlyItsSize(given(world).when(createPhysicalSource('cars-x', 'cars', HUGE)).thenReplies('FAILED_PRECONDITION', 'not registered'), HUGE.length));

  it('refuses a query of an unknown long session id without echoing it', () =>
    echoesOnlyItsSize(given(world).when(createQuery('q1', { session: HUGE })).thenReplies('FAILED_PRECONDITION', 'is not open'), HUGE.length));

  it('refuses a plan naming an unknown long sink without echoing it', () =>
    // Long, but within the plan's 64 KiB.
    echoesOnlyItsSize(given(world).when(createQuery('q1', { sink: chars(10_000) })).thenReplies('NOT_FOUND', 'does not exist'), 10_000));

  it('names the first unknown logical source of a plan and counts the others', () =>
    given(world)
      .when(createQuery('q1', { sources: ['cars', 'bikes', 'trains', 'ships'] }))
      .thenReplies('NOT_FOUND', 'logical source bikes (and 2 more), which does not exist'));

  it('keeps no more than the start of a worker’s long failure reason in the query’s reason', () => {
    const t = given([...world, createPhysicalSource('cars-w1', 'cars', 'w1'), createQuery('q1'), startQuery('q1')]).when(fragmentReport('q1', 0, 'FAILED', { reason: HUGE }));
    const reason = String(t.state.get(QUERY, 'q1')?.reason);
    assert.ok(reason.includes(`(${HUGE.length} characters)`) && reason.length < 400, `reason of ${reason.length} characters`);
  });
});

describe('limits: names', () => {
  it('accepts a name of 255 characters', () => given().when(createLogicalSource(chars(255))).thenReplies('OK'));

  it('refuses a name of 256 characters with the limit and its length', () =>
    given()
      .when(createSink(chars(256)))
      .thenReplies('INVALID_ARGUMENT', 'has 256 characters, more than the limit of 255'));

  it('refuses a read hold name over 255 characters', () =>
    given()
      .when(acquireReadHold(chars(256)))
      .thenReplies('INVALID_ARGUMENT', 'a read hold name has 256 characters, more than the limit of 255'));
});

describe('limits: option maps of physical sources and sinks', () => {
  const source = (opts: Record<string, string>) => createPhysicalSource('cars-w1', 'cars', 'w1', { options: opts });

  it('accepts 64 options', () => given(world).when(source(options(64))).thenReplies('OK'));

  it('refuses a physical source with 65 options, naming the limit', () =>
    given(world)
      .when(source(options(65)))
      .thenReplies('INVALID_ARGUMENT', 'physical source cars-w1 has 65 options, more than the limit of 64'));

  it('refuses a sink with 65 options, naming the limit', () =>
    given()
      .when(createSink('out', { options: options(65) }))
      .thenReplies('INVALID_ARGUMENT', 'sink out has 65 options, more than the limit of 64'));

  it('refuses an option key over 255 characters without echoing it', () =>
    echoesOnlyItsSize(given(world).when(source({ [HUGE]: 'v' })).thenReplies('INVALID_ARGUMENT', 'an option key of physical source cars-w1', 'more than the limit of 255'), HUGE.length));

  it('accepts an option value of 4096 characters', () => given(world).when(source({ topic: chars(4_096) })).thenReplies('OK'));

  it('refuses an option value over 4096 characters, naming its key', () =>
    given()
      .when(createSink('out', { options: { topic: chars(4_097) } }))
      .thenReplies('INVALID_ARGUMENT', 'option topic of sink out has 4097 characters, more than the limit of 4096'));

  it('refuses a connector type over 255 characters', () =>
    given(world)
      .when(createPhysicalSource('cars-w1', 'cars', 'w1', { connectorType: chars(256) }))
      .thenReplies('INVALID_ARGUMENT', 'the connector type of physical source cars-w1 has 256 characters'));

  it('refuses a sink type over 255 characters', () =>
    given()
      .when(createSink('out', { type: chars(256) }))
      .thenReplies('INVALID_ARGUMENT', 'the type of sink out has 256 characters'));
});

describe('limits: fields of a logical source', () => {
  const fields = (n: number) => Array.from({ length: n }, (_, i) => field(`f${i}`));

  it('accepts 1000 fields', () => given().when(createLogicalSource('cars', fields(1_000))).thenReplies('OK'));

  it('refuses 1001 fields, naming the limit', () =>
    given()
      .when(createLogicalSource('cars', fields(1_001)))
      .thenReplies('INVALID_ARGUMENT', 'has 1001 fields, more than the limit of 1000'));

  it('refuses a field type over 64 characters', () =>
    given()
      .when(createLogicalSource('cars', [field('id', chars(65))]))
      .thenReplies('INVALID_ARGUMENT', 'the type of field id has 65 characters, more than the limit of 64'));
});

describe('limits: plans', () => {
  /** A valid plan of exactly `bytes` UTF-8 bytes, padded with `pad` (1, 2 or 3 bytes a character). */
  const planOf = (bytes: number, pad = 'a', width = 1): string => {
    const bare = JSON.stringify({ sources: ['cars'], sink: 'out', operators: [''] });
    return JSON.stringify({ sources: ['cars'], sink: 'out', operators: [pad.repeat((bytes - bare.length) / width)] });
  };

  it('accepts a plan of 64 KiB', () =>
    given(world)
      .when(createQuery('q1', { plan: planOf(LIMITS.planBytes) }))
      .thenReplies('OK'));

  it('refuses a plan over 64 KiB with its size, not its content', () =>
    given(world)
      .when(createQuery('q1', { plan: planOf(LIMITS.planBytes + 1) }))
      .thenReplies('INVALID_ARGUMENT', 'the plan has 65537 bytes, more than the limit of 65536'));

  it('measures a plan in UTF-8 bytes, not characters', () => {
    const wide = planOf(LIMITS.planBytes + 2, 'é', 2);
    assert.ok(wide.length < LIMITS.planBytes);
    given(world)
      .when(createQuery('q1', { plan: wide }))
      .thenReplies('INVALID_ARGUMENT', `the plan has ${LIMITS.planBytes + 2} bytes`);
  });

  it('keeps accepting a small plan', () => given(world).when(createQuery('q1', { plan: plan(['cars'], 'out') })).thenReplies('OK'));
});

describe('limits: events, which cannot be answered and are ignored when over', () => {
  it('ignores a registration whose worker id is over 255 characters', () =>
    given()
      .when(workerRegistered(chars(256)))
      .thenChanges(0));

  it('ignores a registration whose incarnation is over 255 characters', () =>
    given()
      .when(workerRegistered('w1', { incarnation: chars(256) }))
      .thenChanges(0)
      .thenState(WORKER, 'w1', undefined));

  it('ignores a registration whose host is over 255 characters', () =>
    given()
      .when(workerRegistered('w1', { host: chars(256) }))
      .thenChanges(0));

  it('ignores a registration with more than 64 capabilities', () =>
    given()
      .when(workerRegistered('w1', { capabilities: Array.from({ length: 65 }, (_, i) => `c${i}`) }))
      .thenChanges(0));

  it('ignores a registration with a capability over 255 characters', () =>
    given()
      .when(workerRegistered('w1', { capabilities: [chars(256)] }))
      .thenChanges(0));

  it('accepts a registration with 64 capabilities', () =>
    given()
      .when(workerRegistered('w1', { capabilities: Array.from({ length: 64 }, (_, i) => `c${i}`) }))
      .thenField(WORKER, 'w1', 'state', 'ACTIVE'));

  it('ignores statistics with more than 64 figures', () =>
    given([workerRegistered('w1')])
      .when(workerStatistics('w1', Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`f${i}`, i]))))
      .thenChanges(0)
      .thenField(WORKER, 'w1', 'statistics', null));

  it('ignores a session whose id is over 255 characters', () =>
    given()
      .when(sessionOpened(chars(256)))
      .thenChanges(0));

  it('ignores a session whose client is over 255 characters', () => {
    const opened = sessionOpened('s1');
    return given()
      .when({ ...opened, value: { sessionId: 's1', client: chars(256) } })
      .thenChanges(0)
      .thenState(SESSION, 's1', undefined);
  });
});
