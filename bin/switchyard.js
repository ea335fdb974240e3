#!/usr/bin/env node
// `switchyard` as npm links it (`npx switchyard <command>`, `npm exec -- switchyard`).
// A checkout runs its TypeScript source as it is (Node.js 24 strips the types,
// except under node_modules); an installed copy runs the compiled dist/cli.js.
// Either one first checks the Node.js version and says which one it needs.
import { existsSync, realpathSync } from 'node:fs';
import { sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const source = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const compiled = new URL('../dist/cli.js', import.meta.url);
const modern = Number(process.versions.node.split('.')[0]) >= 24;
if (modern && existsSync(source) && !realpathSync(source).includes(`${sep}node_modules${sep}`)) await import(pathToFileURL(source).href);
else if (existsSync(compiled)) await import(compiled.href);
else {
  process.stderr.write(
    `switchyard needs Node.js 24 or later; this is Node.js ${process.versions.node}. In a checkout, \`npm ci\` installs it: run \`npx switchyard <command>\`.\n`,
  );
  process.exit(1);
}
