// Requests across the nodes of a cluster (several nodes in this process, one real nats-server): keyed
// placement, errors and DataCloneError as locally, streams with backpressure, cancel and timeout.
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { deserialize, serialize } from 'node:v8';
import { createDispatcher, DataCloneError, NodeLostError, TimeoutError } from 'troupe';
import { closeAll, keyOwnedBy, requestNodes, startNats, tcpProxy, until } from './helpers/cluster.mjs';
import { fixture } from './http-helpers.mjs';

let nats;
before(async () => {
  nats = await startNats();
});
after(async () => {
  await nats?.close();
});

let seq = 0;
const nodes = (ids, options = {}) =>
  requestNodes(nats.url, `req${++seq}`, ids, { app: fixture('cluster-requests-app.mjs'), ...options });

describe('cluster requests', () => {
  test('a key runs on the node that owns it, on the same actor every time; every node agrees on the owner', async () => {
    const [a, b, c] = await nodes(['a', 'b', 'c']);
    try {
      const owners = new Map();
      for (let k = 0; k < 60; k++) {
        const key = `user-${k}`;
        const first = await a.request({ op: 'who' }, { key });
        for (let i = 0; i < 3; i++) {
          for (const d of [a, b, c]) {
            const again = await d.request({ op: 'who' }, { key });
            assert.deepEqual(again, first, `key ${key} stays on one node and one actor`);
          }
        }
        owners.set(key, first.node);
      }
      // A request made after configure() resolved runs the new version, whichever node runs it.
      const { version } = await b.configure({ round: 1 });
      for (const key of owners.keys())
        assert.equal((await a.request({ op: 'who' }, { key })).configVersion, version);
      const perNode = { a: 0, b: 0, c: 0 };
      for (const node of owners.values()) perNode[node]++;
      // Each of three equal nodes owns some of the keys (not all on one).
      for (const [node, n] of Object.entries(perNode)) assert.ok(n >= 8, `node ${node} owns ${n} of 60 keys`);
      const snap = a.snapshot().cluster.requests;
      assert.ok(snap.sent > 0 && snap.spilled === 0, JSON.stringify(snap));
      assert.ok(b.snapshot().cluster.requests.served > 0);
      // A request's route crosses with it: the node that runs it learns what the route costs.
      const [onB] = [...owners].find(([, node]) => node === 'b');
      assert.equal((await a.request({ op: 'who' }, { key: onB, route: 'who' })).node, 'b');
      assert.ok(
        b.snapshot().routes.some((r) => r.route === 'who'),
        `b learned ${JSON.stringify(b.snapshot().routes)}`,
      );
    } finally {
      await closeAll([a, b, c]);
    }
  });

  test('a traceparent crosses with its request: the trace goes on on the node that runs it', async () => {
    const [a, b] = await nodes(['a', 'b'], { tracing: true });
    try {
      let key;
      for (let k = 0; key === undefined && k < 200; k++)
        if ((await a.request({ op: 'who' }, { key: `t-${k}` })).node === 'b') key = `t-${k}`;
      assert.ok(key !== undefined, 'a key that b owns');
      const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const seen = await a.request({ op: 'trace' }, { key, traceparent });
      assert.equal(seen.node, 'b');
      // No tracer provider here: the runner's request span is the caller's context itself, unrecorded.
      assert.equal(seen.traceparent, traceparent);
    } finally {
      await closeAll([a, b]);
    }
  });

  test('route events name the node and why; unkeyed requests stay local while actors are free', async () => {
    const [a, b] = await nodes(['a', 'b']);
    try {
      const events = [];
      const off = a.subscribe((e) => {
        if (e.type === '@troupe.node-route') events.push(e);
      });
      let remoteKey;
      for (let k = 0; remoteKey === undefined && k < 100; k++) {
        const r = await a.request({ op: 'who' }, { key: `k${k}` });
        if (r.node === 'b') remoteKey = `k${k}`;
      }
      assert.ok(remoteKey !== undefined);
      off();
      const ev = events.find((e) => e.key === remoteKey);
      assert.equal(ev.node, 'b');
      assert.equal(ev.reason, 'owner');
      assert.equal(ev.stream, false);
      // local: true keeps a request here whatever the key's owner; it must be a boolean.
      assert.equal((await a.request({ op: 'who' }, { key: remoteKey, local: true })).node, 'a');
      await assert.rejects(a.request({ op: 'who' }, { key: remoteKey, local: 'yes' }), (err) => {
        assert.equal(err.code, 'ERR_TROUPE_INVALID_ARGUMENT');
        assert.match(err.message, /'local' must be true or false/);
        return true;
      });
      const unkeyed = await Promise.all(Array.from({ length: 8 }, () => a.request({ op: 'who' })));
      assert.ok(unkeyed.every((r) => r.node === 'a'));
    } finally {
      await closeAll([a, b]);
    }
  });

  test('unkeyed requests spill to the least-loaded member only when every local actor is busy and as many wait', async () => {
    const [a, b, c] = await nodes(['a', 'b', 'c'], { actors: 1, concurrency: 1 });
    try {
      // Make c busy: one request runs and one waits there (its own, so they stay on c).
      const busy = Array.from({ length: 2 }, (_, i) =>
        c.request({ op: 'hold', tag: `busy${i}` }, { timeout: 4_000 }).catch(() => undefined),
      );
      await until(() => a.snapshot().cluster.nodes.find((n) => n.id === 'c').inFlight >= 2, 3_000, 'c busy');
      const events = [];
      const off = a.subscribe((e) => {
        if (e.type === '@troupe.node-route') events.push(e);
      });
      // a has one actor: one request runs, one waits, and from the third on they go elsewhere.
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          a.request({ op: 'log', dir: tmpdir(), id: `spill-${process.pid}-${i}`, ms: 300 }),
        ),
      );
      off();
      // Spilled only while b is less loaded than a; never to c, the busiest.
      const where = results.map((r) => r.node);
      assert.deepEqual(where.slice(0, 2), ['a', 'a']);
      const spilled = where.filter((n) => n !== 'a');
      assert.ok(spilled.length >= 2 && spilled.every((n) => n === 'b'), where.join(','));
      assert.equal(events.length, spilled.length);
      assert.ok(events.every((e) => e.reason === 'spill' && e.node === 'b'));
      assert.equal(a.snapshot().cluster.requests.spilled, spilled.length);
      await Promise.allSettled(busy);
    } finally {
      await closeAll([a, b, c]);
    }
  });

  test('errors cross as their own class; an uncloneable payload or result fails with DataCloneError', async () => {
    const [a, b] = await nodes(['a', 'b']);
    try {
      const key = await keyOwnedBy(a, 'b');
      await assert.rejects(a.request({ op: 'throw' }, { key }), (err) => {
        assert.equal(err.name, 'RangeError');
        assert.equal(err.code, 'E_APP_RANGE');
        assert.equal(err.message, 'bad range');
        return true;
      });
      await assert.rejects(a.request({ op: 'who', value: () => 1 }, { key }), DataCloneError);
      await assert.rejects(a.request({ op: 'uncloneable' }, { key }), (err) => {
        assert.equal(err.code, 'ERR_TROUPE_DATA_CLONE');
        return true;
      });
      // And the same locally, for comparison.
      await assert.rejects(
        a.request({ op: 'uncloneable' }, { key: await keyOwnedBy(a, 'a') }),
        DataCloneError,
      );
    } finally {
      await closeAll([a, b]);
    }
  });

  test('a request whose id no node could have made (no number at its end) is not run; one from a node is; stray answers are dropped', async () => {
    const [b] = await nodes(['b']);
    const name = `req${seq}`;
    const { connect } = await import('@nats-io/transport-node');
    const nc = await connect({ servers: nats.url });
    try {
      const answers = [];
      nc.subscribe(`troupe.${name}.reply.ghost`, {
        callback: (_err, msg) => answers.push(deserialize(msg.data)),
      });
      const send = (id) =>
        nc.publish(
          `troupe.${name}.req.b`,
          serialize({ id, from: 'ghost', payload: { op: 'who' }, timeout: 5_000, stream: false }),
        );
      for (const id of ['nodot', 'ghost.x.abc', 'ghost.x.', 42, 'ghost.x.7']) send(id);
      await nc.flush();
      await until(() => answers.length > 0, 5_000, 'the well-formed request to be answered');
      await sleep(300);
      assert.deepEqual(
        answers.map((a) => [a.id, a.t]),
        [['ghost.x.7', 'ok']],
      );
      // A cancel for an id that is not served, well formed or not, changes nothing.
      for (const id of ['ghost.x.7', 'nodot', 7]) {
        nc.publish(`troupe.${name}.ctl.b`, serialize({ id, t: 'cancel', why: 'abort' }));
      }
      // And answers to calls this node never made, or with ids of no call at all, are dropped.
      for (const id of ['zzz.1', 42, 'b.', null]) {
        nc.publish(`troupe.${name}.reply.b`, serialize({ id, t: 'ok', v: 1 }));
      }
      await nc.flush();
      await sleep(100);
      assert.equal((await b.request({ op: 'who' })).node, 'b');
    } finally {
      await nc.close();
      await closeAll([b]);
    }
  });

  test('timeout and the caller signal reach the remote handler ctx.signal', async () => {
    const [a, b] = await nodes(['a', 'b']);
    try {
      const key = await keyOwnedBy(a, 'b');
      await assert.rejects(a.request({ op: 'hold', tag: 't1' }, { key, timeout: 150 }), TimeoutError);
      const ac = new AbortController();
      const held = a.request({ op: 'hold', tag: 't2' }, { key, signal: ac.signal });
      await sleep(100);
      ac.abort(new Error('caller gave up'));
      await assert.rejects(held, (err) => err.code === 'ERR_TROUPE_ABORTED');
      await until(
        async () => (await b.request({ op: 'aborted', tag: 't2' }, { key })) !== null,
        3_000,
        'abort on b',
      );
      await until(
        async () => (await b.request({ op: 'aborted', tag: 't1' }, { key })) !== null,
        3_000,
        'timeout on b',
      );
    } finally {
      await closeAll([a, b]);
    }
  });

  test('a request body crosses nodes with backpressure: a stalled handler holds the caller source within the window', async () => {
    const [a, b] = await nodes(['a', 'b']);
    try {
      const key = await keyOwnedBy(a, 'b');
      let produced = 0;
      async function* source(n, size) {
        for (let i = 0; i < n; i++) {
          produced++;
          yield new Uint8Array(size);
        }
      }
      const done = await a.request({ op: 'body' }, { key, body: source(300, 100) });
      assert.deepEqual(done, { node: 'b', chunks: 300, bytes: 30_000 });

      produced = 0;
      const stalled = a.request(
        { op: 'body', stallAfter: 1, stallMs: 600 },
        { key, body: source(1_000, 10) },
      );
      await sleep(400);
      assert.ok(produced <= 3 * 64 + 2, `${produced} body chunks pulled while the handler stalled`);
      assert.deepEqual(await stalled, { node: 'b', chunks: 1_000, bytes: 10_000 });

      // A source that throws ends the handler's ctx.body with its error; an uncloneable chunk fails typed.
      async function* broken() {
        yield new Uint8Array(1);
        throw new Error('source broke');
      }
      await assert.rejects(a.request({ op: 'body' }, { key, body: broken() }), /source broke/);
      async function* uncloneable() {
        yield () => 1;
      }
      await assert.rejects(a.request({ op: 'body' }, { key, body: uncloneable() }), DataCloneError);
    } finally {
      await closeAll([a, b]);
    }
  });

  test('cut off from NATS with requests out on another node: each settles with NodeLostError within nodeTimeout', async () => {
    const proxy = await tcpProxy(nats.port);
    const name = `req${++seq}`;
    const make = (id, servers) =>
      createDispatcher({
        app: fixture('cluster-requests-app.mjs'),
        actors: 2,
        cluster: { servers, name, node: id, nodeTimeout: 1_000 },
      });
    const a = await make('a', proxy.url);
    const b = await make('b', nats.url);
    try {
      await until(
        () => [a, b].every((d) => d.snapshot().cluster.nodes.filter((n) => n.state === 'ready').length === 2),
        5_000,
        'two members',
      );
      const key = await keyOwnedBy(a, 'b');
      // Two fit within b's load bound (its actor count), so neither spills to a.
      const held = Array.from({ length: 2 }, (_, i) => a.request({ op: 'hold', tag: `p${i}` }, { key }));
      await sleep(100);
      const t0 = Date.now();
      proxy.cut();
      const outcomes = await Promise.allSettled(held);
      assert.ok(Date.now() - t0 < 2_500, `settled after ${Date.now() - t0} ms`);
      for (const o of outcomes) {
        assert.equal(o.status, 'rejected');
        assert.ok(o.reason instanceof NodeLostError);
        assert.equal(o.reason.node, 'b');
      }
      assert.equal(a.snapshot().cluster.requests.lost, 2);
    } finally {
      proxy.restore();
      await closeAll([a, b]);
      await proxy.close();
    }
  });

  test('a node that leaves cleanly drains what it runs for others: their answers arrive, nothing is lost', async () => {
    const [a, b] = await nodes(['a', 'b']);
    try {
      const key = await keyOwnedBy(a, 'b');
      const held = Array.from({ length: 10 }, (_, i) =>
        a.request({ op: 'log', dir: tmpdir(), id: `drain-${process.pid}-${i}`, ms: 400 }, { key }),
      );
      await sleep(100);
      const closing = b.close({ grace: 5_000 });
      // Sent while b closes but before a hears that it left: b refuses them unrun, and a places them again.
      const late = await Promise.all(Array.from({ length: 5 }, () => a.request({ op: 'who' }, { key })));
      assert.ok(
        late.every((r) => r.node === 'a'),
        JSON.stringify(late),
      );
      await closing;
      // Some spilled to a under the bounded-load rule; those on b finished there after it left.
      const results = await Promise.all(held);
      assert.ok(results.filter((r) => r.node === 'b').length >= 2, JSON.stringify(results));
      // b is gone: its keys run on a now.
      assert.equal((await a.request({ op: 'who' }, { key })).node, 'a');
    } finally {
      await closeAll([a, b]);
    }
  });

  test('streams across nodes: every chunk in order; a stalled consumer holds the handler within the window; early return ends it', async () => {
    const [a, b] = await nodes(['a', 'b']);
    try {
      const key = await keyOwnedBy(a, 'b');
      const chunks = [];
      for await (const c of a.stream({ op: 'count', n: 500, tag: 's1' }, { key })) chunks.push(c);
      assert.equal(chunks.length, 500);
      assert.ok(chunks.every((c, i) => c.i === i && c.node === 'b'));

      // A consumer that takes one chunk and stalls: the handler on b runs ahead by windows only.
      const it = a.stream({ op: 'count', n: 10_000, tag: 's2' }, { key })[Symbol.asyncIterator]();
      await it.next();
      await sleep(400);
      const ahead = await b.request({ op: 'progress', tag: 's2' }, { key });
      assert.ok(
        ahead < 10_000 && ahead <= 3 * 64 + 2,
        `the handler ran ${ahead} chunks ahead of a stalled consumer`,
      );
      await it.return();
      await sleep(200);
      const stopped = await b.request({ op: 'progress', tag: 's2' }, { key });
      await sleep(200);
      assert.equal(await b.request({ op: 'progress', tag: 's2' }, { key }), stopped, 'the handler stopped');

      // Binary chunks: the 1 MiB window bounds bytes ahead.
      const bin = a
        .stream({ op: 'count', n: 200, bytes: 256 * 1024, tag: 's3' }, { key })
        [Symbol.asyncIterator]();
      await bin.next();
      await sleep(400);
      const binAhead = await b.request({ op: 'progress', tag: 's3' }, { key });
      assert.ok(binAhead <= 3 * 4 + 2, `${binAhead} binary chunks of 256 KiB ahead`);
      await bin.return();
    } finally {
      await closeAll([a, b]);
    }
  });
});
