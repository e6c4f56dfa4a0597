import type { DispatcherOptions } from '../actors/types.js';
import { writeConfigFile } from './config-write.js';
import { type ServeArgs, UsageError } from './options.js';

/** `LABEL:TOKEN` names who asked in the config history; a bare `TOKEN` is labelled `admin`. */
const LABELLED = /^([\w.@-]{1,64}):(.+)$/;

/**
 * The operator's options of `troupe serve`: the admin API (`--admin-token` or TROUPE_ADMIN_TOKEN),
 * `--config-write`, and `--record`. The admin API lives on the inspector's port, so asking for it
 * starts the inspector (on a free loopback port when `--inspect-port` is not given).
 */
export function applyOperateArgs(
  options: DispatcherOptions,
  args: ServeArgs,
  env: NodeJS.ProcessEnv,
  say: (line: string) => void,
): void {
  const token = args.adminToken ?? (env.TROUPE_ADMIN_TOKEN || undefined);
  if (args.configWrite && args.config === undefined) {
    throw new UsageError('--config-write needs --config FILE: it writes accepted changes back to that file');
  }
  if (args.configWrite && token === undefined) {
    throw new UsageError(
      '--config-write needs --admin-token (or TROUPE_ADMIN_TOKEN): only the admin API writes',
    );
  }
  if (token !== undefined) {
    const m = LABELLED.exec(token);
    const tokens = m === null ? token : { [m[1]!]: m[2]! };
    const path = args.config;
    options.inspector = {
      ...(options.inspector ?? { port: 0 }),
      admin: {
        tokens,
        ...(args.configWrite && path !== undefined
          ? {
              onAccepted: async (config, version) => {
                try {
                  await writeConfigFile(path, config);
                  say(`config version ${version} written to ${path} (previous kept as ${path}.bak)`);
                } catch (err) {
                  say(`config version ${version} is live but ${(err as Error).message}`);
                  throw err;
                }
              },
            }
          : {}),
      },
    };
  }
  if (args.record !== undefined) options.record = { path: args.record };
}
