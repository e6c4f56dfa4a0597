import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { machineGraph, requestActorMachine, routerMachine, toDot, toMermaid } from 'troupe';

const bin = fileURLToPath(new URL('../dist/cli/troupe.js', import.meta.url));

/** Runs `troupe viz …` as a user would; resolves with the exit code and both streams, never rejects. */
async function viz(...args) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, 'viz', ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test('troupe viz --help lists the machines and the formats', async () => {
  const { code, stdout } = await viz('--help');
  assert.equal(code, 0);
  for (const word of [
    '--machine',
    '--format',
    '--out',
    'request-actor',
    'router',
    'svg',
    'mermaid',
    'dot',
    'json',
  ]) {
    assert.ok(stdout.includes(word), word);
  }
});

test('troupe viz --format mermaid prints what toMermaid draws from the definition', async () => {
  const { code, stdout } = await viz('--format', 'mermaid');
  assert.equal(code, 0);
  assert.equal(stdout, toMermaid(requestActorMachine));
});

test('troupe viz --machine router --out x.dot writes DOT (format from the extension)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'troupe-viz-'));
  try {
    const out = join(dir, 'router.dot');
    const { code, stdout } = await viz('--machine', 'router', '--out', out);
    assert.equal(code, 0);
    assert.equal(stdout, '');
    assert.equal(await readFile(out, 'utf8'), toDot(routerMachine));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('troupe viz --format json is the extracted graph; default format is SVG', async () => {
  const json = await viz('--machine', 'router', '--format', 'json');
  assert.equal(json.code, 0);
  assert.deepEqual(JSON.parse(json.stdout), JSON.parse(JSON.stringify(machineGraph(routerMachine))));
  const svg = await viz();
  assert.equal(svg.code, 0);
  assert.match(svg.stdout, /<svg[\s\S]*id="state:request&#45;actor\.serving"[\s\S]*<\/svg>\s*$/);
});

test('troupe viz refuses an unknown machine, format or option with exit code 2 and says what exists', async () => {
  const machine = await viz('--machine', 'nope');
  assert.equal(machine.code, 2);
  assert.match(machine.stderr, /unknown machine 'nope'.*request-actor, router/);
  const format = await viz('--format', 'png');
  assert.equal(format.code, 2);
  assert.match(format.stderr, /unknown format 'png'/);
  const option = await viz('--colour');
  assert.equal(option.code, 2);
});

test('troupe viz --out r.png is refused (exit 2, nothing written) rather than SVG under a .png name', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'troupe-viz-'));
  try {
    for (const name of ['r.png', 'r.PDF', 'r.txt']) {
      const out = join(dir, name);
      const { code, stdout, stderr } = await viz('--out', out);
      assert.equal(code, 2, name);
      assert.equal(stdout, '');
      assert.match(stderr, /extension names no format/, name);
      assert.match(stderr, /\.svg \.mmd/, name);
      await assert.rejects(access(out), { code: 'ENOENT' }, `${name} must not be written`);
    }
    const png = await viz('--out', join(dir, 'r.png'));
    assert.match(png.stderr, /--format dot \| dot -Tpng/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('troupe viz takes the format from --out (any case); no extension means SVG; --format wins', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'troupe-viz-'));
  try {
    const mmd = join(dir, 'actor.MMD');
    assert.equal((await viz('--out', mmd)).code, 0);
    assert.equal(await readFile(mmd, 'utf8'), toMermaid(requestActorMachine));
    const json = join(dir, 'router.json');
    assert.equal((await viz('-m', 'router', '-o', json)).code, 0);
    assert.deepEqual(
      JSON.parse(await readFile(json, 'utf8')),
      JSON.parse(JSON.stringify(machineGraph(routerMachine))),
    );
    const bare = join(dir, 'actor');
    assert.equal((await viz('--out', bare)).code, 0);
    assert.match(await readFile(bare, 'utf8'), /<svg[\s\S]*<\/svg>\s*$/);
    const forced = join(dir, 'actor.txt');
    assert.equal((await viz('--format', 'dot', '--out', forced)).code, 0);
    assert.equal(await readFile(forced, 'utf8'), toDot(requestActorMachine));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('README.md embeds the request-actor diagram exactly as the command prints it today', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const block = readme.match(/```mermaid\n([\s\S]*?)```/)?.[1];
  assert.equal(block, (await viz('--format', 'mermaid')).stdout, 'regenerate: troupe viz --format mermaid');
});

test('docs/inspector.md holds the diagrams exactly as the command prints them today', async () => {
  const doc = await readFile(new URL('../docs/inspector.md', import.meta.url), 'utf8');
  const blocks = [...doc.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.equal(blocks.length, 2);
  assert.equal(
    blocks[0],
    (await viz('--format', 'mermaid')).stdout,
    'regenerate: troupe viz --format mermaid',
  );
  assert.equal(
    blocks[1],
    toMermaid(routerMachine),
    'regenerate: troupe viz --machine router --format mermaid',
  );
});
