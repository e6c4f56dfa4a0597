/**
 * One cluster node in its own process, for the cluster benchmark: joins, says "ready" on stdout, and
 * serves until it is killed. Args: NATS URL, cluster name, node id, actors (default 1).
 */
import { createDispatcher } from '../../index.js';
import { appUrl } from '../lib/paths.js';

const [servers, name, node, actors] = process.argv.slice(2);
await createDispatcher({
  app: appUrl('echo.mjs'),
  actors: Number(actors ?? 1),
  cluster: { servers: servers!, name: name!, node: node! },
});
process.stdout.write('ready\n');
