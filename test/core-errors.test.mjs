import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AbortError,
  createDispatcher,
  DataCloneError,
  HandlerError,
  InvalidArgumentError,
  TimeoutError,
} from 'troupe';
import { fixture, until, withDispatcher } from './helpers/util.mjs';

describe('errors', () => {
  test('a handler that throws rejects that request with the same name and message; the rest go on', async () => {
    await withDispatcher({ app: fixture('basic-app.mjs'), actors: 1 }, async (d) => {
      const around = [d.request({ op: 'sleep', ms: 30 }), d.request({ op: 'echo', value: 1 })];
      await assert.rejects(d.request({ op: 'throw', message: 'no such range' }), (e) => {
        assert.ok(e instanceof HandlerError);
        assert.equal(e.name, 'RangeError');
        assert.equal(e.message, 'no such range');
        assert.equal(e.code, 'E_APP_RANGE', "the app's own code is kept");
        assert.equal(e.actorId, 0);
        assert.match(e.remoteStack, /basic-app\.mjs/);
        return true;
      });
      await assert.rejects(d.request({ op: 'reject' }), { name: 'TypeError', message: 'async failure' });
      await Promise.all(around);
      assert.equal((await d.request({ op: 'echo', value: 2 })).value, 2);
      assert.equal(d.snapshot().actors[0].restarts, 0, 'the actor was not replaced');
    });
  });

  test('a payload or result that cannot be cloned rejects with DataCloneError and the dispatcher keeps working', async () => {
    await withDispatcher({ app: fixture('basic-app.mjs'), actors: 1 }, async (d) => {
      const batch = [
        d.request({ op: 'echo', value: 'before' }),
        d.request({ op: 'echo', f() {} }),
        d.request({ op: 'echo', value: 'after' }),
      ];
      const [a, b, c] = await Promise.allSettled(batch);
      assert.equal(a.value.value, 'before', 'a bad payload does not sink the batch it was sent with');
      assert.ok(b.reason instanceof DataCloneError);
      assert.equal(b.reason.code, 'ERR_TROUPE_DATA_CLONE');
      assert.match(b.reason.message, /payload cannot be sent/);
      assert.equal(c.value.value, 'after');
      await assert.rejects(d.request(Symbol('x')), DataCloneError);
      await assert.rejects(
        d.request({ op: 'uncloneable' }),
        (e) => e instanceof DataCloneError && /result/.test(e.message),
      );
      await assert.rejects(
        d.request({ op: 'count', n: 2 }),
        (e) => /stream\(\)/.test(e.message),
        'an iterator asks for stream()',
      );
      assert.equal((await d.request({ op: 'echo', value: 3 })).value, 3);
      assert.equal(d.snapshot().actors[0].inFlight, 0);
    });
  });

  test('an AbortSignal aborts a queued request at once and a running one through ctx.signal', async () => {
    await withDispatcher({ app: fixture('probe-app.mjs'), actors: 1, concurrency: 1 }, async (d) => {
      const probe = new Int32Array(new SharedArrayBuffer(16));
      const running = new AbortController();
      const first = d.request({ op: 'wait-abort', probe }, { signal: running.signal });
      const queued = new AbortController();
      const second = d.request({ op: 'whoami' }, { signal: queued.signal });
      await until(() => d.snapshot().queued === 1);
      queued.abort();
      await assert.rejects(second, (e) => e instanceof AbortError && e.code === 'ERR_TROUPE_ABORTED');
      assert.equal(d.snapshot().queued, 0);
      running.abort(new Error('user left'));
      await assert.rejects(first, AbortError);
      await until(() => Atomics.load(probe, 2) === 1, 2000, 'ctx.signal to abort in the actor');
      await until(() => d.snapshot().actors[0].inFlight === 0);
      // An already-aborted signal never dispatches.
      await assert.rejects(d.request({ op: 'whoami' }, { signal: AbortSignal.abort() }), AbortError);
      assert.equal((await d.request({ op: 'whoami' })).actorId, 0);
    });
  });

  test('a timeout rejects with TimeoutError and aborts ctx.signal', async () => {
    await withDispatcher({ app: fixture('probe-app.mjs'), actors: 1 }, async (d) => {
      const probe = new Int32Array(new SharedArrayBuffer(16));
      await assert.rejects(d.request({ op: 'wait-abort', probe }, { timeout: 50 }), (e) => {
        assert.ok(e instanceof TimeoutError);
        assert.equal(e.timeout, 50);
        return true;
      });
      await until(() => Atomics.load(probe, 2) === 1, 2000, 'ctx.signal to abort');
      assert.equal(
        await d.request({ op: 'last-abort' }),
        'The request was cancelled: it ran past its timeout.',
      );
    });
  });

  test('bad request options get a typed error', async () => {
    await withDispatcher({ app: fixture('basic-app.mjs'), actors: 1 }, async (d) => {
      for (const key of [42, {}, null, Symbol('k')]) {
        await assert.rejects(d.request(1, { key }), InvalidArgumentError);
      }
      await assert.rejects(d.request(1, { timeout: -5 }), InvalidArgumentError);
      const it = d.stream(1, { key: 7 });
      await assert.rejects(it.next(), InvalidArgumentError);
    });
  });
});

describe('entry', () => {
  test("entry: 'fetch' on an app without fetch() fails startup with the reason; a bad entry is refused", async () => {
    await assert.rejects(
      createDispatcher({ app: fixture('basic-app.mjs'), actors: 1, entry: 'fetch' }),
      (e) => e.code === 'ERR_TROUPE_APP_LOAD' && /has no fetch\(\)/.test(e.message),
    );
    await assert.rejects(
      createDispatcher({ app: fixture('basic-app.mjs'), actors: 1, entry: 'serve' }),
      InvalidArgumentError,
    );
  });
});

describe('inspection of outcomes', () => {
  test("a request's done event says ok for a result and error for a handler error", async () => {
    const done = new Map();
    const d = await createDispatcher({
      app: fixture('basic-app.mjs'),
      actors: 1,
      inspect: (ev) => {
        if (ev.type === '@troupe.done') done.set(ev.requestId, ev.outcome);
      },
    });
    try {
      await d.request({ op: 'echo', value: 1 });
      await assert.rejects(d.request({ op: 'throw' }), HandlerError);
      assert.deepEqual([...done.values()], ['ok', 'error']);
    } finally {
      await d.close();
    }
  });
});
