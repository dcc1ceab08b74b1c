import { afterEach } from "vitest";

/** Something a test opened: a client, a server, a temporary directory. */
export type Closer = () => void | Promise<void>;

/**
 * A list to push closers onto; after each test every one is run, newest first (clients before the
 * server they talk to), whatever the test's outcome.
 */
export function closeAfterEach(): Closer[] {
  const closers: Closer[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });
  return closers;
}
