import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDispatcher } from 'troupe';
import { fixture, withDispatcher } from './helpers/util.mjs';

const app = fixture('reliability-app.mjs');
const BUSY_MS = 40;

test('a batch of CPU-bound requests answers one by one, not all at the end of the batch', async () => {
  await withDispatcher({ app, actors: 1 }, async (d) => {
    await d.request({ op: 'echo', value: 1 });
    const t0 = performance.now();
    // Issued in one synchronous run: they reach the actor in one message.
    const at = await Promise.all(
      Array.from({ length: 5 }, () =>
        d.request({ op: 'busy', ms: BUSY_MS }).then((v) => {
          assert.equal(v, 'finished busy');
          return performance.now() - t0;
        }),
      ),
    );
    // Run in one go, all five answers would leave together after the fifth; in time slices each leaves
    // when it is done, so the first arrives about four runs before the last.
    const spread = Math.max(...at) - Math.min(...at);
    assert.ok(spread >= 2 * BUSY_MS, `answers arrived within ${spread.toFixed(0)} ms of each other: ${at}`);
  });
});

test('close() lets every request of a batch finish, those still waiting for their slice too', async () => {
  const d = await createDispatcher({ app, actors: 1 });
  const all = Promise.all(Array.from({ length: 4 }, () => d.request({ op: 'busy', ms: 30 })));
  // Past the first slice the rest of the batch waits for the next turn while the drain begins.
  await new Promise((r) => setTimeout(r, 45));
  await d.close();
  assert.deepEqual(await all, Array(4).fill('finished busy'));
});
