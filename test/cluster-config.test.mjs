import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { deserialize } from 'node:v8';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import {
  ClusterUnavailableError,
  ConfigConflictError,
  ConfigRejectedError,
  createDispatcher,
  InvalidArgumentError,
} from 'troupe';
import { startNats } from './helpers/cluster.mjs';
import { fixture, until } from './helpers/util.mjs';

let nats;
before(async () => {
  nats = await startNats();
});
after(async () => {
  await nats?.close();
});

let clusterSeq = 0;
/** Three nodes of a fresh cluster (its own name, so its own bucket), in this process. */
async function threeNodes(options = {}) {
  const name = `cfg${++clusterSeq}`;
  const nodes = [];
  for (const id of ['n1', 'n2', 'n3']) {
    nodes.push(
      await createDispatcher({
        app: fixture('cluster-app.mjs'),
        actors: 2,
        config: { value: 0, from: id },
        cluster: { servers: nats.url, name, node: id, nodeTimeout: 2_000, ...options },
      }),
    );
  }
  await until(
    () => nodes.every((d) => d.snapshot().cluster.nodes.filter((n) => n.state === 'ready').length === 3),
    5_000,
    'every node to see three ready members',
  );
  return nodes;
}

const closeAll = (nodes) => Promise.all(nodes.map((d) => d.close()));

