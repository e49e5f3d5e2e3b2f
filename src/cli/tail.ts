/** `coordctl changelog tail --legacy`: the JSON-image changelog (`<prefix>.changelog`), as it is published, until Ctrl-C. */
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../config';
import { settlesWithin } from '../engine/health';
import { createLogger } from '../log';
import { projectRoot } from '../messaging/schemas';
import { tailTopic } from '../messaging/tail';
import { topicName } from '../messaging/topics';
import { createParts } from '../runtime';
import { UsageError } from './commands';
import { envWithRunFile, untilSignal } from './serve';

interface ChangelogRecord {
  readonly entityType: string;
  readonly key: string;
  readonly snapshotId: bigint;
  readonly snapshotTs: bigint;
  readonly op: 'UPSERT' | 'DELETE';
  readonly image: { readonly string: string } | null;
}

export const legacyTailCommand = async (flags: readonly string[]): Promise<number> => {
  const { config, rest } = loadConfig(envWithRunFile(projectRoot()), flags.filter((f) => f !== '--legacy'));
  const json = rest.includes('--json');
  const fromBeginning = rest.includes('--from-beginning');
  const entityAt = rest.indexOf('--entity');
  const entity = entityAt >= 0 ? rest[entityAt + 1] : undefined;
  if (entityAt >= 0 && entity === undefined) throw new UsageError('--entity needs a type, e.g. --entity query');
  const log = createLogger('warn', { component: 'coordctl' });
  const { kafka, codec } = createParts(config, 'coordctl-tail', log);
  const tail = tailTopic({
    kafka,
    topic: topicName(config.topicPrefix, 'changelog'),
    groupId: `coordctl-tail-${randomUUID()}`,
    from: fromBeginning ? 'beginning' : 'end',
    onRecord: async (r) => {
      if (r.value === null) return;
      const c = (await codec.decode(r.value)).value as unknown as ChangelogRecord;
      if (entity !== undefined && c.entityType !== entity) return;
      const image = c.image === null ? null : (JSON.parse(c.image.string) as unknown);
      if (json) process.stdout.write(`${JSON.stringify({ snapshotId: c.snapshotId.toString(), snapshotTs: c.snapshotTs.toString(), op: c.op, entityType: c.entityType, key: c.key, image })}\n`);
      else process.stdout.write(`${c.snapshotId.toString().padStart(8)}  ${c.op.padEnd(6)}  ${c.entityType}/${c.key}${image === null ? '' : `  ${JSON.stringify(image)}`}\n`);
    },
  });
  await tail.start();
  await untilSignal();
  // A broker that is already gone would keep the leave-group request retrying: give it a few seconds, no more.
  await settlesWithin(3_000, tail.close());
  return 0;
};
