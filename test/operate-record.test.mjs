import assert from 'node:assert/strict';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createDispatcher, InvalidArgumentError } from 'troupe';
import { fixture, threadCount } from './helpers/util.mjs';
import { fixture as cliFixture, runCli, serve } from './http-helpers.mjs';

let dir;
let readRecording;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'troupe-record-'));
  ({ readRecording } = await import('../dist/inspector/replay/read.js'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const lines = (path) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

test('bad record options are refused before any thread starts', async () => {
  const threads = threadCount();
  for (const record of [
    { path: '' },
    { path: join(dir, 'x.jsonl'), maxBytes: 1000 },
    { path: join(dir, 'x.jsonl'), maxBytes: 70_000.5 },
    { path: join(dir, 'x.jsonl'), showPayloads: 'yes' },
    { path: join(dir, 'no-such-dir', 'x.jsonl') },
  ]) {
    await assert.rejects(
      createDispatcher({ app: fixture('basic-app.mjs'), actors: 1, record }),
      InvalidArgumentError,
    );
  }
  await assert.rejects(
    createDispatcher({
      app: fixture('basic-app.mjs'),
      actors: 1,
      record: { path: join(dir, 'x.jsonl'), maxbytes: 1 },
    }),
    /Unknown record option 'maxbytes'; did you mean 'maxBytes'/,
  );
  assert.equal(threadCount(), threads);
});

test('a recording: header, snapshots, every kind of event, payloads hidden; closed with a last snapshot', async () => {
  const path = join(dir, 'run.jsonl');
  writeFileSync(path, 'the previous run\n');
  const d = await createDispatcher({ app: fixture('basic-app.mjs'), actors: 2, record: { path } });
  await d.request({ secret: 'payload-secret-1' }, { key: 'k' });
  await d.configure({ limit: 5 });
  await d.configure({ limit: 'x' }).catch(() => {});
  await d.close();
  assert.equal(readFileSync(`${path}.1`, 'utf8'), 'the previous run\n', 'the previous file is kept as .1');
  const text = readFileSync(path, 'utf8');
  assert.doesNotMatch(text, /payload-secret-1/);
  const all = lines(path);
  assert.deepEqual(
    { kind: all[0].kind, format: all[0].format, version: all[0].version, part: all[0].part },
    { kind: 'header', format: 'troupe-recording', version: 1, part: 0 },
  );
  assert.equal(all[1].kind, 'snapshot');
  const types = new Set(all.filter((l) => l.kind === 'event').map((l) => l.event.type));
  for (const t of ['@xstate.snapshot', '@troupe.route', '@troupe.done', '@troupe.config'])
    assert.ok(types.has(t), t);
  const route = all.find((l) => l.event?.type === '@troupe.route');
  assert.equal(route.event.payload, undefined);
  const phases = all.filter((l) => l.event?.type === '@troupe.config').map((l) => l.event.phase);
  assert.ok(phases.includes('commit') && phases.includes('reject'));
  const seqs = all.slice(1).map((l) => l.seq);
  assert.deepEqual(
    seqs,
    seqs.toSorted((a, b) => a - b),
    'in order',
  );
  assert.equal(all.at(-1).kind, 'snapshot');
  assert.equal(all.at(-1).snapshot.state, 'closed');
  const read = await readRecording(path);
  assert.equal(read.frames.length, all.length - 1);
});

test('showPayloads keeps payloads and config values', async () => {
  const path = join(dir, 'payloads.jsonl');
  const d = await createDispatcher({
    app: fixture('basic-app.mjs'),
    actors: 1,
    config: { token: 'cfg-value-7' },
    record: { path, showPayloads: true },
  });
  await d.request({ secret: 'payload-secret-2' });
  await d.close();
  const text = readFileSync(path, 'utf8');
  assert.match(text, /payload-secret-2/);
  assert.match(text, /cfg-value-7/);
});

test('size-bounded: past maxBytes the file rotates to .1, and each part replays on its own', async () => {
  const path = join(dir, 'rotate.jsonl');
  const maxBytes = 64 * 1024;
  const d = await createDispatcher({ app: fixture('basic-app.mjs'), actors: 2, record: { path, maxBytes } });
  for (let round = 0; round < 40 && !existsSync(`${path}.1`); round++) {
    await Promise.all(Array.from({ length: 50 }, (_, i) => d.request({ n: i }, { key: `k${i % 7}` })));
    await new Promise((r) => setTimeout(r, 120));
  }
  for (let round = 0; round < 10; round++) {
    await Promise.all(Array.from({ length: 50 }, (_, i) => d.request({ n: i })));
    await new Promise((r) => setTimeout(r, 120));
  }
  await d.close();
  assert.ok(existsSync(`${path}.1`), 'rotated');
  assert.ok(statSync(`${path}.1`).size <= maxBytes, `${statSync(`${path}.1`).size} bytes`);
  assert.ok(statSync(path).size <= maxBytes);
  const current = await readRecording(path);
  const previous = await readRecording(`${path}.1`);
  assert.ok(current.header.part > previous.header.part);
  assert.equal(current.frames[0].kind, 'snapshot', 'a new part begins from a snapshot');
  assert.equal(current.frames.at(-1).snapshot.state, 'closed');
});

test('troupe inspect refuses a file it cannot parse, naming the line; a torn last line is only a warning', async () => {
  const good = join(dir, 'good.jsonl');
  const d = await createDispatcher({ app: fixture('basic-app.mjs'), actors: 1, record: { path: good } });
  await d.request(1);
  await d.close();
  const text = readFileSync(good, 'utf8').split('\n');

  const bad = join(dir, 'bad.jsonl');
  writeFileSync(
    bad,
    [text[0], text[1], '{"seq": 3, "kind": "event", "event": {"type": ', ...text.slice(2)].join('\n'),
  );
  let r = await runCli(['inspect', bad]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.jsonl:3: not JSON/);

  const odd = join(dir, 'odd.jsonl');
  writeFileSync(odd, [text[0], text[1], '{"seq": 3, "kind": "telemetry"}', ''].join('\n'));
  r = await runCli(['inspect', odd]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /odd\.jsonl:3: unknown line kind "telemetry"/);

  const other = join(dir, 'other.jsonl');
  writeFileSync(other, '{"hello": "world"}\n');
  r = await runCli(['inspect', other]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /other\.jsonl:1: not a troupe recording/);

  r = await runCli(['inspect', join(dir, 'missing.jsonl')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot read the file/);

  r = await runCli(['inspect', good, '--host', '0.0.0.0']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /without a token/);

  const torn = join(dir, 'torn.jsonl');
  writeFileSync(torn, readFileSync(good));
  appendFileSync(torn, '{"seq": 999, "kind": "ev');
  const read = await readRecording(torn);
  assert.equal(read.warnings.length, 1);
  assert.match(read.warnings[0], /cut short/);
});

test('troupe serve --record FILE records the served requests', async () => {
  const path = join(dir, 'serve.jsonl');
  const s = await serve(cliFixture('http-app.mjs'), ['--actors', '1', '--record', path, '--quiet']);
  try {
    assert.equal((await fetch(`${s.url}/hello`)).status, 200);
  } finally {
    await s.stop();
  }
  const all = lines(path);
  assert.equal(all[0].format, 'troupe-recording');
  assert.ok(all.some((l) => l.event?.type === '@troupe.route'));
  assert.equal(all.at(-1).snapshot.state, 'closed');
});

test('a startup that fails is recorded too: the failed init, then the router failed', async () => {
  const path = join(dir, 'bad-init.jsonl');
  await assert.rejects(
    createDispatcher({ app: cliFixture('http-bad-init.mjs'), actors: 2, record: { path } }),
    (err) => err.code === 'ERR_TROUPE_INIT',
  );
  const read = await readRecording(path);
  const states = read.frames.filter((f) => f.event?.type === '@xstate.snapshot').map((f) => f.event.state);
  assert.ok(states.includes('failed'), states.join(' '));
  assert.equal(read.frames.at(-1).snapshot.state, 'failed');
});

test('a full disk (/dev/full) stops the recording with a warning, never the service', async () => {
  const warnings = [];
  const onWarning = (w) => w.name === 'TroupeWarning' && warnings.push(w.message);
  process.on('warning', onWarning);
  try {
    const d = await createDispatcher({
      app: fixture('basic-app.mjs'),
      actors: 1,
      record: { path: '/dev/full' },
    });
    for (let i = 0; i < 20; i++) assert.equal(await d.request(i), i);
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(await d.request('still'), 'still');
    await d.close();
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /recording to \/dev\/full stopped: .*ENOSPC/);
  } finally {
    process.off('warning', onWarning);
  }
});
