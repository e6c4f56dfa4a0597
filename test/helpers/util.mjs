import { readdirSync } from 'node:fs';
import { createDispatcher } from 'troupe';

/** URL of a fixture app under test/fixtures. */
export const fixture = (name) => new URL(`../fixtures/${name}`, import.meta.url);

/** OS threads of this process (Linux): a worker thread that was not ended still shows here. */
export const threadCount = () => readdirSync('/proc/self/task').length;

/** Polls `predicate` every few ms until it holds, or fails after `ms`. */
export async function until(predicate, ms = 5_000, what = 'condition') {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Runs `fn` with a started dispatcher and closes it after, whatever `fn` did. */
export async function withDispatcher(options, fn) {
  const d = await createDispatcher(options);
  try {
    return await fn(d);
  } finally {
    await d.close();
  }
}

/** A promise's outcome as data, so a test can check results and errors side by side. */
export function outcome(promise) {
  return promise.then(
    (value) => ({ ok: true, value }),
    (error) => ({ ok: false, error }),
  );
}
