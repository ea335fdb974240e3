#!/usr/bin/env node
// The `switchyard` command's entry (dist/cli.js once built). It loads nothing
// before checking the Node.js version: on an older one the CLI's own imports
// (node:sqlite, TypeScript sources) would fail with an error that names neither
// the cause nor the cure. Plain JavaScript only here, so any Node.js can run the check.

const needed = 24;
const major = Number(process.versions.node.split('.')[0]);
if (major < needed) {
  process.stderr.write(
    `switchyard needs Node.js ${needed} or later; this is Node.js ${process.versions.node} (${process.execPath}).\n` +
      `In a checkout of Switchyard, \`npm ci\` installed Node.js ${needed} for it: run \`npx switchyard <command>\`, \`npm start\` or \`npm exec -- switchyard <command>\`.\n` +
      `Elsewhere, install Node.js ${needed} LTS.\n`,
  );
  process.exit(1);
}
await import('./cli/main.ts');
