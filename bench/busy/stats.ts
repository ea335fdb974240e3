// Summaries of one pass and the side-by-side table the script prints and the
// README carries.

export interface Sample {
  ok: boolean;
  /** Wall time of the whole SDK call (its own retries included), ms. */
  ms: number;
  /** Streams: time to the first content chunk the SDK yielded, ms. */
  firstChunkMs?: number;
  /** Through Switchyard: the `x-switchyard-attempts` header of the final answer. */
  attemptsHeader?: number;
  error?: string;
}

export interface PassResult {
  label: string;
  samples: Sample[];
  /** Chat requests each simulator received during the pass. */
  upstreamRequests: Record<string, number>;
  /** What each simulator decided for those requests (ok, busy, hold, ...). */
  upstreamOutcomes: Record<string, Record<string, number>>;
  /** Aborted upstream requests (hedge losers, holds given up on). */
  upstreamAborts: Record<string, number>;
  wallMs: number;
  eventLoopP99Ms: number;
}

export interface Summary {
  requests: number;
  succeeded: number;
  successRate: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  over2s: number;
  upstreamPerRequest: number;
  headerPerRequest: number | undefined;
  firstChunk?: { mean: number; p50: number; p95: number; p99: number };
  errors: Record<string, number>;
}

/** Nearest-rank percentile of a sorted list. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

export function summarise(pass: PassResult): Summary {
  const samples = pass.samples;
  const times = samples.map((sample) => sample.ms).sort((a, b) => a - b);
  const succeeded = samples.filter((sample) => sample.ok).length;
  const upstream = Object.values(pass.upstreamRequests).reduce((sum, count) => sum + count, 0);
  const headers = samples.map((sample) => sample.attemptsHeader).filter((value): value is number => value !== undefined);
  const errors: Record<string, number> = {};
  for (const sample of samples) if (!sample.ok) errors[sample.error ?? 'error'] = (errors[sample.error ?? 'error'] ?? 0) + 1;
  const summary: Summary = {
    requests: samples.length,
    succeeded,
    successRate: succeeded / samples.length,
    mean: mean(times),
    p50: percentile(times, 50),
    p95: percentile(times, 95),
    p99: percentile(times, 99),
    max: times[times.length - 1] ?? Number.NaN,
    over2s: samples.filter((sample) => sample.ms > 2_000).length / samples.length,
    upstreamPerRequest: upstream / samples.length,
    headerPerRequest: headers.length === samples.length ? mean(headers) : undefined,
    errors,
  };
  const chunks = samples.map((sample) => sample.firstChunkMs).filter((value): value is number => value !== undefined);
  if (chunks.length > 0) {
    const sorted = chunks.sort((a, b) => a - b);
    summary.firstChunk = { mean: mean(sorted), p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
  }
  return summary;
}

const ms = (value: number) => (value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`);
const pct = (value: number, digits = 2) => `${(value * 100).toFixed(digits)}%`;
const yesNo = (met: boolean) => (met ? '**yes**' : '**no**');

export const targets = { successRate: 0.9999, meanRatio: 0.37, p99Ms: 1_500, attemptsPerRequest: 1.2 } as const;

export interface Verdicts {
  success: boolean;
  meanRatio: boolean;
  p99: boolean;
  attempts: boolean;
}

export function verdicts(direct: Summary, switchyard: Summary): Verdicts {
  return {
    success: switchyard.successRate >= targets.successRate,
    meanRatio: switchyard.mean / direct.mean <= targets.meanRatio,
    p99: switchyard.p99 < targets.p99Ms,
    attempts: (switchyard.headerPerRequest ?? switchyard.upstreamPerRequest) <= targets.attemptsPerRequest,
  };
}

/** The non-stream table: direct vs Switchyard, with the targets. */
export function renderTable(direct: Summary, switchyard: Summary): string {
  const met = verdicts(direct, switchyard);
  const ratio = switchyard.mean / direct.mean;
  const rows: string[][] = [
    ['', 'direct: SDK → primary', 'Switchyard: SDK → gateway → 3 providers', 'target (Switchyard)', 'met'],
    [
      'success rate',
      `${pct(direct.successRate)} (${direct.succeeded}/${direct.requests})`,
      `${pct(switchyard.successRate)} (${switchyard.succeeded}/${switchyard.requests})`,
      `≥ ${pct(targets.successRate)}`,
      yesNo(met.success),
    ],
    ['mean latency', ms(direct.mean), ms(switchyard.mean), '', ''],
    ['p50', ms(direct.p50), ms(switchyard.p50), '', ''],
    ['p95', ms(direct.p95), ms(switchyard.p95), '', ''],
    ['p99', ms(direct.p99), ms(switchyard.p99), `< ${ms(targets.p99Ms)}`, yesNo(met.p99)],
    ['max', ms(direct.max), ms(switchyard.max), '', ''],
    ['requests slower than 2 s', pct(direct.over2s), pct(switchyard.over2s), '', ''],
    [
      'upstream attempts / request',
      `${direct.upstreamPerRequest.toFixed(3)} (simulator count)`,
      `${switchyard.headerPerRequest === undefined ? 'n/a' : switchyard.headerPerRequest.toFixed(3)} (header); ${switchyard.upstreamPerRequest.toFixed(3)} (simulator count)`,
      `≤ ${targets.attemptsPerRequest}`,
      yesNo(met.attempts),
    ],
    [
      'mean(Switchyard) / mean(direct)',
      '',
      `${ratio.toFixed(3)} (${ratio <= 1 ? '−' : '+'}${Math.abs((1 - ratio) * 100).toFixed(1)}%)`,
      `≤ ${targets.meanRatio}`,
      yesNo(met.meanRatio),
    ],
  ];
  return markdownTable(rows);
}

