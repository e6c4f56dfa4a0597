import { InvalidArgumentError } from '../actors/errors.js';
import type { ClusterMember, LocalRequests } from '../actors/router/cluster-link.js';
import type { Config, InspectionEvent } from '../actors/types.js';
import { decode, encode } from './codec.js';
import type { ConfigStore, StoredConfig } from './config-store.js';
import type { NatsConnection } from './connection.js';
import { Coordinator } from './coordinator.js';
import type { LocalNode } from './local-node.js';
import { Membership, type NodeState } from './membership.js';
import type { ResolvedCluster } from './options.js';
import { Participant } from './participant.js';
import { type ConfigMessage, subjects } from './protocol.js';
import { RemoteRequests } from './remote-requests.js';

/** A node built without a request path (tests of membership alone) runs nothing for others. */
const noLocalRequests: LocalRequests = {
  request: () => Promise.reject(new Error('This node runs no requests for others.')),
  start: () => {
    throw new Error('This node runs no requests for others.');
  },
  cancel: () => {},
  stream: () => {
    throw new Error('This node runs no requests for others.');
  },
  load: () => ({ actors: 0, inFlight: 0, capacity: 0 }),
  timeout: 0,
};

export type ClusterLog = (line: string) => void;

/**
 * This process as a member of the cluster: its membership heartbeats, its part in config changes
 * (participant, and coordinator for its own `configure()` calls), catching up from the bucket after a
 * join or a partition, and what `snapshot().cluster` reports.
 */
export class ClusterNode implements ClusterMember {
  private state: NodeState = 'joining';
  private partitioned = false;
  private readonly membership: Membership;
  private readonly participant: Participant;
  private readonly coordinator: Coordinator;
  private configureChain: Promise<unknown> = Promise.resolve();
  private stopWatch: (() => void) | undefined;
  private retry: NodeJS.Timeout | undefined;
  private left = false;
  readonly remote: RemoteRequests;

  constructor(
    private readonly nc: NatsConnection,
    private readonly cluster: ResolvedCluster,
    private readonly store: ConfigStore,
    private readonly local: LocalNode,
    private readonly log: ClusterLog,
    private readonly inspect: (event: InspectionEvent) => void = () => undefined,
    requests?: LocalRequests,
    inspecting: () => boolean = () => false,
    balanceFactor = 1.25,
  ) {
    this.membership = new Membership(
      nc,
      cluster,
      () => this.heartbeat(),
      (change, member) => {
        const what = change === 'dropped' ? `dropped out (silent for ${cluster.nodeTimeout} ms)` : change;
        this.log(`member ${member} ${what}`);
        if (change === 'left') this.remote?.left(member);
        else if (change === 'dropped') this.remote?.lost(member, what);
        this.report(change, { member });
      },
    );
    this.remote = new RemoteRequests(
      nc,
      cluster,
      requests ?? noLocalRequests,
      () => this.membership.peerList(),
      () => this.state === 'ready',
      () => this.partitioned,
      inspect,
      inspecting,
      balanceFactor,
    );
    this.participant = new Participant(local, cluster.prepareTimeout + cluster.heartbeat, (txn) =>
      this.fate(txn),
    );
    this.coordinator = new Coordinator(
      nc,
      cluster,
      store,
      this.membership,
      this.participant,
      () => this.partitioned,
    );
  }

  /**
   * Fails when another live process already answers for this node id: two processes under one id would
   * split its config messages between them and make its membership flap.
   */
  static async claim(nc: NatsConnection, cluster: ResolvedCluster): Promise<void> {
    try {
      await nc.request(subjects.config(cluster.name, cluster.node), encode({ op: 'ping' }), {
        timeout: cluster.prepareTimeout,
      });
    } catch {
      return; // nobody answers: the id is free (a node killed earlier no longer holds its subscription)
    }
    throw new InvalidArgumentError(
      `Node id '${cluster.node}' is already in use in cluster ${cluster.name}: give each node its own id.`,
    );
  }

  /** Announces the node as joining and answers config messages; its actors are still warming up. */
  begin(): void {
    this.nc.subscribe(subjects.config(this.cluster.name, this.cluster.node), {
      callback: (err, msg) => {
        if (err !== null) return;
        let body: ConfigMessage;
        try {
          body = decode<ConfigMessage>(msg.data);
        } catch {
          return;
        }
        void this.participant.handle(body).then((reply) => {
          if (!this.nc.isClosed()) msg.respond(encode(reply));
        });
      },
    });
    this.remote.start();
    this.membership.start();
    void this.watchStatus();
  }

