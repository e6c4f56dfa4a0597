/**
 * One cluster node in its own process, for the membership benchmark: joins, says "ready" on stdout,
 * and serves until it is killed. Args: NATS URL, cluster name, node id.
 */
import { createDispatcher } from '../../index.js';
import { appUrl } from '../lib/paths.js';

const [servers, name, node] = process.argv.slice(2);
await createDispatcher({
  app: appUrl('echo.mjs'),
  actors: 1,
  cluster: { servers: servers!, name: name!, node: node! },
});
process.stdout.write('ready\n');
