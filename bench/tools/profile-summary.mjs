// Summarizes every .cpuprofile in a folder: self time per function (file:line name), top entries per
// thread, as shares of the thread's sampled time (idle and GC shown as V8 reports them).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? '.';
const top = Number(process.argv[3] ?? 25);

for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.cpuprofile'))
  .sort()) {
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const dt = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const self = new Map();
  let total = 0;
  for (const [id, t] of dt) {
    const { callFrame: f } = byId.get(id);
    const where = f.url
      ? `${f.url.replace(/^.*\/(node_modules\/|dist\/|bench\/)/, '$1')}:${f.lineNumber + 1}`
      : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + t);
    total += t;
  }
  console.log(`\n== ${file}: ${(total / 1000).toFixed(0)} ms sampled`);
  const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [key, t] of rows) console.log(`${((t / total) * 100).toFixed(1).padStart(5)}%  ${key}`);
  // Self time per file: a library's many small functions (xstate's transition code) add up here.
  const byFile = new Map();
  for (const [key, t] of self) {
    const file = key.includes(' ') ? key.slice(key.lastIndexOf(' ') + 1).replace(/:\d+$/, '') : key;
    byFile.set(file, (byFile.get(file) ?? 0) + t);
  }
  const files = [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`  by file: ${files.map(([f, t]) => `${f} ${((t / total) * 100).toFixed(1)}%`).join(', ')}`);
}

// Inclusive time of the functions named in PROFILE_INCLUSIVE (comma-separated), per thread: what a call
// costs with everything it calls, e.g. the host's `reconcile` with xstate under it.
const names = (process.env.PROFILE_INCLUSIVE ?? '').split(',').filter(Boolean);
if (names.length > 0) {
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const parent = new Map();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const incl = new Map(names.map((n) => [n, 0]));
    let total = 0;
    for (let i = 0; i < profile.samples.length; i++) {
      const t = profile.timeDeltas[i] ?? 0;
      total += t;
      const seen = new Set();
      for (let id = profile.samples[i]; id !== undefined; id = parent.get(id)) {
        const fn = byId.get(id).callFrame.functionName;
        if (incl.has(fn) && !seen.has(fn)) {
          seen.add(fn);
          incl.set(fn, incl.get(fn) + t);
        }
      }
    }
    const parts = [...incl].map(
      ([n, t]) => `${n} ${((t / total) * 100).toFixed(1)}% (${(t / 1000).toFixed(0)} ms)`,
    );
    console.log(`${file}: inclusive ${parts.join(', ')}`);
  }
}
