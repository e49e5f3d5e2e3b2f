/**
 * `coordctl inspect DIR …`: reads a replayed folder, or a stopped coordinator's dataDir, with no
 * broker and no registry. The read commands take the same words, flags, tables and `--json` as
 * the request commands; `describe` says what the folder stands at; `diff` what differs from another.
 */
import { parseArgs } from 'node:util';
import { diffFolders, openInspection, READ_REQUESTS, type Difference, type Inspection } from '../engine/inspect';
import { tpKey } from '../engine/state';
import { CoordError } from '../errors';
import { loadContracts } from '../messaging/schemas';
import { digestHex } from '../store/digest';
import { COMMANDS, isRequestNoun, parseCommand, usageLines, UsageError } from './commands';
import { block, hybrid, iso, json, payloadTypes, replyJson, replyText, standing, table, unwrapReply, type CoordinatorInfo as FormatCoordinatorInfo } from './format';
import { stopText } from './replay';
import { targetText } from '../engine/replay-stop';

const PREFIX = 'coordctl inspect DIR ';

/** The read commands' help lines, with `coordctl inspect DIR` before their words. */
const readUsage = (): string => {
  const reads = COMMANDS.filter((c) => c.verb === 'get' || c.verb === 'list');
  const shift = ' '.repeat(PREFIX.length - 'coordctl '.length);
  return usageLines(reads)
    .split('\n')
    .map((l) => (l.startsWith('  coordctl ') ? l.replace('  coordctl ', `  ${PREFIX}`) : l.startsWith(' ') ? `${shift}${l}` : l))
    .join('\n');
};

/** A help line: the synopsis, then the summary in the column the read commands' help uses. */
const line = (synopsis: string, summary: string): string => {
  const width = 46 + PREFIX.length - 'coordctl '.length;
  return `${`  ${PREFIX}${synopsis}`.padEnd(width)} ${summary.split('\n').join(`\n${' '.repeat(width + 1)}`)}`;
};

export const INSPECT_USAGE = (): string => `coordctl inspect DIR: read a coordinator's RocksDB folder (written by replay --to, or a stopped
coordinator's dataDir) with no broker and no registry; the folder is opened read-only and never changed.

${line('describe', 'the snapshot, its timestamp, digest, input offsets, logic version,\nand where the replay that wrote the folder stopped')}
${line('diff OTHER_DIR', 'the entities that differ from DIR to OTHER_DIR')}

${readUsage()}
Every command takes --json (one JSON line, longs as strings) and --help; the reads answer as a
coordinator standing at the folder's snapshot would, --as-of included.
`;

/** Flags of describe and diff: --json, --help, and the positionals they need. */
const ownArgs = (argv: readonly string[], labels: readonly string[], words: string): { positionals: string[]; json: boolean; help: boolean } => {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options: { json: { type: 'boolean' }, help: { type: 'boolean' } }, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(`${words}: ${(err as Error).message}`, INSPECT_USAGE());
  }
  const help = parsed.values.help === true;
  if (!help && parsed.positionals.length !== labels.length)
    throw new UsageError(`${words} takes ${labels.length === 0 ? 'no arguments' : labels.join(' ')}`, INSPECT_USAGE());
  return { positionals: parsed.positionals, json: parsed.values.json === true, help };
};

const withInspection = async <T>(dir: string, fn: (i: Inspection) => Promise<T> | T): Promise<T> => {
  const inspection = await openInspection(dir);
  try {
    return await fn(inspection);
  } finally {
    await inspection.close();
  }
};

const replyTypes = () => {
  const reply = loadContracts().get('coord.v1.Reply');
  if (reply === undefined) throw new CoordError('SCHEMA_UNKNOWN', 'schemas/ holds no coord.v1.Reply; is the checkout complete?');
  return payloadTypes(reply.type);
};

