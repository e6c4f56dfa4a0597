import type { KV } from '@nats-io/kv';
import { ConfigConflictError } from '../actors/errors.js';
import type { Config } from '../actors/types.js';
import { decode, encode } from './codec.js';
import type { NatsConnection } from './connection.js';

/** One committed config version, as stored: its history in the bucket is the audit log. */
export interface CommittedConfig {
  version: number;
  config: Config;
  /** The keys this version changed (the whole config for the first version). */
  change: Config;
  /** The node whose `configure()` committed it. */
  node: string;
  /** The change's id, which the members prepared it under. */
  txn: string;
  /** When it was committed (ms since the epoch, the committing node's clock). */
  at: number;
}

export interface StoredConfig extends CommittedConfig {
  /** The bucket's revision of this entry: the compare-and-set on it serializes commits. */
  revision: number;
}

interface Lock {
  node: string;
  txn: string;
  expires: number;
}

const CONFIG = 'config';
const LOCK = 'rollout';
/** JetStream's error for a compare-and-set that found another revision. */
const WRONG_LAST_SEQUENCE = 10071;

function isWrongSequence(err: unknown): boolean {
  return (err as { code?: unknown })?.code === WRONG_LAST_SEQUENCE;
}

/**
 * The cluster's committed config in a JetStream KV bucket (`troupe_<name>`): one key holds the committed
 * version; another holds the rollout lock, so two changes started at once fail fast instead of both
 * preparing every member and one of them undoing it all.
 */
export class ConfigStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection, name: string): Promise<ConfigStore> {
    const { Kvm } = await import('@nats-io/kv');
    // Kvm.create opens the bucket when it exists: every node may race to create it at startup.
    const kv = await new Kvm(nc).create(`troupe_${name}`, { history: 64 });
    return new ConfigStore(kv);
  }

  async read(): Promise<StoredConfig | undefined> {
    const entry = await this.kv.get(CONFIG);
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return { ...decode<CommittedConfig>(entry.value), revision: entry.revision };
  }

  /** The committed config; the first node of a cluster commits its own initial config as version 1. */
  async initialize(config: Config, node: string, txn: string): Promise<StoredConfig> {
    const found = await this.read();
    if (found !== undefined) return found;
    const first: CommittedConfig = { version: 1, config, change: config, node, txn, at: Date.now() };
    try {
      const revision = await this.kv.create(CONFIG, encode(first));
      return { ...first, revision };
    } catch (err) {
      if (!isWrongSequence(err)) throw err;
      // Another node committed the first version meanwhile: that one holds.
      const winner = await this.read();
      if (winner === undefined) throw err;
      return winner;
    }
  }

  /** Compare-and-set on the revision the change was prepared against: a concurrent commit makes it fail. */
  async commit(base: StoredConfig, next: CommittedConfig): Promise<number> {
    try {
      return await this.kv.update(CONFIG, encode(next), base.revision);
    } catch (err) {
      if (!isWrongSequence(err)) throw err;
      const winner = await this.read().catch(() => undefined);
      throw new ConfigConflictError(
        `config version ${winner?.version ?? '?'} was committed by node ${winner?.node ?? '?'} first`,
        winner?.node,
      );
    }
  }

  /**
   * Takes the rollout lock for `ttl` ms, or throws ConfigConflictError naming the node that holds it. An
   * expired lock (its node died mid-rollout) is taken over, again by compare-and-set.
   */
  async lock(node: string, txn: string, ttl: number): Promise<number> {
    const value = encode({ node, txn, expires: Date.now() + ttl } satisfies Lock);
    const entry = await this.kv.get(LOCK);
    if (entry !== null && entry.operation === 'PUT') {
      const held = decode<Lock>(entry.value);
      if (held.expires > Date.now()) {
        throw new ConfigConflictError(`node ${held.node} is rolling out a change`, held.node);
      }
    }
    try {
      return entry === null
        ? await this.kv.create(LOCK, value)
        : await this.kv.update(LOCK, value, entry.revision);
    } catch (err) {
      if (!isWrongSequence(err)) throw err;
      const now = await this.kv.get(LOCK).catch(() => null);
      const holder = now?.operation === 'PUT' ? decode<Lock>(now.value).node : undefined;
      throw new ConfigConflictError(`node ${holder ?? '?'} started a change at the same time`, holder);
    }
  }

  /** The change holding the rollout lock now, if any (an expired lock holds nothing). */
  async lockedBy(): Promise<string | undefined> {
    const entry = await this.kv.get(LOCK);
    if (entry === null || entry.operation !== 'PUT') return undefined;
    const held = decode<Lock>(entry.value);
    return held.expires > Date.now() ? held.txn : undefined;
  }

  /** Frees the lock if it is still the one taken at `revision`. */
  async unlock(revision: number): Promise<void> {
    await this.kv.delete(LOCK, { previousSeq: revision }).catch(() => undefined);
  }

  /** Every committed version the bucket still holds (up to 64), oldest first: who changed what, when. */
  async history(): Promise<StoredConfig[]> {
    const out: StoredConfig[] = [];
    const iter = await this.kv.history({ key: CONFIG });
    for await (const entry of iter) {
      if (entry.operation === 'PUT')
        out.push({ ...decode<CommittedConfig>(entry.value), revision: entry.revision });
    }
    return out;
  }

  /** Calls `onCommit` for every committed version from now on; returns the function that stops it. */
  async watch(onCommit: (entry: StoredConfig) => void): Promise<() => void> {
    const iter = await this.kv.watch({ key: CONFIG, include: 'updates' });
    void (async () => {
      for await (const entry of iter) {
        if (entry.operation !== 'PUT') continue;
        try {
          onCommit({ ...decode<CommittedConfig>(entry.value), revision: entry.revision });
        } catch {
          // An entry this node cannot decode (written by a newer troupe) is caught up from read() later.
        }
      }
    })();
    return () => iter.stop();
  }
}
