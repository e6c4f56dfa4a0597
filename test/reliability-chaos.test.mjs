import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BroadcastChannel } from 'node:worker_threads';
import {
  ActorCrashedError,
  ConfigRejectedError,
  createDispatcher,
  DataCloneError,
  HandlerError,
} from 'troupe';
import { fixture, until } from './helpers/util.mjs';

const WINDOW = 400; // requests in flight at once (the default maxQueue would refuse 20,000 at once)
const ACTORS = 4;
const KEYS = 500;

/**
 * Chaos: requests with random keys, a third of them streams, while a killer ends random actors at random
 * moments (process.exit or an uncaught throw in a timer, sent outside the data plane) and config changes
 * roll out. Among them, hostile ones: handlers that throw values hostile to look at, callers that reuse a
 * buffer they already moved, handlers that block their thread, config changes whose hook exits the thread
 * or never answers. The contract: every request has exactly one outcome (its result, ActorCrashedError, or
 * the typed error its hostile input calls for), no promise is left pending, no request started on two
 * actors, every actor is ready again at the end, and every actor runs the same config version.
 */
async function chaos({ TOTAL, recycle = 0, reloadEvery = 0, label }) {
  const channel = `troupe-chaos-${process.pid}-${label}`;
  const d = await createDispatcher({
    app: fixture('reliability-app.mjs'),
    actors: ACTORS,
    config: { chaosChannel: channel, gen: 0 },
    restartBackoff: 5,
    // Crashes are the point here: the intensity limit must not give any slot up during the run.
    maxRestarts: 1_000,
    restartWindow: 1_000,
    maxRequestsPerActor: recycle,
    configTimeout: 300,
    stallAfter: 20,
  });
  const killer = new BroadcastChannel(channel);
  const runs = new Int32Array(new SharedArrayBuffer(TOTAL * 4));
  const outcomes = new Uint8Array(TOTAL);
  const counts = { ok: 0, okStreams: 0, crashed: 0, crashedStreams: 0, hostile: 0, other: [], badData: [] };
  const oddCases = [
    'nullProto',
    'badToString',
    'badGetters',
    'thenableThrows',
    'revokedProxy',
    'throwRevoked',
  ];
  const moved = new Uint8Array(8);
  let kills = 0;
  let configs = 0;
  let committed = 0;
  let rejected = 0;
  let reloads = 0;
  let issuing = true;
  const t0 = performance.now();
  try {
    const settle = (id, stream, error) => {
      outcomes[id]++;
      if (error === undefined) {
        if (stream) counts.okStreams++;
        else counts.ok++;
      } else if (error instanceof ActorCrashedError) {
        if (stream) counts.crashedStreams++;
        else counts.crashed++;
      } else counts.other.push(`${id}: ${error?.name}: ${error?.message}`);
    };

    const one = async (id) => {
      const key = `k${Math.floor(Math.random() * KEYS)}`;
      if (id % 17 === 1 || id % 19 === 1) {
        // Hostile input: a typed error for this request alone (or ActorCrashedError, if a kill lands).
        const call =
          id % 17 === 1
            ? d.request({ op: 'odd', how: oddCases[id % oddCases.length], runs, id }, { key })
            : d.request({ op: 'big', data: moved, runs, id }, { key, transfer: [moved.buffer] });
        try {
          await call;
          counts.badData.push(`hostile request ${id} succeeded`);
          settle(id, false, undefined);
        } catch (err) {
          if (err instanceof HandlerError || err instanceof DataCloneError) {
            outcomes[id]++;
            counts.hostile++;
          } else settle(id, false, err);
        }
        return;
      }
      if (id % 97 === 1) {
        // A handler that blocks its thread for a while: the actor stalls, and its neighbours wait or move.
        try {
          const r = await d.request({ op: 'busy', ms: 25, runs, id }, { key });
          if (r !== 'finished busy') counts.badData.push(`busy ${id} got ${r}`);
          settle(id, false, undefined);
        } catch (err) {
          settle(id, false, err);
        }
        return;
      }
      if (id % 3 === 0) {
        const n = 1 + (id % 8);
        const chunks = [];
        try {
          for await (const c of d.stream({ op: 'count', n, delay: id % 2, runs, id }, { key }))
            chunks.push(c);
        } catch (err) {
          settle(id, true, err);
          return;
        }
        // One request, one actor, one frozen config version, every chunk in order.
        const ok =
          chunks.length === n &&
          chunks.every(
            (c, i) =>
              c.i === i && c.actorId === chunks[0].actorId && c.configVersion === chunks[0].configVersion,
          );
        if (!ok) counts.badData.push(`stream ${id}: ${JSON.stringify(chunks)}`);
        settle(id, true, undefined);
        return;
      }
      let r;
      try {
        r = await d.request({ op: 'echo', value: id, runs, id }, { key });
      } catch (err) {
        settle(id, false, err);
        return;
      }
      if (r.value !== id) counts.badData.push(`request ${id} got ${r.value}`);
      settle(id, false, undefined);
    };

    const kill = async () => {
      while (issuing) {
        await sleep(10 + Math.random() * 90);
        if (!issuing) break;
        killer.postMessage({
          actorId: Math.floor(Math.random() * ACTORS),
          how: Math.random() < 0.5 ? 'exit' : 'timer',
        });
        kills++;
      }
    };
    const roll = async () => {
      while (issuing) {
        await sleep(20 + Math.random() * 60);
        const change = { gen: ++configs };
        // One change in five is hostile to one actor: its configure hook exits the thread or never answers.
        if (configs % 5 === 0) {
          change.until = Date.now() + 150;
          change[configs % 10 === 0 ? 'exitConfigure' : 'hangConfigure'] = Math.floor(Math.random() * ACTORS);
        }
        try {
          await d.configure(change);
          committed++;
        } catch (err) {
          // A change an actor did not acknowledge (it died, refused, or did not answer) is rejected whole.
          if (!(err instanceof ConfigRejectedError)) throw err;
          rejected++;
        }
      }
    };
    // The buffer hostile requests reuse: moved once, so it is detached from here on.
    await d.request({ op: 'big', data: moved }, { transfer: [moved.buffer] });
    const issue = async () => {
      let next = 0;
      const lane = async () => {
        while (next < TOTAL) await one(next++);
      };
      await Promise.all(Array.from({ length: WINDOW }, lane));
    };

    // Make-before-break replacements racing the crashes: chain reloads, and recycling when asked.
    const reload = async () => {
      while (issuing && reloadEvery > 0) {
        await sleep(reloadEvery);
        if (!issuing) break;
        await d.reload();
        reloads++;
      }
    };
    const killing = kill();
    const reloading = reload();
    const rolling = roll();
    // Every request settles, or the test reports how many never did instead of hanging.
    const done = issue().then(() => 'done');
    const verdict = await Promise.race([done, sleep(45_000, 'stuck', { ref: false })]);
    issuing = false;
    const pending = outcomes.reduce((n, c) => n + (c === 0 ? 1 : 0), 0);
    assert.equal(verdict, 'done', `${pending} requests never settled`);
    await killing;
    assert.equal(
      await Promise.race([reloading, sleep(10_000, 'stuck', { ref: false })]),
      undefined,
      'a reload never finished',
    );
    assert.equal(
      await Promise.race([rolling, sleep(10_000, 'stuck', { ref: false })]),
      undefined,
      'a config change never finished',
    );
    const issuedIn = performance.now() - t0;

    // Exactly one outcome each, and none unaccounted for.
    for (let id = 0; id < TOTAL; id++)
      assert.equal(outcomes[id], 1, `request ${id} settled ${outcomes[id]} times`);
    assert.deepEqual(counts.other, [], 'only results and ActorCrashedError');
    assert.deepEqual(counts.badData, []);
    assert.equal(
      counts.ok + counts.okStreams + counts.crashed + counts.crashedStreams + counts.hostile,
      TOTAL,
    );
    assert.ok(counts.hostile > 0, 'hostile requests got their typed errors');
    // At-most-once: no request started on two actors.
    let twice = 0;
    let never = 0;
    for (let id = 0; id < TOTAL; id++) {
      if (runs[id] > 1) twice++;
      if (runs[id] === 0) never++;
    }
    assert.equal(twice, 0, `${twice} requests started on two actors`);

    // Every actor ready again, on one config version, the dispatcher's own.
    await until(
      () => {
        const s = d.snapshot();
        return s.actors.every((a) => a.state === 'ready' && a.configVersion === s.configVersion);
      },
      10_000,
      'every actor ready on the same config version',
    );
    const snap = d.snapshot();
    assert.equal(snap.degraded, false);
    assert.equal(snap.configVersion, committed + 1);
    assert.equal(committed + rejected, configs);
    assert.equal(snap.queued, 0);
    // And the actors say so themselves: a request on every slot runs under the final version.
    const seen = new Map();
    for (let i = 0; seen.size < ACTORS && i < 5_000; i++) {
      const r = await d.request({ op: 'echo' }, { key: `probe-${i}` });
      seen.set(r.actorId, r.configVersion);
    }
    assert.equal(seen.size, ACTORS);
    for (const v of seen.values()) assert.equal(v, snap.configVersion);
    const restarts = snap.actors.reduce((n, a) => n + a.restarts, 0);
    // Kills every 10–100 ms over a run of seconds: a handful at the very least must have landed.
    assert.ok(restarts >= 5, `only ${restarts} restarts: the killer did not bite`);
    assert.ok(counts.crashed + counts.crashedStreams > 0);
    if (reloadEvery > 0) assert.ok(reloads >= 1, 'no reload completed during the run');

    console.log(
      `chaos (${label}): ${TOTAL} requests (${Math.ceil(TOTAL / 3)} streams) in ${Math.round(issuedIn)} ms on ${ACTORS} actors: ` +
        `${counts.ok} results, ${counts.okStreams} streams completed, ${counts.crashed} requests and ` +
        `${counts.crashedStreams} streams failed with ActorCrashedError, ${never} of them before starting; ` +
        `${kills} kills sent, ${restarts} restarts (crash, recycle and reload), ${reloads} reloads, ` +
        `${counts.hostile} hostile requests failed alone, typed; ` +
        `${configs} config changes, ${rejected} rejected (final version ${snap.configVersion}); 0 pending, 0 settled twice, 0 ran twice`,
    );
  } finally {
    issuing = false;
    killer.close();
    // A stuck request would hold close() forever; the assertions above already said what was wrong.
    await Promise.race([d.close(), sleep(10_000, undefined, { ref: false })]);
  }
}

test('chaos: 20,000 requests under random crashes and config changes, exactly one outcome each', () =>
  chaos({ TOTAL: 20_000, label: 'crashes and config' }));

test('chaos: 10,000 requests under crashes, config changes, chain reloads and recycling', () =>
  chaos({ TOTAL: 10_000, recycle: 400, reloadEvery: 100, label: 'crashes, config, reload, recycle' }));
