import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDispatcher } from 'troupe';
import { fixture, outcome, threadCount, until, withDispatcher } from './helpers/util.mjs';

const app = fixture('reliability-app.mjs');

/**
 * Keeps `width` requests (a quarter of them streams) in flight until `stop()`; every outcome is recorded.
 * Keys are fixed per lane, so the test can check that each key stays on one slot throughout.
 */
function load(d, width) {
  let running = true;
  const results = { ok: 0, failed: [], threads: new Set(), slotsByKey: new Map() };
  const lane = async (i) => {
    const key = `lane-${i}`;
    for (let n = 0; running; n++) {
      try {
        if (n % 4 === 0) {
          let last;
          for await (const c of d.stream({ op: 'count', n: 5, delay: 1 }, { key })) last = c;
          note(key, last.actorId);
        } else {
          const r = await d.request({ op: 'sleep', ms: 2 }, { key });
          results.threads.add(r.threadId);
          note(key, r.actorId);
        }
        results.ok++;
      } catch (err) {
        results.failed.push(err);
      }
    }
  };
  const note = (key, slot) => {
    const slots = results.slotsByKey.get(key) ?? new Set();
    slots.add(slot);
    results.slotsByKey.set(key, slots);
  };
  const lanes = Array.from({ length: width }, (_, i) => lane(i));
  return {
    results,
    async stop() {
      running = false;
      await Promise.all(lanes);
      return results;
    },
  };
}

test('maxRequestsPerActor recycles actors make-before-break under load: no request fails, keys keep their slots', async () => {
  const d = await createDispatcher({ app, actors: 2, maxRequestsPerActor: 60, balanceFactor: 100 });
  const events = [];
  d.subscribe((ev) => {
    if (ev.type === '@troupe.restart') events.push(ev);
  });
  try {
    const l = load(d, 8);
    await until(() => events.length >= 6, 20_000, 'six recycles');
    const r = await l.stop();
    assert.deepEqual(r.failed, [], 'no request failed while actors were recycled');
    assert.ok(r.ok > 300, `${r.ok} requests`);
    assert.ok(r.threads.size >= 6, `requests ran on ${r.threads.size} threads`);
    assert.ok(events.every((e) => e.reason === 'recycle'));
    for (const [key, slots] of r.slotsByKey) assert.equal(slots.size, 1, `${key} ran on slots ${[...slots]}`);
    // (An actor may serve past its mark while its replacement warms up: that is make-before-break.)
    const snap = d.snapshot();
    assert.equal(snap.degraded, false);
    assert.ok(snap.actors.reduce((n, a) => n + a.restarts, 0) >= 6);
  } finally {
    await d.close();
  }
});

test('reload() replaces every actor one at a time under load, with no failed request', async () => {
  const d = await createDispatcher({ app, actors: 3, balanceFactor: 100, config: { initDelay: 50 } });
  const order = [];
  d.subscribe((ev) => {
    if (ev.type === '@troupe.restart') {
      // Chain reload: when slot i's replacement comes in, every earlier slot already runs its own.
      const snap = d.snapshot();
      order.push({ slot: ev.actorId, before: snap.actors.map((a) => a.restarts) });
    }
  });
  try {
    const threadsBefore = d.snapshot().actors.map((a) => a.threadId);
    const l = load(d, 12);
    await sleep(100);
    await d.reload();
    await sleep(100);
    const r = await l.stop();
    assert.deepEqual(r.failed, []);
    assert.deepEqual(
      order.map((o) => o.slot),
      [0, 1, 2],
    );
    for (const [i, o] of order.entries()) {
      for (let s = 0; s < i; s++) assert.equal(o.before[s], 1, `slot ${s} was replaced before slot ${i}`);
      for (let s = i + 1; s < 3; s++) assert.equal(o.before[s], 0, `slot ${s} waited for slot ${i}`);
    }
    const snap = d.snapshot();
    for (const [i, a] of snap.actors.entries()) {
      assert.equal(a.restarts, 1);
      assert.notEqual(a.threadId, threadsBefore[i]);
      assert.ok(['ready', 'serving', 'streaming'].includes(a.state), a.state);
    }
    for (const [key, slots] of r.slotsByKey) assert.equal(slots.size, 1, `${key} moved: ${[...slots]}`);
  } finally {
    await d.close();
  }
});

test('maxHeapMB replaces an actor whose heap grew past the limit, without failing its requests', async () => {
  await withDispatcher({ app, actors: 1, maxHeapMB: 40 }, async (d) => {
    const { threadId } = await d.request({ op: 'grow', mb: 60 });
    const l = load(d, 4);
    await until(() => d.snapshot().actors[0].restarts === 1, 5_000, 'the heap recycle');
    await sleep(50);
    const r = await l.stop();
    assert.deepEqual(r.failed, []);
    const after = await d.request({ op: 'echo' });
    assert.notEqual(after.threadId, threadId);
  });
});

test('an actor that crashes while its recycle replacement warms up: one thread per slot afterwards, none leaked', async () => {
  const base = threadCount();
  await withDispatcher(
    {
      app,
      actors: 1,
      maxRequestsPerActor: 5,
      restartBackoff: 10,
      config: { initDelay: 300 },
    },
    async (d) => {
      await until(() => threadCount() === base + 1, 2_000, 'one actor thread');
      // Past the recycle mark: a replacement starts warming (300 ms of init)...
      await Promise.all(Array.from({ length: 6 }, () => d.request({ op: 'echo' })));
      await sleep(50);
      // ...and the actor it should replace dies meanwhile: supervision restarts the slot.
      const crash = await outcome(d.request({ op: 'exit', after: 0 }));
      assert.equal(crash.error?.code, 'ERR_TROUPE_ACTOR_CRASHED');
      const r = await d.request({ op: 'echo', value: 'back' });
      assert.equal(r.value, 'back');
      // Both warm-ups end (300 ms each, longer on a loaded machine); then exactly one thread is left.
      await until(() => threadCount() === base + 1, 10_000, 'the recycle replacement not left running');
      await sleep(400);
      assert.equal(threadCount(), base + 1, 'the recycle replacement was not left running');
      assert.equal(d.snapshot().actors[0].state, 'ready');
      // Recycling still works afterwards (the slot's replacing flag was not left in a wrong state).
      const threads = new Set();
      await until(
        async () => threads.add((await d.request({ op: 'echo' })).threadId).size >= 2,
        3_000,
        'a recycle',
      );
    },
  );
});
