import type { Subscription } from '@nats-io/transport-node';
import type { ClusterNodeSnapshot } from '../actors/types.js';
import type { NatsConnection } from './connection.js';
import type { ResolvedCluster } from './options.js';

export type NodeState = ClusterNodeSnapshot['state'];

/** What a heartbeat carries: this node's own view of itself. */
export type Heartbeat = Omit<ClusterNodeSnapshot, 'lastSeen'>;

/**
 * Who is in the cluster, from heartbeats on a subject. Every node announces itself every `heartbeat` ms
 * and at once on a state change; a member silent for a whole nodeTimeout drops out. Plain subjects rather
 * than a KV bucket with a TTL: an expiring key notifies no watcher on the servers this targets, and the
 * heartbeat is the one message per second that also carries each member's load.
 */
export class Membership {
  private readonly peers = new Map<string, ClusterNodeSnapshot>();
  private readonly subs: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly subject: string;
  private readonly helloSubject: string;
  /** Silent this long, a member is gone: one heartbeat short of nodeTimeout, so that with the sweep's
   * period it is dropped within nodeTimeout of its last breath. */
  private readonly expiry: number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly cluster: ResolvedCluster,
    private readonly self: () => Heartbeat,
    private readonly onChange: (event: 'joined' | 'left' | 'dropped', id: string) => void,
  ) {
    this.subject = `troupe.${cluster.name}.members`;
    this.helloSubject = `troupe.${cluster.name}.hello`;
    this.expiry = Math.max(cluster.heartbeat, cluster.nodeTimeout - cluster.heartbeat);
  }

  start(): void {
    this.subs.push(
      this.nc.subscribe(this.subject, {
        callback: (err, msg) => {
          if (err === null) this.heard(msg.data);
        },
      }),
      // A node that just joined or reconnected asks for everyone's heartbeat instead of waiting a period.
      this.nc.subscribe(this.helloSubject, {
        callback: (err) => {
          if (err === null) this.announce();
        },
      }),
    );
    this.timer = setInterval(() => this.announce(), this.cluster.heartbeat);
    this.timer.unref();
    this.sweeper = setInterval(() => this.sweep(), Math.max(25, this.cluster.heartbeat / 2));
    this.sweeper.unref();
    this.hello();
  }

  /** Asks every member for a heartbeat now (after a join or a reconnect). */
  hello(): void {
    this.announce();
    if (!this.nc.isClosed()) this.nc.publish(this.helloSubject);
  }

  /** Publishes this node's heartbeat now. A node cut off from NATS stays silent rather than queue stale ones. */
  announce(): void {
    if (this.nc.isClosed() || this.nc.isDraining()) return;
    try {
      this.nc.publish(this.subject, JSON.stringify(this.self()));
    } catch {
      // Closed between the check and the publish: the next period tries again, or close() ends it.
    }
  }

  /** Other members that take part in config changes (ready or catching up), by id. */
  activePeers(): ClusterNodeSnapshot[] {
    return [...this.peers.values()].filter((p) => p.state === 'ready' || p.state === 'behind');
  }

  /** Members heard from more than `silence` ms ago that have not dropped out yet. */
  silent(silence: number): ClusterNodeSnapshot[] {
    const now = Date.now();
    return this.activePeers().filter((p) => now - p.lastSeen > silence);
  }

  /** Every member this node sees, itself first. */
  nodes(): ClusterNodeSnapshot[] {
    return [{ ...this.self(), lastSeen: Date.now() }, ...[...this.peers.values()].map((p) => ({ ...p }))];
  }

  /** Forgets every peer (this node lost NATS: what it knew about the others is stale). */
  forgetAfter(silence: number): void {
    const now = Date.now();
    for (const p of this.peers.values()) if (now - p.lastSeen > silence) this.drop(p.id, 'dropped');
  }

  /** A clean leave: every other node drops this one now, not after nodeTimeout. */
  leave(): void {
    this.stop();
    this.announce();
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.sweeper);
    for (const sub of this.subs.splice(0)) sub.unsubscribe();
  }

  private heard(data: Uint8Array): void {
    let beat: Heartbeat;
    try {
      beat = JSON.parse(new TextDecoder().decode(data)) as Heartbeat;
    } catch {
      return;
    }
    if (typeof beat?.id !== 'string' || beat.id === this.cluster.node) return;
    if (beat.state === 'left') {
      this.drop(beat.id, 'left');
      return;
    }
    const known = this.peers.has(beat.id);
    this.peers.set(beat.id, {
      id: beat.id,
      state: beat.state,
      configVersion: beat.configVersion,
      actors: beat.actors,
      inFlight: beat.inFlight,
      lastSeen: Date.now(),
    });
    if (!known) this.onChange('joined', beat.id);
  }

  private sweep(): void {
    this.forgetAfter(this.expiry);
  }

  private drop(id: string, why: 'left' | 'dropped'): void {
    if (this.peers.delete(id)) this.onChange(why, id);
  }
}
