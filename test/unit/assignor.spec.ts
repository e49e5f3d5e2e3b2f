import { strict as assert } from 'node:assert';
import { AssignerProtocol } from 'kafkajs';
import { candidateOf, chooseActive } from '../../src/messaging/assignor';

const metadata = (userData: Buffer): Buffer => AssignerProtocol.MemberMetadata.encode({ version: 1, topics: ['t'], userData });
const ours = (startedAt: number, generation: number, activatedAt = generation === 0 ? 0 : startedAt + 10): Buffer => {
  const b = Buffer.alloc(24);
  b.writeBigUInt64BE(BigInt(startedAt), 0);
  b.writeBigUInt64BE(BigInt(generation), 8);
  b.writeBigUInt64BE(BigInt(activatedAt), 16);
  return metadata(b);
};

describe('the single-active assignor: which member gets every partition', () => {
  it('keeps them with the member that activated last, though another has been up longer', () => {
    // The old active, cut off and healed, rejoins with the generation it had; the standby that took over has the next one.
    const members = [candidateOf('old-active', ours(1_000, 4)), candidateOf('took-over', ours(2_000, 5))];
    assert.equal(chooseActive(members), 'took-over');
  });

  it('of two that served the same generation (one cut off before it published), keeps them with the later', () => {
    assert.equal(chooseActive([candidateOf('cut-off', ours(1_000, 3, 5_000)), candidateOf('later', ours(2_000, 3, 9_000))]), 'later');
  });

  it('gives them to the longest-running member when none has served', () => {
    assert.equal(chooseActive([candidateOf('b', ours(2_000, 0)), candidateOf('a', ours(1_000, 0))]), 'a');
    assert.equal(chooseActive([candidateOf('b', ours(1_000, 0)), candidateOf('a', ours(1_000, 0))]), 'a', 'then by member id');
  });

  it('reads an earlier version’s metadata (the start time alone), and ranks metadata that is not ours last', () => {
    const old = Buffer.alloc(8);
    old.writeBigUInt64BE(500n);
    assert.deepEqual(candidateOf('m', metadata(old)), { memberId: 'm', startedAt: 500n, generation: 0n, activatedAt: 0n });
    assert.equal(chooseActive([candidateOf('junk', Buffer.from('not metadata')), candidateOf('m', metadata(old))]), 'm');
    assert.equal(chooseActive([candidateOf('short', metadata(Buffer.alloc(3))), candidateOf('m', ours(9_000, 0))]), 'm');
  });
});
