import type { TargetName } from './targets.ts';
import { targetLabels } from './targets.ts';

// From per-round measurements to the tables people read: medians with the
// min–max across rounds, ratios taken round by round (each round's pair ran
// minutes apart at most), and the project's goals checked against them.

/** Every scenario, in the order a full run measures them. */
export const scenarioNames = ['json50', 'stream50', 'json1', 'json1own', 'ttfc', 'delay50'] as const;
export type Scenario = (typeof scenarioNames)[number];

export interface Measurement {
  scenario: Scenario;
  target: TargetName;
  round: number;
  requests: number;
  non2xx: number;
  errors: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  rps?: number;
  /** The target's CPU per request, microseconds (load scenarios). */
  cpuPerRequestUs?: number;
  /** The target's CPU use, in cores. */
  coreShare?: number;
  /** Other processes' share of the machine during the measurement (0–1). */
  othersShare: number;
  incomplete?: number;
}

export interface RunInfo {
  date: string;
  machine: string;
  loadGenerator: string;
  pinning: string;
  durationSeconds: number;
  rounds: number;
  connections: number;
  streams: number;
  versions: Partial<Record<TargetName, string>>;
  skipped: string[];
  peakRssBytes: Partial<Record<TargetName, number>>;
  totalSeconds: number;
  /** Time spent waiting for other processes to quieten. */
  quietWaitSeconds: number;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  count: number;
}

export function spread(values: readonly number[]): Spread | undefined {
  const finite = values.filter((value) => Number.isFinite(value)).toSorted((a, b) => a - b);
  if (finite.length === 0) return undefined;
  const middle = finite.length >> 1;
  const median = finite.length % 2 === 1 ? finite[middle]! : (finite[middle - 1]! + finite[middle]!) / 2;
  return { median, min: finite[0]!, max: finite.at(-1)!, count: finite.length };
}

const select = (measurements: readonly Measurement[], scenario: Scenario, target: TargetName) =>
  measurements.filter((m) => m.scenario === scenario && m.target === target);

function metric(
  measurements: readonly Measurement[],
  scenario: Scenario,
  target: TargetName,
  pick: (m: Measurement) => number | undefined,
): Spread | undefined {
  return spread(select(measurements, scenario, target).map((m) => pick(m) ?? Number.NaN));
}

/** Per round: pick(a) ÷ pick(b), or pick(a) − pick(b) with `difference`. */
export function paired(
  measurements: readonly Measurement[],
  scenario: Scenario,
  a: TargetName,
  b: TargetName,
  pick: (m: Measurement) => number | undefined,
  difference = false,
): Spread | undefined {
  const values: number[] = [];
  for (const left of select(measurements, scenario, a)) {
    const right = select(measurements, scenario, b).find((m) => m.round === left.round);
    const x = pick(left);
    const y = right ? pick(right) : undefined;
    if (x === undefined || y === undefined) continue;
    values.push(difference ? x - y : x / y);
  }
  return spread(values);
}

