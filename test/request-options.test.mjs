import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { InvalidArgumentError } from 'troupe';
import { addAbortListener, removeAbortListener } from '../dist/actors/router/abort.js';
import { checkRequestOptions } from '../dist/actors/router/request-options.js';

/** Asserts that checkRequestOptions(options) throws an InvalidArgumentError whose message matches. */
function refused(options, message) {
  assert.throws(
    () => checkRequestOptions(options),
    (err) => {
      assert.ok(err instanceof InvalidArgumentError, `${err?.constructor?.name}: ${err?.message}`);
      assert.equal(err.code, 'ERR_TROUPE_INVALID_ARGUMENT');
      assert.match(err.message, message);
      return true;
    },
  );
}

describe('checkRequestOptions', () => {
  test('accepts no options, empty options and every known option with a good value', () => {
    async function* body() {
      yield new Uint8Array(1);
    }
    const good = [
      undefined,
      {},
      { key: 'ada', timeout: 0, retry: true },
      { key: undefined, signal: undefined, timeout: undefined, body: undefined, transfer: undefined },
      { signal: new AbortController().signal, timeout: 2 ** 31 - 1 },
      { signal: AbortSignal.timeout(1000), retry: false },
      { body: body() },
      { body: Readable.from(['a', 'b']) },
      { body: new ReadableStream() },
      { transfer: [new ArrayBuffer(8)] },
      Object.assign(Object.create(null), { key: 'null-prototype options are fine' }),
    ];
    for (const options of good) assert.equal(checkRequestOptions(options), undefined);
  });

  test('options that are null or not an object', () => {
    for (const [options, got] of [
      [null, 'null'],
      [5, '5'],
      ['fast', '"fast"'],
      [[{ key: 'a' }], 'an array'],
      [() => {}, 'a function'],
    ]) {
      refused(
        options,
        new RegExp(
          `Request options must be an object such as \\{.*\\}, or left out; got ${got.replace(/[()[\]]/g, '\\$&')}`,
        ),
      );
    }
  });

  test('an unknown name names the closest known option', () => {
    refused({ tiemout: 5 }, /Unknown request option 'tiemout'; did you mean 'timeout'\?/);
    refused({ Key: 'a' }, /Unknown request option 'Key'; did you mean 'key'\?/);
    refused({ signl: undefined }, /Unknown request option 'signl'; did you mean 'signal'\?/);
    refused(
      { retries: 1 },
      /did you mean 'retry'\?.*Known: key, signal, timeout, retry, body, transfer, traceparent, local, route\./,
    );
    refused({ key: 'a', transfers: [] }, /Unknown request option 'transfers'; did you mean 'transfer'\?/);
  });

  test('a signal that is not an AbortSignal', () => {
    refused({ signal: { aborted: false } }, /'signal' must be an AbortSignal .*got a plain object/);
    refused({ signal: new AbortController() }, /'signal' must be an AbortSignal .*got a AbortController/);
    refused({ signal: null }, /'signal' must be an AbortSignal .*got null/);
    refused({ signal: true }, /got true/);
  });

  test('a body that is whole data, or not an async iterable, says what to pass instead', () => {
    const whole =
      /'body' must be an async iterable of chunks .*goes in the payload, or wrap it as one: \(async function\* \(\) \{ yield data; \}\)\(\)/;
    refused({ body: 'hello' }, whole);
    refused({ body: new Uint8Array(4) }, whole);
    refused({ body: new ArrayBuffer(4) }, whole);
    refused({ body: Buffer.from('x') }, whole);
    refused(
      { body: [new Uint8Array(1)] },
      /got an array\. Put the array in the payload, or stream its items: \(async function\* \(\) \{ yield\* items; \}\)\(\)/,
    );
    refused({ body: { data: 1 } }, /got a plain object\. Put plain data in the payload/);
    refused({ body: new Set([1]) }, /got a Set\./);
    refused({ body: null }, /got null\./);
    refused({ body: 42 }, /got 42\./);
    refused({ body: { [Symbol.asyncIterator]: 'no' } }, /'body' must be an async iterable/);
  });

  test('a key, timeout, retry or transfer of the wrong type', () => {
    refused({ key: 7 }, /A request key must be a string; got 7/);
    refused({ timeout: -1 }, /A request timeout must be a number of ms ≥ 0 and at most 2147483647/);
    refused({ timeout: Number.NaN }, /got NaN/);
    refused({ timeout: 2 ** 31 }, /got 2147483648/);
    refused({ timeout: '5' }, /got "5"/);
    refused({ retry: 'yes' }, /'retry' must be true or false; got "yes"/);
    refused({ transfer: new ArrayBuffer(8) }, /'transfer' must be an array .*got an ArrayBuffer/);
  });

  test('options that cannot even be read are an InvalidArgumentError too, never a TypeError', () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    refused(proxy, /Request options could not be read/);
    refused(
      {
        get key() {
          throw new Error('getter boom');
        },
      },
      /could not be read \(getter boom\)/,
    );
  });
});

