import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConfigRejectedError,
  createDispatcher,
  DataCloneError,
  HandlerError,
  NoActorError,
  TimeoutError,
} from 'troupe';
import { fixture, outcome, threadCount, until, withDispatcher } from './helpers/util.mjs';

/**
 * The failure contract where hostile use broke it: every request gets exactly one outcome, one bad
 * message never takes its neighbours with it, a config change no actor acknowledged is never committed,
 * and close() ends within its grace.
 */
const app = fixture('reliability-app.mjs');

async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

describe('copy, do not move', () => {
  test('a request that reuses a transferred buffer fails alone; its batch-mates succeed', async () => {
    await withDispatcher({ app, actors: 1 }, async (d) => {
      const buf = new Uint8Array(16);
      await d.request({ op: 'big', data: buf }, { transfer: [buf.buffer] });
      assert.equal(buf.byteLength, 0, 'the first request moved the buffer, as the caller asked');
      // Same turn: the bad message and five plain ones share one batch.
      const results = await Promise.all([
        outcome(d.request({ op: 'big', data: buf }, { transfer: [buf.buffer] })),
        ...Array.from({ length: 5 }, (_, i) => outcome(d.request({ op: 'echo', value: i }))),
      ]);
      assert.equal(results[0].ok, false);
      assert.ok(results[0].error instanceof DataCloneError, String(results[0].error));
      for (let i = 1; i < 6; i++) assert.deepEqual(results[i].value?.value, i - 1);
    });
  });

  test('an app that streams a buffer it keeps: every stream gets it whole, the app keeps it', async () => {
    await withDispatcher({ app, actors: 1 }, async (d) => {
      for (let round = 0; round < 4; round++) {
        const [a, b] = await Promise.all([
          collect(d.stream({ op: 'kept' })),
          collect(d.stream({ op: 'kept' })),
        ]);
        for (const chunks of [a, b]) {
          assert.equal(chunks.length, 2, `round ${round}: two chunks, not a truncated stream`);
          for (const c of chunks) assert.equal(c.byteLength, 1024);
          assert.ok(chunks.every((c) => c.every((x) => x === 7)));
        }
      }
      assert.deepEqual((await d.request({ op: 'echo', value: 'after' })).value, 'after');
    });
  });

  test('a body source that yields the same buffer twice delivers both chunks', async () => {
    await withDispatcher({ app, actors: 1 }, async (d) => {
      const chunk = new Uint8Array(100).fill(1);
      async function* body() {
        yield chunk;
        yield chunk;
        yield new Uint8Array(0);
      }
      const r = await d.request({ op: 'bodyBytes' }, { body: body() });
      assert.deepEqual(r, { bytes: 200, chunks: 3 });
      assert.equal(chunk.byteLength, 100, "the caller's buffer was copied, not moved");
    });
  });
});

describe('hostile thrown and returned values', () => {
  const cases = ['nullProto', 'badToString', 'badGetters', 'thenableThrows', 'revokedProxy', 'throwRevoked'];
  test('each fails its own request with a typed error; the actors live on', async () => {
    await withDispatcher({ app, actors: 2 }, async (d) => {
      const batch = [];
      for (let i = 0; i < 14; i++)
        batch.push(outcome(d.request({ op: 'odd', how: cases[i % cases.length] })));
      const innocent = Array.from({ length: 6 }, (_, i) => d.request({ op: 'echo', value: i }));
      const results = await Promise.all(batch);
      for (const [i, r] of results.entries()) {
        assert.equal(r.ok, false, `${cases[i % cases.length]} must fail`);
        assert.ok(
          r.error instanceof HandlerError || r.error instanceof DataCloneError,
          `${cases[i % cases.length]}: ${r.error?.name}: ${r.error?.message}`,
        );
      }
      assert.deepEqual(
        (await Promise.all(innocent)).map((r) => r.value),
        [0, 1, 2, 3, 4, 5],
      );
      const snap = d.snapshot();
      assert.equal(snap.degraded, false);
      for (const a of snap.actors) assert.equal(a.restarts, 0, 'no actor died');
    });
  });

  test('a stream that fails on an uncloneable chunk leaves its actor streaming while another stream is open', async () => {
    await withDispatcher({ app, actors: 1 }, async (d) => {
      const open = d.stream({ op: 'endless', tag: 'x' });
      await open.next();
      const bad = await outcome(collect(d.stream({ op: 'badChunk' })));
      assert.ok(bad.error instanceof DataCloneError);
      await until(() => d.snapshot().actors[0].streams === 1, 2_000, 'one stream open');
      await sleep(50);
      assert.equal(d.snapshot().actors[0].state, 'streaming');
      await open.return();
      await until(() => d.snapshot().actors[0].state === 'ready', 2_000, 'ready again');
    });
  });
});

