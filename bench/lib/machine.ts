import os from 'node:os';

export interface MachineInfo {
  cpu: string;
  cores: number;
  /** What Node may use: cgroup and affinity limits included, unlike `cores`. */
  availableParallelism: number;
  memoryGiB: number;
  node: string;
  v8: string;
  platform: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    availableParallelism: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
  };
}
