import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createDispatcher, InvalidArgumentError } from 'troupe';
import { fixture, until } from './helpers/util.mjs';

const app = fixture('observe-app.mjs');

/**
 * Within the histogram's precision (two significant digits) of `expected`, or above it by at most `slack`
 * ms; a timer may fire up to a millisecond early (libuv's loop clock has ms resolution).
 */
function near(actual, expected, slack, what) {
  assert.ok(
    actual >= expected * 0.99 - 1 && actual <= expected * 1.01 + slack,
    `${what}: ${actual} ms, expected ${expected} ms (+ up to ${slack} ms)`,
  );
}

describe('dispatcher.metrics()', () => {
  test('run time histogram: count exact, percentiles and buckets match a known workload', async () => {
    const d = await createDispatcher({ app, actors: 1 });
    try {
      // One at a time: nothing waits, and run times are the sleeps (plus the round trip).
      for (let i = 0; i < 8; i++) await d.request({ op: 'sleep', ms: 10 });
      for (let i = 0; i < 2; i++) await d.request({ op: 'sleep', ms: 300 });
      const m = await d.metrics({ buckets: [5, 150, 1000] });
      assert.equal(m.completed, 10);
      assert.deepEqual(m.failed, {});
      assert.equal(m.run.count, 10);
      assert.equal(m.wait.count, 10);
      near(m.run.min, 10, 100, 'run min');
      near(m.run.p50, 10, 100, 'run p50');
      near(m.run.p90, 300, 140, 'run p90');
      near(m.run.max, 300, 140, 'run max');
      assert.ok(m.run.p99 >= m.run.p90 && m.run.p999 <= m.run.max * 1.01, 'percentiles are ordered');
      const mean = (8 * 10 + 2 * 300) / 10;
      near(m.run.mean, mean, 100, 'run mean');
      assert.deepEqual(m.run.buckets, [0, 8, 10], 'cumulative counts ≤ 5, 150, 1000 ms');
      assert.ok(m.wait.max < 5, `nothing queued, yet the wait max is ${m.wait.max} ms`);
      assert.deepEqual(m.wait.buckets, [10, 10, 10]);
      const [a] = m.actors;
      assert.equal(a.completed, 10);
      assert.equal(a.run.count, 10);
      assert.deepEqual(a.run.buckets, [0, 8, 10]);
      assert.equal(m.recording, true);
      assert.equal(m.configVersion, 1);
    } finally {
      await d.close();
    }
  });

  test('queue wait: requests behind a busy actor wait as long as those before them run', async () => {
    const d = await createDispatcher({ app, actors: 1, concurrency: 1 });
    try {
      const took = [];
      const all = [];
      for (let i = 0; i < 4; i++) {
        const t0 = performance.now();
        all.push(d.request({ op: 'sleep', ms: 100 }).then(() => took.push(performance.now() - t0)));
      }
      await Promise.all(all);
      const { wait, run } = await d.metrics({ buckets: [50, 1e6] });
      assert.equal(wait.count, 4);
      assert.equal(run.count, 4);
      // Waits of at least 0, 100, 200 and 300 ms: each starts when the one before it ended.
      assert.ok(wait.min < 50, `first wait ${wait.min}`);
      assert.ok(wait.max >= 300 * 0.99 - 3, `last wait ${wait.max}`);
      assert.ok(wait.p50 >= 100 * 0.99 - 1, `median wait ${wait.p50}`);
      assert.deepEqual(wait.buckets, [1, 4]);
      // What the router measured fits in what the caller saw.
      const longest = Math.max(...took);
      assert.ok(wait.max + run.min <= longest * 1.01, `wait ${wait.max} + run ${run.min} > ${longest}`);
      near(run.min, 100, longest - 100, 'shortest run');
    } finally {
      await d.close();
    }
  });

  test('failures by code, per actor and unplaced; streams and streams left early', async () => {
    const d = await createDispatcher({ app, actors: 2, concurrency: 1, maxQueue: 0 });
    try {
      for (let i = 0; i < 3; i++) {
        await assert.rejects(d.request({ op: 'fail', code: 'E_APP' }, { key: 'k' }));
      }
      await assert.rejects(d.request({ op: 'fail' }, { key: 'k' }), { code: 'ERR_TROUPE_HANDLER' });
      await assert.rejects(d.request({ op: 'sleep', ms: 200 }, { key: 'k', timeout: 20 }), {
        code: 'ERR_TROUPE_TIMEOUT',
      });
      // The timed-out handler still runs: wait for its end, then keep both actors busy.
      await until(async () => (await d.metrics()).run.count === 5, 5_000, 'the timed-out handler to end');
      // Both actors busy, no queue: refused before reaching an actor.
      const busy = [d.request({ op: 'sleep', ms: 100 }), d.request({ op: 'sleep', ms: 100 })];
      await assert.rejects(d.request({ op: 'sleep', ms: 1 }), { code: 'ERR_TROUPE_QUEUE_FULL' });
      await Promise.all(busy);
      const got = [];
      for await (const c of d.stream({ op: 'chunks', n: 3 }, { key: 'k' })) got.push(c);
      assert.deepEqual(got, [0, 1, 2]);
      for await (const c of d.stream({ op: 'chunks', n: 100, ms: 5 }, { key: 'k' })) if (c === 1) break;
      await until(async () => (await d.metrics()).run.count === 9, 5_000, 'every request to end');
      const m = await d.metrics();
      assert.deepEqual(m.failed, {
        E_APP: 3,
        ERR_TROUPE_HANDLER: 1,
        ERR_TROUPE_TIMEOUT: 1,
        ERR_TROUPE_QUEUE_FULL: 1,
      });
      assert.equal(m.completed, 3, 'the two sleeps and the whole stream');
      assert.equal(m.streams, 2);
      assert.equal(m.cancelled, 1);
      const keyed = m.actors.find((a) => a.failed.E_APP === 3);
      assert.ok(keyed !== undefined, 'the keyed actor counts its own failures');
      assert.deepEqual(keyed.failed, { E_APP: 3, ERR_TROUPE_HANDLER: 1, ERR_TROUPE_TIMEOUT: 1 });
      assert.equal(keyed.streams, 2);
      assert.equal(keyed.cancelled, 1);
      const sum = m.actors.reduce((n, a) => n + a.completed, 0);
      assert.equal(sum, m.completed);
    } finally {
      await d.close();
    }
  });

  test('restarts, rollouts committed and rejected, per actor and in all', async () => {
    const d = await createDispatcher({ app, actors: 2, canary: false, restartBackoff: 1 });
    try {
      await d.configure({ a: 1 });
      await d.configure({ a: 2 });
      await assert.rejects(d.configure({ poison: 1 }), { code: 'ERR_TROUPE_CONFIG_REJECTED' });
      await assert.rejects(d.request({ op: 'crash' }, { key: 'x' }), { code: 'ERR_TROUPE_ACTOR_CRASHED' });
      await until(() => d.snapshot().actors.every((a) => a.state === 'ready'), 10_000, 'replacements');
      const m = await d.metrics();
      assert.deepEqual(m.rollouts, { committed: 2, rejected: 1 });
      assert.deepEqual(
        m.actors.map((a) => a.rollouts),
        [
          { committed: 2, rejected: 0 },
          { committed: 2, rejected: 1 },
        ],
      );
      assert.equal(m.configVersion, 3);
      // Actor 1 was replaced for rejecting the change; the crashed one restarted.
      const snap = d.snapshot();
      assert.equal(m.restarts, 2);
      assert.deepEqual(
        m.actors.map((a) => a.restarts),
        snap.actors.map((a) => a.restarts),
      );
      assert.equal(m.failed.ERR_TROUPE_ACTOR_CRASHED, 1);
    } finally {
      await d.close();
    }
  });

  test('reset starts a new period; utilization and heap per actor', async () => {
    const d = await createDispatcher({ app, actors: 2 });
    try {
      for (let i = 0; i < 5; i++) await d.request({ op: 'sleep', ms: 1 });
      const before = await d.metrics({ reset: true });
      assert.equal(before.completed, 5);
      const after = await d.metrics();
      assert.equal(after.completed, 0);
      assert.equal(after.run.count, 0);
      assert.equal(after.restarts, 0);
      assert.ok(after.since >= before.since);
      // Keep actor 0 busy for most of the new period.
      await d.metrics({ reset: true });
      await d.request({ op: 'spin', ms: 300 }, { key: 'a' });
      const m = await d.metrics();
      const spun = m.actors.find((a) => a.completed === 1);
      const idle = m.actors.find((a) => a.completed === 0);
      assert.ok(spun.utilization > 0.5, `busy actor's utilization ${spun.utilization}`);
      assert.ok(idle.utilization < 0.2, `idle actor's utilization ${idle.utilization}`);
      for (const a of m.actors) {
        assert.ok(a.heapUsed > 1024 * 1024, `heap ${a.heapUsed}`);
        assert.equal(a.threadId, d.snapshot().actors[a.id].threadId);
      }
    } finally {
      await d.close();
    }
  });

  test('metrics: false records no request, still reports actors; bad options are refused', async () => {
    await assert.rejects(createDispatcher({ app, metrics: 'yes' }), InvalidArgumentError);
    const d = await createDispatcher({ app, actors: 1, metrics: false });
    try {
      await d.request({ op: 'sleep', ms: 1 });
      const m = await d.metrics();
      assert.equal(m.recording, false);
      assert.equal(m.completed, 0);
      assert.equal(m.run.count, 0);
      assert.ok(m.actors[0].utilization >= 0);
      await assert.rejects(d.metrics({ buckets: [-1] }), InvalidArgumentError);
      await assert.rejects(d.metrics({ buckets: 'x' }), InvalidArgumentError);
      await assert.rejects(d.metrics(7), InvalidArgumentError);
    } finally {
      await d.close();
    }
  });
});
