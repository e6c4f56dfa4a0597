import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ActorCrashedError, ConfigRejectedError, createDispatcher, InitError, NoActorError } from 'troupe';
import { fixture, outcome, threadCount, until, withDispatcher } from './helpers/util.mjs';

const app = fixture('reliability-app.mjs');

/** Settles to a record instead of throwing, so a test can look at every outcome. */

/** A key whose preferred slot is `slot` (found by asking the dispatcher where it lands). */
async function keyFor(d, slot) {
  for (let i = 0; i < 200; i++) {
    const key = `key-${slot}-${i}`;
    const r = await d.request({ op: 'echo' }, { key });
    if (r.actorId === slot) return { key, threadId: r.threadId };
  }
  throw new Error(`no key lands on slot ${slot}`);
}

const ready = (d, slot) => {
  const a = d.snapshot().actors[slot];
  return a.state === 'ready' || a.state === 'serving' || a.state === 'streaming';
};

const crashKinds = [
  { name: 'an uncaught throw in a timer', op: { op: 'timerThrow' }, detail: /uncaught throw in a timer/ },
  { name: 'process.exit in the worker', op: { op: 'exit', code: 7 }, detail: /code 7/ },
  {
    name: 'out of memory under resourceLimits',
    op: { op: 'oom' },
    detail: /memory|ERR_WORKER_OUT_OF_MEMORY/i,
    options: { resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 } },
  },
];

for (const kind of crashKinds) {
  test(`crash by ${kind.name}: in-flight requests fail once with ActorCrashedError, queued keyed ones wait for the replacement`, async () => {
    // balanceFactor high so that the key never spills: its requests queue for the dead actor's slot.
    await withDispatcher(
      {
        app,
        actors: 2,
        concurrency: 4,
        balanceFactor: 100,
        restartBackoff: 20,
        ...kind.options,
      },
      async (d) => {
        const { key, threadId: oldThread } = await keyFor(d, 1);
        // A promise settles once by construction; where "once" can break is streams (tested below).
        const once = outcome;
        const inFlight = [
          once(d.request(kind.op, { key })),
          once(d.request({ op: 'sleep', ms: 30_000 }, { key })),
          once(d.request({ op: 'sleep', ms: 30_000 }, { key })),
          once(d.request({ op: 'sleep', ms: 30_000 }, { key })),
        ];
        // The slot is at its concurrency: these wait in the slot's queue, then go to the replacement.
        const queued = Array.from({ length: 6 }, (_, i) =>
          outcome(d.request({ op: 'echo', value: i }, { key })),
        );
        // The other slot keeps serving during the crash.
        const other = await d.request({ op: 'echo' }, { key: (await keyFor(d, 0)).key });
        assert.equal(other.actorId, 0);

        const crashed = await Promise.all(inFlight);
        for (const r of crashed) {
          assert.equal(r.ok, false);
          assert.ok(r.error instanceof ActorCrashedError, `${r.error}`);
          assert.equal(r.error.code, 'ERR_TROUPE_ACTOR_CRASHED');
          assert.equal(r.error.actorId, 1);
          assert.match(r.error.message, kind.detail);
        }
        const served = await Promise.all(queued);
        for (const [i, r] of served.entries()) {
          assert.equal(r.ok, true, `queued request ${i}: ${r.error}`);
          assert.equal(r.value.value, i);
          assert.equal(r.value.actorId, 1, 'the key came back to its slot');
          assert.notEqual(r.value.threadId, oldThread, 'on the replacement thread');
        }
        const snap = d.snapshot();
        assert.equal(snap.actors[1].restarts, 1);
        assert.equal(snap.actors[0].restarts, 0);
        assert.equal(snap.degraded, false);
        assert.ok(ready(d, 1));
      },
    );
  });
}