  /**
   * The actors are warm: catch up to whatever was committed while they warmed, then report ready. From
   * here a commit this node was not asked to prepare (it was not a member yet) arrives by the watch.
   */
  async ready(): Promise<void> {
    this.stopWatch = await this.store.watch((entry) => this.onCommitted(entry));
    await this.catchUp();
  }

  configure(change: Config): Promise<{ version: number }> {
    // Changes from this node queue up rather than conflict with each other.
    const run = this.configureChain.then(() => this.coordinator.configure(change));
    this.configureChain = run.catch(() => undefined);
    return run;
  }

  snapshot() {
    return {
      name: this.cluster.name,
      node: this.cluster.node,
      partitioned: this.partitioned,
      nodes: this.membership.nodes(),
      requests: this.remote.snapshot(),
    };
  }

  /** Every committed version still in the bucket, oldest first (the audit log). */
  history(): Promise<StoredConfig[]> {
    return this.store.history();
  }

  async leave(): Promise<void> {
    if (this.left) return;
    this.left = true;
    clearTimeout(this.retry);
    this.stopWatch?.();
    await this.participant.close();
    this.state = 'left';
    this.membership.leave();
    this.log('left the cluster');
  }

  /** Drains the connection, bounded: a node cut off from NATS must still be able to stop. */
  async disconnect(): Promise<void> {
    if (this.nc.isClosed()) return;
    if (this.partitioned) {
      await this.nc.close().catch(() => undefined);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.cluster.prepareTimeout);
    });
    await Promise.race([this.nc.drain().catch(() => undefined), late]);
    clearTimeout(timer);
    if (!this.nc.isClosed()) await this.nc.close().catch(() => undefined);
  }

  private async fate(txn: string): Promise<'commit' | 'wait' | 'abort'> {
    const [entry, holder] = await Promise.all([this.store.read(), this.store.lockedBy()]);
    if (entry?.txn === txn) return 'commit';
    return holder === txn ? 'wait' : 'abort';
  }

  private report(
    change: Extract<InspectionEvent, { type: '@troupe.cluster' }>['change'],
    detail: { member?: string; version?: number },
  ): void {
    this.inspect({ type: '@troupe.cluster', at: Date.now(), node: this.cluster.node, change, ...detail });
  }

  private heartbeat() {
    const { actors, inFlight } = this.local.load();
    return {
      id: this.cluster.node,
      state: this.state,
      configVersion: this.local.current().version,
      actors,
      inFlight,
    };
  }

  private setState(state: NodeState): void {
    if (this.state === state || this.left) return;
    this.state = state;
    this.membership.announce();
  }

  private onCommitted(entry: StoredConfig): void {
    if (this.participant.committed(entry)) return;
    if (entry.version > this.local.current().version) void this.catchUp();
  }

  /** Brings the actors to the committed version (state `behind` meanwhile), then reports ready. */
  private catchUp(): Promise<void> {
    return this.participant
      .enqueue(async () => {
        if (this.left) return;
        const entry = await this.store.read();
        if (entry !== undefined && entry.version > this.local.current().version) {
          this.setState('behind');
          const from = this.local.current().version;
          await this.participant.catchUp(entry);
          this.log(`caught up from config version ${from} to ${entry.version}`);
          this.report('caught-up', { version: entry.version });
        }
        this.setState('ready');
      })
      .catch((err: unknown) => {
        if (this.left) return;
        // Still behind (the bucket is out of reach, or an actor rejected the committed config): it keeps
        // serving its version, says so in its heartbeat, and tries again.
        this.setState('behind');
        this.log(`cannot catch up to the committed config yet: ${(err as Error)?.message ?? err}`);
        clearTimeout(this.retry);
        this.retry = setTimeout(() => void this.catchUp(), this.cluster.nodeTimeout);
        this.retry.unref();
      });
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.left) return;
      if (s.type === 'disconnect' && !this.partitioned) {
        this.partitioned = true;
        const version = this.local.current().version;
        this.log(
          `cut off from NATS: still serving config version ${version}; config changes fail until it reconnects`,
        );
        this.report('partitioned', { version });
      } else if (s.type === 'reconnect') {
        this.partitioned = false;
        this.log('reconnected to NATS: catching up to the committed config');
        this.report('reconnected', { version: this.local.current().version });
        this.membership.hello();
        void this.catchUp();
      }
    }
    // The connection closed for good (not by leave()): this node serves on, cut off, and says so.
    if (!this.left && !this.partitioned) {
      this.partitioned = true;
      this.log('the NATS connection closed: still serving, cut off from the cluster');
      this.report('partitioned', { version: this.local.current().version });
    }
  }
}
