// What crosses NATS between nodes leaves in batches: the requests one synchronous run sends to a node
// go as one NATS message, and so do the answers a node sends back in one loop turn. Each request still
// has its own outcome: a bad payload or result fails alone, a malformed entry is skipped alone, and a
// cancel never overtakes its request.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { deserialize, serialize } from 'node:v8';
import { AbortError, DataCloneError, PayloadTooLargeError } from 'troupe';
import { closeAll, keyOwnedBy, requestNodes, startNats, until } from './helpers/cluster.mjs';
import { fixture } from './http-helpers.mjs';

let nats;
let nc;
let dir;
before(async () => {
  nats = await startNats();
  const { connect } = await import('@nats-io/transport-node');
  nc = await connect({ servers: nats.url });
  dir = mkdtempSync(join(tmpdir(), 'troupe-batches-'));
});
after(async () => {
  await nc?.close();
  await nats?.close();
  rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
// A high balance factor: every keyed request goes to its owner, none spills to the caller's own actors.
const nodes = (ids) =>
  requestNodes(nats.url, `batch${++seq}`, ids, {
    app: fixture('cluster-requests-app.mjs'),
    balanceFactor: 100,
  });

/**
 * Every NATS message on `subject` from now on, decoded (a batch is an array, a lone message is not);
 * `sizes`: their lengths in bytes.
 */
function spy(subject, sizes = []) {
  const seen = [];
  nc.subscribe(subject, {
    callback: (_err, msg) => {
      sizes.push(msg.data.length);
      seen.push(deserialize(msg.data));
    },
  });
  return seen;
}

const entries = (messages) => messages.flatMap((m) => (Array.isArray(m) ? m : [m]));

describe('cluster batches', () => {
  test('requests sent together leave as one NATS message, and answers come back in fewer messages than requests', async () => {
    const [a, b] = await nodes(['a', 'b']);
    const name = `batch${seq}`;
    try {
      const key = await keyOwnedBy(a, 'b');
      const requests = spy(`troupe.${name}.req.b`);
      const answers = spy(`troupe.${name}.reply.a`);
      await nc.flush();
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => a.request({ op: 'echo', i }, { key })),
      );
      assert.deepEqual(
        results.map((r) => r.i),
        Array.from({ length: 40 }, (_, i) => i),
      );
      await nc.flush();
      assert.equal(requests.length, 1, 'one NATS message for the 40 requests');
      assert.equal(requests[0].length, 40);
      assert.equal(entries(answers).filter((x) => x.t === 'ok').length, 40);
      assert.ok(answers.length < 40, `${answers.length} answer messages for 40 answers`);
      // A lone request leaves as the message itself, not as a batch of one.
      assert.equal((await a.request({ op: 'echo', i: 'lone' }, { key })).i, 'lone');
      await nc.flush();
      assert.equal(requests.length, 2);
      assert.equal(Array.isArray(requests[1]), false);
      assert.equal(requests[1].payload.i, 'lone');
    } finally {
      await closeAll([a, b]);
    }
  });

  test("a stream's chunks made in one loop turn go back in one message, in order", async () => {
    const [a, b] = await nodes(['a', 'b']);
    const name = `batch${seq}`;
    try {
      const key = await keyOwnedBy(a, 'b');
      const answers = spy(`troupe.${name}.reply.a`);
      await nc.flush();
      const got = [];
      for await (const c of a.stream({ op: 'count', n: 300, tag: 'turns' }, { key })) got.push(c.i);
      assert.deepEqual(
        got,
        Array.from({ length: 300 }, (_, i) => i),
      );
      await nc.flush();
      const chunks = entries(answers).filter((x) => x.t === 'chunk').length;
      assert.equal(chunks, 300);
      // One message a chunk before; now about one a credit window (64 chunks) or a loop turn.
      assert.ok(answers.length <= 300 / 8, `${answers.length} messages for 300 chunks`);
    } finally {
      await closeAll([a, b]);
    }
  });

  test('in one batch, an uncloneable payload and a result the runner cannot send fail alone with DataCloneError', async () => {
    const [a, b] = await nodes(['a', 'b']);
    try {
      const key = await keyOwnedBy(a, 'b');
      const payloads = [
        { op: 'echo', i: 0 },
        { op: 'echo', i: 1, fn: () => 1 },
        { op: 'echo', i: 2 },
        // Shared with the runner's main thread as between threads, but node:v8 cannot serialize it.
        { op: 'shared' },
        { op: 'echo', i: 4 },
      ];
      const outcomes = await Promise.allSettled(payloads.map((p) => a.request(p, { key })));
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled'],
      );
      assert.ok(outcomes[1].reason instanceof DataCloneError, String(outcomes[1].reason));
      assert.match(outcomes[1].reason.message, /payload/);
      assert.equal(outcomes[3].reason.code, 'ERR_TROUPE_DATA_CLONE');
      assert.match(outcomes[3].reason.message, /result/);
      assert.deepEqual(
        [0, 2, 4].map((i) => outcomes[i].value.i),
        [0, 2, 4],
      );
      // Both nodes go on serving.
      assert.equal((await a.request({ op: 'who' }, { key })).node, 'b');
      assert.deepEqual(a.snapshot().cluster.requests.inFlight, {}, 'nothing left out on b');
    } finally {
      await closeAll([a, b]);
    }
  });

  test('a batch over max_payload goes as several messages; a payload, result or chunk alone over it fails with PayloadTooLargeError', async () => {
    const [a, b] = await nodes(['a', 'b']);
    const name = `batch${seq}`;
    try {
      const key = await keyOwnedBy(a, 'b');
      const sizes = [];
      const requests = spy(`troupe.${name}.req.b`, sizes);
      await nc.flush();
      const limit = 1024 * 1024; // the server's default max_payload
      const pad = 'x'.repeat(8_000);
      const calls = Array.from({ length: 300 }, (_, i) => a.request({ op: 'echo', i, pad }, { key }));
      // In the same synchronous run: a payload and a result that are each too large alone.
      calls.push(a.request({ op: 'echo', pad: 'y'.repeat(2 * limit) }, { key }));
      calls.push(a.request({ op: 'big', n: 2 * limit }, { key }));
      const outcomes = await Promise.allSettled(calls);
      assert.deepEqual(
        outcomes.slice(0, 300).map((o) => o.value?.i),
        Array.from({ length: 300 }, (_, i) => i),
      );
      await nc.flush();
      assert.ok(requests.length >= 3, `${requests.length} messages for about 2.4 MB of requests`);
      assert.ok(
        sizes.every((n) => n <= limit),
        `every message within max_payload: ${sizes.join(', ')}`,
      );
      assert.equal(entries(requests).length, 301, 'the 300 and the result too large, not the payload');
      const [payload, result] = outcomes.slice(300).map((o) => o.reason);
      assert.ok(payload instanceof PayloadTooLargeError, String(payload));
      assert.equal(payload.code, 'ERR_TROUPE_PAYLOAD_TOO_LARGE');
      assert.equal(payload.limit, limit);
      assert.ok(payload.bytes > 2 * limit);
      assert.match(payload.message, /payload is \d+ bytes/);
      assert.equal(result.code, 'ERR_TROUPE_PAYLOAD_TOO_LARGE');
      assert.match(result.message, /result is \d+ bytes/);

      // A stream chunk too large: the chunks before it, then the error, and the handler stops.
      const got = [];
      await assert.rejects(
        (async () => {
          for await (const c of a.stream({ op: 'bad-chunk', at: 3, big: 2 * limit, tag: 'big1' }, { key })) {
            got.push(c.i);
          }
        })(),
        (err) => err.code === 'ERR_TROUPE_PAYLOAD_TOO_LARGE' && /stream chunk/.test(err.message),
      );
      assert.deepEqual(got, [0, 1, 2]);
      // A request body chunk too large: the caller's request fails with it.
      async function* body() {
        yield new Uint8Array(16);
        yield new Uint8Array(2 * limit);
      }
      await assert.rejects(a.request({ op: 'body' }, { key, body: body() }), PayloadTooLargeError);
      assert.equal((await a.request({ op: 'who' }, { key })).node, 'b');
    } finally {
      await closeAll([a, b]);
    }
  });

  test('a stream chunk the runner cannot send: the chunks before it arrive, then DataCloneError, and the handler stops', async () => {
    const [a, b] = await nodes(['a', 'b']);
    try {
      const key = await keyOwnedBy(a, 'b');
      const got = [];
      await assert.rejects(
        (async () => {
          for await (const c of a.stream({ op: 'bad-chunk', at: 5, shared: true, tag: 'c1' }, { key })) {
            got.push(c.i);
          }
        })(),
        (err) => err.code === 'ERR_TROUPE_DATA_CLONE' && /stream chunk/.test(err.message),
      );
      assert.deepEqual(got, [0, 1, 2, 3, 4]);
      // The generator is not read any further: its count stays where it stopped.
      await sleep(150);
      const stopped = await b.request({ op: 'progress', tag: 'c1' }, { key });
      await sleep(200);
      assert.equal(await b.request({ op: 'progress', tag: 'c1' }, { key }), stopped);
      assert.ok(stopped < 40, `${stopped} chunks produced`);
    } finally {
      await closeAll([a, b]);
    }
  });

  test('a raw batch with malformed entries: each well-formed request is answered, the others skipped', async () => {
    const [b] = await nodes(['b']);
    const name = `batch${seq}`;
    try {
      const answers = spy(`troupe.${name}.reply.ghost`);
      const request = (id) => ({
        id,
        from: 'ghost',
        payload: { op: 'echo', id },
        timeout: 5_000,
        stream: false,
      });
      const batch = [
        request('ghost.x.1'),
        request('nodot'),
        'not a request',
        null,
        request('ghost.x.2'),
        request(7),
      ];
      nc.publish(`troupe.${name}.req.b`, serialize(batch));
      await nc.flush();
      await until(() => entries(answers).length >= 2, 5_000, 'the two well-formed requests to be answered');
      await sleep(300);
      assert.deepEqual(
        entries(answers)
          .map((x) => [x.id, x.t])
          .sort(),
        [
          ['ghost.x.1', 'ok'],
          ['ghost.x.2', 'ok'],
        ],
      );
      // A message that is not node:v8 data at all changes nothing either.
      nc.publish(`troupe.${name}.req.b`, new TextEncoder().encode('[1, 2'));
      await nc.flush();
      assert.equal((await b.request({ op: 'who' })).node, 'b');
    } finally {
      await closeAll([b]);
    }
  });

  test('a request cancelled in the turn that sent it never runs; one cancelled after it left is stopped there', async () => {
    const [a, b] = await nodes(['a', 'b']);
    try {
      const key = await keyOwnedBy(a, 'b');
      const now = new AbortController();
      const early = a.request(
        { op: 'log', dir, id: 'cancelled-at-once', ms: 200 },
        { key, signal: now.signal },
      );
      now.abort(new Error('at once'));
      await assert.rejects(early, AbortError);
      const later = new AbortController();
      const held = a.request({ op: 'hold', tag: 'h1' }, { key, signal: later.signal });
      await sleep(100);
      later.abort(new Error('later'));
      await assert.rejects(held, AbortError);
      await until(
        async () => (await b.request({ op: 'aborted', tag: 'h1' }, { key })) !== null,
        3_000,
        "the handler's signal on b",
      );
      // A request that ran leaves its id in b's log: the one cancelled at once is not there.
      await a.request({ op: 'log', dir, id: 'marker' }, { key });
      assert.deepEqual(readFileSync(join(dir, 'b.log'), 'utf8').trim().split('\n'), ['marker']);
    } finally {
      await closeAll([a, b]);
    }
  });
});
