import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/** The README is what a newcomer pastes: its examples must run as written and its samples be true. */
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'dist/cli/troupe.js');
const readme = await readFile(join(root, 'README.md'), 'utf8');

/** The text under a heading, up to the next heading of the same or a higher level. */
function section(heading) {
  const start = readme.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README.md has no section '${heading}'`);
  const level = heading.match(/^#+/)[0].length;
  const rest = readme.slice(start + heading.length + 2);
  const next = rest.search(new RegExp(`^#{1,${level}} `, 'm'));
  return next < 0 ? rest : rest.slice(0, next);
}

/** The fenced code blocks of one language in `text`, in order. */
const blocks = (text, lang) =>
  [...text.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1]);

/** A scratch project outside the repository where `import 'troupe'` finds this package, as after npm install. */
async function project(files) {
  const dir = await mkdtemp(join(tmpdir(), 'troupe-readme-'));
  await mkdir(join(dir, 'node_modules'));
  await symlink(root, join(dir, 'node_modules', 'troupe'), 'dir');
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

/** `troupe serve <app> --port 0` in `cwd`; resolves with the origin once the port is open, and a stop(). */
async function serve(cwd, app, ...args) {
  const child = spawn(process.execPath, [bin, 'serve', app, '--port', '0', '--quiet', ...args], {
    cwd,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const origin = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`troupe serve did not open its port: ${stderr}`)),
      30_000,
    );
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const found = stderr.match(/serving .* on (http:\/\/\S+) /);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`troupe serve exited (${code}) before opening its port: ${stderr}`));
    });
  });
  return {
    origin,
    async stop() {
      child.kill('SIGTERM');
      assert.equal(await exited, 0, `troupe serve exits 0 on SIGTERM: ${stderr}`);
    },
  };
}

test('README: the programmatic example (main.mjs + app.mjs) runs as pasted and prints what it says', async () => {
  const api = section('## The programmatic API');
  const [main, app] = blocks(api, 'js');
  const [printed] = blocks(api, 'text');
  assert.ok(main.includes("new URL('./app.mjs', import.meta.url)"), 'main.mjs loads app.mjs');
  assert.ok(app.includes('defineApp'));
  const dir = await project({ 'main.mjs': main, 'app.mjs': app });
  try {
    const { code, stdout, stderr } = await new Promise((resolve) => {
      execFile(process.execPath, ['main.mjs'], { cwd: dir, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? (err.code ?? err.signal) : 0, stdout, stderr }),
      );
    });
    assert.equal(code, 0, `node main.mjs failed: ${stderr}`);
    assert.equal(stderr, '');
    assert.equal(stdout, printed, 'the README says `node main.mjs` prints this');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('README: the HTTP defineApp example serves as pasted with troupe serve', async () => {
  const [app] = blocks(section('### The app'), 'js');
  const claimed = section('### The app').match(/`curl` answers\s+`([^`]+)`/)?.[1];
  assert.ok(claimed, 'the README says what curl answers');
  const dir = await project({ 'app.mjs': app });
  try {
    const server = await serve(dir, 'app.mjs', '--actors', '2');
    try {
      const res = await fetch(`${server.origin}/`);
      assert.equal(res.status, 200);
      assert.equal((await res.text()).trim(), claimed);
    } finally {
      await server.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('README: the curl samples for /, /json and /_troupe/health are what `npm start`’s server answers', async () => {
  // Every `curl http://127.0.0.1:3000/<path>   # <sample>` line, in README order; `...` stands for anything.
  const samples = [...readme.matchAll(/^curl (?:-i )?http:\/\/127\.0\.0\.1:3000(\/\S*)\s+# (.+)$/gm)].map(
    (m) => ({
      path: m[1],
      sample: m[2].trim(),
    }),
  );
  const paths = ['/', '/json', '/_troupe/health'];
  for (const path of paths)
    assert.ok(
      samples.some((s) => s.path === path),
      `a sample for ${path}`,
    );
  const server = await serve(root, 'examples/hello-app.mjs');
  try {
    // A fresh server answers each path in the order a reader runs them: /, then /json, then health.
    const answers = {};
    for (const path of paths) answers[path] = (await (await fetch(`${server.origin}${path}`)).text()).trim();
    for (const { path, sample } of samples.filter((s) => paths.includes(s.path))) {
      const pattern = new RegExp(
        `^${sample
          .split('...')
          .map((p) => p.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&'))
          .join('.*')}$`,
      );
      assert.match(answers[path], pattern, `README sample for ${path}`);
    }
  } finally {
    await server.stop();
  }
});

test('README: shell examples run the CLI as `npx troupe` (a clone has no `troupe` on PATH)', () => {
  const bare = blocks(readme, 'sh')
    .flatMap((b) => b.split('\n'))
    .filter((line) => /^troupe\s/.test(line) || /\|\s*troupe\s/.test(line));
  assert.deepEqual(bare, []);
  assert.ok(blocks(readme, 'sh').some((b) => /^npx troupe viz/m.test(b)));
});
