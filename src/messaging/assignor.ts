/**
 * The single-active assignor: every partition of every input topic goes to one member, the
 * one whose latest activation is the newest (the generation it publishes under travels in its
 * member metadata, with its start time); among members that never activated, or tied, the one
 * that has been up longest. So a newcomer never takes over from a healthy active one, and a
 * former active that comes back after a standby took over (a network cut healed) rejoins as a
 * standby rather than taking the partitions back; the others stand by with nothing.
 */
import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

export const SINGLE_ACTIVE = 'coord-single-active';

export interface Candidate {
  readonly memberId: string;
  readonly startedAt: bigint;
  /** The generation of the member's latest activation, 0 if it never activated. */
  readonly generation: bigint;
}

const UNKNOWN_START = BigInt(Number.MAX_SAFE_INTEGER);

/** A member's start time and latest generation; an earlier version's metadata has the start time only, anything else neither. */
export const candidateOf = (memberId: string, metadata: Buffer): Candidate => {
  try {
    const userData = AssignerProtocol.MemberMetadata.decode(metadata)?.userData;
    if (userData !== undefined && (userData.length === 8 || userData.length === 16))
      return { memberId, startedAt: userData.readBigUInt64BE(0), generation: userData.length === 16 ? userData.readBigUInt64BE(8) : 0n };
  } catch {
    /* not ours: ranked last */
  }
  return { memberId, startedAt: UNKNOWN_START, generation: 0n };
};

/** The member that gets everything: newest activation, then earliest start, then lowest member id. */
export const chooseActive = (candidates: readonly Candidate[]): string | undefined =>
  [...candidates].sort((a, b) =>
    a.generation !== b.generation ? (a.generation > b.generation ? -1 : 1) : a.startedAt !== b.startedAt ? (a.startedAt < b.startedAt ? -1 : 1) : a.memberId < b.memberId ? -1 : 1,
  )[0]?.memberId;

export const singleActiveAssigner =
  (startedAtMs: number, generation: () => number = () => 0): PartitionAssigner =>
  ({ cluster }) => ({
    name: SINGLE_ACTIVE,
    version: 1,
    async assign({ members, topics }) {
      const active = chooseActive(members.map((m) => candidateOf(m.memberId, m.memberMetadata)));
      const all: Record<string, number[]> = {};
      for (const topic of topics) all[topic] = cluster.findTopicPartitionMetadata(topic).map((p) => p.partitionId).sort((a, b) => a - b);
      return members.map((m) => ({
        memberId: m.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 1, assignment: m.memberId === active ? all : {}, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }) {
      // Asked at every join, so it carries the generation of this member's latest activation as of then.
      const userData = Buffer.alloc(16);
      userData.writeBigUInt64BE(BigInt(startedAtMs), 0);
      userData.writeBigUInt64BE(BigInt(generation()), 8);
      return { name: SINGLE_ACTIVE, metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData }) };
    },
  });
