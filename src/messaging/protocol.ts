/** Which record travels on which topic: the routing half of the public protocol (schemas/ is the other half). */
import type { TopicKind } from './topics';

export const RECORD_TOPICS: Readonly<Record<string, TopicKind>> = Object.freeze({
  'coord.v1.CreateLogicalSource': 'requests.catalog',
  'coord.v1.GetLogicalSource': 'requests.catalog',
  'coord.v1.DropLogicalSource': 'requests.catalog',
  'coord.v1.WorkerRegistered': 'events.infra',
  'coord.v1.WorkerHeartbeat': 'events.infra',
  'coord.v1.WorkerStatistics': 'events.infra',
  'coord.v1.WorkerDraining': 'events.infra',
  'coord.v1.WorkerDeregistered': 'events.infra',
  'coord.v1.SessionOpened': 'events.session',
  'coord.v1.SessionHeartbeat': 'events.session',
  'coord.v1.SessionClosed': 'events.session',
  'coord.v1.Tick': 'internal.ticks',
  'coord.v1.ListWorkers': 'requests.system',
  'coord.v1.Reply': 'replies',
  'coord.v1.SnapshotMarker': 'snapshots',
});

/** TopicRecordNameStrategy: one subject per record type per topic. */
export const subjectOf = (topic: string, fullName: string): string => `${topic}-${fullName}`;

export const kindOfRecord = (fullName: string): TopicKind | undefined => RECORD_TOPICS[fullName];
