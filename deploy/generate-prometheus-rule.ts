// node deploy/generate-prometheus-rule.ts: writes
// deploy/kubernetes/monitoring/prometheus-rule.yaml, the Prometheus operator's
// PrometheusRule holding the groups of deploy/prometheus/switchyard-alerts.yml
// unchanged. One source of truth for the rules; test/deploy-files.test.ts
// fails when the generated file is out of date.

import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';

export const rulesPath = new URL('./prometheus/switchyard-alerts.yml', import.meta.url);
export const prometheusRulePath = new URL('./kubernetes/monitoring/prometheus-rule.yaml', import.meta.url);

export function prometheusRule(rulesText: string): string {
  const rules = parse(rulesText) as { groups: unknown[] };
  const resource = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'switchyard', labels: { 'app.kubernetes.io/name': 'switchyard' } },
    spec: { groups: rules.groups },
  };
  return `# Generated from deploy/prometheus/switchyard-alerts.yml by deploy/generate-prometheus-rule.ts: edit that file, then run the script.\n${stringify(resource, { lineWidth: 0 })}`;
}

if (import.meta.main) {
  writeFileSync(prometheusRulePath, prometheusRule(readFileSync(rulesPath, 'utf8')));
  process.stdout.write(`wrote ${prometheusRulePath.pathname}\n`);
}
