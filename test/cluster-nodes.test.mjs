// Three `troupe serve --cluster` processes: membership as seen through /_troupe/health, SIGKILL, restart.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { clusterNodeArgs, startNats, until } from './helpers/cluster.mjs';
import { fixture, runCli, serve, sleep } from './http-helpers.mjs';

/** The default nodeTimeout of `troupe serve --cluster`. */
const NODE_TIMEOUT = 5_000;

let nats;
let dir;
before(async () => {
  nats = await startNats();
  dir = mkdtempSync(join(tmpdir(), 'troupe-cluster-'));
});
after(async () => {
  await nats?.close();
  rmSync(dir, { recursive: true, force: true });
});

function startNode(id, configFile) {
  return serve(
    fixture('cluster-app.mjs'),
    clusterNodeArgs({ configFile, servers: nats.url, name: 'procs', node: id }),
  );
}

async function health(node) {
  const res = await fetch(`${node.url}/_troupe/health`);
  return res.json();
}

describe('cluster of troupe serve processes', () => {
  test('SIGKILL a node under load: the others drop it within nodeTimeout; restarted, its first request runs the committed version', async () => {
    const files = ['n1', 'n2', 'n3'].map((id) => {
      const file = join(dir, `${id}.json`);
      writeFileSync(file, JSON.stringify({ value: 0 }));
      return file;
    });
    const nodes = [];
    try {
      for (const [i, id] of ['n1', 'n2', 'n3'].entries()) nodes.push(await startNode(id, files[i]));
      await until(
        async () => (await Promise.all(nodes.map(health))).every((h) => h.cluster.nodes.length === 3),
        5_000,
        'three members everywhere',
      );
      const h1 = await health(nodes[0]);
      assert.equal(h1.configVersion, 1);
      assert.equal(h1.cluster.node, 'n1');
      assert.deepEqual(h1.cluster.nodes.map((n) => n.id).sort(), ['n1', 'n2', 'n3']);

      // Load on every node while n3 dies.
      let stop = false;
      const failures = [];
      let served = 0;
      const load = async (node, user) => {
        while (!stop) {
          try {
            const res = await fetch(`${node.url}/slow`, { headers: { 'x-user': user } });
            await res.arrayBuffer();
            served++;
          } catch (err) {
            if (node !== nodes[2]) failures.push(err);
          }
        }
      };
      const loops = [];
      for (const node of nodes) for (let u = 0; u < 4; u++) loops.push(load(node, `u${u}`));
      await sleep(300);

      nodes[2].proc.kill('SIGKILL');
      const killedAt = Date.now();
      await until(
        async () =>
          (await Promise.all([health(nodes[0]), health(nodes[1])])).every(
            (h) => !h.cluster.nodes.some((n) => n.id === 'n3'),
          ),
        NODE_TIMEOUT + 2_000,
        'n1 and n2 to drop n3',
      );
      const dropMs = Date.now() - killedAt;
      stop = true;
      await Promise.all(loops);
      assert.ok(dropMs <= NODE_TIMEOUT, `dropped after ${dropMs} ms`);
      assert.deepEqual(failures, [], 'the surviving nodes served every request');
      assert.ok(served > 0);

      // A change while n3 is gone commits on the two members.
      writeFileSync(files[0], JSON.stringify({ value: 1 }));
      nodes[0].proc.kill('SIGHUP');
      await nodes[0].waitFor(/SIGHUP: config version 2 rolled out to every node/);
      assert.equal((await health(nodes[1])).configVersion, 2);

      // n3 comes back with its old file: it starts on the committed version, not on its file.
      nodes[2] = await startNode('n3', files[2]);
      const first = await (await fetch(`${nodes[2].url}/`, { headers: { 'x-user': 'u0' } })).json();
      assert.equal(first.node, 'n3');
      assert.equal(first.configVersion, 2);
      assert.equal(first.config.value, 1);
      await until(
        async () =>
          (await Promise.all(nodes.map(health))).every(
            (h) => h.configVersion === 2 && h.cluster.nodes.filter((n) => n.state === 'ready').length === 3,
          ),
        5_000,
        'three ready members on version 2',
      );
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });

  test('troupe serve --cluster: bad flags are usage errors (exit 2); an unreachable NATS fails startup (exit 1), port never opened', async () => {
    const app = fixture('cluster-app.mjs');
    const noName = await runCli(['serve', app, '--cluster', nats.url]);
    assert.equal(noName.code, 2);
    assert.match(noName.stderr, /--cluster and --cluster-name go together/);
    const noCluster = await runCli(['serve', app, '--node-id', 'x']);
    assert.equal(noCluster.code, 2);
    assert.match(noCluster.stderr, /--node-id needs --cluster/);
    const badName = await runCli(['serve', app, '--cluster', nats.url, '--cluster-name', 'a.b']);
    assert.equal(badName.code, 1);
    assert.match(badName.stderr, /cluster\.name/);
    const down = await runCli(['serve', app, '--cluster', 'nats://127.0.0.1:1', '--cluster-name', 'x']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot start .*Cannot reach NATS at nats:\/\/127\.0\.0\.1:1/);
    assert.doesNotMatch(down.stderr, /serving/);
    const help = await runCli(['serve', '--help']);
    assert.match(help.stdout, /--cluster URL/);
  });
});
