import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderErrorCatalogue } from './error-catalogue.ts';
import { errorCodes } from './error-codes.ts';

// The error catalogue users read (docs/errors.md) is the table the gateway
// runs on, and the table holds no code that nothing makes.

const root = new URL('../../', import.meta.url);

test('docs/errors.md is up to date with the error table (npm run docs:errors writes it)', () => {
  assert.equal(
    readFileSync(new URL('docs/errors.md', root), 'utf8'),
    renderErrorCatalogue(),
    'docs/errors.md is behind src/errors/error-codes.ts: run `npm run docs:errors`',
  );
});

test('every code is documented in the catalogue with its status, type and meaning', () => {
  const catalogue = readFileSync(new URL('docs/errors.md', root), 'utf8');
  for (const [code, info] of Object.entries(errorCodes)) {
    assert.ok(info.description.length > 10, `${code} has a description`);
    assert.ok(catalogue.includes(`| \`${code}\` | ${info.status} | \`${info.type}\` |`), `${code} is in docs/errors.md`);
  }
});

/** Every .ts file under src/, tests left out. */
function sources(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

test('every code in the table is named somewhere else in src/ (no dead codes)', () => {
  const code = sources(new URL('src', root).pathname)
    .filter((file) => !file.includes(join('src', 'errors', 'error-codes.ts')))
    .map((file) => readFileSync(file, 'utf8'))
    .join('\n');
  const unused = Object.keys(errorCodes).filter((name) => !code.includes(`'${name}'`));
  assert.deepEqual(unused, []);
});
