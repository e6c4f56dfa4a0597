import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A real `gc()` without asking the user for `--expose-gc` (`npm run bench` runs plain `node`). Without it,
 * mitata falls back to allocating a 1 GiB array to provoke a collection before every benchmark, and the
 * memory case could not settle the heap before reading it.
 */
setFlagsFromString('--expose-gc');
export const gc = runInNewContext('gc') as () => void;

/** Collects twice: the first pass can leave garbage that only becomes unreachable after finalizers run. */
export async function settle(): Promise<void> {
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
}
