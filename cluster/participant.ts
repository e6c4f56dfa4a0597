import { ConfigRejectedError } from '../actors/errors.js';
import type { Config } from '../actors/types.js';
import { sameData } from './codec.js';
import type { StoredConfig } from './config-store.js';
import type { LocalNode } from './local-node.js';
import type { ConfigMessage, ConfigReply } from './protocol.js';

interface Held {
  txn: string;
  version: number;
  decide: (commit: boolean) => void;
  /** Settles once the decision is applied to the actors. */
  applied: Promise<void>;
}

/** The keys of `next` whose values differ from `from`: what a node that missed versions must apply. */
export function difference(from: Readonly<Config>, next: Readonly<Config>): Config {
  const change: Config = {};
  for (const [key, value] of Object.entries(next)) {
    if (!(key in from) || !sameData(from[key], value)) change[key] = value;
  }
  return change;
}

/** Txns aborted before their prepare came in are remembered, but not forever. */
const ABORTED_KEPT = 256;

/**
 * This node's side of a cluster config change: it prepares on its actors when asked, then holds until the
 * coordinator says commit or abort. Everything that changes the local config (prepares, catch-ups) runs
 * on one chain, so a node never prepares two versions at once.
 */
export class Participant {
  private chain: Promise<unknown> = Promise.resolve();
  private held: Held | undefined;
  private readonly aborted = new Set<string>();
  private closed = false;

  constructor(
    private readonly local: LocalNode,
    /** How long a prepared change waits for its decision before asking the bucket what happened. */
    private readonly decisionTimeout: number,
    /**
     * What became of a change whose decision is late, from the bucket: committed, still in progress
     * (its coordinator holds the rollout lock), or abandoned (its coordinator died or was cut off).
     */
    private readonly fate: (txn: string) => Promise<'commit' | 'wait' | 'abort'>,
  ) {}

  handle(msg: ConfigMessage): Promise<ConfigReply> {
    switch (msg.op) {
      case 'prepare':
        return this.prepare(msg);
      case 'commit':
        return this.decide(msg.txn, msg.version, true);
      case 'abort':
        return this.decide(msg.txn, msg.version, false);
      case 'ping':
        return Promise.resolve({ ok: true });
    }
  }

  /** Runs `op` after every config operation queued before it. */
  enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.chain.then(op);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** The committed `entry` is newer than what this node runs: apply the difference as one change. */
  async catchUp(entry: StoredConfig): Promise<boolean> {
    const cur = this.local.current();
    if (entry.version <= cur.version) return false;
    await this.local.prepare(difference(cur.config, entry.config), entry.version);
    this.local.commit(entry.version);
    return true;
  }

  /** A commit seen in the bucket: the decision for a change this node holds, if it is that one. */
  committed(entry: StoredConfig): boolean {
    if (this.held?.txn !== entry.txn) return false;
    this.held.decide(true);
    return true;
  }

  /** Undoes a held change (the node is leaving) and refuses new prepares. */
  async close(): Promise<void> {
    this.closed = true;
    const held = this.held;
    if (held === undefined) return;
    held.decide(false);
    await held.applied;
  }

  private prepare(msg: Extract<ConfigMessage, { op: 'prepare' }>): Promise<ConfigReply> {
    return new Promise<ConfigReply>((reply) => {
      void this.enqueue(async () => {
        if (this.closed) {
          reply({ ok: false, kind: 'unavailable', message: 'the node is leaving the cluster' });
          return;
        }
        if (this.aborted.has(msg.txn)) {
          reply({ ok: false, kind: 'unavailable', message: 'the change was aborted before it arrived' });
          return;
        }
        const cur = this.local.current();
        if (cur.version >= msg.version) {
          reply({
            ok: false,
            kind: 'unavailable',
            message: `the node already runs config version ${cur.version}`,
          });
          return;
        }
        const change = cur.version === msg.base ? msg.change : difference(cur.config, msg.config);
        try {
          await this.local.prepare(change, msg.version);
        } catch (err) {
          reply(rejection(err));
          return;
        }
        await this.hold(msg.txn, msg.version, reply);
      });
    });
  }

  /** Holds the prepared change (and the chain) until the decision, or until the bucket tells it. */
  private async hold(txn: string, version: number, reply: (r: ConfigReply) => void): Promise<void> {
    let decide: (commit: boolean) => void = () => undefined;
    const decision = new Promise<boolean>((resolve) => {
      decide = resolve;
    });
    let applied: () => void = () => undefined;
    const held: Held = {
      txn,
      version,
      decide,
      applied: new Promise<void>((resolve) => {
        applied = resolve;
      }),
    };
    this.held = held;
    if (this.aborted.has(txn) || this.closed) decide(false);
    reply({ ok: true });
    let timer: NodeJS.Timeout | undefined;
    const ask = () => {
      timer = setTimeout(() => {
        this.fate(txn).then(
          (fate) => (fate === 'wait' ? ask() : decide(fate === 'commit')),
          // The bucket is out of reach too: keep the change prepared until one of them answers.
          () => ask(),
        );
      }, this.decisionTimeout);
    };
    ask();
    const commit = await decision;
    clearTimeout(timer);
    this.held = undefined;
    try {
      if (commit) this.local.commit(version);
      else await this.local.abort(version);
    } finally {
      applied();
    }
  }

  private async decide(txn: string, version: number, commit: boolean): Promise<ConfigReply> {
    const held = this.held;
    if (held?.txn === txn) {
      held.decide(commit);
      await held.applied;
      return { ok: true };
    }
    if (!commit) {
      // The abort overtook its prepare (the coordinator gave up waiting): the prepare must not apply.
      this.aborted.add(txn);
      if (this.aborted.size > ABORTED_KEPT) this.aborted.delete(this.aborted.values().next().value!);
      return { ok: true };
    }
    const cur = this.local.current();
    return cur.version >= version
      ? { ok: true }
      : { ok: false, kind: 'unavailable', message: `the node did not prepare config version ${version}` };
  }
}

function rejection(err: unknown): ConfigReply {
  if (err instanceof ConfigRejectedError) {
    const cause = err.cause as { name?: string; message?: string; code?: string } | undefined;
    return {
      ok: false,
      kind: 'rejected',
      message: err.message,
      actorId: err.actorId,
      error: {
        name: String(cause?.name ?? 'Error'),
        message: String(cause?.message ?? cause),
        ...(typeof cause?.code === 'string' ? { code: cause.code } : {}),
      },
    };
  }
  return { ok: false, kind: 'unavailable', message: String((err as Error)?.message ?? err) };
}
