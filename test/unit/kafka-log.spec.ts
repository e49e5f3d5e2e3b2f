import { strict as assert } from 'node:assert';
import { createLogger } from '../../src/log';
import { createKafka, plaintext } from '../../src/messaging/kafka';

describe('kafkajs logs through ours', () => {
  const logged = (emit: (k: ReturnType<typeof createKafka>) => void): { level: string; msg: string }[] => {
    const lines: string[] = [];
    emit(createKafka(plaintext(['127.0.0.1:1']), 'test', createLogger('debug', {}, (l) => void lines.push(l))));
    return lines.map((l) => JSON.parse(l) as { level: string; msg: string });
  };

  it('keeps kafkajs’s errors errors', () =>
    assert.deepStrictEqual(
      logged((k) => k.logger().error('Connection error: connect ECONNREFUSED', { broker: '127.0.0.1:1' })).map((l) => l.level),
      ['error'],
    ));

  it('logs an expected CONCURRENT_TRANSACTIONS answer, retried at once, at debug', () =>
    assert.deepStrictEqual(
      logged((k) =>
        k.logger().error('Response AddPartitionsToTxn(key: 24, version: 1)', {
          error: 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing',
        }),
      ).map((l) => l.level),
      ['debug'],
    ));
});
