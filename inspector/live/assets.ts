import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { render } from '../export/export.js';
import { machineGraph } from '../export/graph.js';
import { type MachineName, machineNames, machines } from '../export/machines.js';

/**
 * The page ships as plain files in `inspector/live/page/` (package.json "files"), next to `dist/`:
 * this module runs from `dist/inspector/live/`, three levels down. Served from disk, never from a CDN, so the
 * inspector works on machines with no way out.
 */
function pageDir(): string {
  for (const rel of ['../../../inspector/live/page/', './page/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  throw new Error('troupe inspector: the page files (inspector/live/page/) are missing from the package.');
}

const types: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

/** Only these names are served: a fixed list rather than a path joined from the URL. */
const pageFiles: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/timeline.js': 'timeline.js',
  '/diagram.js': 'diagram.js',
  '/config-panel.js': 'config-panel.js',
  '/metrics.js': 'metrics.js',
  '/metrics.css': 'metrics.css',
  '/style.css': 'style.css',
  '/favicon.svg': 'favicon.svg',
};

export interface Asset {
  type: string;
  body: string | Buffer;
}

/** Files and diagrams are built once per inspector and kept: the diagrams are the same all its life. */
export class Assets {
  private readonly dir = pageDir();
  private readonly cache = new Map<string, Promise<Asset>>();

  get(pathname: string): Promise<Asset> | undefined {
    const file = pageFiles[pathname];
    if (file !== undefined) return this.memo(pathname, async () => this.file(file));
    const diagram = /^\/diagram\/([a-z-]+)\.(svg|json)$/.exec(pathname);
    const name = diagram?.[1];
    if (name !== undefined && (machineNames as string[]).includes(name)) {
      const graph = machineGraph(machines[name as MachineName]);
      return diagram![2] === 'svg'
        ? this.memo(pathname, async () => ({ type: types.svg!, body: await render(graph, 'svg') }))
        : this.memo(pathname, async () => ({ type: 'application/json', body: JSON.stringify(graph) }));
    }
    return undefined;
  }

  private memo(key: string, make: () => Promise<Asset>): Promise<Asset> {
    let hit = this.cache.get(key);
    if (hit === undefined) {
      hit = make();
      // A failed build is not cached: the next request tries again.
      hit.catch(() => this.cache.delete(key));
      this.cache.set(key, hit);
    }
    return hit;
  }

  private async file(name: string): Promise<Asset> {
    const ext = name.slice(name.lastIndexOf('.') + 1);
    return { type: types[ext] ?? 'application/octet-stream', body: await readFile(this.dir + name) };
  }
}
