#!/usr/bin/env node
// Makes sure the programs the test suite drives are installed, so that `npm install && npm test` is all a
// fresh Debian machine needs. Run by `npm test` before the tests.
//
// For each program missing, as root with apt-get: `apt-get update` once, then `apt-get install -y` the
// Debian packages. Otherwise it prints one line naming the command to run and exits 1: a missing program
// fails the suite, it never skips the tests that need it.
//
// Where it looks: every directory on PATH, and the sbin beside each bin on it (Debian puts nats-server
// and haproxy in /usr/sbin, which a user's PATH often lacks). CHROMIUM_PATH, when set, is the browser
// the inspector's page test drives, and must exist.
//
// TROUPE_PROVISION_UID, when set, is taken as the user id instead of the real one, so that a test can
// run this script as a non-root user would (TROUPE_PROVISION_UID=1000) without being one.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

/** Program → the Debian package that installs it, and what needs it. */
const needs = [
  { program: 'chromium', pkg: 'chromium', why: "the inspector page's browser test" },
  { program: 'nats-server', pkg: 'nats-server', why: 'the cluster tests' },
  { program: 'haproxy', pkg: 'haproxy', why: 'the cluster tests (the load balancer in front)' },
];

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function searchDirs() {
  const dirs = [];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    dirs.push(dir);
    if (dir.endsWith('/bin')) dirs.push(join(dirname(dir), 'sbin'));
  }
  return [...new Set(dirs)];
}

/** Where `program` is, or undefined. */
function find(program) {
  if (program === 'chromium' && process.env.CHROMIUM_PATH) {
    return executable(process.env.CHROMIUM_PATH) ? process.env.CHROMIUM_PATH : undefined;
  }
  for (const dir of searchDirs()) {
    const path = join(dir, program);
    if (executable(path)) return path;
  }
  return undefined;
}

function missingNeeds() {
  return needs.filter((n) => find(n.program) === undefined);
}

function fail(line) {
  process.stderr.write(`troupe tests: ${line}\n`);
  process.exit(1);
}

let missing = missingNeeds();
if (missing.length === 0) process.exit(0);

if (process.env.CHROMIUM_PATH && missing.some((n) => n.program === 'chromium')) {
  fail(
    `CHROMIUM_PATH=${process.env.CHROMIUM_PATH} is not an executable file: point it at a Chromium, or unset it.`,
  );
}

const packages = missing.map((n) => n.pkg);
const uid =
  process.env.TROUPE_PROVISION_UID !== undefined
    ? Number(process.env.TROUPE_PROVISION_UID)
    : process.getuid?.();
const aptGet = find('apt-get');
const what = missing.map((n) => `${n.program} (${n.why})`).join(', ');
if (aptGet === undefined) {
  fail(
    `missing ${what}, and apt-get is not available: install the packages ${packages.join(' ')} with this system's package manager, then run npm test again.`,
  );
}
if (uid !== 0) {
  fail(
    `missing ${what}: run  sudo apt-get update && sudo apt-get install -y ${packages.join(' ')}  then npm test again.`,
  );
}

process.stderr.write(`troupe tests: installing ${packages.join(' ')} (missing: ${what})\n`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
for (const args of [['update'], ['install', '-y', ...packages]]) {
  const run = spawnSync(aptGet, args, { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (run.status !== 0) {
    fail(
      `apt-get ${args.join(' ')} failed (${run.error?.message ?? `exit ${run.status ?? run.signal}`}); run it by hand to see why.`,
    );
  }
}
missing = missingNeeds();
if (missing.length > 0) {
  fail(
    `apt-get installed ${packages.join(' ')}, yet ${missing.map((n) => n.program).join(', ')} is still not on PATH.`,
  );
}