test('the replacement runs init with the latest good config and takes requests only when ready', async () => {
  await withDispatcher({ app, actors: 2, restartBackoff: 10 }, async (d) => {
    const { key } = await keyFor(d, 0);
    assert.deepEqual(await d.configure({ limit: 5 }), { version: 2 });
    await assert.rejects(d.configure({ limit: 'lots' }), ConfigRejectedError);
    // The rejected change left a replaced actor behind; wait for it, then make init slow on restarts.
    await until(() => ready(d, 0) && ready(d, 1), 5_000, 'actors ready after the rejection');
    assert.deepEqual(await d.configure({ initDelay: 300 }), { version: 3 });

    const crash = outcome(d.request({ op: 'exit' }, { key }));
    await until(() => !ready(d, 0), 2_000, 'the crash');
    const t0 = Date.now();
    const r = await d.request({ op: 'echo' }, { key });
    const waited = Date.now() - t0;
    assert.equal((await crash).error?.code, 'ERR_TROUPE_ACTOR_CRASHED');
    assert.equal(r.actorId, 0);
    assert.equal(r.configVersion, 3);
    assert.equal(r.config.limit, 5, 'the rejected change never reached the replacement');
    assert.ok(waited >= 250, `a request waited for init (${waited} ms) instead of reaching a cold actor`);
    for (const a of d.snapshot().actors) assert.equal(a.configVersion, 3);
  });
});

test('at-most-once: a crashed request runs again only with retry, and then at most once more', async () => {
  await withDispatcher({ app, actors: 2, restartBackoff: 10 }, async (d) => {
    const runs = new Int32Array(new SharedArrayBuffer(64));
    // Without retry: one run, one ActorCrashedError.
    const plain = await outcome(d.request({ op: 'crashFirst', runs, id: 1 }));
    assert.ok(plain.error instanceof ActorCrashedError);
    assert.equal(runs[1], 1);
    // With retry: the first run dies, the second (on a ready actor) succeeds.
    const retried = await d.request({ op: 'crashFirst', runs, id: 2 }, { retry: true });
    assert.equal(retried.run, 2);
    assert.equal(runs[2], 2);
    // With retry, a request that kills every actor it runs on runs exactly twice, then fails.
    const poison = await outcome(d.request({ op: 'exit', runs, id: 3 }, { retry: true }));
    assert.ok(poison.error instanceof ActorCrashedError);
    assert.equal(runs[3], 2);
    await until(() => ready(d, 0) && ready(d, 1), 5_000, 'both actors back');
    assert.equal((await d.request({ op: 'echo', value: 'after' })).value, 'after');
  });
});

test('restarts back off exponentially; past the intensity limit the slot fails, its keys move, degraded is emitted', async () => {
  await withDispatcher(
    {
      app,
      actors: 2,
      // One request at a time: a keyed request behind a crashing one waits in the slot's queue.
      concurrency: 1,
      balanceFactor: 100,
      maxRestarts: 3,
      restartWindow: 30_000,
      restartBackoff: 200,
    },
    async (d) => {
      const { key } = await keyFor(d, 1);
      const crashes = [];
      const restarts = [];
      d.subscribe((ev) => {
        if (ev.type === '@troupe.crash' && ev.actorId === 1) crashes.push(ev.at);
        if (ev.type === '@troupe.restart' && ev.actorId === 1) restarts.push(ev.at);
      });
      const degraded = new Promise((resolve) => d.on('degraded', resolve));
      for (let i = 0; i < 3; i++) {
        const r = await outcome(d.request({ op: 'exit' }, { key }));
        assert.ok(r.error instanceof ActorCrashedError);
        // This one waits in the slot's queue for the replacement.
        assert.equal((await d.request({ op: 'echo' }, { key })).actorId, 1);
      }
      assert.equal(restarts.length, 3);
      // Backoff ceilings 200, 400, 800 ms, half fixed and half jitter: each wait at least half its ceiling.
      const gaps = restarts.map((t, i) => t - crashes[i]);
      for (const [i, gap] of gaps.entries()) assert.ok(gap >= 100 * 2 ** i, `restart ${i} after ${gap} ms`);

      // The fourth crash within the window: the slot gives up. Requests queued for it move on.
      const last = outcome(d.request({ op: 'exit' }, { key }));
      const moved = d.request({ op: 'echo' }, { key });
      const info = await degraded;
      assert.equal(info.actorId, 1);
      assert.match(info.error, /restarted 3 times within 30000 ms/);
      assert.ok((await last).error instanceof ActorCrashedError);
      assert.equal((await moved).actorId, 0, 'the queued keyed request moved to the next slot');
      assert.equal((await d.request({ op: 'echo' }, { key })).actorId, 0, 'new requests for the key too');
      const snap = d.snapshot();
      assert.equal(snap.degraded, true);
      assert.equal(snap.state, 'running');
      assert.equal(snap.actors[1].state, 'failed');
      assert.match(snap.actors[1].error, /restarted 3 times/);
      assert.ok(ready(d, 0));
      // Unkeyed requests still run, on the healthy slot only.
      const rs = await Promise.all(Array.from({ length: 20 }, () => d.request({ op: 'echo' })));
      assert.ok(rs.every((r) => r.actorId === 0));
    },
  );
});

