import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { fixture, withDispatcher } from './helpers/util.mjs';

// A forced GC without asking the test runner for --expose-gc: the flag takes effect for new contexts.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

const TOTAL = 200_000;
const WARMUP = 20_000;
const WINDOW = 256;
const MAX_GROWTH_MB = 4;

/** Heap used after full collections (several, with turns between, so finalizers and weak refs settle). */
async function settledHeap() {
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(20);
  }
  return process.memoryUsage().heapUsed;
}

/**
 * Every path a request can take: unkeyed and keyed results, streams, handler errors, a caller abort, a
 * timeout. After 200,000 of them, the main thread's heap (where the router keeps its bookkeeping)
 * must be back within a few MB of where it started.
 */
async function run(d, from, count) {
  let next = from;
  const end = from + count;
  const counts = { ok: 0, errors: 0 };
  const one = async (i) => {
    try {
      switch (i % 10) {
        case 0:
        case 1:
          for await (const _ of d.stream({ op: 'count', n: 3 }, { key: `s${i % 64}` }));
          break;
        case 2:
          await d.request({ op: 'throw', value: i }, { key: `k${i % 1000}` }).then(() => {
            throw new Error('unreachable');
          }, noop);
          break;
        case 3: {
          const ac = new AbortController();
          const p = d.request({ op: 'sleep', ms: 50 }, { signal: ac.signal });
          ac.abort();
          await p.catch(noop);
          break;
        }
        case 4:
          await d.request({ op: 'echo', value: i }, { timeout: 10_000 });
          break;
        case 5:
          await d.request({ op: 'echo', value: i }, { key: `k${i % 1000}`, timeout: 10_000 });
          break;
        default:
          await d.request({ op: 'echo', value: i });
      }
      counts.ok++;
    } catch {
      counts.errors++;
    }
  };
  await Promise.all(
    Array.from({ length: WINDOW }, async () => {
      while (next < end) await one(next++);
    }),
  );
  return counts;
}
const noop = () => {};

test('leak: 200,000 requests leave the main-thread heap within a few MB of where it started', async () => {
  await withDispatcher({ app: fixture('reliability-app.mjs'), actors: 2 }, async (d) => {
    await run(d, 0, WARMUP); // JIT, pools and maps reach their working size first
    const before = await settledHeap();
    const t0 = performance.now();
    const counts = await run(d, WARMUP, TOTAL);
    const ms = performance.now() - t0;
    const after = await settledHeap();
    const growthMB = (after - before) / 1048576;
    const snap = d.snapshot();
    console.log(
      `leak: ${TOTAL} requests (20% streams, 10% handler errors, 10% aborted, 20% with timeouts) in ` +
        `${Math.round(ms)} ms (${Math.round(TOTAL / (ms / 1000))}/s); heap after forced GC ` +
        `${(before / 1048576).toFixed(2)} MB → ${(after / 1048576).toFixed(2)} MB ` +
        `(${growthMB >= 0 ? '+' : ''}${growthMB.toFixed(2)} MB); rss ${(process.memoryUsage().rss / 1048576).toFixed(0)} MB`,
    );
    assert.equal(counts.errors, 0);
    assert.equal(counts.ok, TOTAL);
    assert.equal(snap.queued, 0);
    for (const a of snap.actors) {
      assert.equal(a.inFlight, 0);
      assert.equal(a.streams, 0);
    }
    assert.ok(growthMB < MAX_GROWTH_MB, `heap grew ${growthMB.toFixed(2)} MB over ${TOTAL} requests`);
  });
});
