import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

// The alert rules checked by Prometheus's own tool: `promtool check rules`
// parses every expression, and `promtool test rules` replays the situations of
// switchyard-alerts.test.yml (an outage of fast 503s beside slow answers, a
// replica down, a route with no target, high CPU, an anomaly) and compares the
// alerts that fire, with their rendered text. On a machine without promtool
// the test skips saying so; with CI set it must run (.ci/run installs it).
// Every alert also links a runbook section that exists.

const rules = new URL('../deploy/prometheus/switchyard-alerts.yml', import.meta.url);
const ruleTests = new URL('../deploy/prometheus/switchyard-alerts.test.yml', import.meta.url);
const runbook = new URL('../docs/runbook.md', import.meta.url);

function promtool(args: string[]): { status: number | null; output: string } | undefined {
  const run = spawnSync('promtool', args, { encoding: 'utf8' });
  if (run.error) return undefined;
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

test('promtool checks the rules and their unit tests pass', (context) => {
  const checked = promtool(['check', 'rules', rules.pathname]);
  if (!checked) {
    if (process.env.CI) assert.fail('CI is set but promtool is not installed (apt-get install prometheus)');
    context.skip('promtool is not installed (apt-get install prometheus ships it); CI runs this');
    return;
  }
  assert.equal(checked.status, 0, checked.output);
  const tested = promtool(['test', 'rules', ruleTests.pathname]);
  assert.equal(tested?.status, 0, tested?.output);
  assert.match(tested!.output, /SUCCESS/);
});

test('every alert links its own section of docs/runbook.md', () => {
  const file = parse(readFileSync(rules, 'utf8')) as { groups: { rules: { alert?: string; annotations?: Record<string, string> }[] }[] };
  const alerts = file.groups.flatMap((group) => group.rules).filter((rule) => rule.alert !== undefined);
  const headings = new Set([...readFileSync(runbook, 'utf8').matchAll(/^## (\S+)$/gm)].map((match) => match[1]!.toLowerCase()));
  assert.ok(alerts.length >= 11);
  for (const alert of alerts) {
    assert.equal(alert.annotations?.runbook_url, `docs/runbook.md#${alert.alert!.toLowerCase()}`, `${alert.alert} links its runbook`);
    assert.ok(headings.has(alert.alert!.toLowerCase()), `docs/runbook.md has a section "## ${alert.alert}"`);
  }
});
