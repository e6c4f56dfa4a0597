import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  ActorCrashedError,
  AppLoadError,
  ConfigRejectedError,
  createDispatcher,
  DataCloneError,
  HandlerError,
  InvalidArgumentError,
  TroupeError,
} from 'troupe';
import { fixture, outcome, threadCount, until, withDispatcher } from './helpers/util.mjs';

const app = fixture('reliability-app.mjs');

/** Asserts `error` is the typed error wanted, with a stable code and a message matching `message`. */
function typed(error, Class, code, message) {
  assert.ok(
    error instanceof Class,
    `expected ${Class.name}, got ${error?.constructor?.name}: ${error?.message}`,
  );
  assert.ok(error instanceof TroupeError);
  assert.equal(error.code, code);
  assert.match(error.message, message);
}

// ── options ────────────────────────────────────────────────────────────────────────────────────────

const badOptions = [
  ['no options', undefined, /needs an options object/],
  ['no app', {}, /'app' is required/],
  ['an empty app path', { app: '' }, /'app' is required/],
  ['an app that is not a path', { app: 42 }, /'app' must be a path/],
  [
    'an app path that does not exist',
    { app: '/nonexistent/app.mjs' },
    /no module at \/nonexistent\/app\.mjs/,
  ],
  ['actors = 0', { app, actors: 0 }, /'actors' must be a positive integer; got 0/],
  ['actors < 0', { app, actors: -2 }, /'actors' must be a positive integer; got -2/],
  ['actors not an integer', { app, actors: 1.5 }, /'actors' must be a positive integer; got 1.5/],
  ['actors a string', { app, actors: '2' }, /'actors' must be a positive integer; got 2/],
  ['concurrency = 0', { app, concurrency: 0 }, /'concurrency' must be a positive integer/],
  ['concurrency < 0', { app, concurrency: -1 }, /'concurrency' must be a positive integer/],
  ['a negative timeout', { app, timeout: -1 }, /'timeout' must be a number of milliseconds ≥ 0/],
  ['a NaN timeout', { app, timeout: Number.NaN }, /'timeout' must be a number of milliseconds ≥ 0/],
  // Past 2^31 − 1 ms a Node timer fires after 1 ms: a long timeout would time every request out at once.
  [
    'a timeout past a timer’s limit',
    { app, timeout: 2 ** 31 },
    /at most 2147483647 \(a timer's limit\); got 2147483648/,
  ],
  ['a negative killAfter', { app, killAfter: -5 }, /'killAfter' must be a number of milliseconds ≥ 0/],
  [
    'a negative restartBackoff',
    { app, restartBackoff: -5 },
    /'restartBackoff' must be a number of milliseconds ≥ 0/,
  ],
  ['initTimeout = 0', { app, initTimeout: 0 }, /'initTimeout' must be a number of milliseconds > 0/],
  ['restartWindow = 0', { app, restartWindow: 0 }, /'restartWindow' must be a number of milliseconds > 0/],
  ['config not a plain object', { app, config: [1, 2] }, /'config' must be a plain object/],
  // Node ignores what it does not know in resourceLimits: a typo would silently mean no limit at all.
  ['resourceLimits not an object', { app, resourceLimits: 'big' }, /'resourceLimits' must be an object/],
  [
    'resourceLimits with a typo',
    { app, resourceLimits: { maxOldGenSizeMb: 64 } },
    /unknown key 'maxOldGenSizeMb'/,
  ],
  [
    'a negative resource limit',
    { app, resourceLimits: { maxOldGenerationSizeMb: -1 } },
    /'resourceLimits\.maxOldGenerationSizeMb' must be a number of MB > 0; got -1/,
  ],
  [
    'config holding a SharedArrayBuffer',
    { app, config: { table: new Int32Array(new SharedArrayBuffer(8)) } },
    /config\.table holds a SharedArrayBuffer/,
  ],
  // A misspelt name is not ignored: `actor: 4` would otherwise start the default number of actors.
  ['an unknown option (actor)', { app, actor: 4 }, /Unknown option 'actor'; did you mean 'actors'\?/],
  ['a misspelt option (tiemout)', { app, tiemout: 5 }, /Unknown option 'tiemout'; did you mean 'timeout'\?/],
  [
    'a wrongly cased option (maxHeapMb)',
    { app, maxHeapMb: 64 },
    /Unknown option 'maxHeapMb'; did you mean 'maxHeapMB'\?/,
  ],
  [
    'a misspelt option left undefined',
    { app, maxRestart: undefined },
    /Unknown option 'maxRestart'; did you mean 'maxRestarts'\?.*Known: app, actors,/,
  ],
  [
    'a misspelt inspector option',
    { app, inspector: { prot: 0 } },
    /Unknown inspector option 'prot'; did you mean 'port'\?/,
  ],
];

for (const [what, options, message] of badOptions) {
  test(`options: ${what} → InvalidArgumentError before any thread starts`, async () => {
    const threads = threadCount();
    await assert.rejects(createDispatcher(options), (err) => {
      typed(err, InvalidArgumentError, 'ERR_TROUPE_INVALID_ARGUMENT', message);
      return true;
    });
    assert.equal(threadCount(), threads);
  });
}

test('options: an app without handle or fetch → AppLoadError naming the fix, every thread ended', async () => {
  const threads = threadCount();
  await assert.rejects(createDispatcher({ app: fixture('reliability-no-handler.mjs'), actors: 2 }), (err) => {
    typed(err, AppLoadError, 'ERR_TROUPE_APP_LOAD', /exports neither handle\(\) nor fetch\(\).*defineApp/);
    return true;
  });
  await until(() => threadCount() <= threads, 5_000, 'threads ended');
});

// ── requests, config and handlers: one dispatcher, which must keep serving after each ─────────────

let d;
before(async () => {
  d = await createDispatcher({ app, actors: 2 });
});
after(async () => {
  await d.close();
});

/** After each bad input: the dispatcher still serves, on every actor, and nothing is left in flight. */
async function stillServing() {
  const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => d.request({ op: 'echo', value: i })));
  assert.deepEqual(
    rs.map((r) => r.value),
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  let streamed = 0;
  for await (const _ of d.stream({ op: 'count', n: 3 })) streamed++;
  assert.equal(streamed, 3);
  await until(() => d.snapshot().actors.every((a) => a.inFlight === 0), 2_000, 'nothing in flight');
  assert.equal(d.snapshot().queued, 0);
}

