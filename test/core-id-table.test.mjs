import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { IdTable } from '../dist/actors/wire/id-table.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');

/** A small deterministic generator, so that a failure can be replayed. */
function random(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('an IdTable answers as a Map does under random adds and removes, ids past 2^32 included', () => {
  for (const start of [1, 2 ** 32 - 40, 2 ** 40]) {
    const rnd = random(start);
    const table = new IdTable(4);
    const map = new Map();
    let next = start;
    for (let step = 0; step < 20_000; step++) {
      const r = rnd();
      if (r < 0.5 || map.size === 0) {
        // Requests come in id order; some stay long, so that ids far apart share home slots.
        const entry = { id: next++ };
        table.set(entry);
        map.set(entry.id, entry);
      } else {
        const ids = [...map.keys()];
        const id = r < 0.95 ? ids[Math.floor(rnd() * Math.min(ids.length, 8))] : ids.at(-1);
        assert.equal(table.delete(id), true);
        map.delete(id);
        assert.equal(table.delete(id), false, 'a second delete finds nothing');
      }
      assert.equal(table.size, map.size);
      if (step % 97 === 0) {
        for (const [id, entry] of map) assert.equal(table.get(id), entry);
        assert.equal(table.get(next), undefined);
        assert.deepEqual(
          table.values().map((e) => e.id),
          [...map.keys()].sort((a, b) => a - b),
        );
        assert.deepEqual(
          table
            .list()
            .map((e) => e.id)
            .sort((a, b) => a - b),
          [...map.keys()].sort((a, b) => a - b),
          'list() holds the same entries, in any order',
        );
      }
    }
  }
});

test('an IdTable replaces an entry set twice under one id, and clear() empties it', () => {
  const table = new IdTable();
  const a = { id: 7 };
  const b = { id: 7 };
  table.set(a);
  table.set(b);
  assert.equal(table.size, 1);
  assert.equal(table.get(7), b);
  assert.equal(table.has(7), true);
  table.clear();
  assert.equal(table.size, 0);
  assert.equal(table.get(7), undefined);
  assert.deepEqual(table.values(), []);
});

test('an IdTable keeps nothing of a removed entry, nor of what it held before it grew', async () => {
  const table = new IdTable(2);
  const refs = [];
  // Enough entries to grow the table twice; every one removed again, most of them out of order. Made in
  // a function of their own, so that no variable of this frame still holds the last one.
  const ids = fill(table, refs, 40);
  for (const id of ids.filter((id) => id % 3 === 0)) table.delete(id);
  for (const id of ids.filter((id) => id % 3 !== 0).reverse()) table.delete(id);
  assert.equal(table.size, 0);
  // WeakRefs hold their target until the current job ends.
  await new Promise((r) => setImmediate(r));
  gc();
  assert.deepEqual(
    refs.filter((r) => r.deref() !== undefined).map((r) => r.deref().id),
    [],
  );
});

function fill(table, refs, n) {
  const ids = [];
  for (let id = 1; id <= n; id++) {
    const entry = { id, payload: new Array(64).fill(id) };
    refs.push(new WeakRef(entry));
    table.set(entry);
    ids.push(id);
  }
  return ids;
}
