import { readdir, readFile } from 'node:fs/promises';

/**
 * CPU time of a server under test, in µs (user + system), read from /proc: Linux only. Elsewhere every
 * figure is NaN and the report prints a dash. Throughput on a shared machine says how much CPU a server
 * *got*; CPU per request says what it *costs*, which other load on the machine changes far less.
 */
export interface CpuSample {
  /** The main thread of every process (the primary and each node:cluster worker). */
  main: number;
  /**
   * The part of `main` spent in the kernel (system time): socket reads and writes, epoll, and the
   * wake-ups of other threads a hand-off sends. The rest is user time: JavaScript, V8, node's C++.
   */
  mainKernel: number;
  /** The request actors' threads (troupe only; 0 elsewhere). */
  actors: number;
  /** Every thread of every process: main, actors, GC helpers, libuv's pool. */
  all: number;
}

const NONE: CpuSample = { main: Number.NaN, mainKernel: Number.NaN, actors: Number.NaN, all: Number.NaN };

/** `actorTids`: the OS thread ids of the request actors (each writes its own at init, see app.ts). */
export async function cpuSample(pid: number, actorTids: ReadonlySet<number> = new Set()): Promise<CpuSample> {
  try {
    const out: CpuSample = { main: 0, mainKernel: 0, actors: 0, all: 0 };
    for (const p of [pid, ...(await children(pid))]) {
      for (const name of await readdir(`/proc/${p}/task`).catch(() => [] as string[])) {
        const tid = Number(name);
        const [user, system] = times(await readFile(`/proc/${p}/task/${name}/stat`, 'utf8').catch(() => ''));
        const us = user + system;
        out.all += us;
        if (tid === p) {
          out.main += us;
          out.mainKernel += system;
        } else if (actorTids.has(tid)) out.actors += us;
      }
    }
    return out;
  } catch {
    return NONE;
  }
}

export function perRequest(before: CpuSample, after: CpuSample, requests: number): CpuSample {
  return {
    main: (after.main - before.main) / requests,
    mainKernel: (after.mainKernel - before.mainKernel) / requests,
    actors: (after.actors - before.actors) / requests,
    all: (after.all - before.all) / requests,
  };
}

/** A thread's user and system time so far, µs. */
function times(stat: string): [number, number] {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [micros(fields[11]), micros(fields[12])]; // utime, stime
}

function micros(ticks: string | undefined): number {
  const n = Number(ticks ?? 0);
  return Number.isFinite(n) ? (n * 1e6) / 100 : 0; // USER_HZ is 100 on Linux
}

/** node:cluster workers are child processes of the primary. */
async function children(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === pid) out.push(Number(name));
  }
  return out;
}