describe('one abort listener per signal, however many requests share it', () => {
  test('1,000 requests on one signal: one real listener, no MaxListenersExceededWarning, each called once', async () => {
    const warnings = [];
    const onWarning = (w) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const controller = new AbortController();
      const { signal } = controller;
      const calls = [];
      const listeners = Array.from({ length: 1000 }, (_, i) => (reason) => calls.push([i, reason]));
      for (const l of listeners) assert.equal(addAbortListener(signal, l), true);
      assert.equal(getEventListeners(signal, 'abort').length, 1);
      removeAbortListener(signal, listeners[3]);
      controller.abort('stop');
      assert.equal(calls.length, 999);
      assert.deepEqual(calls[0], [0, 'stop']);
      assert.deepEqual(
        calls.map(([i]) => i),
        listeners.map((_, i) => i).filter((i) => i !== 3),
        'in the order they were added',
      );
      assert.equal(getEventListeners(signal, 'abort').length, 0);
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      assert.deepEqual(
        warnings.map((w) => w.name),
        [],
      );
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('the last request to let go removes the real listener; a later one adds it back', () => {
    const controller = new AbortController();
    const { signal } = controller;
    const a = () => {};
    const b = () => {};
    addAbortListener(signal, a);
    addAbortListener(signal, b);
    addAbortListener(signal, b); // the same function twice is one entry, as with addEventListener
    removeAbortListener(signal, a);
    assert.equal(getEventListeners(signal, 'abort').length, 1);
    removeAbortListener(signal, b);
    assert.equal(getEventListeners(signal, 'abort').length, 0, 'a long-lived signal holds no request');
    removeAbortListener(signal, b); // removing twice is harmless
    let called = 0;
    addAbortListener(signal, () => called++);
    assert.equal(getEventListeners(signal, 'abort').length, 1);
    controller.abort();
    controller.abort();
    assert.equal(called, 1);
  });

  test('an already aborted signal adds nothing and says so', () => {
    const signal = AbortSignal.abort('gone');
    let called = 0;
    assert.equal(
      addAbortListener(signal, () => called++),
      false,
    );
    assert.equal(getEventListeners(signal, 'abort').length, 0);
    assert.equal(called, 0);
  });

  test('a listener removed by an earlier one during the abort is not called; signals are independent', () => {
    const one = new AbortController();
    const two = new AbortController();
    const calls = [];
    const second = () => calls.push('second');
    addAbortListener(one.signal, () => {
      calls.push('first');
      removeAbortListener(one.signal, second);
    });
    addAbortListener(one.signal, second);
    addAbortListener(two.signal, () => calls.push('other signal'));
    one.abort();
    assert.deepEqual(calls, ['first']);
    two.abort();
    assert.deepEqual(calls, ['first', 'other signal']);
  });

  test('a listener that throws does not keep the others from running; its error is reported', async () => {
    // Reported as an uncaught exception, as an EventTarget reports a throwing listener: run it in a child.
    const script = `
      import { addAbortListener } from ${JSON.stringify(new URL('../dist/actors/router/abort.js', import.meta.url).href)};
      const controller = new AbortController();
      const calls = [];
      addAbortListener(controller.signal, () => { throw new Error('cancel failed'); });
      addAbortListener(controller.signal, () => calls.push('next'));
      process.on('uncaughtException', (err) => { console.log(JSON.stringify({ calls, error: err.message })); });
      controller.abort();
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
    assert.deepEqual(JSON.parse(stdout), { calls: ['next'], error: 'cancel failed' });
  });
});
