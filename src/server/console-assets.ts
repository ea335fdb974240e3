import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

// The console's static files: the page, its script and style from the
// package's console/ folder (beside src/ and dist/, so the same path works from
// either), and uPlot's from its npm package. Each is read and gzipped once, on
// first use, and served with an ETag; nothing is fetched from anywhere else,
// and the Content-Security-Policy says so to the browser too.

export interface Asset {
  type: string;
  body: Buffer;
  gzipped: Buffer;
  etag: string;
}

const consoleFolder = fileURLToPath(new URL('../../console/', import.meta.url));
const uplotFolder = dirname(createRequire(import.meta.url).resolve('uplot'));

const files: Record<string, { path: string; type: string }> = {
  'index.html': { path: join(consoleFolder, 'index.html'), type: 'text/html; charset=utf-8' },
  'console.js': { path: join(consoleFolder, 'console.js'), type: 'text/javascript; charset=utf-8' },
  'console.css': { path: join(consoleFolder, 'console.css'), type: 'text/css; charset=utf-8' },
  'uplot.js': { path: join(uplotFolder, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  'uplot.css': { path: join(uplotFolder, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

export const assetNames = Object.keys(files);

const loaded = new Map<string, Asset>();

/** The asset of that name, or undefined for a name the console does not have. */
export function consoleAsset(name: string): Asset | undefined {
  const file = files[name];
  if (!file) return undefined;
  let asset = loaded.get(name);
  if (!asset) {
    const body = readFileSync(file.path);
    asset = { type: file.type, body, gzipped: gzipSync(body), etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
    loaded.set(name, asset);
  }
  return asset;
}

/** The browser fetches nothing but from the gateway itself, and runs no inline code. */
export const consoleSecurityHeaders = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};
