import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/**
 * `troupe serve` runs its HTTP front with two V8 flags that only work on node's command line: a larger
 * initial old generation (`--initial-old-space-size`) and no memory reducer (`--no-memory-reducer`).
 * When they are missing, the command starts itself again with them and stands in for that process
 * (signals forwarded, its exit code returned).
 *
 * Why: they were added against a state the front's garbage collection fell into under load, where a
 * large share of its request garbage was promoted, scavenges took milliseconds and V8's helper threads
 * were kept busy. With room in the old generation, and no full collection from the memory reducer while the
 * front idles, the state did not begin. Its cause was found later and removed: the requests in flight
 * were kept in a churning Map and Set, whose dead tables kept them alive (see actors/wire/id-table.ts).
 * The flags stay the default until benchmark runs settle whether node's own settings now do as well.
 * `bench/tools/front-gc.mjs` and the HTTP benchmark show both.
 *
 * TROUPE_FRONT_HEAP_MB sets the size (default 128); 0 turns both off. An explicit
 * `--initial-old-space-size` on node's command line is kept as it is (and nothing is added), and so is a
 * process started with `--inspect` (one process, the one the debugger is attached to).
 */
const FLAG = '--initial-old-space-size';
const NO_MEMORY_REDUCER = '--no-memory-reducer';
const DEFAULT_MB = 128;
const RELAUNCHED = 'TROUPE_FRONT_HEAP_RELAUNCHED';

/** The flags to add, or undefined when this process already has what it needs (or the user said 0). */
export function frontGcFlags(env: NodeJS.ProcessEnv, execArgv: readonly string[]): string[] | undefined {
  if (env[RELAUNCHED] === '1' || execArgv.some((a) => a.startsWith(FLAG))) return undefined;
  // A debugging session attached its inspector to this process: the front must run here to be seen.
  if (execArgv.some((a) => a.startsWith('--inspect'))) return undefined;
  const raw = env.TROUPE_FRONT_HEAP_MB;
  const mb = raw === undefined || raw === '' ? DEFAULT_MB : Number(raw);
  if (!Number.isInteger(mb) || mb < 0) {
    throw new Error(`TROUPE_FRONT_HEAP_MB must be a whole number of MB (0 = off); got '${raw}'`);
  }
  return mb === 0 ? undefined : [`${FLAG}=${mb}`, NO_MEMORY_REDUCER];
}

/**
 * Runs this same command in a child node with `flags` and waits for it. The parent only relays: SIGINT,
 * SIGTERM and SIGHUP go to the child (a drain, a reload), and should the parent be killed outright the
 * child sees its IPC channel close and exits at once, as it would have died with it.
 */
export function relaunch(flags: readonly string[]): Promise<number> {
  const args = [...flags, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)];
  // Its own process group: a terminal's Ctrl-C reaches this process alone, which relays it once (a second
  // SIGINT would tell the child to cut off its requests rather than drain them).
  const child = spawn(process.execPath, args, {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [RELAUNCHED]: '1' },
    detached: true,
  });
  const relay = (signal: NodeJS.Signals) => () => {
    child.kill(signal);
  };
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, relay(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  return new Promise((resolve) => {
    child.once('error', (err) => {
      process.stderr.write(`troupe: cannot start the front with ${flags.join(' ')}: ${err.message}\n`);
      resolve(1);
    });
    child.once('exit', (code, signal) => {
      for (const [s, h] of handlers) process.off(s, h);
      resolve(code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)));
    });
  });
}

/** In the relaunched child: exit with the parent, without holding the process open for the channel. */
export function followParent(): void {
  if (process.env[RELAUNCHED] !== '1' || process.channel === undefined) return;
  process.channel.unref();
  process.once('disconnect', () => process.exit(1));
}