describe('cluster config', () => {
  test('configure() on one node: every actor of every node runs the new version when it resolves', async () => {
    const nodes = await threeNodes();
    try {
      // The first node committed its initial config; the later ones started on it, not on their own.
      for (const d of nodes) {
        const snap = d.snapshot();
        assert.equal(snap.configVersion, 1);
        assert.deepEqual(snap.config, { value: 0, from: 'n1' });
      }
      const { version } = await nodes[1].configure({ value: 7 });
      assert.equal(version, 2);
      for (const [i, d] of nodes.entries()) {
        const snap = d.snapshot();
        assert.equal(snap.configVersion, 2, `node n${i + 1}`);
        assert.deepEqual(snap.config, { value: 7, from: 'n1' });
        assert.ok(snap.actors.every((a) => a.configVersion === 2));
        for (const key of ['a', 'b', 'c', 'd']) {
          const seen = await d.request({ op: 'who' }, { key });
          assert.equal(seen.configVersion, 2);
          assert.equal(seen.config.value, 7);
          assert.equal(seen.node, `n${i + 1}`, 'ctx.node names the node that ran the request');
        }
        assert.deepEqual(snap.cluster.nodes.map((n) => [n.id, n.state]).sort(), [
          ['n1', 'ready'],
          ['n2', 'ready'],
          ['n3', 'ready'],
        ]);
        assert.equal(snap.cluster.name.startsWith('cfg'), true);
        assert.equal(snap.cluster.node, `n${i + 1}`);
        assert.equal(snap.cluster.partitioned, false);
      }
      // Changes from different nodes, one after the other, make one version line.
      assert.equal((await nodes[2].configure({ value: 8 })).version, 3);
      assert.equal((await nodes[0].configure({ other: 'x' })).version, 4);
      await until(
        () => nodes.every((d) => d.snapshot().cluster.nodes.every((n) => n.configVersion === 4)),
        3_000,
        'heartbeats to carry version 4',
      );
      for (const d of nodes) assert.deepEqual(d.snapshot().config, { value: 8, from: 'n1', other: 'x' });
    } finally {
      await closeAll(nodes);
    }
  });

  test("a change one node's actor rejects: every node keeps the old version, and the error names node and actor", async () => {
    const nodes = await threeNodes();
    try {
      await nodes[0].configure({ value: 1 });
      const err = await nodes[0].configure({ value: 2, rejectOn: 'n3' }).then(
        () => assert.fail('the change should be rejected'),
        (e) => e,
      );
      assert.ok(err instanceof ConfigRejectedError, String(err));
      assert.equal(err.code, 'ERR_TROUPE_CONFIG_REJECTED');
      assert.equal(err.node, 'n3');
      assert.ok(err.actorId === 0 || err.actorId === 1);
      assert.equal(err.version, 3);
      assert.match(err.message, /n3/);
      assert.match(err.cause.message, /refuses rejectOn/);
      for (const d of nodes) {
        const snap = d.snapshot();
        assert.equal(snap.configVersion, 2);
        assert.equal(snap.config.value, 1);
        const seen = await d.request({ op: 'who' });
        assert.equal(seen.configVersion, 2);
        assert.equal(seen.config.value, 1);
        assert.equal(seen.config.rejectOn, undefined);
      }
      // The line goes on after a rejection: the next change is version 3, everywhere.
      assert.equal((await nodes[2].configure({ value: 3 })).version, 3);
      for (const d of nodes) assert.equal((await d.request({ op: 'who' })).config.value, 3);
    } finally {
      await closeAll(nodes);
    }
  });

  test('two concurrent configure() from two nodes: one commits, the other gets ConfigConflictError, nothing half-applied', async () => {
    const nodes = await threeNodes();
    try {
      for (let round = 0; round < 5; round++) {
        const results = await Promise.allSettled([
          nodes[0].configure({ winner: 'n1', round }),
          nodes[1].configure({ winner: 'n2', round }),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r) => r.status === 'rejected');
        assert.equal(
          won.length,
          1,
          `round ${round}: exactly one wins (${results.map((r) => r.reason?.message)})`,
        );
        assert.equal(lost.length, 1);
        assert.ok(lost[0].reason instanceof ConfigConflictError, String(lost[0].reason));
        assert.equal(lost[0].reason.code, 'ERR_TROUPE_CONFIG_CONFLICT');
        const version = won[0].value.version;
        const winner = results[0].status === 'fulfilled' ? 'n1' : 'n2';
        for (const d of nodes) {
          const snap = d.snapshot();
          assert.equal(snap.configVersion, version);
          assert.equal(snap.config.winner, winner);
          assert.equal((await d.request({ op: 'who' })).config.winner, winner);
        }
      }
    } finally {
      await closeAll(nodes);
    }
  });

  test('a member that does not prepare within prepareTimeout aborts the change everywhere', async () => {
    const nodes = await threeNodes({ prepareTimeout: 500 });
    try {
      const err = await nodes[0].configure({ value: 5, slowPrepare: 'n2' }).then(
        () => assert.fail('the change should abort'),
        (e) => e,
      );
      assert.ok(err instanceof ClusterUnavailableError, String(err));
      assert.equal(err.code, 'ERR_TROUPE_CLUSTER_UNAVAILABLE');
      assert.equal(err.node, 'n2');
      assert.match(err.message, /prepareTimeout/);
      // n2's slow prepare finishes later and is undone: nobody runs version 2.
      await until(() => nodes[1].snapshot().actors.every((a) => a.configVersion === 1), 8_000, 'n2 to abort');
      for (const d of nodes) {
        assert.equal(d.snapshot().configVersion, 1);
        assert.equal((await d.request({ op: 'who' })).config.value, 0);
      }
      // n2 is busy until its slow hooks return: a change started there meanwhile aborts, typed.
      let next;
      await until(
        async () => {
          try {
            next = await nodes[1].configure({ value: 6 });
            return true;
          } catch (e) {
            assert.ok(e instanceof ClusterUnavailableError, String(e));
            return false;
          }
        },
        15_000,
        'a change to commit once n2 is free',
      );
      assert.equal(next.version, 2);
      for (const d of nodes) {
        const seen = await d.request({ op: 'who' });
        assert.equal(seen.config.value, 6, JSON.stringify([seen, d.snapshot()]));
      }
    } finally {
      await closeAll(nodes);
    }
  });

  test('a node that starts later runs the committed version from its first request; a clean close leaves at once', async () => {
    const nodes = await threeNodes();
    const name = nodes[0].snapshot().cluster.name;
    try {
      await nodes[0].configure({ value: 41 });
      await nodes[1].configure({ value: 42 });
      const late = await createDispatcher({
        app: fixture('cluster-app.mjs'),
        actors: 2,
        config: { value: -1 },
        cluster: { servers: nats.url, name, node: 'late', nodeTimeout: 2_000 },
      });
      nodes.push(late);
      const first = await late.request({ op: 'who' });
      assert.equal(first.configVersion, 3);
      assert.equal(first.initVersion, 3, "the actors' init already ran on the committed version");
      assert.equal(first.config.value, 42);
      await until(
        () => nodes[0].snapshot().cluster.nodes.some((n) => n.id === 'late' && n.state === 'ready'),
        3_000,
        'n1 to see the late node',
      );
      assert.equal((await late.configure({ value: 43 })).version, 4);
      for (const d of nodes) assert.equal((await d.request({ op: 'who' })).config.value, 43);
      nodes.pop();
      const t0 = Date.now();
      await late.close();
      await until(
        () => nodes.every((d) => !d.snapshot().cluster.nodes.some((n) => n.id === 'late')),
        1_000,
        'the others to drop the node that left',
      );
      assert.ok(Date.now() - t0 < 1_500);
      assert.equal(late.snapshot().cluster.nodes[0].state, 'left');
    } finally {
      await closeAll(nodes);
    }
  });

  test('bad cluster options and bad changes fail typed, before anything connects or applies', async () => {
    const base = { app: fixture('cluster-app.mjs'), actors: 1 };
    for (const cluster of [
      { servers: nats.url },
      { servers: nats.url, name: 'a.b' },
      { servers: [], name: 'x' },
      { servers: nats.url, name: 'x', node: 'has space' },
      { servers: nats.url, name: 'x', nodeTimeout: 5 },
      { servers: nats.url, name: 'x', token: 7 },
    ]) {
      await assert.rejects(
        createDispatcher({ ...base, cluster }),
        InvalidArgumentError,
        JSON.stringify(cluster),
      );
    }
    // Nothing listens there: startup fails typed, no hang.
    await assert.rejects(
      createDispatcher({ ...base, cluster: { servers: 'nats://127.0.0.1:1', name: 'x', nodeTimeout: 500 } }),
      (err) => err instanceof ClusterUnavailableError && /127\.0\.0\.1:1/.test(err.message),
    );
    const d = await createDispatcher({ ...base, cluster: { servers: nats.url, name: 'badchange' } });
    try {
      await assert.rejects(d.configure([1]), InvalidArgumentError);
      await assert.rejects(d.configure({ f: () => 1 }), (e) => e.code === 'ERR_TROUPE_DATA_CLONE');
      await assert.rejects(d.configure({ s: new SharedArrayBuffer(8) }), InvalidArgumentError);
      assert.equal(d.snapshot().configVersion, 1);
    } finally {
      await d.close();
    }
  });

  test("the bucket's revision history is the audit log: every committed version, who committed it, what changed", async () => {
    const nodes = await threeNodes();
    const name = nodes[0].snapshot().cluster.name;
    try {
      await nodes[1].configure({ value: 1 });
      await nodes[2].configure({ value: 2, extra: [1, 2] });
      await nodes[0].configure({ value: 3, rejectOn: 'n2' }).catch(() => undefined); // rejected: not logged
      const nc = await connect({ servers: nats.url });
      try {
        const kv = await new Kvm(nc).open(`troupe_${name}`);
        const log = [];
        for await (const entry of await kv.history({ key: 'config' })) {
          if (entry.operation !== 'PUT') continue;
          const { version, node, change, config, at } = deserialize(entry.value);
          log.push({ version, node, change, config });
          assert.ok(at > 0);
        }
        assert.deepEqual(log, [
          { version: 1, node: 'n1', change: { value: 0, from: 'n1' }, config: { value: 0, from: 'n1' } },
          { version: 2, node: 'n2', change: { value: 1 }, config: { value: 1, from: 'n1' } },
          {
            version: 3,
            node: 'n3',
            change: { value: 2, extra: [1, 2] },
            config: { value: 2, from: 'n1', extra: [1, 2] },
          },
        ]);
      } finally {
        await nc.close();
      }
    } finally {
      await closeAll(nodes);
    }
  });

  test('a troupe without cluster options never loads the NATS client; with them it does', () => {
    // A module hook that refuses every @nats-io import, in a fresh process.
    const hook = `data:text/javascript,${encodeURIComponent(
      "export async function resolve(s, c, next) { if (s.startsWith('@nats-io/')) throw new Error('NATS client loaded: ' + s); return next(s, c); }",
    )}`;
    const app = fileURLToPath(fixture('cluster-app.mjs'));
    const script = (options) => `
      import { register } from 'node:module';
      register(${JSON.stringify(hook)});
      const { createDispatcher } = await import(${JSON.stringify(entry)});
      const d = await createDispatcher({ app: ${JSON.stringify(app)}, actors: 1, ${options} });
      const seen = await d.request({ op: 'who' });
      await d.configure({ value: 1 });
      await d.close();
      console.log('node=' + seen.node + ' version=' + d.snapshot().configVersion + ' cluster=' + ('cluster' in d.snapshot()));
    `;
    const entry = new URL('../dist/index.js', import.meta.url).href;
    const dir = mkdtempSync(join(tmpdir(), 'troupe-noload-'));
    const run = (options) => {
      // A file, not --eval: worker threads inherit the process's flags, and --input-type would stop them.
      const file = join(dir, `run-${Math.random().toString(36).slice(2)}.mjs`);
      writeFileSync(file, script(options));
      return spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
    };
    const single = run('');
    assert.equal(single.status, 0, single.stderr);
    assert.match(single.stdout, /node=undefined version=2 cluster=false/);
    const clustered = run(`cluster: { servers: ${JSON.stringify(nats.url)}, name: 'noload' }`);
    assert.notEqual(clustered.status, 0);
    assert.match(clustered.stderr, /NATS client loaded: @nats-io\/transport-node/);
    rmSync(dir, { recursive: true, force: true });
  });

  test('a second process under a node id already in the cluster fails to start, typed', async () => {
    const options = (node) => ({
      app: fixture('cluster-app.mjs'),
      actors: 1,
      cluster: { servers: nats.url, name: 'dupid', node },
    });
    const first = await createDispatcher(options('same'));
    try {
      await assert.rejects(
        createDispatcher(options('same')),
        (e) => e instanceof InvalidArgumentError && /'same' is already in use/.test(e.message),
      );
      assert.deepEqual(
        first.snapshot().cluster.nodes.map((n) => n.id),
        ['same'],
      );
    } finally {
      await first.close();
    }
    // Once the first has left, the id is free again.
    const again = await createDispatcher(options('same'));
    await again.close();
  });

  test('credentials: a token-protected NATS takes the right token, refuses a wrong one typed, and no secret is logged', async () => {
    const secured = await startNats(['--auth', 's3cret-token']);
    try {
      const base = { app: fixture('cluster-app.mjs'), actors: 1 };
      const d = await createDispatcher({
        ...base,
        cluster: { servers: secured.url, name: 'auth', node: 'a1', token: 's3cret-token' },
      });
      assert.equal((await d.configure({ value: 1 })).version, 2);
      await d.close();
      const wrong = await createDispatcher({
        ...base,
        cluster: { servers: secured.url, name: 'auth', node: 'a2', token: 'wrong-token', nodeTimeout: 1_000 },
      }).then(
        () => assert.fail('a wrong token must not join'),
        (e) => e,
      );
      assert.ok(wrong instanceof ClusterUnavailableError, String(wrong));
      assert.doesNotMatch(wrong.message, /wrong-token|s3cret/);
      // A URL with credentials in it is not logged with them either.
      const inUrl = await createDispatcher({
        ...base,
        cluster: { servers: `nats://bob:hunter2@127.0.0.1:${secured.port}`, name: 'auth', node: 'a3' },
      }).then(
        () => assert.fail('bob is not a user there'),
        (e) => e,
      );
      assert.ok(inUrl instanceof ClusterUnavailableError, String(inUrl));
      assert.doesNotMatch(inUrl.message, /hunter2|bob/);
      assert.match(inUrl.message, /nats:\/\/\*\*\*@127\.0\.0\.1/);
    } finally {
      await secured.close();
    }
  });
});