const badPayloads = [
  ['a function', { op: 'echo', value: () => 1 }, /could not be cloned/],
  ['a method', { op: 'echo', value: { fn() {} } }, /could not be cloned/],
  ['a symbol', { op: 'echo', value: Symbol('s') }, /could not be cloned/],
  [
    'a class instance with a private field',
    {
      op: 'echo',
      value: new (class {
        #x = 1;
        f = () => this.#x;
      })(),
    },
    /could not be cloned/,
  ],
];

for (const [what, payload, message] of badPayloads) {
  test(`request: a payload with ${what} → DataCloneError, the dispatcher keeps serving`, async () => {
    for (const call of [() => d.request(payload), () => d.request(payload, { key: 'k' })]) {
      const r = await outcome(call());
      typed(r.error, DataCloneError, 'ERR_TROUPE_DATA_CLONE', /payload cannot be sent between threads/);
      assert.match(r.error.message, message);
    }
    let error;
    try {
      for await (const _ of d.stream(payload)) assert.fail('no chunk expected');
    } catch (err) {
      error = err;
    }
    typed(error, DataCloneError, 'ERR_TROUPE_DATA_CLONE', /payload/);
    await stillServing();
  });
}

test('request: a payload in a batch with good ones fails alone', async () => {
  const rs = await Promise.all([
    outcome(d.request({ op: 'echo', value: 1 })),
    outcome(d.request({ op: 'echo', value: () => 2 })),
    outcome(d.request({ op: 'echo', value: 3 })),
  ]);
  assert.equal(rs[0].value.value, 1);
  assert.ok(rs[1].error instanceof DataCloneError);
  assert.equal(rs[2].value.value, 3);
  await stillServing();
});

