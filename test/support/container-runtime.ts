/**
 * TEST_INFRA=testcontainers needs a container engine (Docker or Podman) that answers. This
 * checks for one, bounded in time, and says what to do when there is none, so a run fails at
 * once instead of after the build, the lint and the unit tier. Run as a script by `make test`.
 */
import { getContainerRuntimeClient } from 'testcontainers';

const DEADLINE_MS = 20_000;

export const NO_ENGINE =
  'TEST_INFRA=testcontainers needs a container engine (Docker or Podman) that answers, and none does here' +
  ' (set DOCKER_HOST, or start the engine). Without TEST_INFRA the tests start Kafka and the registry themselves, with no Docker.';

/** Resolves when a container engine answers; rejects, saying what to do, when none does within the deadline. */
export const requireContainerRuntime = async (): Promise<void> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no container engine answered within ${DEADLINE_MS / 1000} s`)), DEADLINE_MS);
  });
  try {
    await Promise.race([getContainerRuntimeClient(), late]);
  } catch (err) {
    throw new Error(`${NO_ENGINE}\n  (testcontainers: ${(err as Error).message})`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
};

if (require.main === module)
  requireContainerRuntime().then(
    () => undefined,
    (err: unknown) => {
      process.stderr.write(`make: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