describe('config changes that no actor acknowledged', () => {
  test('a configure hook that exits the thread: the change is rejected, everyone stays on the old version', async () => {
    await withDispatcher({ app, actors: 2, config: { v: 1 } }, async (d) => {
      const r = await outcome(d.configure({ exitConfigure: 0 }));
      assert.ok(r.error instanceof ConfigRejectedError, String(r.error));
      await until(() => d.snapshot().actors.every((a) => a.state === 'ready'), 5_000, 'replacement ready');
      const snap = d.snapshot();
      assert.equal(snap.configVersion, 1);
      for (const a of snap.actors) assert.equal(a.configVersion, 1);
      assert.deepEqual(await d.configure({ v: 2 }), { version: 2 });
    });
  });

  test('when every actor dies on a change and cannot start, later changes are refused, not committed on nobody', async () => {
    await withDispatcher({ app, actors: 2, maxRestarts: 0 }, async (d) => {
      const r = await outcome(d.configure({ exitConfigure: 'all' }));
      assert.ok(r.error instanceof ConfigRejectedError);
      await until(() => d.snapshot().actors.every((a) => a.state === 'failed' || a.state === 'ready'), 5_000);
      if (d.snapshot().actors.every((a) => a.state === 'failed')) {
        const later = await outcome(d.configure({ v: 3 }));
        assert.ok(later.error instanceof NoActorError, String(later.error));
      }
    });
  });

  test('a configure hook that never settles: rejected after configTimeout, the actor replaced, later changes work', async () => {
    await withDispatcher({ app, actors: 2, configTimeout: 300, canary: false }, async (d) => {
      const t0 = Date.now();
      const r = await outcome(d.configure({ hangConfigure: 1 }));
      assert.ok(r.error instanceof ConfigRejectedError, String(r.error));
      assert.ok(r.error.cause instanceof TimeoutError, String(r.error.cause));
      assert.ok(Date.now() - t0 < 3_000);
      await until(() => d.snapshot().actors[1].restarts === 1, 5_000, 'the stuck actor replaced');
      assert.deepEqual(await d.configure({ v: 5 }), { version: 2 });
    });
  });

  test('a restarted actor catching up gets only the keys that changed, not the whole config', async () => {
    await withDispatcher({ app, actors: 1, config: { initOnly: 1, a: 1 } }, async (d) => {
      await d.configure({ a: 2 });
      // The catch-up path: crash the actor while a newer version exists than its init config would be.
      await outcome(d.request({ op: 'exit' }));
      await until(() => d.snapshot().actors[0].state === 'ready', 5_000);
      await d.configure({ b: 1 });
      assert.deepEqual(await d.request({ op: 'lastChange' }), { b: 1 });
    });
  });
});

describe('close is bounded', () => {
  test('an app close hook that hangs: close({ grace }) still ends', async () => {
    const d = await createDispatcher({ app, actors: 2, closeTimeout: 60_000 });
    await d.configure({ hangClose: true });
    const t0 = Date.now();
    await d.close({ grace: 200 });
    assert.ok(Date.now() - t0 < 3_000, `close took ${Date.now() - t0} ms`);
  });

  test('a second close({ grace }) bounds a close already under way', async () => {
    const d = await createDispatcher({ app, actors: 1, closeTimeout: 60_000 });
    await d.configure({ hangClose: true });
    const first = d.close();
    const t0 = Date.now();
    await d.close({ grace: 100 });
    await first;
    assert.ok(Date.now() - t0 < 3_000);
  });

  test('a close hook that hangs while recycling does not keep the retired thread', async () => {
    await withDispatcher({ app, actors: 1, closeTimeout: 200, maxRequestsPerActor: 3 }, async (d) => {
      const threads = threadCount();
      await d.configure({ hangClose: true });
      for (let i = 0; i < 4; i++) await d.request({ op: 'echo', value: i });
      await until(() => d.snapshot().actors[0].restarts >= 1, 5_000, 'recycled');
      // The retired actor's close hook never returns: its thread ends after closeTimeout anyway.
      await until(() => threadCount() <= threads, 5_000, 'the retired thread ended');
    });
  });
});

describe('close is bounded (continued)', () => {
  test("close({ grace: 0 }) does not wait for a replacement's slow init", async () => {
    const d = await createDispatcher({ app, actors: 1 });
    await d.configure({ initDelay: 8_000 });
    await outcome(d.request({ op: 'exit' }));
    await until(() => d.snapshot().actors[0].state === 'init', 2_000, 'a replacement warming up');
    const t0 = Date.now();
    await d.close({ grace: 0 });
    assert.ok(Date.now() - t0 < 2_000, `close took ${Date.now() - t0} ms`);
  });
});