test('request: a SharedArrayBuffer is shared with the handler; in a transfer list it is a DataCloneError', async () => {
  // The rule: payloads may share memory on purpose (it is how big read-mostly tables reach every actor
  // without a copy); a SharedArrayBuffer cannot be *transferred*, and config may not hold one.
  const sab = new SharedArrayBuffer(8);
  assert.equal(await d.request({ op: 'sab', sab }), 'written');
  assert.equal(new Int32Array(sab)[0], 42, 'the handler wrote into the caller’s memory');
  const r = await outcome(d.request({ op: 'sab', sab }, { transfer: [sab] }));
  typed(r.error, DataCloneError, 'ERR_TROUPE_DATA_CLONE', /payload cannot be sent/);
  await stillServing();
});

test('request: a key that is not a string → InvalidArgumentError', async () => {
  for (const key of [42, { id: 1 }, null, Symbol('k')]) {
    const r = await outcome(d.request({ op: 'echo' }, { key }));
    typed(r.error, InvalidArgumentError, 'ERR_TROUPE_INVALID_ARGUMENT', /key must be a string; got/);
    let error;
    try {
      for await (const _ of d.stream({ op: 'count', n: 1 }, { key })) assert.fail('no chunk expected');
    } catch (err) {
      error = err;
    }
    typed(error, InvalidArgumentError, 'ERR_TROUPE_INVALID_ARGUMENT', /key must be a string/);
  }
  for (const timeout of [-1, Number.NaN, '10', 2 ** 31]) {
    const r = await outcome(d.request({ op: 'echo' }, { timeout }));
    typed(
      r.error,
      InvalidArgumentError,
      'ERR_TROUPE_INVALID_ARGUMENT',
      /timeout must be a number of ms ≥ 0 and at most 2147483647/,
    );
  }
  // The longest timeout a timer can hold is honoured, not turned into 1 ms.
  assert.equal((await d.request({ op: 'sleep', ms: 30 }, { timeout: 2 ** 31 - 1 })).actorId >= 0, true);
  await stillServing();
});

test('request: a huge payload past the actor heap limit → ActorCrashedError, the slot restarts; a transferred one is not copied', async () => {
  // No maxPayloadBytes: measuring a payload's serialized size costs a second serialization on the hot
  // path. The actor's resourceLimits bound it instead (see the failure model in README.md).
  await withDispatcher(
    {
      app,
      actors: 1,
      restartBackoff: 10,
      resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 },
    },
    async (small) => {
      const huge = Array.from({ length: 64 }, (_, i) => 'x'.repeat(1 << 20) + i); // 64 MB of strings
      const r = await outcome(small.request({ op: 'big', data: huge }));
      typed(r.error, ActorCrashedError, 'ERR_TROUPE_ACTOR_CRASHED', /memory limit|out of memory/i);
      assert.equal((await small.request({ op: 'echo', value: 'alive' })).value, 'alive');
      const buf = new ArrayBuffer(128 * 1024 * 1024);
      assert.deepEqual(await small.request({ op: 'big', data: buf }, { transfer: [buf] }), {
        bytes: 128 * 1024 * 1024,
      });
      assert.equal(buf.byteLength, 0, 'transferred, not copied');
    },
  );
});

// ── config ─────────────────────────────────────────────────────────────────────────────────────────