/** The stream table: time to first chunk and whole-stream time. */
export function renderStreamTable(direct: Summary, switchyard: Summary): string {
  const fc = (summary: Summary, key: 'mean' | 'p50' | 'p95' | 'p99') => (summary.firstChunk ? ms(summary.firstChunk[key]) : 'n/a');
  const rows: string[][] = [
    ['stream pass', 'direct: SDK → primary', 'Switchyard: SDK → gateway → 3 providers'],
    [
      'success rate',
      `${pct(direct.successRate)} (${direct.succeeded}/${direct.requests})`,
      `${pct(switchyard.successRate)} (${switchyard.succeeded}/${switchyard.requests})`,
    ],
    ['time to first chunk: mean', fc(direct, 'mean'), fc(switchyard, 'mean')],
    ['time to first chunk: p50', fc(direct, 'p50'), fc(switchyard, 'p50')],
    ['time to first chunk: p95', fc(direct, 'p95'), fc(switchyard, 'p95')],
    ['time to first chunk: p99', fc(direct, 'p99'), fc(switchyard, 'p99')],
    ['whole stream: mean', ms(direct.mean), ms(switchyard.mean)],
    ['whole stream: p99', ms(direct.p99), ms(switchyard.p99)],
    [
      'upstream attempts / request',
      `${direct.upstreamPerRequest.toFixed(3)} (simulator count)`,
      `${switchyard.headerPerRequest === undefined ? 'n/a' : switchyard.headerPerRequest.toFixed(3)} (header); ${switchyard.upstreamPerRequest.toFixed(3)} (simulator count)`,
    ],
    [
      'mean first chunk: Switchyard / direct',
      '',
      direct.firstChunk && switchyard.firstChunk ? (switchyard.firstChunk.mean / direct.firstChunk.mean).toFixed(3) : 'n/a',
    ],
  ];
  return markdownTable(rows);
}

/** What each simulator saw: the observed fault mix, so a reader can check the scenario ran as specified. */
export function renderUpstreams(pass: PassResult): string {
  const lines: string[] = [];
  for (const [name, outcomes] of Object.entries(pass.upstreamOutcomes)) {
    const total = pass.upstreamRequests[name] ?? 0;
    if (total === 0) {
      lines.push(`  ${name}: no requests`);
      continue;
    }
    const parts = Object.entries(outcomes)
      .filter(([, count]) => count > 0)
      .map(([outcome, count]) => `${outcome} ${count} (${pct(count / total, 1)})`);
    lines.push(`  ${name}: ${total} requests: ${parts.join(', ')}; aborted by the client ${pass.upstreamAborts[name] ?? 0}`);
  }
  return lines.join('\n');
}

export function markdownTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(3, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (row: string[]) => `| ${row.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}
