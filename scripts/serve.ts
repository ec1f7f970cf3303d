// A small static file server (node:http, no dependencies) for the demo and the browser tests.
//   npm run demo                        serves the repository and prints the demo's URL
//   node --import tsx scripts/serve.ts [path] [--port N]
// Only files under the root are served, to 127.0.0.1 only, never cached.
import { createServer, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(import.meta.dirname, '..');

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ts': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

export interface StaticServerOptions {
  /** Directory served at '/'. Default: the repository. */
  root?: string;
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /**
   * Bare import specifiers rewritten in served .js files, e.g. { 'performer-wasm': '/dist/index.js' }:
   * an import map for module workers, which (unlike pages) cannot have one.
   */
  bareImports?: Record<string, string>;
  /** Headers added to every response, e.g. CROSS_ORIGIN_ISOLATION. */
  headers?: Record<string, string>;
}

/** The headers that make a page cross-origin isolated (SharedArrayBuffer, and so threads). */
export const CROSS_ORIGIN_ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
};

export interface StaticServer {
  /** 'http://127.0.0.1:PORT' (no trailing slash). */
  origin: string;
  server: Server;
  close(): Promise<void>;
}

function rewriteBare(source: string, map: Record<string, string>): string {
  let out = source;
  for (const [from, to] of Object.entries(map)) {
    const quoted = new RegExp(`(\\bfrom\\s*|\\bimport\\s*\\(\\s*|\\bimport\\s+)(['"])${from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\2`, 'g');
    out = out.replace(quoted, (_m, lead: string, quote: string) => `${lead}${quote}${to}${quote}`);
  }
  return out;
}

export async function startStaticServer(options: StaticServerOptions = {}): Promise<StaticServer> {
  const root = resolve(options.root ?? REPO_ROOT);
  const bare = options.bareImports;
  const extra = options.headers ?? {};
  const server = createServer(async (req, res) => {
    const send = (status: number, body: string) => {
      res.writeHead(status, { ...extra, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(body);
    };
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
      const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
      let file = normalize(join(root, pathname));
      if (file !== root && !file.startsWith(root + sep)) return send(403, 'forbidden');
      const info = await stat(file).catch(() => undefined);
      if (info?.isDirectory()) {
        if (!pathname.endsWith('/')) {
          res.writeHead(301, { ...extra, location: `${pathname}/`, 'cache-control': 'no-store' });
          return res.end();
        }
        file = join(file, 'index.html');
      }
      if (!existsSync(file)) return send(404, `not found: ${pathname}`);
      const type = MIME[extname(file)] ?? 'application/octet-stream';
      let body: Buffer | string = await readFile(file);
      if (bare && (type.startsWith('text/javascript'))) body = rewriteBare(body.toString('utf8'), bare);
      res.writeHead(200, { ...extra, 'content-type': type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (error) {
      send(500, String(error));
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => ok());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return {
    origin: `http://127.0.0.1:${address.port}`,
    server,
    close: () => new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}

// CLI: serve the repository, print the URL of `path` (default demo/)
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const portIndex = args.indexOf('--port');
  const port = portIndex >= 0 ? Number(args[portIndex + 1]) : 8080;
  const path = args.find((a, i) => !a.startsWith('--') && (portIndex < 0 || i !== portIndex + 1)) ?? 'demo';
  if (!existsSync(join(REPO_ROOT, 'dist', 'index.js'))) {
    console.error('dist/ is missing: run `npm run build` first');
    process.exit(1);
  }
  const start = (p: number) => startStaticServer({ port: p }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EADDRINUSE' && p !== 0) return startStaticServer({ port: 0 });
    throw error;
  });
  const { origin } = await start(port);
  console.log(`performer-wasm demo: ${origin}/${path.replace(/^\/+|\/+$/g, '')}/  (Ctrl-C to stop)`);
}
