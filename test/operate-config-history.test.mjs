import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigRejectedError, createDispatcher, InvalidArgumentError } from 'troupe';
import { fixture } from './helpers/util.mjs';

test('configHistory(): the initial config, then each proposal with who asked, what changed and each verdict', async () => {
  const d = await createDispatcher({
    app: fixture('probe-app.mjs'),
    actors: 3,
    canary: false,
    config: { value: 0, name: 'x' },
  });
  try {
    const first = d.configHistory();
    assert.equal(first.length, 1);
    assert.equal(first[0].version, 1);
    assert.equal(first[0].by, 'initial');
    assert.equal(first[0].outcome, 'accepted');
    assert.deepEqual(first[0].change, { value: 0, name: 'x' });

    assert.deepEqual(await d.configure({ value: 1 }, { by: 'ada' }), { version: 2 });
    await assert.rejects(d.configure({ poison: 1 }, { by: 'eve' }), ConfigRejectedError);
    // No `by`: the record says nobody in particular; the rejected version number is reused.
    assert.deepEqual(await d.configure({ name: 'y', extra: true }), { version: 3 });
    // Bad input never reaches the rollout and is no version at all.
    await assert.rejects(d.configure([1, 2], { by: 'bob' }), InvalidArgumentError);
    await assert.rejects(d.configure({ value: 2 }, { by: 42 }), InvalidArgumentError);
    await assert.rejects(d.configure({ value: 2 }, { by: '' }), InvalidArgumentError);

    const h = d.configHistory();
    assert.deepEqual(
      h.map((r) => [r.version, r.outcome, r.by]),
      [
        [1, 'accepted', 'initial'],
        [2, 'accepted', 'ada'],
        [3, 'rejected', 'eve'],
        [3, 'accepted', undefined],
      ],
    );
    assert.deepEqual(h[1].changes, [{ key: 'value', from: 0, to: 1 }]);
    assert.deepEqual(h[1].acks.toSorted(), [0, 1, 2]);
    assert.deepEqual(h[1].rejects, []);
    assert.ok(h[1].settledAt >= h[1].at);

    assert.deepEqual(
      h[2].rejects.map((r) => r.actorId),
      [1],
    );
    assert.match(h[2].rejects[0].error, /actor 1 rejects this change/);
    assert.deepEqual(h[2].acks.toSorted(), [0, 2]);
    assert.deepEqual(h[2].rolledBack.toSorted(), [0, 2]);
    assert.deepEqual(h[2].changes, [{ key: 'poison', to: 1 }]);

    assert.deepEqual(h[3].changes, [
      { key: 'name', from: 'x', to: 'y' },
      { key: 'extra', to: true },
    ]);
    // Copies: editing what was returned does not edit the trail.
    h[1].by = 'mallory';
    assert.equal(d.configHistory()[1].by, 'ada');
    assert.equal(d.snapshot().configVersion, 3);
  } finally {
    await d.close();
  }
});

test('the rollout start event names who asked, for every listener', async () => {
  const events = [];
  const d = await createDispatcher({
    app: fixture('probe-app.mjs'),
    actors: 1,
    inspect: (e) => e.type === '@troupe.config' && e.phase === 'start' && events.push(e),
  });
  try {
    await d.configure({ value: 1 }, { by: 'ada' });
    await d.configure({ value: 2 });
    assert.deepEqual(
      events.map((e) => [e.version, e.by]),
      [
        [2, 'ada'],
        [3, undefined],
      ],
    );
  } finally {
    await d.close();
  }
});

test('configHistory(): concurrent changes are recorded in rollout order, each with its own caller', async () => {
  const d = await createDispatcher({ app: fixture('probe-app.mjs'), actors: 2, config: { value: 0 } });
  try {
    const same = { value: 7 };
    const results = await Promise.allSettled([
      d.configure({ value: 1 }, { by: 'a' }),
      d.configure(same, { by: 'b' }),
      d.configure({ value: 'nope' }, { by: 'c' }),
      d.configure(same, { by: 'd' }),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
    );
    const h = d.configHistory().slice(1);
    assert.deepEqual(
      h.map((r) => [r.version, r.by, r.outcome]),
      [
        [2, 'a', 'accepted'],
        [3, 'b', 'accepted'],
        [4, 'c', 'rejected'],
        [4, 'd', 'accepted'],
      ],
    );
    // The fourth sets the value the second already set: from and to are the same, as it was committed.
    assert.deepEqual(h[3].changes, [{ key: 'value', from: 7, to: 7 }]);
  } finally {
    await d.close();
  }
});