const describeJson = (i: Inspection, coordinator: unknown): Record<string, unknown> => {
  const folded = i.stop !== undefined && i.stop.snapshotId === i.meta.id ? new Map(i.stop.inputs.map((r) => [tpKey(r.topic, r.partition), r])) : new Map();
  return {
    dir: i.dir,
    snapshotId: i.meta.id,
    snapshotTs: i.meta.ts,
    logTimeMs: i.meta.logTimeMs,
    digest: digestHex(i.meta.digest),
    digestMatches: i.computedDigest === digestHex(i.meta.digest),
    logicVersion: i.logicVersion ?? null,
    inputs: i.inputs.map((p) => {
      const r = folded.get(tpKey(p.topic, p.partition));
      return { topic: p.topic, partition: p.partition, nextOffset: p.nextOffset, folded: r === undefined ? null : { fromOffset: r.fromOffset, toOffset: r.toOffset } };
    }),
    replay:
      i.stop === undefined
        ? null
        : {
            ...i.stop,
            target: i.stop.target ?? null,
            next: i.stop.next ?? null,
            movedOn: i.stop.snapshotId !== i.meta.id,
            replayedAt: new Date(i.stop.replayedAtMs).toISOString(),
          },
    coordinator,
  };
};

const logicVersionText = (i: Inspection): string =>
  i.logicVersion === undefined
    ? 'unrecorded: the coordinator that wrote this folder records none with its snapshots'
    : `${i.logicVersion.version} (${i.logicVersion.source === 'snapshot' ? 'recorded with the snapshot' : 'of the replay that wrote the folder'})`;

const replayText = (i: Inspection): string => {
  const stop = i.stop;
  if (stop === undefined) return 'none: a coordinator wrote this folder';
  const lines = [
    stopText(stop),
    stop.verified ? (stop.reason === 'mismatch' ? 'verified until that snapshot' : 'every snapshot digest verified on the way') : 'not verified (replayed without --verify)',
    `written ${new Date(stop.replayedAtMs).toISOString()} (wall clock), asked to stop at ${stop.target === undefined ? 'the end of the log' : targetText(stop.target)}`,
  ];
  if (stop.snapshotId !== i.meta.id) lines.push(`the folder has moved on since, to snapshot ${i.meta.id} (a coordinator resumed from it)`);
  return lines.join('\n');
};

/** CoordinatorInfo as the reply's payload holds it, unwrapped; the snapshot comes from the folder itself. */
type CoordinatorInfo = Omit<FormatCoordinatorInfo, 'snapshotId' | 'snapshotTs' | 'logTimeMs'>;

const describeText = (i: Inspection, c: CoordinatorInfo): string => {
  const digest = digestHex(i.meta.digest);
  const folded = i.stop !== undefined && i.stop.snapshotId === i.meta.id ? new Map(i.stop.inputs.map((r) => [tpKey(r.topic, r.partition), r])) : new Map();
  const head = block([
    ['folder', `${i.dir} (opened read-only)`],
    ['snapshot', String(i.meta.id)],
    ['snapshot ts', hybrid(i.meta.ts)],
    ['log time', `${i.meta.logTimeMs} (${iso(i.meta.logTimeMs)})`],
    ['digest', `${digest}\n${i.computedDigest === digest ? 'the entities sum to it' : `DAMAGED: the entities sum to ${i.computedDigest}`}`],
    ['logic version', logicVersionText(i)],
    ['replay', replayText(i)],
    ...standing(c),
  ]);
  const inputs =
    i.inputs.length === 0
      ? '  no input folded yet\n'
      : table(
          [
            ['INPUT', 'PARTITION', 'NEXT OFFSET', 'LAST SNAPSHOT FOLDED'],
            ...i.inputs.map((p) => {
              const r = folded.get(tpKey(p.topic, p.partition));
              return [p.topic, String(p.partition), String(p.nextOffset), r === undefined ? '-' : `${r.fromOffset}..${r.toOffset}`];
            }),
          ],
          '  ',
        );
  const settings = table(
    [['SETTING', 'VALUE'], ...Object.entries(c.settings).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, String(v)])],
    '  ',
  );
  return `${head}\n${inputs}\n${settings}`;
};