describe('the heap limit', () => {
  test('one blocked actor does not keep the heap check from the others', async () => {
    // Parking off: the next request must go to the idle actor even before the blocked loop shows as held.
    await withDispatcher({ app, actors: 2, maxHeapMB: 40, park: false }, async (d) => {
      const blocked = d.request({ op: 'busy', ms: 4_000 });
      await until(() => d.snapshot().actors.some((a) => a.inFlight === 1), 1_000);
      const busyId = d.snapshot().actors.find((a) => a.inFlight === 1).id;
      const grown = await d.request({ op: 'grow', mb: 60 });
      assert.notEqual(grown.actorId, busyId);
      await until(() => d.snapshot().actors[grown.actorId].restarts === 1, 3_000, 'the grown actor recycled');
      assert.equal(await blocked, 'finished busy');
    });
  });
});

describe('stalled actors', () => {
  test('an actor blocked in a loop takes no new requests; the snapshot says stalled', async () => {
    await withDispatcher({ app, actors: 2, stallAfter: 100 }, async (d) => {
      const stalls = [];
      d.subscribe((ev) => {
        if (ev.type === '@troupe.stall') stalls.push(ev.stalled);
      });
      const blocked = d.request({ op: 'busy', ms: 1_500 });
      await until(() => d.snapshot().actors.some((a) => a.stalled), 2_000, 'a stalled actor');
      const stalledId = d.snapshot().actors.find((a) => a.stalled).id;
      const burst = await Promise.all(
        Array.from({ length: 30 }, (_, i) => d.request({ op: 'echo', value: i })),
      );
      for (const r of burst) assert.notEqual(r.actorId, stalledId);
      assert.equal(await blocked, 'finished busy');
      await until(() => !d.snapshot().actors.some((a) => a.stalled), 2_000, 'no longer stalled');
      // The inspector hears both edges.
      assert.deepEqual(stalls, [true, false]);
    });
  });

  test('stalled past stallTimeout: the actor is replaced like a crash', async () => {
    await withDispatcher({ app, actors: 1, stallAfter: 100, stallTimeout: 400 }, async (d) => {
      const heard = [];
      d.subscribe((ev) => {
        if (ev.type === '@troupe.stall') heard.push(`stall ${ev.stalled}`);
        if (ev.type === '@troupe.restart') heard.push('restart');
      });
      const r = await outcome(d.request({ op: 'busy', ms: 60_000 }));
      assert.equal(r.ok, false);
      await until(() => d.snapshot().actors[0].state === 'ready', 5_000, 'replacement ready');
      // The replacement does not inherit the stall: it is over before the new actor takes the slot,
      // and the new actor's heartbeat is not compared with the one its predecessor stalled on.
      assert.deepEqual(heard, ['stall true', 'stall false', 'restart']);
      assert.equal(d.snapshot().actors[0].stalled, undefined);
      assert.equal(d.snapshot().actors[0].restarts, 1);
      assert.equal((await d.request({ op: 'echo', value: 1 })).value, 1);
    });
  });

  test('the watchdog drops a handler that ignores its timeout on a free thread; its neighbours finish', async () => {
    await withDispatcher({ app, actors: 1, killAfter: 100 }, async (d) => {
      const hung = outcome(d.request({ op: 'hang' }, { timeout: 100 }));
      const neighbour = d.request({ op: 'sleep', ms: 600 });
      const r = await hung;
      assert.ok(r.error instanceof TimeoutError);
      assert.ok(await neighbour, 'the neighbour finished normally');
      await until(() => d.snapshot().actors[0].restarts === 1, 5_000, 'replaced make-before-break');
    });
  });
});

describe('failed slots heal', () => {
  test('a failed slot shows when it is retried, and reload() brings it back', async () => {
    await withDispatcher({ app, actors: 2, maxRestarts: 0, config: {} }, async (d) => {
      await outcome(d.request({ op: 'exit' }, { key: 'k' }));
      await until(() => d.snapshot().actors.some((a) => a.state === 'failed'), 5_000, 'a failed slot');
      const failed = d.snapshot().actors.find((a) => a.state === 'failed');
      assert.ok(failed.retryAt > Date.now(), 'the next try is scheduled');
      await d.reload();
      await until(() => d.snapshot().actors.every((a) => a.state === 'ready'), 5_000, 'healed');
      assert.equal(d.snapshot().degraded, false);
      assert.equal(d.snapshot().state, 'running');
    });
  });
});

describe('request bodies', () => {
  test('a body source that never ends is closed when its request times out', async () => {
    await withDispatcher({ app, actors: 1 }, async (d) => {
      let closed = false;
      const body = {
        [Symbol.asyncIterator]() {
          return {
            next: () => new Promise(() => {}),
            return: async () => {
              closed = true;
              return { done: true, value: undefined };
            },
          };
        },
      };
      const r = await outcome(d.request({ op: 'bodyBytes' }, { body, timeout: 100 }));
      assert.ok(r.error instanceof TimeoutError);
      await until(() => closed, 2_000, 'return() called');
    });
  });
});
