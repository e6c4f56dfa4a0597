import { randomBytes } from 'node:crypto';
import type { ClusterAttachment } from '../actors/router/cluster-link.js';
import type { ConfigRollout } from '../actors/router/config-rollout.js';
import { Dispatcher, type DispatcherDeps } from '../actors/router/dispatcher.js';
import type { ResolvedOptions } from '../actors/router/options.js';
import type { Dispatcher as DispatcherApi, DispatcherOptions } from '../actors/types.js';
import { ClusterNode } from './cluster-node.js';
import { ConfigStore } from './config-store.js';
import { connectCluster } from './connection.js';
import type { LocalNode } from './local-node.js';
import { resolveCluster } from './options.js';

/** The dispatcher's config collaborator as the cluster sees it: its two phases and its load. */
function localNode(config: ConfigRollout, load: () => { actors: number; inFlight: number }): LocalNode {
  return {
    current: () => config.current(),
    prepare: (change, version) => config.prepare(change, version),
    commit: (version) => config.commit(version),
    abort: (version) => config.abort(version),
    load,
  };
}

/**
 * Starts a dispatcher that is one node of a cluster: it reads the committed config from the bucket
 * before any actor's init (a node never starts on a version older than the committed one), warms its
 * actors on it, catches up whatever was committed meanwhile, and only then resolves as a ready member.
 */
export async function joinCluster(
  resolved: ResolvedOptions,
  options: DispatcherOptions,
  deps: DispatcherDeps,
  log?: (line: string) => void,
): Promise<DispatcherApi> {
  const cluster = resolveCluster(options.cluster!);
  const say =
    log ??
    ((line: string) =>
      process.stderr.write(`troupe: cluster ${cluster.name}, node ${cluster.node}: ${line}\n`));
  const nc = await connectCluster(cluster);
  let node: ClusterNode | undefined;
  try {
    await ClusterNode.claim(nc, cluster);
    const store = await ConfigStore.open(nc, cluster.name);
    const committed = await store.initialize(resolved.config, cluster.node, randomBytes(6).toString('hex'));
    const attachment: ClusterAttachment = {
      version: committed.version,
      attach: (config, load, inspect) => {
        node = new ClusterNode(nc, cluster, store, localNode(config, load), say, inspect);
        node.begin();
        return node;
      },
    };
    const dispatcher = new Dispatcher(
      { ...resolved, config: committed.config, node: cluster.node },
      options.inspect,
      options.inspector,
      { ...deps, cluster: attachment },
      options.record,
    );
    await dispatcher.start();
    await node!.ready();
    say(`joined cluster ${cluster.name} on config version ${dispatcher.snapshot().configVersion}`);
    return dispatcher;
  } catch (err) {
    await node?.leave().catch(() => undefined);
    await nc.close().catch(() => undefined);
    throw err;
  }
}