const describe = async (dir: string, argv: readonly string[]): Promise<number> => {
  const args = ownArgs(argv, [], 'coordctl inspect DIR describe');
  if (args.help) {
    process.stdout.write(INSPECT_USAGE());
    return 0;
  }
  return withInspection(dir, (i) => {
    const reply = unwrapReply(i.ask('coord.v1.DescribeCoordinator', {}), replyTypes());
    if (reply.payload === null) throw new Error(`describing ${dir} failed: ${reply.status} ${reply.message}`);
    process.stdout.write(args.json ? `${json(describeJson(i, reply.payload.value))}\n` : describeText(i, reply.payload.value as unknown as CoordinatorInfo));
    return 0;
  });
};

const diffText = (fromDir: string, toDir: string, r: Awaited<ReturnType<typeof diffFolders>>): string => {
  const n = r.differences.length;
  const head = `${n === 0 ? 'no entity differs' : `${n} ${n === 1 ? 'entity differs' : 'entities differ'}`} from snapshot ${r.from.id} (${fromDir}) to snapshot ${r.to.id} (${toDir})\n`;
  if (n === 0) return head;
  return `${head}\n${table([['ENTITY', 'KEY', 'CHANGE', 'FIELDS'], ...r.differences.map((d: Difference) => [d.entity, d.key, d.change, d.fields.join(',') || '-'])])}`;
};

const diff = async (dir: string, argv: readonly string[]): Promise<number> => {
  const args = ownArgs(argv, ['OTHER_DIR'], 'coordctl inspect DIR diff');
  if (args.help) {
    process.stdout.write(INSPECT_USAGE());
    return 0;
  }
  const [other] = args.positionals;
  const r = await diffFolders(dir, other);
  const point = (d: string, m: typeof r.from) => ({ dir: d, snapshotId: m.id, snapshotTs: m.ts, logTimeMs: m.logTimeMs });
  process.stdout.write(args.json ? `${json({ from: point(dir, r.from), to: point(other, r.to), differences: r.differences })}\n` : diffText(dir, other, r));
  return 0;
};

/** `coordctl inspect DIR NOUN [VERB] ARGS...`: exit code 0 for OK, 2 for any other status, as the request commands. */
export const inspectCommand = async (argv: readonly string[]): Promise<number> => {
  const [dir, noun, ...rest] = argv;
  if (dir === undefined || dir === '--help' || dir === 'help') {
    if (dir === undefined) throw new UsageError('coordctl inspect needs a folder and a command', INSPECT_USAGE());
    process.stdout.write(INSPECT_USAGE());
    return 0;
  }
  if (noun === undefined) throw new UsageError(`coordctl inspect ${dir} needs a command`, INSPECT_USAGE());
  if (noun === 'describe') return describe(dir, rest);
  if (noun === 'diff') return diff(dir, rest);
  if (noun === '--help' || noun === 'help') {
    process.stdout.write(INSPECT_USAGE());
    return 0;
  }
  if (!isRequestNoun(noun)) throw new UsageError(`unknown command: coordctl inspect DIR ${noun}`, INSPECT_USAGE());
  const parsed = parseCommand(noun, rest);
  if (parsed.kind === 'help') {
    process.stdout.write(INSPECT_USAGE());
    return 0;
  }
  if (!READ_REQUESTS.has(parsed.request.type))
    throw new UsageError(`inspect only reads: coordctl ${noun} ${rest[0] ?? ''} would change the state; send it to a running coordinator`, INSPECT_USAGE());
  const types = replyTypes();
  return withInspection(dir, (i) => {
    const reply = unwrapReply(i.ask(parsed.request.type, parsed.request.value), types);
    process.stdout.write(parsed.json ? replyJson(reply) : replyText(reply));
    return reply.status === 'OK' ? 0 : 2;
  });
};