test('when every slot has failed, requests get NoActorError at once', async () => {
  // Parking off: issued together, unkeyed, least-loaded placement puts one on each actor.
  const options = { app, actors: 2, maxRestarts: 1, restartBackoff: 10, park: false };
  await withDispatcher(options, async (d) => {
    let degraded = 0;
    d.on('degraded', () => degraded++);
    await d.configure({ crashAfterInit: 20 }); // every restart from now on dies 20 ms after its init
    await Promise.all([outcome(d.request({ op: 'exit' })), outcome(d.request({ op: 'exit' }))]);
    await until(() => degraded === 2, 10_000, 'both slots failed');
    const r = await outcome(d.request({ op: 'echo' }));
    assert.ok(r.error instanceof NoActorError, `${r.error}`);
    const k = await outcome(d.request({ op: 'echo' }, { key: 'x' }));
    assert.ok(k.error instanceof NoActorError, `${k.error}`);
  });
});

test('a crash loop during startup fails startup with InitError and leaves no thread behind', async () => {
  const before = threadCount();
  for (const config of [{ exitInit: true }, { throwInit: true }, { timerThrowInit: true }]) {
    await assert.rejects(createDispatcher({ app, actors: 2, config }), (err) => {
      assert.ok(err instanceof InitError, `${err}`);
      assert.equal(err.code, 'ERR_TROUPE_INIT');
      assert.match(err.message, /Actor \d/);
      return true;
    });
  }
  // An actor that dies right after its own init while the others still warm up: startup fails too.
  await assert.rejects(
    createDispatcher({ app, actors: 2, config: { crashAfterInit: 0, slowActor: 1 } }),
    InitError,
  );
  await until(() => threadCount() <= before, 5_000, 'threads ended');
});

test('a stream whose actor dies midway: its chunks so far, then ActorCrashedError once; streams are never retried', async () => {
  await withDispatcher({ app, actors: 1, restartBackoff: 10 }, async (d) => {
    const runs = new Int32Array(new SharedArrayBuffer(16));
    const seen = [];
    let error;
    let errors = 0;
    const it = d.stream({ op: 'count', n: 1_000, delay: 5, runs, id: 1 }, { retry: true });
    const crash = outcome(d.request({ op: 'exit', after: 60 }));
    try {
      for await (const c of it) seen.push(c.i);
    } catch (err) {
      error = err;
      errors++;
    }
    assert.ok(error instanceof ActorCrashedError, `${error}`);
    assert.equal(errors, 1);
    assert.ok(seen.length > 0 && seen.length < 1_000, `${seen.length} chunks`);
    assert.deepEqual(
      seen,
      seen.map((_, i) => i),
      'in order, none lost before the crash',
    );
    assert.deepEqual(await it.next(), { value: undefined, done: true });
    assert.ok((await crash).error instanceof ActorCrashedError);
    // A stream may have sent chunks the caller already consumed: running it again could duplicate them.
    assert.equal(runs[1], 1);
  });
});

test('a full queue says no at once with QueueFullError, and serving goes on', async () => {
  await withDispatcher({ app, actors: 1, concurrency: 1, maxQueue: 3 }, async (d) => {
    const running = d.request({ op: 'sleep', ms: 200 });
    const queued = [d.request({ op: 'echo', value: 1 }), d.request({ op: 'echo', value: 2 }, { key: 'k' })];
    queued.push(d.request({ op: 'echo', value: 3 }));
    const t0 = Date.now();
    const refused = await outcome(d.request({ op: 'echo', value: 4 }));
    const refusedKeyed = await outcome(d.request({ op: 'echo', value: 5 }, { key: 'k' }));
    assert.ok(Date.now() - t0 < 100, 'refused at once, not after the wait');
    for (const r of [refused, refusedKeyed]) {
      assert.equal(r.error?.code, 'ERR_TROUPE_QUEUE_FULL', `${r.error}`);
      assert.match(r.error.message, /maxQueue = 3/);
    }
    await running;
    assert.deepEqual(
      (await Promise.all(queued)).map((r) => r.value),
      [1, 2, 3],
    );
    assert.equal((await d.request({ op: 'echo', value: 6 })).value, 6);
  });
});

