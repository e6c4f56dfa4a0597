import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ClusterUnavailableError, createDispatcher } from 'troupe';
import { startNats, tcpProxy } from './helpers/cluster.mjs';
import { fixture, until } from './helpers/util.mjs';

const NODE_TIMEOUT = 2_000;

let nats;
before(async () => {
  nats = await startNats();
});
after(async () => {
  await nats?.close();
});

function startNode(name, id, servers, value = 0) {
  return createDispatcher({
    app: fixture('cluster-app.mjs'),
    actors: 2,
    config: { value },
    cluster: { servers, name, node: id, nodeTimeout: NODE_TIMEOUT, prepareTimeout: 1_000 },
  });
}

const readyCount = (d) => d.snapshot().cluster.nodes.filter((n) => n.state === 'ready').length;
const values = async (nodes) =>
  Promise.all(nodes.map(async (d) => (await d.request({ op: 'who' })).config.value));

describe('cluster partitions', () => {
  test('one node cut off: it keeps serving and reports it; configure() fails typed until it drops out; on reconnect it catches up', async () => {
    const proxy = await tcpProxy(nats.port);
    const nodes = [];
    try {
      nodes.push(await startNode('part1', 'n1', nats.url));
      nodes.push(await startNode('part1', 'n2', nats.url));
      nodes.push(await startNode('part1', 'n3', proxy.url));
      const [n1, n2, n3] = nodes;
      await until(() => nodes.every((d) => readyCount(d) === 3), 5_000, 'three ready members');
      // The inspector's timeline hears of it too.
      const seen = { n1: [], n3: [] };
      n1.subscribe((ev) => ev.type === '@troupe.cluster' && seen.n1.push(ev));
      n3.subscribe((ev) => ev.type === '@troupe.cluster' && seen.n3.push(ev));
      assert.equal((await n1.configure({ value: 1 })).version, 2);

      proxy.cut();
      await until(() => n3.snapshot().cluster.partitioned, 3_000, 'n3 to notice the partition');
      // n3 keeps serving its last committed version.
      for (let i = 0; i < 20; i++) {
        const seen = await n3.request({ op: 'who' }, { key: `k${i}` });
        assert.equal(seen.configVersion, 2);
        assert.equal(seen.config.value, 1);
      }
      // n3 itself cannot change the cluster's config while cut off.
      await assert.rejects(
        n3.configure({ value: 99 }),
        (e) => e instanceof ClusterUnavailableError && e.node === 'n3',
      );
      // Nor can the others while n3 is still a member: never commit on part of the cluster.
      const early = await n1.configure({ value: 2 }).then(
        () => assert.fail('must not commit while n3 is a member'),
        (e) => e,
      );
      assert.ok(early instanceof ClusterUnavailableError, String(early));
      assert.equal(early.node, 'n3');
      assert.deepEqual(await values(nodes), [1, 1, 1], 'nothing was applied anywhere');

      // Once n3 has dropped out of the membership, the others go on without it.
      await until(
        () => [n1, n2].every((d) => !d.snapshot().cluster.nodes.some((n) => n.id === 'n3')),
        NODE_TIMEOUT + 1_000,
        'n1 and n2 to drop n3',
      );
      assert.equal((await n1.configure({ value: 2 })).version, 3);
      assert.equal((await n2.configure({ value: 3 })).version, 4);
      assert.deepEqual(await values(nodes), [3, 3, 1], 'n3 still serves what it had');
      assert.equal(n3.snapshot().configVersion, 2);

      proxy.restore();
      await until(
        () => !n3.snapshot().cluster.partitioned && n3.snapshot().configVersion === 4,
        8_000,
        'n3 to reconnect and catch up',
      );
      await until(() => nodes.every((d) => readyCount(d) === 3), 5_000, 'three ready members again');
      assert.deepEqual(await values(nodes), [3, 3, 3]);
      assert.ok(n3.snapshot().actors.every((a) => a.configVersion === 4));
      assert.equal((await n3.configure({ value: 4 })).version, 5);
      assert.deepEqual(await values(nodes), [4, 4, 4]);
      assert.deepEqual(
        seen.n3
          .map((e) => [e.node, e.change, e.version])
          .filter(([, c]) => c !== 'joined' && c !== 'dropped'),
        [
          ['n3', 'partitioned', 2],
          ['n3', 'reconnected', 2],
          ['n3', 'caught-up', 4],
        ],
      );
      assert.deepEqual(
        seen.n1.map((e) => [e.change, e.member]),
        [
          ['dropped', 'n3'],
          ['joined', 'n3'],
        ],
      );
    } finally {
      await Promise.all(nodes.map((d) => d.close()));
      await proxy.close();
    }
  });

  test('nats-server stopped: every node keeps serving and reports it, configure() fails typed; restarted: one version everywhere', async () => {
    const nodes = [];
    try {
      for (const id of ['n1', 'n2', 'n3']) nodes.push(await startNode('part2', id, nats.url));
      await until(() => nodes.every((d) => readyCount(d) === 3), 5_000, 'three ready members');
      assert.equal((await nodes[0].configure({ value: 1 })).version, 2);

      await nats.stop();
      await until(
        () => nodes.every((d) => d.snapshot().cluster.partitioned),
        3_000,
        'every node to report it',
      );
      const results = await Promise.all(nodes.map((d) => d.request({ op: 'who' })));
      assert.deepEqual(
        results.map((r) => [r.configVersion, r.config.value]),
        [
          [2, 1],
          [2, 1],
          [2, 1],
        ],
      );
      for (const d of nodes) await assert.rejects(d.configure({ value: 5 }), ClusterUnavailableError);
      // A node cut off from NATS still stops, promptly.
      const t0 = Date.now();
      await nodes.pop().close();
      assert.ok(Date.now() - t0 < 3_000, `close took ${Date.now() - t0} ms`);
      await new Promise((r) => setTimeout(r, 1_000));

      await nats.start();
      await until(
        () => nodes.every((d) => !d.snapshot().cluster.partitioned),
        8_000,
        'every node to reconnect',
      );
      await until(() => nodes.every((d) => readyCount(d) === 2), 8_000, 'two ready members again');
      assert.equal((await nodes[1].configure({ value: 6 })).version, 3, 'the bucket kept the line');
      assert.deepEqual(await values(nodes), [6, 6]);
      for (const d of nodes) assert.equal(d.snapshot().configVersion, 3);
    } finally {
      await Promise.all(nodes.map((d) => d.close()));
    }
  });
});
