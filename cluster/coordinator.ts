import { randomBytes } from 'node:crypto';
import {
  ClusterUnavailableError,
  ConfigConflictError,
  ConfigRejectedError,
  TroupeError,
} from '../actors/errors.js';
import type { Config } from '../actors/types.js';
import { decode, encode } from './codec.js';
import type { ConfigStore, StoredConfig } from './config-store.js';
import type { NatsConnection } from './connection.js';
import type { Membership } from './membership.js';
import type { ResolvedCluster } from './options.js';
import type { Participant } from './participant.js';
import { type ConfigMessage, type ConfigReply, subjects } from './protocol.js';

/** A member's answer, or why none came. */
type Answer = { node: string; reply: ConfigReply };

/**
 * One config change across the cluster, from the node where `configure()` was called: take the rollout
 * lock, prepare on every member (this node included), commit by compare-and-set on the bucket, then tell
 * every member to commit. Any rejection, silence or lost race aborts it on every member instead.
 */
export class Coordinator {
  private seq = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly cluster: ResolvedCluster,
    private readonly store: ConfigStore,
    private readonly membership: Membership,
    private readonly self: Participant,
    private readonly isPartitioned: () => boolean,
  ) {}

  async configure(change: Config): Promise<{ version: number }> {
    const { node, prepareTimeout, heartbeat } = this.cluster;
    if (this.isPartitioned()) {
      throw new ClusterUnavailableError(
        `Node ${node} is cut off from NATS: no config change can be committed until it reconnects (it keeps serving its last committed version).`,
        node,
      );
    }
    // A member that missed a few heartbeats may be cut off: committing without it would leave it on the
    // old version, so the change waits until it is back or has dropped out of the membership.
    const silent = this.membership.silent(heartbeat * 2.5);
    if (silent.length > 0) {
      const s = silent[0]!;
      throw new ClusterUnavailableError(
        `Member ${s.id} has not been heard from for ${Date.now() - s.lastSeen} ms: no config change commits while a member is unreachable. Retry once it is back or has left the membership (nodeTimeout ${this.cluster.nodeTimeout} ms).`,
        s.id,
      );
    }
    const txn = `${node}.${++this.seq}.${randomBytes(4).toString('hex')}`;
    // The base is read alongside taking the lock, not after: were another change committed between the
    // two, the compare-and-set on the base's revision would still refuse this one.
    const [lock, base] = await Promise.all([
      this.guard(() => this.store.lock(node, txn, prepareTimeout * 3 + 5_000)),
      this.guard(() => this.store.read()).catch((err: unknown) => err as Error),
    ]);
    let unlocking: Promise<void> | undefined;
    // Freed before configure() resolves: a change made right after this one, on any node, must not find
    // the lock still held.
    const unlock = () => {
      unlocking ??= this.store.unlock(lock);
      return unlocking;
    };
    try {
      if (base instanceof Error) throw base;
      return await this.run(change, txn, base, unlock);
    } finally {
      await unlock();
    }
  }

  private async run(
    change: Config,
    txn: string,
    base: StoredConfig | undefined,
    unlock: () => Promise<void>,
  ): Promise<{ version: number }> {
    if (base === undefined) throw new ClusterUnavailableError('The cluster has no committed config yet.');
    const version = base.version + 1;
    const config = { ...base.config, ...change };
    const members = this.membership.activePeers().map((p) => p.id);
    const prepare: ConfigMessage = { op: 'prepare', txn, version, base: base.version, change, config };
    const answers = await this.askAll(members, prepare);
    const failed = answers.find((a) => !a.reply.ok);
    if (failed !== undefined) {
      await this.askAll(members, { op: 'abort', txn, version });
      throw toError(failed, version);
    }
    try {
      await this.guard(() =>
        this.store.commit(base, { version, config, change, node: this.cluster.node, txn, at: Date.now() }),
      );
    } catch (err) {
      await this.askAll(members, { op: 'abort', txn, version });
      throw err;
    }
    // Committed: a member that misses this message catches up from the bucket (its watch, or its
    // decision timeout), so the answers here only make configure() resolve once all have applied it.
    // The lock has done its job once the compare-and-set succeeded: it is freed meanwhile.
    await Promise.all([this.askAll(members, { op: 'commit', txn, version }), unlock()]);
    return { version };
  }

  /** Sends `msg` to this node's participant and to every member in `members`, in parallel. */
  private askAll(members: string[], msg: ConfigMessage): Promise<Answer[]> {
    return Promise.all([this.askSelf(msg), ...members.map((id) => this.ask(id, msg))]);
  }

  /** This node prepares under the same prepareTimeout as every other member. */
  private askSelf(msg: ConfigMessage): Promise<Answer> {
    const node = this.cluster.node;
    const timeout = this.cluster.prepareTimeout;
    const answer = this.self.handle(msg).then((reply) => ({ node, reply }));
    if (msg.op !== 'prepare') return answer;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Answer>((resolve) => {
      timer = setTimeout(
        () =>
          resolve({
            node,
            reply: {
              ok: false,
              kind: 'unavailable',
              message: `member ${node} (this node) did not prepare within prepareTimeout (${timeout} ms)`,
            },
          }),
        timeout,
      );
    });
    return Promise.race([answer, late]).finally(() => clearTimeout(timer));
  }

  private async ask(node: string, msg: ConfigMessage): Promise<Answer> {
    const timeout = this.cluster.prepareTimeout;
    try {
      const res = await this.nc.request(subjects.config(this.cluster.name, node), encode(msg), { timeout });
      return { node, reply: decode<ConfigReply>(res.data) };
    } catch (err) {
      const why = (err as Error)?.message ?? String(err);
      const message = /no responders/i.test(why)
        ? `member ${node} is not listening (it stopped or lost NATS)`
        : /timeout/i.test(why)
          ? `member ${node} did not answer the ${msg.op} within prepareTimeout (${timeout} ms)`
          : `member ${node} could not be asked to ${msg.op}: ${why}`;
      return { node, reply: { ok: false, kind: 'unavailable', message } };
    }
  }

  /** A NATS or JetStream failure becomes a typed ClusterUnavailableError; troupe's own errors pass. */
  private async guard<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof TroupeError) throw err;
      throw new ClusterUnavailableError(
        `The config bucket cannot be reached (${(err as Error)?.message ?? err}); nothing was applied.`,
        this.cluster.node,
        { cause: err },
      );
    }
  }
}

function toError(failed: Answer, version: number): Error {
  const { node, reply } = failed;
  if (reply.ok) throw new Error('unreachable');
  if (reply.kind === 'rejected') {
    const cause = Object.assign(new Error(reply.error?.message ?? reply.message), {
      name: reply.error?.name ?? 'Error',
      ...(reply.error?.code !== undefined ? { code: reply.error.code } : {}),
    });
    return new ConfigRejectedError(reply.actorId ?? -1, version, cause, node);
  }
  if (/already runs config version/.test(reply.message)) {
    return new ConfigConflictError(`${node}: ${reply.message}`, node);
  }
  return new ClusterUnavailableError(
    `Config version ${version} was aborted on every node: ${reply.message}.`,
    node,
  );
}
