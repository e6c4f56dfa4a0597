import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Config } from '../actors/types.js';

/** The file operations the write uses: replaceable so that a failing rename can be shown to leave the old file. */
export interface WriteOps {
  open: typeof fs.open;
  copyFile: typeof fs.copyFile;
  rename: typeof fs.rename;
  unlink: typeof fs.unlink;
}

/**
 * Writes `config` to `path` so that a crash at any point leaves either the old file or the new one,
 * never a part of either: the new text goes to a temporary file beside it (same file system, so the
 * rename is atomic) and is flushed to disk, the old file is copied to `<path>.bak`, then the temporary
 * file is renamed over `path`, and the directory is flushed so the rename itself survives a power cut.
 */
export async function writeConfigFile(path: string, config: Config, ops: WriteOps = fs): Promise<void> {
  const text = `${JSON.stringify(config, null, 2)}\n`;
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const file = await ops.open(temp, 'wx', 0o600);
    try {
      await file.writeFile(text, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    await ops.copyFile(path, `${path}.bak`).catch((err: NodeJS.ErrnoException) => {
      // A config file that does not exist yet has nothing to keep.
      if (err.code !== 'ENOENT') throw err;
    });
    await ops.rename(temp, path);
  } catch (err) {
    await ops.unlink(temp).catch(() => {});
    throw new Error(`could not write ${path}: ${(err as Error).message}; the file was left as it was`, {
      cause: err,
    });
  }
  const handle = await fs.open(dir, 'r').catch(() => undefined);
  if (handle !== undefined) {
    // Some file systems refuse fsync on a directory; the rename is already done, so that is not an error.
    await handle.sync().catch(() => {});
    await handle.close();
  }
}
