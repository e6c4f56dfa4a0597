import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { promisify } from 'node:util';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

test('a TypeScript consumer compiles against the published types (import from "troupe")', async () => {
  const project = new URL('./types/tsconfig.json', import.meta.url).pathname;
  const run = promisify(execFile)(process.execPath, [tsc, '-p', project], { encoding: 'utf8' });
  await assert.doesNotReject(run.catch((err) => Promise.reject(new Error(`${err.stdout}${err.stderr}`))));
});
