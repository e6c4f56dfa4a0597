import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigRejectedError, InvalidArgumentError } from 'troupe';
import { fixture, until, withDispatcher } from './helpers/util.mjs';

describe('live config', () => {
  test('each change is version n+1 and every actor runs it when configure resolves', async () => {
    await withDispatcher(
      {
        app: fixture('probe-app.mjs'),
        actors: 3,
        config: { value: 0, name: 'x' },
      },
      async (d) => {
        assert.equal(d.snapshot().configVersion, 1);
        for (let v = 1; v <= 5; v++) {
          const { version } = await d.configure({ value: v });
          assert.equal(version, v + 1);
          const snap = d.snapshot();
          assert.ok(snap.actors.every((a) => a.configVersion === version));
          assert.deepEqual(snap.config, { value: v, name: 'x' }, 'a shallow merge over the previous config');
          for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) {
            const seen = await d.request({ op: 'version' }, { key });
            assert.equal(seen.configVersion, version);
            assert.deepEqual(seen.config, { value: v, name: 'x' });
          }
        }
      },
    );
  });

  test('1,000 requests interleaved with 50 changes: each sees one version, never older than the last resolved', async () => {
    await withDispatcher({ app: fixture('probe-app.mjs'), actors: 3, config: { value: 0 } }, async (d) => {
      let resolvedVersion = 1;
      const checks = [];
      const changes = [];
      for (let i = 0; i < 1000; i++) {
        const floor = resolvedVersion;
        checks.push(
          d
            .request({ op: i % 10 === 0 ? 'slow-version' : 'version', ms: 3 }, { key: `k${i % 17}` })
            .then((r) => {
              assert.ok(r.configVersion >= floor, `request sent at v${floor} ran under v${r.configVersion}`);
              // The frozen snapshot matches its version: value n was set by version n+1.
              const value = r.config?.value ?? r.seen;
              assert.equal(value, r.configVersion - 1);
            }),
        );
        if (i % 20 === 10) {
          const value = changes.length + 1;
          changes.push(
            d.configure({ value }).then(({ version }) => {
              assert.equal(version, value + 1);
              resolvedVersion = Math.max(resolvedVersion, version);
            }),
          );
        }
        if (i % 7 === 0) await new Promise((r) => setImmediate(r));
      }
      await Promise.all(changes);
      await Promise.all(checks);
      assert.equal(changes.length, 50);
      assert.equal(d.snapshot().configVersion, 51);
    });
  });

  test('all-or-nothing: a hook that throws rejects the change, every actor stays on n, the bad actor is replaced', async () => {
    for (const canary of [true, false]) {
      await withDispatcher(
        {
          app: fixture('probe-app.mjs'),
          actors: 3,
          config: { value: 1 },
          canary,
        },
        async (d) => {
          const threadsBefore = d.snapshot().actors.map((a) => a.threadId);
          await assert.rejects(d.configure({ value: 2, poison: 1 }), (e) => {
            assert.ok(e instanceof ConfigRejectedError);
            assert.equal(e.code, 'ERR_TROUPE_CONFIG_REJECTED');
            assert.equal(e.actorId, 1);
            assert.equal(e.version, 2);
            assert.match(e.message, /actor 1 rejects this change/);
            return true;
          });
          const snap = d.snapshot();
          assert.equal(snap.configVersion, 1);
          assert.deepEqual(snap.config, { value: 1 });
          for (const key of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) {
            const seen = await d.request({ op: 'version' }, { key });
            assert.equal(seen.configVersion, 1);
            assert.deepEqual(seen.config, { value: 1 });
          }
          // The actor whose hook threw is replaced by a fresh one started from the last good config.
          await until(
            () =>
              d.snapshot().actors[1].threadId !== threadsBefore[1] &&
              d.snapshot().actors[1].state === 'ready',
          );
          const after = d.snapshot().actors;
          assert.equal(after[1].configVersion, 1);
          assert.equal(after[0].threadId, threadsBefore[0]);
          assert.equal(after[2].threadId, threadsBefore[2]);
          // And the dispatcher takes the next good change.
          assert.deepEqual(await d.configure({ value: 3 }), { version: 2 });
          assert.ok(d.snapshot().actors.every((a) => a.configVersion === 2));
        },
      );
    }
  });

  test("a change that fails the app's own validation is rejected by the canary alone", async () => {
    await withDispatcher({ app: fixture('probe-app.mjs'), actors: 3, config: { value: 1 } }, async (d) => {
      const before = d.snapshot().actors.map((a) => a.threadId);
      await assert.rejects(d.configure({ value: 'not a number' }), ConfigRejectedError);
      await until(
        () =>
          d.snapshot().actors.every((a) => a.state === 'ready') &&
          d.snapshot().actors.some((a, i) => a.threadId !== before[i]),
      );
      const after = d.snapshot().actors.map((a) => a.threadId);
      assert.equal(after.filter((t, i) => t !== before[i]).length, 1, 'only the canary was touched');
    });
  });

  test('an actor started later runs init with the latest good config', async () => {
    await withDispatcher({ app: fixture('probe-app.mjs'), actors: 2, config: { value: 1 } }, async (d) => {
      await d.configure({ value: 9 });
      await d.reload();
      for (const key of ['a', 'b', 'c', 'd']) {
        assert.deepEqual(await d.request({ op: 'version' }, { key }), {
          configVersion: 2,
          config: { value: 9 },
        });
      }
    });
  });

  test('a change that is not a plain object is refused with a typed error', async () => {
    await withDispatcher({ app: fixture('probe-app.mjs'), actors: 1 }, async (d) => {
      for (const bad of [null, 42, 'x', [1], new Map(), new (class Foo {})()]) {
        await assert.rejects(d.configure(bad), InvalidArgumentError);
      }
      await assert.rejects(d.configure({ fn() {} }), (e) => e.code === 'ERR_TROUPE_DATA_CLONE');
      assert.equal(d.snapshot().configVersion, 1);
    });
  });
});
