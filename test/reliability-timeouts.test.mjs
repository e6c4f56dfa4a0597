import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ActorCrashedError, createDispatcher, TimeoutError } from 'troupe';
import { fixture, outcome, until, withDispatcher } from './helpers/util.mjs';

const app = fixture('reliability-app.mjs');

test('a timeout rejects with TimeoutError and aborts ctx.signal in the actor', async () => {
  await withDispatcher({ app, actors: 1 }, async (d) => {
    const t0 = Date.now();
    const r = await outcome(d.request({ op: 'waitAbort', tag: 't1' }, { timeout: 100 }));
    const took = Date.now() - t0;
    assert.ok(r.error instanceof TimeoutError, `${r.error}`);
    assert.equal(r.error.code, 'ERR_TROUPE_TIMEOUT');
    assert.equal(r.error.timeout, 100);
    assert.match(r.error.message, /within 100 ms/);
    assert.ok(took >= 95 && took < 1_000, `took ${took} ms`);
    // The handler saw its signal fire (it records the abort in the actor's state).
    await until(async () => (await d.request({ op: 'aborted' })).includes('t1'), 2_000, 'the abort');
    // The dispatcher's default timeout applies when the request names none; 0 turns it off per request.
    const d2 = await createDispatcher({ app, actors: 1, timeout: 50 });
    try {
      assert.ok((await outcome(d2.request({ op: 'sleep', ms: 500 }))).error instanceof TimeoutError);
      assert.equal((await d2.request({ op: 'sleep', ms: 100 }, { timeout: 0 })).actorId, 0);
    } finally {
      await d2.close();
    }
    assert.equal(d.snapshot().actors[0].restarts, 0, 'a handler that honours its signal is not killed');
  });
});

test('the watchdog cuts off a handler that ignores its signal past killAfter, and the slot comes back', async () => {
  await withDispatcher(
    {
      app,
      actors: 2,
      killAfter: 200,
      restartBackoff: 10,
      balanceFactor: 100,
    },
    async (d) => {
      const key = 'hog';
      const { actorId: slot, threadId } = await d.request({ op: 'echo' }, { key });
      // A neighbour in flight on the same actor: it dies with the actor, as crashed, not as timed out.
      const neighbour = outcome(d.request({ op: 'sleep', ms: 5_000 }, { key }));
      await sleep(20);
      const t0 = Date.now();
      const hog = await outcome(d.request({ op: 'busy', ms: 60_000 }, { key, timeout: 100 }));
      assert.ok(hog.error instanceof TimeoutError, `${hog.error}`);
      assert.ok(Date.now() - t0 < 1_000, 'the caller got its TimeoutError on time, not after the cut-off');
      const n = await neighbour;
      assert.ok(n.error instanceof ActorCrashedError, `${n.error}`);
      assert.match(n.error.message, /watchdog/);
      const cut = Date.now() - t0;
      assert.ok(cut >= 290, `cut off after ${cut} ms, before timeout + killAfter`);
      const after = await d.request({ op: 'echo' }, { key });
      assert.equal(after.actorId, slot);
      assert.notEqual(after.threadId, threadId);
      assert.equal(d.snapshot().actors[slot].restarts, 1);
    },
  );
});

test('a handler that overruns its timeout but returns within killAfter is not killed', async () => {
  await withDispatcher({ app, actors: 1, killAfter: 1_000 }, async (d) => {
    const r = await outcome(d.request({ op: 'busy', ms: 200 }, { timeout: 50 }));
    assert.ok(r.error instanceof TimeoutError);
    await sleep(1_300);
    assert.equal(d.snapshot().actors[0].restarts, 0);
    assert.equal((await d.request({ op: 'echo', value: 1 })).value, 1);
  });
});

test('a stream that never ends is cut by its timeout; the iterator is closed in the actor', async () => {
  await withDispatcher({ app, actors: 1 }, async (d) => {
    const seen = [];
    let error;
    try {
      for await (const chunk of d.stream({ op: 'endless', tag: 's1' }, { timeout: 150 })) seen.push(chunk);
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof TimeoutError, `${error}`);
    assert.ok(seen.length > 3, `got ${seen.length} chunks before the cut`);
    assert.deepEqual(seen.slice(0, 3), [0, 1, 2]);
    await until(async () => (await d.request({ op: 'aborted' })).includes('s1'), 2_000, 'iterator closed');
    const snap = d.snapshot();
    assert.equal(snap.actors[0].restarts, 0);
    assert.equal(snap.actors[0].streams, 0);
    assert.equal(snap.actors[0].inFlight, 0);
  });
});

test('a timeout on a queued request frees its place and never runs it', async () => {
  await withDispatcher({ app, actors: 1, concurrency: 1 }, async (d) => {
    const runs = new Int32Array(new SharedArrayBuffer(16));
    const blocker = d.request({ op: 'sleep', ms: 300 });
    const queued = await outcome(d.request({ op: 'echo', runs, id: 1 }, { timeout: 50 }));
    assert.ok(queued.error instanceof TimeoutError);
    await blocker;
    assert.equal((await d.request({ op: 'echo', value: 2 })).value, 2);
    assert.equal(runs[1], 0, 'a request that timed out in the queue never reached an actor');
    assert.equal(d.snapshot().queued, 0);
  });
});

test('an endless synchronous iterator is cut by its timeout too, without the watchdog', async () => {
  await withDispatcher({ app, actors: 1, killAfter: 500 }, async (d) => {
    let n = 0;
    let error;
    try {
      for await (const c of d.stream({ op: 'syncEndless' }, { timeout: 150 })) {
        assert.equal(c, n++);
        if (n % 64 === 0) await sleep(1); // a consumer that does some work of its own
      }
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof TimeoutError, `${error}`);
    assert.ok(n > 64, `${n} chunks before the cut`);
    await sleep(700); // past killAfter: the actor stopped pulling the iterator, so it was not cut off
    const snap = d.snapshot();
    assert.equal(snap.actors[0].restarts, 0);
    assert.equal(snap.actors[0].inFlight, 0);
    assert.equal((await d.request({ op: 'echo', value: 1 })).value, 1);
  });
});
