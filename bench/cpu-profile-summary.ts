import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went:
// self time per function, inclusive time of our own functions, and time per
// package. Time is taken from the sample intervals (timeDeltas), not hit
// counts, so it stays right when the sampler falls behind.
//
//   node bench/cpu-profile-summary.ts FILE.cpuprofile [--top 25] [--from-us T] [--to-us T]
// --from-us/--to-us: keep samples in that window of the monotonic clock (process.hrtime), e.g. the load only.

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Row {
  name: string;
  where: string;
  group: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  sampledMs: number;
  samples: number;
  selfTop: Row[];
  ownInclusiveTop: Row[];
  groups: Row[];
  /** Each sample charged to the innermost package or Switchyard module on its stack: the runtime and native time it caused. */
  callers: Row[];
}

const isRuntime = (group: string) => group.startsWith('node:') || group.startsWith('(');

/** Which package or part of the runtime a frame belongs to. */
export function groupOf(frame: CallFrame, ownRoot: string): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native / V8 builtins)';
  // undici's HTTP parser (llhttp) is WebAssembly; so is Node's TypeScript stripper, which runs only while modules load.
  if (url.startsWith('wasm://')) return 'wasm (undici llhttp; type stripping at start)';
  const path = url.replace(/^file:\/\//, '');
  const packageMatch = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
  if (packageMatch) return packageMatch[1]!;
  if (path.startsWith(ownRoot)) return `switchyard ${path.slice(ownRoot.length).split('/').slice(0, 2).join('/')}`;
  if (url.startsWith('node:')) {
    const module = url.slice(5);
    if (/^_http|^http/.test(module) || module.startsWith('internal/http')) return 'node:http';
    if (module.startsWith('internal/streams') || module === 'stream') return 'node:streams';
    if (module === 'net' || module.startsWith('internal/stream_base') || module.startsWith('internal/net')) return 'node:net';
    if (module.startsWith('internal/timers') || module === 'timers') return 'node:timers';
    if (module.startsWith('internal/abort') || module.startsWith('internal/event_target')) return 'node:abort/events';
    return 'node:other';
  }
  return path;
}

