import { randomBytes } from 'node:crypto';
import type { ResolvedOptions } from '../actors/router/options.js';
import type { ClusterOptions, Dispatcher, InspectionEvent, InspectorOptions } from '../actors/types.js';
import { ClusterNode } from './cluster-node.js';
import { ConfigStore } from './config-store.js';
import { connectCluster } from './connection.js';
import { resolveCluster } from './options.js';
import { ClusterRouter } from './router-adapter.js';

/**
 * Starts a dispatcher that is one node of a cluster: it reads the committed config from the bucket
 * before any actor's init (a node never starts on a version older than the committed one), warms its
 * actors on it, catches up whatever was committed meanwhile, and only then resolves as a ready member.
 */
export async function createClusterDispatcher(
  resolved: ResolvedOptions,
  options: ClusterOptions,
  inspect: ((event: InspectionEvent) => void) | undefined,
  inspector: InspectorOptions | undefined,
  log?: (line: string) => void,
): Promise<Dispatcher> {
  const cluster = resolveCluster(options);
  const say =
    log ??
    ((line: string) =>
      process.stderr.write(`troupe: cluster ${cluster.name}, node ${cluster.node}: ${line}\n`));
  const nc = await connectCluster(cluster);
  let node: ClusterNode | undefined;
  try {
    const store = await ConfigStore.open(nc, cluster.name);
    const committed = await store.initialize(resolved.config, cluster.node, randomBytes(6).toString('hex'));
    const router = new ClusterRouter({ ...resolved, node: cluster.node }, committed, inspect, inspector);
    node = new ClusterNode(nc, cluster, store, router, say);
    router.cluster = node;
    node.begin();
    await router.start();
    await node.ready();
    say(`node ${cluster.node} joined cluster ${cluster.name} on config version ${router.current().version}`);
    return router;
  } catch (err) {
    await node?.leave().catch(() => undefined);
    await nc.close().catch(() => undefined);
    throw err;
  }
}
