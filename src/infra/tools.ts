/** Finds the Java runtimes and Maven that the local infrastructure needs, with one clear message when one is missing. */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CoordError } from '../errors';

export interface JavaRuntime {
  readonly path: string;
  readonly major: number;
}

/** `java -version` prints on stderr. */
const majorOf = (javaPath: string): number | undefined => {
  const res = spawnSync(javaPath, ['-version'], { encoding: 'utf8', timeout: 20_000 });
  return res.error === undefined ? parseMajor(`${res.stderr}${res.stdout}`) : undefined;
};

export const parseMajor = (text: string): number | undefined => {
  const m = /version "(\d+)(?:\.(\d+))?/.exec(text);
  if (m === null) return undefined;
  const first = Number(m[1]);
  return first === 1 && m[2] !== undefined ? Number(m[2]) : first;
};

const onPath = (name: string): string | undefined => {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = join(dir, name);
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  return undefined;
};

const candidates = (): string[] => {
  const found: string[] = [];
  if (process.env.JAVA_HOME) found.push(join(process.env.JAVA_HOME, 'bin', 'java'));
  const fromPath = onPath('java');
  if (fromPath !== undefined) found.push(fromPath);
  for (const root of ['/usr/lib/jvm', '/usr/local/lib/jvm', '/opt/java', '/Library/Java/JavaVirtualMachines']) {
    if (!existsSync(root)) continue;
    for (const entry of readdirSync(root)) {
      for (const bin of [join(root, entry, 'bin', 'java'), join(root, entry, 'Contents', 'Home', 'bin', 'java')])
        if (existsSync(bin)) found.push(bin);
    }
  }
  return [...new Set(found)];
};

/**
 * The first Java runtime of at least `minMajor`: JAVA_HOME, then PATH, then the usual JVM
 * folders. Kafka runs on 17; Apicurio Registry 3.3 is built for 21.
 */
export const findJava = (minMajor: number, purpose: string): JavaRuntime => {
  const seen: string[] = [];
  for (const path of candidates()) {
    const major = majorOf(path);
    if (major === undefined) continue;
    seen.push(`${path} (${major})`);
    if (major >= minMajor) return { path, major };
  }
  throw new CoordError(
    'INFRA_MISSING_TOOL',
    `${purpose} needs Java ${minMajor} or newer; found ${seen.length === 0 ? 'no java at all' : seen.join(', ')}. ` +
      `Install a JDK ${minMajor}+ (e.g. 'apt-get install openjdk-${minMajor}-jre-headless') or set JAVA_HOME to one.`,
  );
};

export const findMaven = (): string => {
  const mvn = onPath('mvn');
  if (mvn === undefined)
    throw new CoordError(
      'INFRA_MISSING_TOOL',
      "Kafka and the Schema Registry are fetched from Maven Central with Maven, but 'mvn' is not on PATH. Install Maven 3.6+ (e.g. 'apt-get install maven').",
    );
  return mvn;
};
