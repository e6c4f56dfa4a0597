import { readdirSync } from 'node:fs';

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
