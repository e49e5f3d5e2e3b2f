/**
 * The patched kafkajs RequestQueue (patches/kafkajs+2.2.4.patch): once a response had come,
 * kafkajs checked the queue of pending requests again after 1 ms, and again after that, for as
 * long as the connection lived (its issues #1556 and #1704), with nothing pending. The patch
 * schedules a check only for a request that waits (in-flight limit or throttle) or a throttle in
 * force; what waits must still be sent.
 */
import { strict as assert } from 'node:assert';

/* eslint-disable @typescript-eslint/no-require-imports */
interface Queue {
  push(request: { entry: { correlationId: number; apiKey: number; apiName: string; apiVersion: number; resolve: () => void; reject: () => void }; expectResponse: boolean; sendRequest: () => void }): void;
  fulfillRequest(response: { correlationId: number; payload: Buffer; size: number }): void;
  maybeThrottle(ms: number): void;
  checkPendingRequests(): void;
  destroy(): void;
  readonly pending: unknown[];
  readonly throttleCheckTimeoutId: NodeJS.Timeout | null;
}
const RequestQueue = require('kafkajs/src/network/requestQueue') as new (o: Record<string, unknown>) => Queue;
/* eslint-enable @typescript-eslint/no-require-imports */

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('kafkajs RequestQueue: a check of pending requests only when one waits', () => {
  let queue: Queue;
  let checks: number;
  const sent: number[] = [];
  const push = (correlationId: number): void =>
    queue.push({ entry: { correlationId, apiKey: 1, apiName: 'Fetch', apiVersion: 11, resolve: () => undefined, reject: () => undefined }, expectResponse: true, sendRequest: () => sent.push(correlationId) });
  const answer = (correlationId: number): void => queue.fulfillRequest({ correlationId, payload: Buffer.alloc(0), size: 0 });

  beforeEach(() => {
    sent.length = 0;
    checks = 0;
    queue = new RequestQueue({ maxInFlightRequests: 1, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 't', broker: '127.0.0.1:1', logger: quiet });
    const check = queue.checkPendingRequests.bind(queue);
    queue.checkPendingRequests = () => {
      checks++;
      check();
    };
  });
  afterEach(() => {
    if (queue.throttleCheckTimeoutId !== null) clearTimeout(queue.throttleCheckTimeoutId);
    queue.destroy();
  });

  it('schedules nothing once every request is answered (kafkajs 2.2.4 checked again every millisecond)', async () => {
    push(1);
    answer(1);
    const after = checks;
    await sleep(50);
    assert.equal(queue.throttleCheckTimeoutId, null, 'no check scheduled');
    assert.equal(checks - after, 0, `${checks - after} checks in 50 ms with nothing pending`);
  });

  it('still sends a request that waited for the one in flight, when that one is answered', async () => {
    push(1);
    push(2);
    assert.deepEqual(sent, [1], 'one in flight at most');
    assert.equal(queue.pending.length, 1);
    answer(1);
    assert.deepEqual(sent, [1, 2]);
    answer(2);
    await sleep(30);
    assert.equal(queue.throttleCheckTimeoutId, null);
  });

  it('still sends a request that waited for a throttle, once the throttle ends', async () => {
    queue.maybeThrottle(30);
    push(1);
    assert.deepEqual(sent, [], 'held while throttled');
    await sleep(80);
    assert.deepEqual(sent, [1], 'sent after the throttle, with no response to wake the queue');
  });
});
