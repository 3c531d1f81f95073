/**
 * The reference app's own static files (`public/`), read once at start-up. Each page links them by a
 * URL that carries a hash of their content (`/assets/app.js?v=…`): after a deploy, a page of the new
 * version never runs with a browser's cached copy of the previous version's script (the reset page's
 * form stayed disabled with the old one). A URL with the current hash is cached for good
 * (`immutable`); any other (no `v`, an old one) must be revalidated against the ETag.
 *
 * Everything a page runs or applies is here, none of it inline: the pages' Content-Security-Policy
 * (app.ts) allows scripts, styles and images from this origin only.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { sendTagged } from '../../src/http/client-asset.js';

interface Asset {
  readonly type: string;
  readonly body: Buffer;
  /** Content hash: the `v` of its URL and its ETag. */
  readonly version: string;
}

function read(file: string, type: string): Asset {
  const body = readFileSync(new URL(`./public/${file}`, import.meta.url));
  return { type, body, version: createHash('sha256').update(body).digest('base64url').slice(0, 16) };
}

const ASSETS: Readonly<Record<string, Asset>> = {
  'app.css': read('app.css', 'text/css; charset=utf-8'),
  'app.js': read('app.js', 'text/javascript; charset=utf-8'),
  // A file, not a `data:` URL: the pages' policy allows images from this origin only (app.ts).
  'icon.svg': read('icon.svg', 'image/svg+xml'),
};

/** The URL a page links `name` by: `/assets/app.js?v=<content hash>`. */
export function assetUrl(name: keyof typeof ASSETS & string): string {
  const asset = ASSETS[name];
  if (asset === undefined) throw new TypeError(`Unknown asset "${name}"`);
  return `/assets/${name}?v=${asset.version}`;
}

export function registerAssets(app: FastifyInstance): void {
  for (const [name, asset] of Object.entries(ASSETS)) {
    const etag = `"${asset.version}"`;
    app.get<{ Querystring: { v?: unknown } }>(`/assets/${name}`, (request, reply) => {
      const current = request.query.v === asset.version;
      reply.header('cache-control', current ? 'public, max-age=31536000, immutable' : 'public, no-cache');
      return sendTagged(request, reply, { body: asset.body, type: asset.type, etag });
    });
  }
}
