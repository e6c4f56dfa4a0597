import { hashKey } from '../actors/router/placement.js';

/** A member as placement sees it: its weight (actors) and the requests it holds. */
export interface Candidate {
  id: string;
  actors: number;
  load: number;
}

export interface NodeChoice {
  node: string;
  /** The key's preferred node was at its load bound: the request went to the next one. */
  spilled: boolean;
}

/** The score of `node` for a key, uniform in (0, 1]: the node id is hashed once per member, not per request. */
function unit(keyHash: number, nodeHash: number): number {
  let h = keyHash ^ Math.imul(nodeHash | 1, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return ((h >>> 0) + 1) / 4294967296;
}

const nodeHashes = new Map<string, number>();
function nodeHash(id: string): number {
  let h = nodeHashes.get(id);
  if (h === undefined) {
    h = hashKey(id);
    if (nodeHashes.size > 4096) nodeHashes.clear();
    nodeHashes.set(id, h);
  }
  return h;
}

/**
 * Weighted rendezvous hashing over the members with the bounded-load rule. Each member scores
 * `-weight / ln(u)` (u the key's uniform hash for that member), so a member with twice the actors wins
 * twice the keys, and a member joining or leaving moves only the keys it wins or loses. The key goes to
 * the best-scoring member unless that one already holds more than ⌈c · its fair share⌉ of the load (and
 * more than its actors), then to the next best: the same rule as between the actors of one node.
 */
export function pickNode(key: string, members: readonly Candidate[], c: number): NodeChoice | undefined {
  if (members.length === 0) return undefined;
  const keyHash = hashKey(key);
  let total = 1;
  let weights = 0;
  for (const m of members) {
    total += m.load;
    weights += m.actors;
  }
  // A node whose actors are not all busy is never over its bound: loads travel with heartbeats and lag a
  // little, and at low load that lag alone would otherwise move keys off idle nodes.
  const within = (m: Candidate) => m.load < Math.max(m.actors, Math.ceil((c * total * m.actors) / weights));
  // The common case in one pass: the best-scoring member, within its bound.
  let best: Candidate | undefined;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (const m of members) {
    if (m.actors <= 0) continue;
    const score = -m.actors / Math.log(unit(keyHash, nodeHash(m.id)));
    if (score > bestScore) {
      bestScore = score;
      best = m;
    }
  }
  if (best === undefined) return undefined;
  if (within(best)) return { node: best.id, spilled: false };
  const ranked = members
    .filter((m) => m.actors > 0)
    .map((m) => ({ m, score: -m.actors / Math.log(unit(keyHash, nodeHash(m.id))) }))
    .sort((a, b) => b.score - a.score);
  for (const { m } of ranked) if (within(m)) return { node: m.id, spilled: m !== best };
  return { node: best.id, spilled: false };
}

/** The key's owner with loads even (no bound): where its requests go on a quiet cluster. */
export function ownerOf(key: string, members: readonly Candidate[]): string | undefined {
  return pickNode(key, members, Number.POSITIVE_INFINITY)?.node;
}
