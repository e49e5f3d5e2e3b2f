/**
 * `coordctl changelog tail | table`: the changelog's tables (one compacted topic per entity
 * type, typed images in Debezium's envelope) as they are published, or as a consumer rebuilds
 * them from the start.
 */
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../config';
import { settlesWithin } from '../engine/health';
import { createLogger } from '../log';
import { changelogTables, changelogTopic } from '../messaging/changelog';
import { envelopeOf, readTableLog, rebuildTable, TABLE_READ_IDLE_MS } from '../messaging/changelog-table';
import { loadContracts, projectRoot } from '../messaging/schemas';
import { tailTopic, type Tail } from '../messaging/tail';
import { createParts } from '../runtime';
import { LOGICAL_BITS } from '../../projections/system/hybrid';
import { hybridTs, UsageError } from './commands';
import { json } from './format';
import { envWithRunFile, untilSignal } from './serve';
import { legacyTailCommand } from './tail';

const USAGE = 'coordctl changelog tail [--from-beginning] [--entity TYPE] [--json] [--legacy] | coordctl changelog table ENTITY [--as-of TS] [--json]';

/** Longs as numbers where they fit, as text where they do not (hybrid timestamps do not). */
const plainJson = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? (x <= BigInt(Number.MAX_SAFE_INTEGER) && x >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x.toString()) : x));

const entityFlag = (rest: string[], known: readonly string[]): string | undefined => {
  const at = rest.indexOf('--entity');
  if (at < 0) return undefined;
  const entity = rest[at + 1];
  if (entity === undefined || !known.includes(entity)) throw new UsageError(`--entity needs one of ${known.join(', ')}`);
  return entity;
};

const tail = async (flags: readonly string[]): Promise<number> => {
  if (flags.includes('--legacy')) return legacyTailCommand(flags);
  const { config, rest } = loadConfig(envWithRunFile(projectRoot()), flags);
  const tables = changelogTables(loadContracts());
  const only = entityFlag(rest, [...tables.keys()]);
  const asJson = rest.includes('--json');
  const log = createLogger('warn', { component: 'coordctl' });
  const { kafka, codec } = createParts(config, 'coordctl-tail', log);
  const tails: Tail[] = [...tables.keys()]
    .filter((entity) => only === undefined || entity === only)
    .map((entity) =>
      tailTopic({
        kafka,
        topic: changelogTopic(config.topicPrefix, entity),
        groupId: `coordctl-tail-${randomUUID()}`,
        from: rest.includes('--from-beginning') ? 'beginning' : 'end',
        onRecord: async (r) => {
          const key = r.key?.toString() ?? '';
          if (r.value === null) {
            process.stdout.write(asJson ? `${plainJson({ entity, key, tombstone: true })}\n` : `${''.padStart(8)}  ${'-'.padEnd(2)}  ${entity}/${key}  (tombstone)\n`);
            return;
          }
          const e = envelopeOf((await codec.decode(r.value)).value);
          if (asJson) process.stdout.write(`${plainJson({ entity, key, op: e.op, snapshotId: e.snapshotId, snapshotTs: e.snapshotTs.toString(), generation: e.generation, before: e.before, after: e.after })}\n`);
          else process.stdout.write(`${e.snapshotId.toString().padStart(8)}  ${e.op.padEnd(2)}  ${entity}/${key}${e.after === null ? '' : `  ${plainJson(e.after)}`}\n`);
        },
      }),
    );
  await Promise.all(tails.map((t) => t.start()));
  await untilSignal();
  // A broker that is already gone would keep the leave-group request retrying: give it a few seconds, no more.
  await settlesWithin(3_000, Promise.all(tails.map((t) => t.close())));
  return 0;
};

const table = async (flags: readonly string[]): Promise<number> => {
  const [entity, ...more] = flags;
  const tables = changelogTables(loadContracts());
  if (entity === undefined || !tables.has(entity)) throw new UsageError(`coordctl changelog table ENTITY [--as-of TS] [--json]; ENTITY is one of ${[...tables.keys()].join(', ')}`);
  const { config, rest } = loadConfig(envWithRunFile(projectRoot()), more);
  const asOfAt = rest.indexOf('--as-of');
  if (asOfAt >= 0 && rest[asOfAt + 1] === undefined) throw new UsageError('--as-of needs a hybrid timestamp or an ISO-8601 time');
  const asOfTs = asOfAt >= 0 ? hybridTs(rest[asOfAt + 1]) : undefined;
  const log = createLogger('warn', { component: 'coordctl' });
  const { kafka, codec } = createParts(config, 'coordctl-table', log);
  const topic = changelogTopic(config.topicPrefix, entity);
  const read = await readTableLog({ kafka, codec, topic });
  // The log's clock is the brokers' (inputs are stamped LogAppendTime): a snapshot is timed no later than its records are published.
  const removableBeforeTs = read.removableBeforeMs === undefined ? undefined : BigInt(read.removableBeforeMs) << LOGICAL_BITS;
  const built = rebuildTable(read.records, asOfTs, { holesAtEnd: read.holesAtEnd, removableBeforeTs });
  const rows = [...built.rows].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (rest.includes('--json')) for (const [key, row] of rows) process.stdout.write(`${plainJson({ key, snapshotId: row.snapshotId, snapshotTs: row.snapshotTs.toString(), image: row.image })}\n`);
  else {
    process.stdout.write(`${entity}: ${rows.length} rows from ${built.records} records of ${topic}${asOfTs === undefined ? '' : ` as of ${asOfTs}`}\n\n`);
    for (const [key, row] of rows) process.stdout.write(`${key}  (snapshot ${row.snapshotId})  ${plainJson(row.image)}\n`);
  }
  for (const s of read.shortOfEnd)
    process.stderr.write(
      `coordctl: partition ${s.partition} of ${topic} was read to offset ${s.readTo} of ${s.end}: nothing more came in ${TABLE_READ_IDLE_MS / 1000} s (a batch compaction emptied, ` +
        'which kafkajs cannot step over, or a broker that stopped answering); the table is as far as it was read\n',
    );
  if (built.unknownAsOf.length > 0 || built.removedAfterAsOf) {
    const unknown = built.unknownAsOf;
    process.stderr.write(
      `coordctl: compaction has removed records of ${topic} that a table as of ${String(asOfTs)} needs. ` +
        (unknown.length > 0 ? `What ${unknown.length} keys were then is gone (${json(unknown.slice(0, 5))}${unknown.length > 5 ? '…' : ''}): the table above leaves them out. ` : '') +
        (built.removedAfterAsOf ? 'Records written after it are gone too: a key deleted since, whose tombstone has expired as well, would be missing without a trace. ' : '') +
        'Read a time within min.compaction.lag.ms, or ask the coordinator with --as-of\n',
    );
  }
  // Exit 3: the table printed is not known to be whole.
  return read.shortOfEnd.length > 0 || built.unknownAsOf.length > 0 || built.removedAfterAsOf ? 3 : 0;
};

export const changelogCommand = async (argv: readonly string[]): Promise<number> => {
  const [verb, ...flags] = argv;
  if (verb === 'tail') return tail(flags);
  if (verb === 'table') return table(flags);
  throw new UsageError(USAGE);
};
