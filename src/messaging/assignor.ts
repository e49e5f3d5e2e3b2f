/**
 * The single-active assignor: every partition of every input topic goes to one member, the
 * one whose latest activation that went as far as serving is the newest (its generation and
 * when it began serving travel in the member metadata, with the start time); among members
 * that never served, the one that has been up longest. So a newcomer never takes over from a healthy active one, and a
 * former active that comes back after a standby took over (a network cut healed) rejoins as a
 * standby rather than taking the partitions back; the others stand by with nothing.
 */
import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

export const SINGLE_ACTIVE = 'coord-single-active';

export interface Candidate {
  readonly memberId: string;
  readonly startedAt: bigint;
  /** The generation of the member's latest activation that went as far as serving, 0 if none did. */
  readonly generation: bigint;
  /** When that activation began serving, wall-clock ms (0 if none): of two that served the same generation, the later one wins. */
  readonly activatedAt: bigint;
}

/** What a member says of itself at each join. */
export interface Served {
  readonly generation: number;
  readonly atMs: number;
}

const UNKNOWN_START = BigInt(Number.MAX_SAFE_INTEGER);

/** A member's start time and latest generation; an earlier version's metadata has the start time only, anything else neither. */
export const candidateOf = (memberId: string, metadata: Buffer): Candidate => {
  try {
    const userData = AssignerProtocol.MemberMetadata.decode(metadata)?.userData;
    if (userData !== undefined && (userData.length === 8 || userData.length === 24))
      return {
        memberId,
        startedAt: userData.readBigUInt64BE(0),
        generation: userData.length === 24 ? userData.readBigUInt64BE(8) : 0n,
        activatedAt: userData.length === 24 ? userData.readBigUInt64BE(16) : 0n,
      };
  } catch {
    /* not ours: ranked last */
  }
  return { memberId, startedAt: UNKNOWN_START, generation: 0n, activatedAt: 0n };
};

const newest = (a: bigint, b: bigint): number => (a === b ? 0 : a > b ? -1 : 1);

/** The member that gets everything: newest served generation, then the later activation of it, then earliest start, then lowest member id. */
export const chooseActive = (candidates: readonly Candidate[]): string | undefined =>
  [...candidates].sort(
    (a, b) => newest(a.generation, b.generation) || newest(a.activatedAt, b.activatedAt) || -newest(a.startedAt, b.startedAt) || (a.memberId < b.memberId ? -1 : 1),
  )[0]?.memberId;

export const singleActiveAssigner =
  (startedAtMs: number, served: () => Served = () => ({ generation: 0, atMs: 0 })): PartitionAssigner =>
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
      // Asked at every join, so it carries this member's latest activation that served, as of then.
      const { generation, atMs } = served();
      const userData = Buffer.alloc(24);
      userData.writeBigUInt64BE(BigInt(startedAtMs), 0);
      userData.writeBigUInt64BE(BigInt(generation), 8);
      userData.writeBigUInt64BE(BigInt(atMs), 16);
      return { name: SINGLE_ACTIVE, metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData }) };
    },
  });
