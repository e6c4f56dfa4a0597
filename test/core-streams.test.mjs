import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createDispatcher } from 'troupe';
import { fixture, until } from './helpers/util.mjs';

const WINDOW = 64; // chunks a stream may run ahead of its consumer (protocol STREAM_WINDOW)
const WINDOW_BYTES = 1024 * 1024; // bytes of binary chunks it may run ahead (STREAM_WINDOW_BYTES)

describe('streams', () => {
  test('a consumer that stops reading stops the handler from being pulled past a small window', async () => {
    const d = await createDispatcher({ app: fixture('probe-app.mjs'), actors: 1 });
    try {
      const probe = new Int32Array(new SharedArrayBuffer(16));
      const it = d.stream({ op: 'produce', probe });
      await it.next();
      await new Promise((r) => setTimeout(r, 200)); // plenty of time for a runaway producer
      const pulled = Atomics.load(probe, 0);
      assert.ok(pulled <= WINDOW + 1, `pulled ${pulled} chunks while the consumer held 1`);
      // Reading on releases credit, and the producer resumes.
      for (let i = 0; i < WINDOW + 40; i++) await it.next();
      await until(() => Atomics.load(probe, 0) > WINDOW + 40, 2000, 'the producer to resume');
      assert.ok(Atomics.load(probe, 0) <= 2 * WINDOW + 42);
      await it.return();
    } finally {
      await d.close();
    }
  });

  test('binary chunks are also held to a byte window: a stopped consumer leaves at most ~1 MiB in flight', async () => {
    const d = await createDispatcher({ app: fixture('probe-app.mjs'), actors: 1 });
    try {
      const probe = new Int32Array(new SharedArrayBuffer(16));
      const size = 64 * 1024;
      const it = d.stream({ op: 'buffers', probe, n: 1000, size, count: true });
      await it.next();
      await new Promise((r) => setTimeout(r, 200));
      const pulled = Atomics.load(probe, 0);
      assert.ok(
        pulled * size <= WINDOW_BYTES + 2 * size,
        `pulled ${pulled} chunks of 64 KiB while the consumer held 1`,
      );
      let n = 1;
      for await (const _ of it) n++;
      assert.equal(n, 1000, 'and it runs to the end once read');
    } finally {
      await d.close();
    }
  });

  test('leaving the for-await early runs the iterator’s return and aborts ctx.signal in the actor', async () => {
    const d = await createDispatcher({ app: fixture('probe-app.mjs'), actors: 1 });
    try {
      const probe = new Int32Array(new SharedArrayBuffer(16));
      let n = 0;
      for await (const chunk of d.stream({ op: 'produce', probe })) {
        assert.equal(chunk.i, n);
        if (++n === 5) break;
      }
      await until(() => Atomics.load(probe, 1) === 1, 2000, 'the iterator to be returned');
      assert.equal(Atomics.load(probe, 2), 1, 'ctx.signal aborted');
      await until(() => d.snapshot().actors[0].state === 'ready' && d.snapshot().actors[0].inFlight === 0);
      // The actor goes on serving.
      assert.equal((await d.request({ op: 'whoami' })).actorId, 0);
    } finally {
      await d.close();
    }
  });

  test('chunks the app marks with move() are transferred, not copied, and arrive whole and in order', async () => {
    const d = await createDispatcher({ app: fixture('probe-app.mjs'), actors: 1 });
    try {
      const probe = new Int32Array(new SharedArrayBuffer(16));
      const sizes = [];
      let i = 0;
      for await (const chunk of d.stream({ op: 'buffers', probe, n: 20, size: 65536 })) {
        assert.ok(chunk instanceof Uint8Array);
        assert.equal(chunk[0], i % 256);
        assert.equal(chunk[65535], i % 256);
        sizes.push(chunk.byteLength);
        i++;
      }
      assert.equal(sizes.length, 20);
      assert.ok(sizes.every((s) => s === 65536));
      // Each buffer was detached in the actor once sent: transferred, not cloned.
      assert.equal(Atomics.load(probe, 3), 20);
    } finally {
      await d.close();
    }
  });

  test('a stream answered whole (one chunk in an array): its chunk, then its end; moved bytes move; an uncloneable chunk fails alone', async () => {
    const d = await createDispatcher({ app: fixture('probe-app.mjs'), actors: 1 });
    const all = async (payload) => {
      const out = [];
      for await (const chunk of d.stream(payload)) out.push(chunk);
      return out;
    };
    try {
      assert.deepEqual(await all({ op: 'whole' }), [{ whole: 0 }]);
      const probe = new Int32Array(new SharedArrayBuffer(16));
      const [bytes] = await all({ op: 'whole', kind: 'moved', probe });
      assert.equal(bytes.byteLength, 1024);
      assert.equal(bytes[1023], 9);
      await until(() => Atomics.load(probe, 3) === 1, 2_000, 'the buffer detached in the actor');
      await assert.rejects(
        all({ op: 'whole', kind: 'uncloneable' }),
        (err) => err.name === 'DataCloneError' && /stream chunk/.test(err.message),
      );
      assert.deepEqual(await all({ op: 'whole' }), [{ whole: 0 }], 'the actor goes on');
      assert.equal(d.snapshot().actors[0].inFlight, 0);
    } finally {
      await d.close();
    }
  });

  test('chunks not marked with move() are copied: the app keeps its buffers', async () => {
    const d = await createDispatcher({ app: fixture('probe-app.mjs'), actors: 1 });
    try {
      const probe = new Int32Array(new SharedArrayBuffer(16));
      let n = 0;
      for await (const chunk of d.stream({ op: 'buffers', probe, n: 5, size: 1024, move: false })) {
        assert.equal(chunk.byteLength, 1024);
        n++;
      }
      assert.equal(n, 5);
      assert.equal(Atomics.load(probe, 3), 0);
    } finally {
      await d.close();
    }
  });

  test('a whole request stays on one actor: start, every chunk, cancel and end', async () => {
    const d = await createDispatcher({ app: fixture('probe-app.mjs'), actors: 3 });
    try {
      for (let r = 0; r < 6; r++) {
        const probe = new Int32Array(new SharedArrayBuffer(16));
        const threads = new Set();
        let n = 0;
        for await (const chunk of d.stream({ op: 'produce', probe }, r % 2 ? { key: `k${r}` } : undefined)) {
          threads.add(chunk.threadId);
          if (++n === 30) break;
        }
        assert.equal(threads.size, 1, 'every chunk came from one actor');
        // The cancel reached that same actor: its iterator (which lives there) was returned.
        await until(() => Atomics.load(probe, 1) === 1, 2000, 'cancel in the actor that ran the stream');
      }
      // A keyed stream and keyed requests share the actor (loads even: nothing else in flight).
      const probe = new Int32Array(new SharedArrayBuffer(16));
      const chunks = [];
      for await (const c of d.stream({ op: 'produce', probe, limit: 3 }, { key: 'same' }))
        chunks.push(c.threadId);
      const who = await d.request({ op: 'whoami' }, { key: 'same' });
      assert.deepEqual(chunks, [who.threadId, who.threadId, who.threadId]);
    } finally {
      await d.close();
    }
  });

  test('a request body streams into the actor with backpressure', async () => {
    const d = await createDispatcher({ app: fixture('probe-app.mjs'), actors: 1 });
    try {
      const probe = new Int32Array(new SharedArrayBuffer(16));
      let produced = 0;
      async function* body() {
        for (let i = 0; i < 200; i++) {
          produced++;
          yield new Uint8Array(1024);
        }
      }
      const pending = d.request({ op: 'read-body', probe, delay: 2 }, { body: body() });
      await new Promise((r) => setTimeout(r, 30));
      // The slow reader has taken only a few chunks; the source is held back within the window.
      assert.ok(
        produced - Atomics.load(probe, 0) <= WINDOW + 1,
        `produced ${produced}, read ${Atomics.load(probe, 0)}`,
      );
      assert.deepEqual(await pending, { bytes: 200 * 1024, chunks: 200 });
    } finally {
      await d.close();
    }
  });

  test('return() while a next() waits ends that next() too', async () => {
    const d = await createDispatcher({ app: fixture('basic-app.mjs'), actors: 1 });
    try {
      const it = d.stream({ op: 'count', n: 3, delay: 500 });
      const waiting = it.next();
      await it.return();
      assert.deepEqual(await waiting, { value: undefined, done: true });
      await until(() => d.snapshot().actors[0].inFlight === 0, 3000, 'the stream to end in the actor');
    } finally {
      await d.close();
    }
  });

  test('many streams interleave on one actor', async () => {
    const d = await createDispatcher({ app: fixture('basic-app.mjs'), actors: 1 });
    try {
      const runs = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const got = [];
          for await (const c of d.stream({ op: 'count', n: 50 })) got.push(c.i);
          return got;
        }),
      );
      for (const got of runs)
        assert.deepEqual(
          got,
          Array.from({ length: 50 }, (_, i) => i),
        );
    } finally {
      await d.close();
    }
  });

  describe('next() called again before the last one settled', () => {
    /** Fails the test instead of hanging it when a call never settles. */
    const settled = (promise, what, ms = 5000) => {
      let timer;
      return Promise.race([
        promise.finally(() => clearTimeout(timer)),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${what} never settled`)), ms);
        }),
      ]);
    };

    test('three next() calls made at once settle with the first three chunks, in call order', async () => {
      const d = await createDispatcher({ app: fixture('basic-app.mjs'), actors: 1 });
      try {
        const it = d.stream({ op: 'count', n: 3, delay: 20 });
        const calls = [it.next(), it.next(), it.next(), it.next()];
        const order = [];
        for (const [n, p] of calls.entries()) p.then(() => order.push(n));
        const results = await Promise.all(calls.map((p, n) => settled(p, `next() #${n + 1}`)));
        assert.deepEqual(
          results.map((r) => (r.done ? 'done' : r.value.i)),
          [0, 1, 2, 'done'],
        );
        assert.deepEqual(order, [0, 1, 2, 3]);
        assert.deepEqual(await it.next(), { value: undefined, done: true });
      } finally {
        await d.close();
      }
    });

    test('return() with two next() calls waiting ends both (done) and the stream in the actor', async () => {
      const d = await createDispatcher({ app: fixture('basic-app.mjs'), actors: 1 });
      try {
        const it = d.stream({ op: 'count', n: 3, delay: 500 });
        const first = it.next();
        const second = it.next();
        assert.deepEqual(await settled(it.return(), 'return()'), { value: undefined, done: true });
        assert.deepEqual(await settled(first, 'the first next()'), { value: undefined, done: true });
        assert.deepEqual(await settled(second, 'the second next()'), { value: undefined, done: true });
        assert.deepEqual(await it.next(), { value: undefined, done: true }, 'no chunk after return()');
        await until(() => d.snapshot().actors[0].inFlight === 0, 3000, 'the stream to end in the actor');
      } finally {
        await d.close();
      }
    });

    test('a stream that fails with calls waiting: the oldest gets the error, once; the others end', async () => {
      const d = await createDispatcher({ app: fixture('basic-app.mjs'), actors: 1 });
      try {
        const it = d.stream({ op: 'throw', message: 'no stream today' });
        const calls = [it.next(), it.next(), it.next()].map((p) =>
          settled(
            p.then(
              (r) => (r.done ? 'done' : 'chunk'),
              (e) => e.code,
            ),
            'next()',
          ),
        );
        assert.deepEqual(await Promise.all(calls), ['E_APP_RANGE', 'done', 'done']);
        assert.deepEqual(await it.next(), { value: undefined, done: true });
      } finally {
        await d.close();
      }
    });
  });
});
