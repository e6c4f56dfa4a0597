import { readdir, readFile } from 'node:fs/promises';

/**
 * CPU time (user + system, every thread) used by a server process and its child processes, in µs, from
 * /proc. Throughput on a shared machine says how much CPU a server *got*; CPU per request says what it
 * *costs*, which other load on the machine does not change as much. Returns NaN where /proc is missing.
 */
export async function cpuMicros(pid: number): Promise<number> {
  try {
    const pids = [pid, ...(await children(pid))];
    let ticks = 0;
    for (const p of pids) {
      const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0); // utime, stime
    }
    return (ticks * 1e6) / 100; // USER_HZ is 100 on Linux
  } catch {
    return Number.NaN;
  }
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
