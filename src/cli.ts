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

// `serve` runs with V8's young generation capped (--max-semi-space-size=8, as
// `npm start` and the image pass it): without it the semi-spaces grow to
// 64 MB each under load and the peak RSS of the 50-connection benchmark goes
// from under 150 MB to ~270 MB. V8 reads the flag only when the process
// starts (v8.setFlagsFromString now leaves the young generation as it is:
// measured), so a start without it (the bin, `node dist/cli.js serve`) replaces
// this process with one that has it: same pid, same stdio, no second process.
// A flag the user gave (in the command or NODE_OPTIONS) is left alone.
const command = process.argv[2];
const semiSpace = '--max-semi-space-size';
const flagged = process.execArgv.some((flag) => flag.startsWith(semiSpace)) || (process.env.NODE_OPTIONS ?? '').includes(semiSpace);
if ((command === undefined || command === 'serve') && !flagged && typeof process.execve === 'function') {
  try {
    process.execve(process.execPath, [process.execPath, `${semiSpace}=8`, ...process.execArgv, ...process.argv.slice(1)], process.env);
  } catch {
    // Not available here (Windows): run as started, with the larger young generation.
  }
}
await import('./cli/main.ts');