test('close() while an actor crash-loops: queued requests settle, close resolves, no thread is left', async () => {
  const threads = threadCount();
  const d = await createDispatcher({ app, actors: 2, restartBackoff: 10, maxRestarts: 100 });
  await d.configure({ crashAfterInit: 30 });
  const rs = Array.from({ length: 40 }, (_, i) =>
    outcome(d.request({ op: 'exit', after: 20 }, { key: `k${i}` })),
  );
  await sleep(50);
  await d.close();
  const settled = await Promise.all(rs);
  for (const r of settled) assert.ok(r.error instanceof ActorCrashedError, `${r.error}`);
  await until(() => threadCount() <= threads, 5_000, 'every thread ended');
});

test('a retry runs on a ready actor at once, not after the dead one’s backoff; with none ready it waits for the replacement', async () => {
  const runs = new Int32Array(new SharedArrayBuffer(16));
  await withDispatcher({ app, actors: 2, restartBackoff: 2_000, balanceFactor: 100 }, async (d) => {
    const { key } = await keyFor(d, 1);
    const r = await d.request({ op: 'crashFirst', runs, id: 1 }, { key, retry: true });
    // The key prefers slot 1 (balanceFactor 100): running on slot 0 means it did not wait for slot 1's
    // replacement (at least 1 s of backoff away).
    assert.equal(r.actorId, 0, 'retried on the ready actor, not queued for the dead one');
    assert.ok(d.snapshot().actors[1].state !== 'ready', 'slot 1 was still down when the retry finished');
    assert.equal(runs[1], 2);
  });
  await withDispatcher({ app, actors: 1, restartBackoff: 10 }, async (one) => {
    const r = await one.request({ op: 'crashFirst', runs, id: 2 }, { key: 'only', retry: true });
    assert.equal(r.run, 2, 'the keyed retry waited for the replacement instead of failing');
    assert.equal(runs[2], 2);
  });
});

test('restart policy (unit): doubling backoff, half fixed and half jitter, capped; intensity limit over a sliding window', async () => {
  // Internal module: the policy's arithmetic is checked exactly here, its effect end to end above.
  const { RestartPolicy } = await import('../dist/actors/router/restart-policy.js');
  const low = new RestartPolicy(5, 10_000, 100, 1_000, () => 0);
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((i) => low.next(i)),
    [50, 100, 200, 400, 500],
  );
  assert.equal(low.next(5), -1, 'a sixth crash within the window gives up');
  const high = new RestartPolicy(3, 1_000, 100, 5_000, () => 0.999);
  assert.deepEqual(
    [0, 1, 2].map((t) => high.next(t)),
    [100, 200, 400],
  );
  assert.equal(high.next(500), -1);
  // Once the old crashes leave the window, the slot may restart again, from the first delay.
  assert.equal(high.next(1_700), 100);
  const spread = new Set(Array.from({ length: 50 }, () => new RestartPolicy(5, 1_000, 1_000).next(0)));
  assert.ok(spread.size > 10, 'slots that crash together come back at different times');
});

test('an actor that dies while a request body streams in: the caller’s body iterator is closed, the request is not retried', async () => {
  await withDispatcher({ app, actors: 1, restartBackoff: 10 }, async (d) => {
    let pulled = 0;
    let closed = false;
    async function* upload() {
      try {
        for (;;) {
          pulled++;
          yield new Uint8Array(16);
          await sleep(1);
        }
      } finally {
        closed = true; // the source (a file, a socket) is released
      }
    }
    const r = await outcome(d.request({ op: 'bodyThenExit' }, { body: upload(), retry: true }));
    assert.ok(r.error instanceof ActorCrashedError, `${r.error}`);
    await until(() => closed, 2_000, 'the body iterator closed');
    const at = pulled;
    await sleep(50);
    assert.equal(pulled, at, 'nothing pulls the body after the crash');
    assert.equal((await d.request({ op: 'echo', value: 1 })).value, 1);
  });
});

test('retry does not replay a request whose payload buffers were transferred to the dead actor', async () => {
  await withDispatcher({ app, actors: 2, restartBackoff: 10 }, async (d) => {
    const runs = new Int32Array(new SharedArrayBuffer(16));
    const buf = new ArrayBuffer(1024);
    const r = await outcome(
      d.request({ op: 'crashFirst', runs, id: 1, buf }, { transfer: [buf], retry: true }),
    );
    // The buffer moved into the thread that died: there is nothing left to send again.
    assert.ok(r.error instanceof ActorCrashedError, `${r.error}`);
    assert.equal(runs[1], 1);
  });
});

