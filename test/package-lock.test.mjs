import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

/**
 * npm records every optional dependency in the lock, whatever the platform, and adds the ones missing on
 * the next install: a lock written with some of them left out is rewritten by `npm install` in every fresh
 * clone (and refused by `npm ci`). Biome ships its binary as one optional package per platform.
 */
test('package-lock.json records every optional dependency of every locked package, on all platforms', async () => {
  const lock = JSON.parse(await readFile(new URL('../package-lock.json', import.meta.url), 'utf8'));
  const locked = new Set(Object.keys(lock.packages));
  const missing = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    for (const name of Object.keys(entry.optionalDependencies ?? {})) {
      // npm resolves a dependency in the nearest node_modules up from the package that needs it.
      let dir = path;
      let found = false;
      for (;;) {
        if (locked.has(`${dir === '' ? '' : `${dir}/`}node_modules/${name}`)) {
          found = true;
          break;
        }
        if (dir === '') break;
        const up = dir.lastIndexOf('/node_modules/');
        dir = up < 0 ? '' : dir.slice(0, up);
      }
      if (!found) missing.push(`${name} (optional dependency of ${path || 'the root'})`);
    }
  }
  assert.deepEqual(missing, [], 'npm install adds them: commit the package-lock.json it writes');
  assert.ok(locked.has('node_modules/@biomejs/cli-darwin-arm64'), 'the check itself sees biome’s binaries');
});
