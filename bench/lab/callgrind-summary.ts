import { readFileSync } from 'node:fs';

// Where a callgrind count went, by function, with V8's JIT code named: callgrind
// knows native functions by their symbols but JIT code only by address, so the
// addresses are looked up in the perf map V8 writes with --perf-basic-prof
// (/tmp/perf-PID.map: "start size name" per compiled function). Self cost only:
// a builtin (a property lookup, a string concatenation) is its own line.

interface CodeRange {
  start: number;
  end: number;
  name: string;
}

function readPerfMap(path: string): CodeRange[] {
  const ranges: CodeRange[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [start, size, ...name] = line.split(' ');
    if (!start || !size) continue;
    const from = Number.parseInt(start, 16);
    ranges.push({ start: from, end: from + Number.parseInt(size, 16), name: name.join(' ') });
  }
  return ranges.sort((a, b) => a.start - b.start);
}

function lookup(ranges: readonly CodeRange[], address: number): string | undefined {
  let low = 0;
  let high = ranges.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const range = ranges[middle]!;
    if (address < range.start) high = middle - 1;
    else if (address >= range.end) low = middle + 1;
    else return range.name;
  }
  return undefined;
}

/** Self instructions per function in a callgrind output file (name compression and call lines handled). */
function selfCosts(path: string): Map<string, number> {
  const names = new Map<string, string>();
  const costs = new Map<string, number>();
  let current: string | undefined;
  let skipCallCost = false;
  const nameOf = (spec: string): string => {
    const match = /^\((\d+)\)(?: (.*))?$/.exec(spec);
    if (!match) return spec;
    if (match[2] !== undefined) names.set(match[1]!, match[2]);
    return names.get(match[1]!) ?? match[1]!;
  };
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.startsWith('fn=')) current = nameOf(line.slice(3));
    else if (line.startsWith('cfn=')) nameOf(line.slice(4));
    else if (line.startsWith('calls=')) skipCallCost = true;
    else if (/^[\d+*-]/.test(line) && current !== undefined) {
      // The line after calls= is the inclusive cost of that call, not this function's own.
      if (skipCallCost) skipCallCost = false;
      else costs.set(current, (costs.get(current) ?? 0) + Number(line.split(' ')[1] ?? 0));
    }
  }
  return costs;
}

/** The top functions by self instructions per request, JIT code named from the perf map. */
export function summariseCallgrind(callgrindFile: string, perfMapFile: string, requests: number, top = 40): string {
  const ranges = readPerfMap(perfMapFile);
  const byName = new Map<string, number>();
  for (const [name, cost] of selfCosts(callgrindFile)) {
    const address = /^0x([0-9a-f]+)$/.exec(name);
    const label = address ? (lookup(ranges, Number.parseInt(address[1]!, 16)) ?? '(JIT code not in the map)') : `[native] ${name}`;
    byName.set(label, (byName.get(label) ?? 0) + cost);
  }
  const rows = [...byName].sort((a, b) => b[1] - a[1]).slice(0, top);
  return rows.map(([name, cost]) => `${String(Math.round(cost / requests)).padStart(8)}  ${name.slice(0, 140)}`).join('\n');
}
