import type { Config } from '../actors/types.js';

/** Subjects, all under `troupe.<cluster name>.`, so that several services can share one NATS. */
export const subjects = {
  members: (name: string) => `troupe.${name}.members`,
  config: (name: string, node: string) => `troupe.${name}.config.${node}`,
};

/** The coordinator's messages to each member, per config change (`txn`). */
export type ConfigMessage =
  | {
      op: 'prepare';
      txn: string;
      version: number;
      /** The committed version the change was made against. */
      base: number;
      change: Config;
      /** The whole config of `version`: a member still behind `base` prepares the difference to it. */
      config: Config;
    }
  | { op: 'commit'; txn: string; version: number }
  | { op: 'abort'; txn: string; version: number }
  /** Is this node id taken? A starting node asks before it joins. */
  | { op: 'ping' };

export type ConfigReply =
  | { ok: true }
  | {
      ok: false;
      /** `rejected`: an actor's configure hook threw; `unavailable`: the member cannot take part now. */
      kind: 'rejected' | 'unavailable';
      message: string;
      actorId?: number;
      error?: { name: string; message: string; code?: string };
    };
