/**
 * The single-active assignor: every partition of every input topic goes to one member, the
 * one that has been up longest (its start time travels in the member metadata), so a
 * newcomer never takes over from a healthy active one; the others stand by with nothing.
 */
import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

export const SINGLE_ACTIVE = 'coord-single-active';

interface Candidate {
  readonly memberId: string;
  readonly startedAt: bigint;
}

const startedAtOf = (metadata: Buffer): bigint => {
  try {
    const userData = AssignerProtocol.MemberMetadata.decode(metadata)?.userData;
    return userData !== undefined && userData.length === 8 ? userData.readBigUInt64BE(0) : BigInt(Number.MAX_SAFE_INTEGER);
  } catch {
    return BigInt(Number.MAX_SAFE_INTEGER);
  }
};

/** The member that gets everything: earliest start, then lowest member id. */
export const chooseActive = (candidates: readonly Candidate[]): string | undefined =>
  [...candidates].sort((a, b) => (a.startedAt !== b.startedAt ? (a.startedAt < b.startedAt ? -1 : 1) : a.memberId < b.memberId ? -1 : 1))[0]?.memberId;

export const singleActiveAssigner =
  (startedAtMs: number): PartitionAssigner =>
  ({ cluster }) => ({
    name: SINGLE_ACTIVE,
    version: 1,
    async assign({ members, topics }) {
      const active = chooseActive(members.map((m) => ({ memberId: m.memberId, startedAt: startedAtOf(m.memberMetadata) })));
      const all: Record<string, number[]> = {};
      for (const topic of topics) all[topic] = cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId).sort((a, b) => a - b);
      return members.map((m) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: m.memberId === active ? all : {}, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }) {
      const userData = Buffer.alloc(8);
      userData.writeBigUInt64BE(BigInt(startedAtMs));
      return { name: SINGLE_ACTIVE, metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData }) };
    },
  });