function format(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function cell(value: Spread | undefined, digits = 0): string {
  if (!value) return '—';
  if (value.count === 1 || value.min === value.max) return format(value.median, digits);
  return `${format(value.median, digits)} (${format(value.min, digits)}–${format(value.max, digits)})`;
}

interface Goal {
  goal: string;
  measured: Spread | undefined;
  digits: number;
  pass: (median: number) => boolean;
  threshold: string;
}

export function renderReport(measurements: readonly Measurement[], info: RunInfo, targets: readonly TargetName[]): string {
  const lines: string[] = [];
  const has = (name: TargetName) => targets.includes(name);
  lines.push(`# Switchyard benchmark — ${info.date}`, '');
  lines.push(`Machine: ${info.machine}.`);
  lines.push(
    `Load: ${info.loadGenerator}, ${info.connections} connections, ${info.durationSeconds} s per target per round in 1-second slices, the targets taking turns; ${info.rounds} round(s); ${info.pinning}. With the 50 ms upstream: one run of up to 4 s per target per round, rate = connections ÷ mean latency. One connection: ${info.durationSeconds > 2.5 ? 2.5 : info.durationSeconds} s of requests and ${info.streams} streams per target per round, in 5 slices.`,
  );
  lines.push(`Cells: median across rounds (min–max). Run took ${Math.round(info.totalSeconds)} s.`);
  const versions = Object.entries(info.versions).map(([name, version]) => `${name} ${version}`);
  lines.push(`Versions: ${versions.join('; ')}.`);
  for (const line of info.skipped) lines.push(`Skipped: ${line}.`);
  const noise = spread(measurements.map((m) => m.othersShare * 100));
  if (noise) {
    const waits = `waited ${Math.round(info.quietWaitSeconds)} s for quiet moments`;
    lines.push(
      `Other processes used ${cell(noise, 0)} % of the machine during measurements (${waits})${noise.max > 10 ? ' — figures from busy moments are less reliable' : ''}.`,
    );
  }
  lines.push('');

  lines.push('## 50 connections, instant upstream', '');
  lines.push('| target | non-stream req/s | p50 ms | p99 ms | CPU µs/req | CPU cores | stream req/s | p50 ms | p99 ms | CPU µs/req |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const target of targets) {
    const m = (scenario: Scenario, pick: (x: Measurement) => number | undefined) => metric(measurements, scenario, target, pick);
    lines.push(
      `| ${targetLabels[target]} | ${cell(m('json50', (x) => x.rps))} | ${cell(
        m('json50', (x) => x.p50),
        2,
      )} | ${cell(
        m('json50', (x) => x.p99),
        2,
      )} | ${cell(m('json50', (x) => x.cpuPerRequestUs))} | ${cell(
        m('json50', (x) => x.coreShare),
        2,
      )} | ${cell(m('stream50', (x) => x.rps))} | ${cell(
        m('stream50', (x) => x.p50),
        2,
      )} | ${cell(
        m('stream50', (x) => x.p99),
        2,
      )} | ${cell(m('stream50', (x) => x.cpuPerRequestUs))} |`,
    );
  }
  lines.push('', 'CPU µs/req and cores: the target process(es) only (for "upstream directly", the upstream itself).', '');

  lines.push('## One connection, latency, memory', '');
  lines.push(
    "| target | p50 1 conn ms | added ms | added ms, proxy on the clients' CPU | CPU µs/req at 1 conn: own CPU / clients' CPU | first chunk p50 ms | added ms | req/s, 50 ms upstream | peak RSS MB | non-2xx | errors |",
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const target of targets) {
    const m = (scenario: Scenario, pick: (x: Measurement) => number | undefined) => metric(measurements, scenario, target, pick);
    const added = (scenario: Scenario) => (target === 'direct' ? undefined : paired(measurements, scenario, target, 'direct', (x) => x.p50, true));
    const mine = measurements.filter((x) => x.target === target);
    const rss = info.peakRssBytes[target];
    lines.push(
      `| ${targetLabels[target]} | ${cell(
        m('json1', (x) => x.p50),
        3,
      )} | ${cell(added('json1'), 3)} | ${cell(added('json1own'), 3)} | ${cell(m('json1', (x) => x.cpuPerRequestUs))} / ${cell(m('json1own', (x) => x.cpuPerRequestUs))} | ${cell(
        m('ttfc', (x) => x.p50),
        3,
      )} | ${cell(added('ttfc'), 3)} | ${cell(m('delay50', (x) => x.rps))} | ${target === 'direct' || rss === undefined ? '—' : format(rss / 1048576, 0)} | ${mine.reduce((sum, x) => sum + x.non2xx + (x.incomplete ?? 0), 0)} | ${mine.reduce((sum, x) => sum + x.errors, 0)} |`,
    );
  }
  lines.push(
    '',
    "added = target − upstream directly, paired round by round. Proxy on the clients' CPU: the same one-connection load with the proxy moved next to the client and the upstream, so its own time is on the path and the cross-CPU wake-ups are not. CPU at 1 conn: the target's CPU time per request (every thread, from /proc's schedstat), with the proxy on its own CPU (json1) and on the clients' (json1own); for \"upstream directly\", the upstream's. First chunk: time from sending a streamed request to the first `data:` bytes. Peak RSS: VmHWM over the whole run (nginx: master + worker). non-2xx counts streams cut short too.",
    '',
  );

  if (has('switchyard')) {
    const rps = (x: Measurement) => x.rps;
    const goals: Goal[] = [];
    const ratio = (scenario: Scenario, peer: TargetName) => paired(measurements, scenario, 'switchyard', peer, rps);
    if (has('bare')) {
      goals.push({
        goal: 'non-stream req/s, Switchyard ÷ bare proxy',
        measured: ratio('json50', 'bare'),
        digits: 2,
        pass: (v) => v >= 0.9,
        threshold: '≥ 0.90',
      });
      goals.push({ goal: 'stream req/s, Switchyard ÷ bare proxy', measured: ratio('stream50', 'bare'), digits: 2, pass: (v) => v >= 0.9, threshold: '≥ 0.90' });
    }
    if (has('baseline')) {
      const cpu = (scenario: Scenario) => paired(measurements, scenario, 'switchyard', 'baseline', (x) => x.cpuPerRequestUs);
      goals.push({ goal: 'non-stream CPU µs/req, Switchyard ÷ baseline (information)', measured: cpu('json50'), digits: 3, pass: () => true, threshold: '—' });
      goals.push({ goal: 'stream CPU µs/req, Switchyard ÷ baseline (information)', measured: cpu('stream50'), digits: 3, pass: () => true, threshold: '—' });
      goals.push({
        goal: 'CPU µs/req at 1 connection, own CPU, Switchyard ÷ baseline (information)',
        measured: cpu('json1'),
        digits: 3,
        pass: () => true,
        threshold: '—',
      });
      goals.push({
        goal: "CPU µs/req at 1 connection, clients' CPU, Switchyard ÷ baseline (information)",
        measured: cpu('json1own'),
        digits: 3,
        pass: () => true,
        threshold: '—',
      });
    }
    if (has('portkey')) {
      goals.push({ goal: 'non-stream req/s, Switchyard ÷ Portkey', measured: ratio('json50', 'portkey'), digits: 2, pass: (v) => v >= 5, threshold: '≥ 5' });
      goals.push({ goal: 'stream req/s, Switchyard ÷ Portkey', measured: ratio('stream50', 'portkey'), digits: 2, pass: (v) => v >= 4, threshold: '≥ 4' });
    }
    if (has('nginx')) {
      goals.push({
        goal: 'non-stream req/s, Switchyard ÷ nginx (information)',
        measured: ratio('json50', 'nginx'),
        digits: 2,
        pass: () => true,
        threshold: '—',
      });
      goals.push({ goal: 'stream req/s, Switchyard ÷ nginx (information)', measured: ratio('stream50', 'nginx'), digits: 2, pass: () => true, threshold: '—' });
      goals.push({
        goal: 'req/s with a 50 ms upstream, Switchyard ÷ nginx',
        measured: ratio('delay50', 'nginx'),
        digits: 3,
        pass: (v) => v >= 0.98,
        threshold: '≥ 0.98',
      });
    }
    goals.push({
      goal: 'added p50 at 1 connection, ms',
      measured: paired(measurements, 'json1', 'switchyard', 'direct', (x) => x.p50, true),
      digits: 3,
      pass: (v) => v <= 0.15,
      threshold: '≤ 0.15',
    });
    goals.push({
      goal: "added p50 at 1 connection, proxy on the clients' CPU (its own time), ms",
      measured: paired(measurements, 'json1own', 'switchyard', 'direct', (x) => x.p50, true),
      digits: 3,
      pass: (v) => v <= 0.15,
      threshold: '≤ 0.15',
    });
    goals.push({
      goal: 'added time to first streamed chunk, ms',
      measured: paired(measurements, 'ttfc', 'switchyard', 'direct', (x) => x.p50, true),
      digits: 3,
      pass: (v) => v <= 0.5,
      threshold: '≤ 0.5',
    });
    // What the same hops cost through the floor (nginx) and through one Node.js process that only pipes (the
    // runtime's own cost): on a VM whose idle CPU must be woken, they show how much of "added" is the machine's.
    const addedThrough = (peer: TargetName, name: string, note: string) => {
      goals.push({
        goal: `added p50 at 1 connection through ${name}, ms (information${note})`,
        measured: paired(measurements, 'json1', peer, 'direct', (x) => x.p50, true),
        digits: 3,
        pass: () => true,
        threshold: '—',
      });
      goals.push({
        goal: `added p50 at 1 connection through ${name}, proxy on the clients' CPU, ms (information)`,
        measured: paired(measurements, 'json1own', peer, 'direct', (x) => x.p50, true),
        digits: 3,
        pass: () => true,
        threshold: '—',
      });
      goals.push({
        goal: `added time to first streamed chunk through ${name}, ms (information)`,
        measured: paired(measurements, 'ttfc', peer, 'direct', (x) => x.p50, true),
        digits: 3,
        pass: () => true,
        threshold: '—',
      });
    };
    if (has('nginx')) addedThrough('nginx', 'nginx', ': the floor in this run');
    if (has('bare')) {
      if (has('nginx'))
        goals.push({
          goal: 'req/s with a 50 ms upstream, bare proxy ÷ nginx (information: one Node.js process in this run)',
          measured: paired(measurements, 'delay50', 'bare', 'nginx', rps),
          digits: 3,
          pass: () => true,
          threshold: '—',
        });
      addedThrough('bare', 'the bare proxy', '');
    }
    const rss = info.peakRssBytes.switchyard;
    goals.push({
      goal: 'peak RSS, MB',
      measured: rss === undefined ? undefined : spread([rss / 1048576]),
      digits: 0,
      pass: (v) => v <= 150,
      threshold: '≤ 150',
    });
    const failures = measurements.filter((x) => x.target === 'switchyard').reduce((sum, x) => sum + x.non2xx + x.errors + (x.incomplete ?? 0), 0);
    goals.push({ goal: 'non-2xx, errors and cut streams', measured: spread([failures]), digits: 0, pass: (v) => v === 0, threshold: '0' });

    lines.push('## Switchyard against its goals', '');
    lines.push('| goal | measured: median (min–max of rounds) | target | verdict |');
    lines.push('|---|---|---|---|');
    for (const goal of goals) {
      const verdict = goal.measured === undefined ? 'not measured' : goal.threshold === '—' ? '' : goal.pass(goal.measured.median) ? 'met' : '**missed**';
      lines.push(`| ${goal.goal} | ${cell(goal.measured, goal.digits)} | ${goal.threshold} | ${verdict} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