test('config: a change that is not a plain object → InvalidArgumentError, nothing rolled out', async () => {
  const { configVersion } = d.snapshot();
  for (const change of [null, 42, 'limit=3', [1], new Map([['limit', 1]]), new Date()]) {
    const r = await outcome(d.configure(change));
    typed(r.error, InvalidArgumentError, 'ERR_TROUPE_INVALID_ARGUMENT', /must be a plain object/);
  }
  const fn = await outcome(d.configure({ hook: () => 1 }));
  typed(fn.error, DataCloneError, 'ERR_TROUPE_DATA_CLONE', /config change cannot be sent/);
  const sab = await outcome(d.configure({ nested: { table: new SharedArrayBuffer(8) } }));
  typed(
    sab.error,
    InvalidArgumentError,
    'ERR_TROUPE_INVALID_ARGUMENT',
    /nested\.table holds a SharedArrayBuffer/,
  );
  assert.equal(d.snapshot().configVersion, configVersion);
  await stillServing();
});

test("config: a change that fails the app's validation → ConfigRejectedError, every actor keeps the old version", async () => {
  const good = await d.configure({ limit: 3 });
  const r = await outcome(d.configure({ limit: -1 }));
  typed(r.error, ConfigRejectedError, 'ERR_TROUPE_CONFIG_REJECTED', /limit must be a number ≥ 0; got -1/);
  assert.match(r.error.message, /every actor still runs the previous version/);
  assert.equal(r.error.version, good.version + 1);
  // The actor that rejected it is replaced; every actor, old and new, still runs the good version.
  await until(
    () => d.snapshot().actors.every((a) => a.state === 'ready' && a.configVersion === good.version),
    5_000,
    'every actor back on the good version',
  );
  const rs = await Promise.all(Array.from({ length: 8 }, () => d.request({ op: 'echo' })));
  for (const x of rs) {
    assert.equal(x.configVersion, good.version);
    assert.equal(x.config.limit, 3);
  }
  // The next good change gets the next version: the rejected one is not reused.
  assert.deepEqual(await d.configure({ limit: 4 }), { version: good.version + 1 });
  await stillServing();
});

// ── handlers ───────────────────────────────────────────────────────────────────────────────────────

test('handler: a result that cannot be cloned → DataCloneError naming the result', async () => {
  for (const op of ['uncloneable', 'symbol']) {
    const r = await outcome(d.request({ op }));
    typed(r.error, DataCloneError, 'ERR_TROUPE_DATA_CLONE', /The result cannot be sent between threads/);
  }
  await stillServing();
});

test('handler: an iterator that throws midway → its chunks, then the app error, once', async () => {
  const seen = [];
  let error;
  let errors = 0;
  const it = d.stream({ op: 'iterThrow', after: 3 });
  try {
    for await (const c of it) seen.push(c);
  } catch (err) {
    error = err;
    errors++;
  }
  assert.deepEqual(seen, [0, 1, 2]);
  assert.equal(errors, 1);
  assert.ok(error instanceof HandlerError, `${error}`);
  assert.equal(error.code, 'E_MIDWAY', "the app's own code is kept");
  assert.equal(error.message, 'iterator failed after 3 chunks');
  assert.deepEqual(await it.next(), { value: undefined, done: true }, 'reported once, then finished');
  await stillServing();
});

test('handler: a stream chunk that cannot be cloned ends the stream with DataCloneError', async () => {
  const seen = [];
  let error;
  try {
    for await (const c of d.stream({ op: 'badChunk' })) seen.push(c);
  } catch (err) {
    error = err;
  }
  assert.deepEqual(seen, [1]);
  typed(error, DataCloneError, 'ERR_TROUPE_DATA_CLONE', /stream chunk cannot be sent/);
  await stillServing();
});

test('handler: returning an iterator to request() → a clear error pointing at stream()', async () => {
  const r = await outcome(d.request({ op: 'count', n: 2 }));
  assert.ok(r.error instanceof TroupeError);
  assert.match(r.error.message, /call dispatcher\.stream\(\)/);
  await stillServing();
});
