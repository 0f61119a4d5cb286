import { readFile } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The web UI's files, built by `npm run build:ui` into `dist/ui` (Vite: `index.html` and hashed
 * files under `assets/`), served as they are: nothing is fetched from anywhere else. Each file is
 * read once and kept, with its gzip, in memory.
 */

/** Where the build puts the UI: `dist/ui` of the package, from `src/http` or `dist/http` alike. */
export const UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

interface Asset {
  readonly body: Buffer;
  readonly gzip: Buffer | undefined;
  readonly type: string;
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>weft</title>
<p>The web UI is not built in this copy of weft. Run <code>npm run build:ui</code> (it runs on
<code>npm install</code>), then reload. The JSON API answers under <a href="/api">/api</a>.</p>`;

export const serveAssets = (dir: string = UI_DIR) => {
  const root = resolve(dir);
  const cache = new Map<string, Promise<Asset | undefined>>();
  const load = (file: string): Promise<Asset | undefined> => {
    let found = cache.get(file);
    if (found === undefined) {
      found = readFile(file).then(
        (body) => {
          const type = TYPES[extname(file)] ?? 'application/octet-stream';
          const packs = /^(text|application\/json|image\/svg)/u.test(type) && body.length > 1024;
          return { body, type, gzip: packs ? gzipSync(body) : undefined };
        },
        () => undefined,
      );
      // A file missing now may be built later: only what was found is kept.
      void found.then((asset) => {
        if (asset === undefined) cache.delete(file);
      });
      cache.set(file, found);
    }
    return found;
  };

  /** Serves `path` (a GET outside `/api`); pages are routed in the browser, so `/` is the app. */
  return async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const wanted = resolve(root, `.${path === '/' ? '/index.html' : path}`);
    const inside = wanted.startsWith(root + sep);
    const asset = inside ? await load(wanted) : undefined;
    const page =
      asset ?? (path.startsWith('/assets/') ? undefined : await load(resolve(root, 'index.html')));
    if (page === undefined) {
      const missing = path === '/' || !path.startsWith('/assets/');
      res.writeHead(missing ? 503 : 404, { 'content-type': 'text/html; charset=utf-8' });
      res.end(missing ? NOT_BUILT : 'not found');
      return;
    }
    const packed = /\bgzip\b/u.test(req.headers['accept-encoding'] ?? '') ? page.gzip : undefined;
    const body = packed ?? page.body;
    res.writeHead(200, {
      'content-type': page.type,
      'content-length': body.length,
      // Vite names each asset by its content's hash; the page itself is asked for afresh.
      'cache-control': path.startsWith('/assets/')
        ? 'public, max-age=31536000, immutable'
        : 'no-cache',
      ...(packed === undefined ? {} : { 'content-encoding': 'gzip' }),
      vary: 'accept-encoding',
    });
    res.end(body);
  };
};
