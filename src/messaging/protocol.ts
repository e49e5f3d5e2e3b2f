/** Which record travels on which topic: the routing half of the public protocol (schemas/ is the other half). */
import type { TopicKind } from './topics';

export const RECORD_TOPICS: Readonly<Record<string, TopicKind>> = Object.freeze({
  'coord.v1.CreateLogicalSource': 'requests.catalog',
  'coord.v1.GetLogicalSource': 'requests.catalog',
  'coord.v1.DropLogicalSource': 'requests.catalog',
  'coord.v1.ListLogicalSources': 'requests.catalog',
  'coord.v1.CreatePhysicalSource': 'requests.catalog',
  'coord.v1.GetPhysicalSource': 'requests.catalog',
  'coord.v1.ListPhysicalSources': 'requests.catalog',
  'coord.v1.DropPhysicalSource': 'requests.catalog',
  'coord.v1.CreateSink': 'requests.catalog',
  'coord.v1.GetSink': 'requests.catalog',
  'coord.v1.ListSinks': 'requests.catalog',
  'coord.v1.DropSink': 'requests.catalog',
  'coord.v1.CreateQuery': 'requests.query',
  'coord.v1.StartQuery': 'requests.query',
  'coord.v1.StopQuery': 'requests.query',
  'coord.v1.DropQuery': 'requests.query',
  'coord.v1.GetQuery': 'requests.query',
  'coord.v1.ListQueries': 'requests.query',
  'coord.v1.WorkerRegistered': 'events.infra',
  'coord.v1.WorkerHeartbeat': 'events.infra',
  'coord.v1.WorkerStatistics': 'events.infra',
  'coord.v1.WorkerDraining': 'events.infra',
  'coord.v1.WorkerDeregistered': 'events.infra',
  'coord.v1.FragmentStatus': 'events.infra',
  'coord.v1.SessionOpened': 'events.session',
  'coord.v1.SessionHeartbeat': 'events.session',
  'coord.v1.SessionClosed': 'events.session',
  'coord.v1.Tick': 'internal.ticks',
  'coord.v1.ListWorkers': 'requests.system',
  'coord.v1.AllocIds': 'requests.system',
  'coord.v1.AllocTimestamps': 'requests.system',
  'coord.v1.AcquireReadHold': 'requests.system',
  'coord.v1.ReleaseReadHold': 'requests.system',
  'coord.v1.ListReadHolds': 'requests.system',
  'coord.v1.DescribeCoordinator': 'requests.system',
  'coord.v1.UpdateSettings': 'requests.system',
  'coord.v1.GetSettings': 'requests.system',
  'coord.v1.ExplainRequest': 'requests.system',
  'coord.v1.RegisterPrincipalKey': 'requests.system',
  'coord.v1.RevokePrincipalKey': 'requests.system',
  'coord.v1.DeployFragment': 'worker-commands',
  'coord.v1.StopFragment': 'worker-commands',
  'coord.v1.ChangelogRecord': 'changelog',
  'coord.v1.Reply': 'replies',
  'coord.v1.SnapshotMarker': 'snapshots',
  'coord.v1.CheckpointChunk': 'checkpoints',
  'coord.v1.CheckpointManifest': 'checkpoints',
});

/**
 * TopicRecordNameStrategy: one subject per record type per topic. The changelog's tables
 * (namespace coord.v1.changelog) carry one record type each, so they use TopicNameStrategy,
 * `<topic>-value`, the subject ksqlDB and Connect look a topic's schema up by.
 */
export const subjectOf = (topic: string, fullName: string): string =>
  fullName.startsWith('coord.v1.changelog.') ? `${topic}-value` : `${topic}-${fullName}`;

export const kindOfRecord = (fullName: string): TopicKind | undefined => RECORD_TOPICS[fullName];
