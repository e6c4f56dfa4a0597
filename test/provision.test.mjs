import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../scripts/provision.mjs', import.meta.url));

/**
 * Runs the provisioning script with PATH set to a fresh directory holding only what `files` names
 * (so the real chromium, nats-server and haproxy are out of sight); resolves with the exit code, stderr
 * and what a fake apt-get in that directory was asked to do.
 */
async function provision({ uid, files = {} }) {
  const dir = await mkdtemp(join(tmpdir(), 'troupe-provision-'));
  try {
    for (const [name, body] of Object.entries(files)) {
      await writeFile(join(dir, name), body);
      await chmod(join(dir, name), 0o755);
    }
    const env = { PATH: dir, APT_LOG: join(dir, 'apt.log'), BIN: dir };
    if (uid !== undefined) env.TROUPE_PROVISION_UID = String(uid);
    const { code, stderr } = await new Promise((resolve) => {
      execFile(process.execPath, [script], { env }, (err, _stdout, stderr) =>
        resolve({ code: err ? err.code : 0, stderr }),
      );
    });
    const apt = await readFile(join(dir, 'apt.log'), 'utf8').then(
      (log) => log.trim().split('\n'),
      () => [],
    );
    return { code, stderr, apt };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const fakeProgram = '#!/bin/sh\nexit 0\n';
/** A fake apt-get that logs its arguments and, on install, puts each package's program in $BIN. */
const fakeAptGet = `#!/bin/sh
echo "$*" >> "$APT_LOG"
if [ "$1" = install ]; then
  shift 2
  for p in "$@"; do printf '#!/bin/sh\\nexit 0\\n' > "$BIN/$p"; /bin/chmod 755 "$BIN/$p"; done
fi
exit 0
`;
const failingAptGet =
  '#!/bin/sh\necho "$*" >> "$APT_LOG"\n[ "$1" = update ] && exit 0\necho "E: no space" >&2\nexit 100\n';

test('not root: exits 1 with one line naming the exact command, and runs nothing', async () => {
  const { code, stderr, apt } = await provision({ uid: 1000, files: { 'apt-get': fakeAptGet } });
  assert.equal(code, 1);
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
  assert.match(stderr, /missing chromium .*, nats-server .*, haproxy /);
  assert.ok(
    stderr.includes('sudo apt-get update && sudo apt-get install -y chromium nats-server haproxy'),
    stderr,
  );
  assert.deepEqual(apt, [], 'apt-get was not run');
});

test('not root, some programs there: the command names only the missing packages', async () => {
  const { code, stderr } = await provision({
    uid: 1000,
    files: { 'apt-get': fakeAptGet, chromium: fakeProgram, haproxy: fakeProgram },
  });
  assert.equal(code, 1);
  assert.ok(stderr.includes('sudo apt-get install -y nats-server  then'), stderr);
  assert.doesNotMatch(stderr, /missing chromium|haproxy \(/);
});

test('no apt-get: exits 1 naming the packages to install', async () => {
  const { code, stderr } = await provision({ uid: 0 });
  assert.equal(code, 1);
  assert.match(stderr, /apt-get is not available: install the packages chromium nats-server haproxy/);
});

test('root: apt-get update once, then install -y of exactly the missing packages; exits 0 when they are there', async () => {
  const { code, stderr, apt } = await provision({
    uid: 0,
    files: { 'apt-get': fakeAptGet, chromium: fakeProgram },
  });
  assert.equal(code, 0, stderr);
  assert.deepEqual(apt, ['update', 'install -y nats-server haproxy']);
});

test('root, and apt-get fails: exits 1 saying which command failed', async () => {
  const { code, stderr, apt } = await provision({ uid: 0, files: { 'apt-get': failingAptGet } });
  assert.equal(code, 1);
  assert.match(stderr, /apt-get install -y chromium nats-server haproxy failed \(exit 100\)/);
  assert.deepEqual(apt, ['update', 'install -y chromium nats-server haproxy']);
});

test('everything there: exits 0 and never calls apt-get', async () => {
  const { code, apt } = await provision({
    uid: 1000,
    files: { 'apt-get': fakeAptGet, chromium: fakeProgram, 'nats-server': fakeProgram, haproxy: fakeProgram },
  });
  assert.equal(code, 0);
  assert.deepEqual(apt, []);
});
