/**
 * One cluster node in its own process, for the cluster benchmark: joins, says "ready" on stdout, and
 * serves until it is killed. Args: NATS URL, cluster name, node id, actors (default 1), and `floor` to
 * answer a bare NATS echo on `bench.floor.<node id>` as well (the floor a remote request is measured against).
 */
import { createDispatcher } from '../../index.js';
import { appUrl } from '../lib/paths.js';

const [servers, name, node, actors, floor] = process.argv.slice(2);
await createDispatcher({
  app: appUrl('echo.mjs'),
  actors: Number(actors ?? 1),
  cluster: { servers: servers!, name: name!, node: node! },
});
if (floor === 'floor') {
  const { connect } = await import('@nats-io/transport-node');
  const nc = await connect({ servers: servers! });
  // Decodes and encodes like a troupe node does, so that the floor is NATS plus the same serialization.
  const { deserialize, serialize } = await import('node:v8');
  nc.subscribe(`bench.floor.${node}`, {
    callback: (_e, m) => {
      m.respond(serialize(deserialize(m.data)));
    },
  });
  await nc.flush();
}
process.stdout.write('ready\n');
