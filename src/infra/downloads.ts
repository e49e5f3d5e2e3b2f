/** Fetches Kafka and Apicurio Registry once from Maven Central through compose/local/pom.xml, into an ignored cache folder. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoordError } from '../errors';
import type { Logger } from '../log';
import { findMaven } from './tools';

export interface InfraDist {
  readonly kafkaVersion: string;
  readonly apicurioVersion: string;
  /** Folder of Kafka's jars and their dependencies. */
  readonly kafkaLibs: string;
  /** Apicurio's runnable Quarkus jar. */
  readonly registryJar: string;
}

const property = (pom: string, name: string): string => {
  const m = new RegExp(`<${name}>([^<]+)</${name}>`).exec(pom);
  if (m === null) throw new CoordError('INFRA_START_FAILED', `compose/local/pom.xml has no <${name}> property`);
  return m[1];
};

/** Where the pom puts its output, for a project checked out at `root`. */
export const infraDist = (root: string): InfraDist => {
  const pom = readFileSync(join(root, 'compose', 'local', 'pom.xml'), 'utf8');
  const kafkaVersion = property(pom, 'kafka.version');
  const apicurioVersion = property(pom, 'apicurio.version');
  const cache = join(root, '.cache', 'infra');
  return {
    kafkaVersion,
    apicurioVersion,
    kafkaLibs: join(cache, `kafka-${kafkaVersion}`, 'libs'),
    registryJar: join(cache, `apicurio-${apicurioVersion}`, 'quarkus-run.jar'),
  };
};

const present = (d: InfraDist): boolean =>
  existsSync(join(d.kafkaLibs, `kafka_2.13-${d.kafkaVersion}.jar`)) && existsSync(d.registryJar);

/** Runs Maven only when something is missing, so a warm machine starts without touching the network. */
export const ensureInfraDist = (root: string, log: Logger): InfraDist => {
  const dist = infraDist(root);
  if (present(dist)) return dist;
  const mvn = findMaven();
  log.info('fetching Kafka and Apicurio Registry from Maven Central (once)', {
    kafka: dist.kafkaVersion,
    apicurio: dist.apicurioVersion,
  });
  const res = spawnSync(mvn, ['-B', '-q', '-f', join(root, 'compose', 'local', 'pom.xml'), 'package'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.status !== 0 || !present(dist))
    throw new CoordError(
      'INFRA_START_FAILED',
      `Maven could not fetch Kafka ${dist.kafkaVersion} and Apicurio ${dist.apicurioVersion} (exit ${res.status}):\n${`${res.stdout}${res.stderr}`.slice(-4000)}`,
    );
  return dist;
};
