import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { distUrl } from './paths.js';

export interface Revision {
  commit: string;
  /** Core files changed in the working tree but not committed: the build measured includes them. */
  uncommitted: string[];
}

/** Which core was measured: the commit, and any uncommitted change to the core that the build included. */
export function revision(): Revision | undefined {
  const cwd = fileURLToPath(distUrl('../'));
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' });
    const commit = git('rev-parse', '--short', 'HEAD').trim();
    // Porcelain lines are `XY path`: the leading status column can be a space, so no trim before slicing.
    const status = git('status', '--porcelain', '--', 'index.ts', 'actors', 'machines');
    const uncommitted = status
      .split('\n')
      .filter((l) => l.length > 3)
      .map((l) => l.slice(3));
    return { commit, uncommitted };
  } catch {
    return undefined; // not a git checkout (an installed package): the report simply has no revision
  }
}
