import type { LocalRequests, RouteDecision } from '../actors/router/cluster-link.js';
import type { ClusterNodeSnapshot, RequestOptions } from '../actors/types.js';
import { type Candidate, pickNode } from './node-placement.js';
import type { ResolvedCluster } from './options.js';

/**
 * Where a request runs in the cluster: a keyed one on its owner (weighted rendezvous over the ready
 * members, with bounded loads), an unkeyed one here unless this node is saturated. Counts the requests
 * this node has out on each other node, which stand in for their load until their heartbeats catch up.
 */
export class RemoteRoutes {
  private readonly outstanding = new Map<string, number>();

  constructor(
    private readonly cluster: ResolvedCluster,
    private readonly local: LocalRequests,
    private readonly peers: () => Iterable<ClusterNodeSnapshot>,
    /** This node takes part in placement only while it is ready. */
    private readonly selfReady: () => boolean,
    private readonly partitioned: () => boolean,
    private readonly balanceFactor: number,
  ) {}

  /** The cluster's take on a request: undefined means this node runs it. */
  route(options: RequestOptions | undefined, stream: boolean, exclude?: string): RouteDecision | undefined {
    // Cut off from NATS, this node serves what it is asked itself: the others' loads and states are stale.
    if (options?.local === true || this.partitioned()) return undefined;
    const key = options?.key;
    const candidates = this.candidates(exclude);
    if (candidates.length <= 1) return undefined;
    if (typeof key === 'string') {
      const choice = pickNode(key, candidates, this.balanceFactor);
      if (choice === undefined || choice.node === this.cluster.node) return undefined;
      return { node: choice.node, reason: choice.spilled ? 'spill' : 'owner' };
    }
    if (key !== undefined) return undefined; // bad keys fail locally with the local error
    const self = candidates.find((c) => c.id === this.cluster.node);
    const { actors, inFlight, capacity } = this.local.load();
    // Local first: an unkeyed request leaves only when every local actor is busy and as many again
    // wait in the local queues.
    if (self === undefined || inFlight < 2 * capacity) return undefined;
    let best: Candidate | undefined;
    for (const c of candidates) {
      if (c.id === this.cluster.node) continue;
      if (best === undefined || c.load / c.actors < best.load / best.actors) best = c;
    }
    if (best === undefined || best.load / best.actors >= inFlight / Math.max(1, actors)) return undefined;
    void stream;
    return { node: best.id, reason: 'spill' };
  }

  /** A request went out to `node`. */
  sent(node: string): void {
    this.outstanding.set(node, (this.outstanding.get(node) ?? 0) + 1);
  }

  /** A request out on `node` has its outcome. */
  done(node: string): void {
    const n = (this.outstanding.get(node) ?? 1) - 1;
    if (n > 0) this.outstanding.set(node, n);
    else this.outstanding.delete(node);
  }

  has(node: string): boolean {
    return (this.outstanding.get(node) ?? 0) > 0;
  }

  /** Requests out on each other node. */
  inFlight(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [node, n] of this.outstanding) if (n > 0) out[node] = n;
    return out;
  }

  private candidates(exclude?: string): Candidate[] {
    const out: Candidate[] = [];
    if (this.selfReady()) {
      const { actors, inFlight } = this.local.load();
      if (actors > 0) out.push({ id: this.cluster.node, actors, load: inFlight });
    }
    for (const m of this.peers()) {
      if (m.state !== 'ready' || m.actors <= 0 || m.id === exclude) continue;
      out.push({ id: m.id, actors: m.actors, load: Math.max(m.inFlight, this.outstanding.get(m.id) ?? 0) });
    }
    return out;
  }
}
