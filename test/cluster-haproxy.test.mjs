// HAProxy (examples/cluster/haproxy.cfg, ports rewritten) in front of three `troupe serve --cluster`
// nodes: the same x-user reaches the same node and there the same actor; SIGHUP on one node reaches
// all three; a node killed moves only its own keys.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { clusterNodeArgs, freePort, HAPROXY, startNats, until } from './helpers/cluster.mjs';
import { example, fixture, serve, sleep } from './http-helpers.mjs';

let nats;
let dir;
before(async () => {
  nats = await startNats();
  dir = mkdtempSync(join(tmpdir(), 'troupe-haproxy-'));
});
after(async () => {
  await nats?.close();
  rmSync(dir, { recursive: true, force: true });
});

const health = async (node) => (await fetch(`${node.url}/_troupe/health`)).json();

/** Sends 10 requests for each user one at a time; returns user → the set of "node/actor" that served it. */
async function placements(front, users) {
  const seen = new Map(users.map((u) => [u, new Set()]));
  for (let round = 0; round < 10; round++) {
    for (const user of users) {
      const res = await fetch(front, { headers: { 'x-user': user } });
      assert.equal(res.status, 200, `user ${user}`);
      const body = await res.json();
      seen.get(user).add(`${body.node}/${body.actorId}`);
      // HAProxy counts a stream as served until it has released it, a moment after the client has
      // its answer; the bounded load (1.25x an average near zero) would spill the next request then.
      await sleep(2);
    }
  }
  return seen;
}

describe('HAProxy in front of a troupe cluster', () => {
  test('two-level stickiness, SIGHUP reaching every node, a killed node moving only its keys', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const frontPort = await freePort();
    const configFile = join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify({ greeting: 'hello' }));
    const nodes = [];
    let haproxy;
    try {
      for (const [i, port] of ports.entries()) {
        nodes.push(
          await serve(
            fixture('cluster-app.mjs'),
            clusterNodeArgs({
              configFile,
              servers: nats.url,
              name: 'lb',
              node: `n${i + 1}`,
              extra: ['--port', String(port)],
            }),
          ),
        );
      }
      let cfg = readFileSync(example('cluster/haproxy.cfg'), 'utf8');
      cfg = cfg.replace('127.0.0.1:8080', `127.0.0.1:${frontPort}`);
      for (const [i, port] of ports.entries())
        cfg = cfg.replace(`127.0.0.1:300${i + 1}`, `127.0.0.1:${port}`);
      const cfgFile = join(dir, 'haproxy.cfg');
      writeFileSync(cfgFile, cfg);
      haproxy = spawn(HAPROXY, ['-f', cfgFile, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let haproxyLog = '';
      haproxy.stderr.on('data', (d) => (haproxyLog += d));
      const front = `http://127.0.0.1:${frontPort}/`;
      await until(
        async () => {
          try {
            return (await fetch(front, { headers: { 'x-user': 'probe' } })).status === 200;
          } catch {
            return false;
          }
        },
        10_000,
        `HAProxy to serve\n${haproxyLog}`,
      );

      const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);
      const before = await placements(front, users);
      for (const [user, where] of before) assert.equal(where.size, 1, `${user} landed on ${[...where]}`);
      const nodeOf = (seen, user) => [...seen.get(user)][0].split('/')[0];
      const usedNodes = new Set(users.map((u) => nodeOf(before, u)));
      assert.ok(usedNodes.size >= 2, `the keys spread over the nodes: ${[...usedNodes]}`);

      // SIGHUP on one node: every node's health shows the new version within a second.
      writeFileSync(configFile, JSON.stringify({ greeting: 'hi' }));
      const hupAt = Date.now();
      nodes[1].proc.kill('SIGHUP');
      await until(
        async () => (await Promise.all(nodes.map(health))).every((h) => h.configVersion === 2),
        1_000,
        'every node on version 2',
      );
      const hupMs = Date.now() - hupAt;
      assert.ok(hupMs <= 1_000, `${hupMs} ms`);
      const after = await fetch(front, { headers: { 'x-user': users[0] } });
      assert.equal((await after.json()).config.greeting, 'hi');

      // SIGKILL one node: requests keep succeeding through HAProxy; only the dead node's keys move.
      const victim = nodeOf(before, users[0]);
      const index = Number(victim.slice(1)) - 1;
      nodes[index].proc.kill('SIGKILL');
      const during = await placements(front, users);
      assert.equal(during.size, 20, 'every request succeeded through the failover');
      await sleep(1_500); // two failed health checks: HAProxy now has the node down
      const later = await placements(front, users);
      let moved = 0;
      for (const user of users) {
        assert.equal(later.get(user).size, 1, `${user} is sticky again: ${[...later.get(user)]}`);
        const was = nodeOf(before, user);
        const now = nodeOf(later, user);
        assert.notEqual(now, victim);
        if (was === victim) moved++;
        else assert.equal(now, was, `${user} stays on ${was}`);
      }
      assert.ok(moved >= 1 && moved < 20, `${moved} of 20 keys moved`);
    } finally {
      if (haproxy !== undefined && haproxy.exitCode === null) {
        const gone = new Promise((r) => haproxy.once('exit', r));
        haproxy.kill('SIGTERM');
        await gone;
      }
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });
});