function where(frame: CallFrame, ownRoot: string): string {
  if (frame.url === '') return '';
  const path = frame.url
    .replace(/^file:\/\//, '')
    .replace(ownRoot, '')
    .replace(/^.*node_modules\//, '');
  return `${path}:${frame.lineNumber + 1}`;
}

export function summariseProfile(profile: CpuProfile, options: { ownRoot: string; top?: number; fromUs?: number; toUs?: number }): ProfileSummary {
  const top = options.top ?? 25;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const key = (frame: CallFrame) => `${frame.functionName || '(anonymous)'}\u0000${frame.url}\u0000${frame.lineNumber}`;

  const self = new Map<string, { frame: CallFrame; us: number }>();
  const inclusive = new Map<string, { frame: CallFrame; us: number }>();
  const groups = new Map<string, number>();
  const callers = new Map<string, number>();
  let totalUs = 0;
  let kept = 0;
  let time = profile.startTime;
  const inWindow = (at: number) => (options.fromUs === undefined || at >= options.fromUs) && (options.toUs === undefined || at <= options.toUs);
  const anyInWindow = profile.timeDeltas.reduce<[boolean, number]>(
    ([found, at], delta) => [found || inWindow(at + delta), at + delta],
    [false, profile.startTime],
  )[0];

  for (let index = 0; index < profile.samples.length; index += 1) {
    time += profile.timeDeltas[index] ?? 0;
    // A sample's weight is the interval until the next one.
    const weight = profile.timeDeltas[index + 1] ?? 0;
    if (anyInWindow && !inWindow(time)) continue;
    const node = byId.get(profile.samples[index]!);
    if (!node) continue;
    kept += 1;
    totalUs += weight;
    const selfEntry = self.get(key(node.callFrame)) ?? { frame: node.callFrame, us: 0 };
    selfEntry.us += weight;
    self.set(key(node.callFrame), selfEntry);
    const group = groupOf(node.callFrame, options.ownRoot);
    groups.set(group, (groups.get(group) ?? 0) + weight);
    let caller = group;
    for (
      let cursor = parent.get(node.id);
      isRuntime(caller) && caller !== '(idle)' && caller !== '(garbage collector)' && cursor !== undefined;
      cursor = parent.get(cursor)
    ) {
      const frame = byId.get(cursor)!.callFrame;
      if (frame.functionName === '(root)') break;
      caller = groupOf(frame, options.ownRoot);
    }
    callers.set(caller, (callers.get(caller) ?? 0) + weight);
    // Inclusive time for our own functions: each function once per sample, however deep the recursion.
    const seen = new Set<string>();
    for (let cursor: number | undefined = node.id; cursor !== undefined; cursor = parent.get(cursor)) {
      const frame = byId.get(cursor)!.callFrame;
      if (!frame.url.replace(/^file:\/\//, '').startsWith(options.ownRoot) || frame.url.includes('node_modules')) continue;
      const frameKey = key(frame);
      if (seen.has(frameKey)) continue;
      seen.add(frameKey);
      const entry = inclusive.get(frameKey) ?? { frame, us: 0 };
      entry.us += weight;
      inclusive.set(frameKey, entry);
    }
  }

  const toRow = ({ frame, us }: { frame: CallFrame; us: number }): Row => ({
    name: frame.functionName || '(anonymous)',
    where: where(frame, options.ownRoot),
    group: groupOf(frame, options.ownRoot),
    ms: us / 1000,
    share: totalUs > 0 ? us / totalUs : 0,
  });
  const sorted = (rows: Iterable<{ frame: CallFrame; us: number }>) => [...rows].sort((a, b) => b.us - a.us).map(toRow);
  const table = (entries: Map<string, number>) =>
    [...entries.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ name, where: '', group: name, ms: us / 1000, share: totalUs > 0 ? us / totalUs : 0 }));
  return {
    sampledMs: totalUs / 1000,
    samples: kept,
    selfTop: sorted(self.values()).slice(0, top),
    ownInclusiveTop: sorted(inclusive.values()).slice(0, top),
    groups: table(groups),
    callers: table(callers),
  };
}

const percent = (share: number) => `${(share * 100).toFixed(1)}%`;

export function renderSummary(summary: ProfileSummary): string {
  const lines = [
    `${summary.samples} samples, ${(summary.sampledMs / 1000).toFixed(2)} s sampled`,
    '',
    '### Time by package or runtime part',
    '',
    '| part | ms | share |',
    '|---|---|---|',
  ];
  for (const row of summary.groups.slice(0, 20)) lines.push(`| ${row.name} | ${row.ms.toFixed(0)} | ${percent(row.share)} |`);
  lines.push(
    '',
    '### Time by who caused it',
    '',
    'Runtime and native time (syscalls, streams, timers) charged to the innermost package or Switchyard module that called it; "node:*" left over is work no package is on the stack for (socket reads, parsing of incoming HTTP).',
    '',
    '| caller | ms | share |',
    '|---|---|---|',
  );
  for (const row of summary.callers.slice(0, 20)) lines.push(`| ${row.name} | ${row.ms.toFixed(0)} | ${percent(row.share)} |`);
  lines.push('', '### Top self time', '', '| function | where | part | ms | share |', '|---|---|---|---|---|');
  for (const row of summary.selfTop) lines.push(`| ${row.name} | ${row.where} | ${row.group} | ${row.ms.toFixed(0)} | ${percent(row.share)} |`);
  lines.push('', '### Switchyard functions, inclusive time (self + callees)', '', '| function | where | ms | share |', '|---|---|---|---|');
  for (const row of summary.ownInclusiveTop) lines.push(`| ${row.name} | ${row.where} | ${row.ms.toFixed(0)} | ${percent(row.share)} |`);
  return lines.join('\n');
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' }, 'from-us': { type: 'string' }, 'to-us': { type: 'string' }, root: { type: 'string' } },
  });
  const file = positionals[0];
  if (!file) {
    process.stderr.write('usage: node bench/cpu-profile-summary.ts FILE.cpuprofile [--top N] [--from-us T] [--to-us T]\n');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const ownRoot = values.root ?? new URL('..', import.meta.url).pathname;
  const fromUs = values['from-us'] === undefined ? undefined : Number(values['from-us']);
  const toUs = values['to-us'] === undefined ? undefined : Number(values['to-us']);
  process.stdout.write(`${renderSummary(summariseProfile(profile, { ownRoot, top: Number(values.top), fromUs, toUs }))}\n`);
}
