import { readFile } from 'node:fs/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { ClusterUnavailableError } from '../actors/errors.js';
import type { ResolvedCluster } from './options.js';

export type { NatsConnection };

/** A server URL as it may be logged: `nats://user:secret@host` loses its user and secret. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/**
 * Connects to NATS. The client is imported here, on demand, so that a troupe without `cluster` never
 * loads it. It reconnects forever: a node cut off from NATS keeps serving and must come back by itself.
 */
export async function connectCluster(cluster: ResolvedCluster): Promise<NatsConnection> {
  const nats = await import('@nats-io/transport-node');
  const { credentials } = cluster;
  const auth: Record<string, unknown> = {};
  if (credentials.token !== undefined) auth.token = credentials.token;
  if (credentials.user !== undefined) auth.user = credentials.user;
  if (credentials.pass !== undefined) auth.pass = credentials.pass;
  if (credentials.credsFile !== undefined) {
    let creds: Uint8Array;
    try {
      creds = await readFile(credentials.credsFile);
    } catch (err) {
      throw new ClusterUnavailableError(
        `Cannot read the NATS credentials file given as cluster.credsFile: ${(err as Error).message}`,
        undefined,
        { cause: err },
      );
    }
    auth.authenticator = nats.credsAuthenticator(creds);
  }
  try {
    return await nats.connect({
      servers: cluster.servers,
      name: `troupe ${cluster.name} ${cluster.node}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // A dead server is noticed by the socket closing; pings catch a silent link (a dropped route, a
      // firewall) about as fast as the other nodes drop this one from their membership.
      pingInterval: Math.max(500, Math.floor(cluster.nodeTimeout / 2)),
      maxPingOut: 2,
      timeout: Math.max(2_000, cluster.nodeTimeout),
      // Without it the client builds two Errors (each with its stack) for every request it sends, so that
      // a timeout could say where the request was made; troupe reports NATS failures as its own errors
      // and never shows those stacks, and a config change sends about eight requests.
      noAsyncTraces: true,
      ...auth,
    });
  } catch (err) {
    // The message names the servers without their credentials, and never the token or password.
    throw new ClusterUnavailableError(
      `Cannot reach NATS at ${cluster.servers.map(redactUrl).join(', ')} (${redactUrl(String((err as Error)?.message ?? err))}); the node did not start.`,
      cluster.node,
      { cause: err },
    );
  }
}

/** The largest message the server takes, as it announced (NATS's default, 1 MiB, before it has). */
export function maxPayload(nc: NatsConnection): number {
  return nc.info?.max_payload ?? 1024 * 1024;
}