test('a config change queued behind a restarted actor’s catch-up reaches that actor too', async () => {
  await withDispatcher({ app, actors: 2, restartBackoff: 10, balanceFactor: 100 }, async (d) => {
    const { key } = await keyFor(d, 0);
    await d.configure({ slowConfigure: 300, initDelay: 200 }); // v2
    const crash = outcome(d.request({ op: 'exit', after: 0 }, { key }));
    await until(() => d.snapshot().actors[0].state === 'init', 2_000, 'slot 0 restarting');
    // While the replacement runs init (from v2), v3 rolls out to the live actor only...
    const v3 = d.configure({ a: 1 });
    // ...so the replacement must catch up to v3 (300 ms of configure). v4 is queued behind that catch-up.
    await sleep(450);
    const v4 = await d.configure({ b: 2 });
    assert.deepEqual(await v3, { version: 3 });
    assert.deepEqual(v4, { version: 4 });
    assert.ok((await crash).error instanceof ActorCrashedError);
    const r = await d.request({ op: 'echo' }, { key });
    assert.equal(r.actorId, 0);
    assert.equal(r.configVersion, 4, 'the restarted actor runs the change that rolled out as it came in');
    assert.equal(r.config.b, 2);
    for (const a of d.snapshot().actors) assert.equal(a.configVersion, 4);
  });
});

test('requests cancelled while queued for a slot that then crashes leave its load accounting exact', async () => {
  await withDispatcher(
    {
      app,
      actors: 2,
      concurrency: 2,
      balanceFactor: 100,
      restartBackoff: 10,
    },
    async (d) => {
      const { key } = await keyFor(d, 1);
      const crash = outcome(d.request({ op: 'exit', after: 100 }, { key }));
      const busy = outcome(d.request({ op: 'sleep', ms: 5_000 }, { key }));
      // Five keyed requests wait behind them in slot 1's queue; their callers give up.
      const ac = new AbortController();
      const cancelled = Array.from({ length: 5 }, () =>
        outcome(d.request({ op: 'echo' }, { key, signal: ac.signal })),
      );
      ac.abort();
      for (const r of await Promise.all(cancelled)) assert.equal(r.error?.code, 'ERR_TROUPE_ABORTED');
      await crash;
      await busy;
      await until(() => d.snapshot().actors[1].state === 'ready', 5_000, 'slot 1 back');
      const snap = d.snapshot();
      assert.equal(snap.queued, 0);
      assert.deepEqual(
        snap.actors.map((a) => a.queued),
        [0, 0],
        'cancelled requests are not shown as queued',
      );
      // Unkeyed requests spread over both actors again: slot 1 is not counted as busy with ghosts.
      const rs = await Promise.all(Array.from({ length: 40 }, () => d.request({ op: 'sleep', ms: 20 })));
      const onSlot1 = rs.filter((r) => r.actorId === 1).length;
      assert.ok(onSlot1 >= 10, `only ${onSlot1} of 40 unkeyed requests ran on slot 1`);
    },
  );
});

test('a degraded listener that throws does not stop the failed slot’s requests from moving on', async () => {
  const d = await createDispatcher({
    app,
    actors: 2,
    concurrency: 1,
    balanceFactor: 100,
    maxRestarts: 0,
    restartBackoff: 10,
  });
  const warnings = [];
  const onWarning = (w) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    d.on('degraded', () => {
      throw new Error('a bug in the listener');
    });
    const { key } = await keyFor(d, 1);
    const crash = outcome(d.request({ op: 'exit' }, { key }));
    const queued = outcome(d.request({ op: 'echo', value: 'moved' }, { key }));
    assert.ok((await crash).error instanceof ActorCrashedError);
    const r = await queued;
    assert.equal(r.value?.value, 'moved', `${r.error}`);
    assert.equal(r.value.actorId, 0);
    assert.equal(d.snapshot().actors[1].state, 'failed');
    await until(
      () => warnings.some((w) => /degraded.*a bug in the listener/s.test(w.message)),
      2_000,
      'a warning',
    );
  } finally {
    process.off('warning', onWarning);
    await d.close();
  }
});
