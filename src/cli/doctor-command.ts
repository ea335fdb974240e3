import { ConfigError, plainAdminKey } from '../config/load-config.ts';
import { checkGateway, checkProvider, checkRedis, type SubjectReport, type Verdict } from './doctor-checks.ts';
import { resolveConfigSource } from './config-source.ts';

// `switchyard doctor`: every provider (and Redis, when configured) checked
// from this machine, all at once, with a verdict per check in plain words;
// then the gateway itself, when it is running here: ready, and its cache hit rate.
// Exit 0 when nothing failed, 1 when something did, 2 when there is no
// config to check. Never prints a key: URLs lose their user info, and a
// refused key is named by its provider only.

export interface DoctorOptions {
  config: string | undefined;
  json: boolean;
  timeoutMs: number;
}

const marks: Record<Verdict, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: '--  ' };

function render(reports: readonly SubjectReport[], source: string): string {
  const lines = [`switchyard doctor: ${source}`, ''];
  for (const report of reports) {
    lines.push(`${report.kind} ${report.name} — ${report.target}`);
    for (const result of report.results) lines.push(`  ${marks[result.verdict]}  ${result.check.padEnd(9)} ${result.detail}`);
    lines.push('');
  }
  const named = (verdict: Verdict) =>
    reports.flatMap((report) => report.results.filter((result) => result.verdict === verdict).map((result) => `${report.name} ${result.check}`));
  const [failed, warned] = [named('fail'), named('warn')];
  const summary = [
    failed.length > 0 ? `${failed.length} problem${failed.length === 1 ? '' : 's'}: ${failed.join(', ')}.` : '',
    warned.length > 0 ? `${warned.length} warning${warned.length === 1 ? '' : 's'}: ${warned.join(', ')}.` : '',
  ].filter(Boolean);
  lines.push(summary.length === 0 ? 'No problems found.' : summary.join(' '));
  return `${lines.join('\n')}\n`;
}

export async function doctorCommand(options: DoctorOptions): Promise<number> {
  let source;
  try {
    source = await resolveConfigSource(options.config, process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 1;
  }
  if (source.kind === 'demo') {
    process.stderr.write(
      'switchyard doctor: no config to check (give --config FILE, set SWITCHYARD_CONFIG, add ./switchyard.yaml, or set a provider key such as DEEPSEEK_API_KEY)\n',
    );
    return 2;
  }
  const { config } = source;
  const targets = (provider: string) =>
    Object.entries(config.routes).flatMap(([route, { targets: list }]) =>
      list.flatMap((target, index) => (target.provider === provider ? [{ model: target.model, path: `routes.${route}.targets[${index}].model` }] : [])),
    );
  const checks: Promise<SubjectReport>[] = Object.entries(config.providers).map(([name, provider]) =>
    checkProvider(name, provider, options.timeoutMs, targets(name)),
  );
  if (config.cache.redis) checks.push(checkRedis('cache', config.cache.redis, options.timeoutMs));
  if (config.state.redis) checks.push(checkRedis('state', config.state.redis, options.timeoutMs));
  checks.push(checkGateway(config, options.timeoutMs, source.kind === 'file' ? await plainAdminKey(source.file) : undefined));
  const reports = await Promise.all(checks);
  const failed = reports.some((report) => report.results.some((result) => result.verdict === 'fail'));
  const providers = Object.keys(config.providers).length;
  const described = `${providers} provider${providers === 1 ? '' : 's'} from ${source.kind === 'file' ? source.file : 'the environment'}`;
  process.stdout.write(options.json ? `${JSON.stringify({ source: described, ok: !failed, checks: reports }, null, 2)}\n` : render(reports, described));
  return failed ? 1 : 0;
}
