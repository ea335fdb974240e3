import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';
import { prometheusRule, prometheusRulePath, rulesPath } from '../deploy/generate-prometheus-rule.ts';
import { parseConfigText } from '../src/config/load-config.ts';
import { GatewayMetrics } from '../src/observability/metrics.ts';

// The Prometheus rules and Grafana dashboard under deploy/ name metrics by
// string. This keeps them honest: every metric they query must be one a real
// gateway's /metrics serves, so renaming a metric without updating deploy/
// fails here instead of silently emptying a panel or muting an alert. The
// Kubernetes manifests are held to the same standard: their config must load
// with Switchyard's own loader, and ports, probes, labels and timeouts must agree.

const alertsPath = new URL('../deploy/prometheus/switchyard-alerts.yml', import.meta.url);
const dashboardPath = new URL('../deploy/grafana/switchyard-dashboard.json', import.meta.url);

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}

function loadRules(): Rule[] {
  const file = parse(readFileSync(alertsPath, 'utf8')) as RuleFile;
  assert.ok(Array.isArray(file.groups) && file.groups.length > 0, 'rule file has groups');
  return file.groups.flatMap((group) => group.rules);
}

/** Every PromQL string in the dashboard: panel targets and query-variable definitions. */
function dashboardQueries(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const item of node) dashboardQueries(item, found);
  } else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if ((key === 'expr' || key === 'definition' || key === 'query') && typeof value === 'string') found.push(value);
      else dashboardQueries(value, found);
    }
  }
  return found;
}

/** The threshold of an alert written as `<expression> > <number>`. */
function threshold(rule: Rule): number {
  const match = />\s*([0-9.]+)\s*$/.exec(rule.expr.trim());
  assert.ok(match, `alert ${rule.alert} ends in "> <threshold>"`);
  return Number(match[1]);
}

/** Metric families a real gateway's /metrics serves, by name, with their types. */
async function exportedFamilies(): Promise<Map<string, string>> {
  const metrics = new GatewayMetrics();
  metrics.countRequest('chat', 'p', 200, 0.1);
  metrics.observeFirstToken('chat', 'p', 0.05);
  metrics.countAttempt('p', 'ok');
  metrics.countTokens('p', 'm', 1, 1, 0.001);
  metrics.countShed('normal', 'queue_full');
  metrics.setCircuitState('p', 'closed');
  metrics.setHealthy('p', true);
  metrics.readInFlightFrom(() => [['p', 0]]);
  metrics.readQueueDepthFrom(() => [['p', 'normal', 0]]);
  metrics.readAnomaliesFrom(() => [['p', 'ttft', false]]);
  metrics.readRoutesFrom(() => [['chat', 1]]);
  metrics.observeAttempt('p', 'ok', 0.05);
  metrics.countRetry('p', 'retry');
  metrics.countHedge('p', 'after');
  metrics.countBreakerTransition('p', 'open');
  const text = await metrics.render();
  const families = new Map<string, string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(match[1]!, match[2]!);
  return families;
}

/** Whether `name` is a series of an exported family: the family itself, or a histogram's or summary's _bucket/_sum/_count. */
function isExported(name: string, families: Map<string, string>): boolean {
  if (families.has(name)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  const type = families.get(base);
  return base !== name && (type === 'histogram' || (type === 'summary' && !name.endsWith('_bucket')));
}

function metricNamesIn(expressions: string[]): Set<string> {
  const names = new Set<string>();
  for (const expr of expressions) for (const match of expr.matchAll(/\b(?:switchyard|process|nodejs)_[a-z0-9_]+/g)) names.add(match[0]);
  return names;
}

test('the alert rules include the error-rate and latency alerts with their thresholds', () => {
  const rules = loadRules();
  const byName = new Map(rules.filter((rule) => rule.alert !== undefined).map((rule) => [rule.alert, rule]));
  for (const name of [
    'SwitchyardHighErrorRate',
    'SwitchyardHighLatency',
    'SwitchyardCircuitOpen',
    'SwitchyardProviderUnhealthy',
    'SwitchyardShedding',
    'SwitchyardDown',
    'SwitchyardRouteNoTarget',
    'SwitchyardHighCpu',
    'SwitchyardProviderAnomaly',
  ]) {
    const rule = byName.get(name);
    assert.ok(rule, `alert ${name} exists`);
    assert.ok(rule.for, `alert ${name} has a for duration`);
    assert.ok(rule.labels?.severity, `alert ${name} has a severity`);
    assert.ok(rule.annotations?.summary && rule.annotations.description, `alert ${name} has summary and description`);
  }
  const errorRate = byName.get('SwitchyardHighErrorRate')!;
  assert.equal(threshold(errorRate), 0.05);
  assert.equal(errorRate.for, '5m');
  assert.match(errorRate.expr, /switchyard_requests_total\{status=~"5\.\."\}/);
  assert.match(errorRate.expr, /by \(route\)/);
  const latency = byName.get('SwitchyardHighLatency')!;
  assert.equal(threshold(latency), 2);
  assert.equal(latency.for, '5m');
  // Answered requests only: in an outage, fast 503s in the same histogram kept the mean low and the alert silent.
  assert.match(latency.expr, /switchyard_request_duration_seconds_sum\{status_class="2xx"\}\[5m\]/);
  assert.match(latency.expr, /switchyard_request_duration_seconds_count\{status_class="2xx"\}\[5m\]/);
});

test('the dashboard is valid JSON with unique panel ids, a datasource variable and a route variable', () => {
  const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as {
    panels: { id: number; gridPos?: { h: number; w: number; x: number; y: number } }[];
    templating: { list: { name: string; type: string; query: unknown }[] };
  };
  const ids = dashboard.panels.map((panel) => panel.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const panel of dashboard.panels) assert.ok(panel.gridPos, `panel ${panel.id} has a gridPos`);
  const datasource = dashboard.templating.list.find((variable) => variable.name === 'datasource');
  assert.equal(datasource?.type, 'datasource');
  assert.equal(datasource?.query, 'prometheus');
  const route = dashboard.templating.list.find((variable) => variable.name === 'route');
  assert.match(JSON.stringify(route?.query), /label_values\(switchyard_requests_total, route\)/);
});

test('every metric the rules and the dashboard query is one the gateway exports', async () => {
  const families = await exportedFamilies();
  // prom-client's standard names, unprefixed, as Node.js dashboards expect them (DESIGN.md contract).
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds'])
    assert.ok(families.has(name), `${name} is served`);
  const expressions = [...loadRules().map((rule) => rule.expr), ...dashboardQueries(JSON.parse(readFileSync(dashboardPath, 'utf8')))];
  const used = metricNamesIn(expressions);
  // Guard against a vacuous pass: the files must actually query the gateway.
  assert.ok(used.size >= 10, `expected the deploy files to query many metrics, found ${[...used].join(', ')}`);
  const missing = [...used].filter((name) => !isExported(name, families));
  assert.deepEqual(missing, [], `metrics named in deploy/ but not served on /metrics: ${missing.join(', ')}`);
});

const kubernetesPath = new URL('../deploy/kubernetes/switchyard.yaml', import.meta.url);
const dockerfilePath = new URL('../Dockerfile', import.meta.url);
const packagePath = new URL('../package.json', import.meta.url);

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects, checked field by field below */
function kubernetesObjects(): Map<string, any> {
  const text = readFileSync(kubernetesPath, 'utf8');
  const documents = parseAllDocuments(text);
  const objects = new Map<string, any>();
  for (const document of documents) {
    assert.deepEqual(document.errors, [], 'every document parses');
    const object = document.toJS() as { kind: string };
    assert.ok(!objects.has(object.kind), `one ${object.kind}`);
    objects.set(object.kind, object);
  }
  return objects;
}

test('the Kubernetes manifests: a config Switchyard loads, and ports, probes, labels and timeouts that agree', () => {
  const objects = kubernetesObjects();
  for (const kind of ['ConfigMap', 'Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']) assert.ok(objects.has(kind), `${kind} is there`);
  const configMap = objects.get('ConfigMap');
  const deployment = objects.get('Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];

  // The config: loads with the gateway's own loader, listens beyond the pod, and every key it needs comes from the secret.
  const configKey = 'switchyard.yaml';
  const configText = configMap.data[configKey] as string;
  const variables = [...configText.matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((match) => match[1]!);
  assert.ok(variables.length > 0, 'the config takes its keys from the environment');
  const config = parseConfigText(configText, 'ConfigMap', Object.fromEntries(variables.map((name) => [name, 'test-value'])));
  assert.equal(config.server.host, '0.0.0.0');
  const manifestText = readFileSync(kubernetesPath, 'utf8');
  for (const name of variables) assert.match(manifestText, new RegExp(`--from-literal=${name}=`), `the secret recipe sets ${name}`);
  assert.deepEqual(container.envFrom, [{ secretRef: { name: 'switchyard-provider-keys' } }]);
  assert.match(manifestText, /kubectl create secret generic switchyard-provider-keys/);

  // The config file the container is told to read is the one the ConfigMap mounts.
  const mount = container.volumeMounts.find((entry: any) => entry.name === 'config');
  const volume = pod.volumes.find((entry: any) => entry.name === 'config');
  assert.equal(volume.configMap.name, configMap.metadata.name);
  assert.deepEqual(container.args, ['serve', '--config', `${mount.mountPath}/${configKey}`]);

  // Ports and probes.
  const port = container.ports.find((entry: any) => entry.name === 'http');
  assert.equal(port.containerPort, config.server.port);
  assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'http' });
  assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 'http' });
  assert.equal(pod.containers.length, 1);

  // The admin plane: its own port, scraped there, and not in the Service.
  const admin = container.ports.find((entry: any) => entry.name === 'admin');
  assert.ok(config.server.admin, 'the config puts the admin plane on its own listener');
  assert.equal(admin.containerPort, config.server.admin.port);
  assert.equal(config.server.admin.host, '0.0.0.0');
  const annotations = deployment.spec.template.metadata.annotations;
  assert.equal(Number(annotations['prometheus.io/port']), config.server.admin.port);
  assert.equal(annotations['prometheus.io/path'], '/metrics');

  // Shutdown: the preStop pause plus the drain must fit in the grace period, or streams in flight are cut.
  // The pause is an exec of sleep, which every Kubernetes version runs (the sleep action needs 1.30).
  const drainSeconds = config.server.drain_timeout / 1000;
  const preStop = container.lifecycle.preStop.exec.command as string[];
  assert.equal(preStop[0], 'sleep');
  const preStopSeconds = Number(preStop[1]);
  assert.ok(preStopSeconds >= 5);
  assert.ok(
    pod.terminationGracePeriodSeconds > drainSeconds + preStopSeconds,
    `grace ${pod.terminationGracePeriodSeconds}s > drain ${drainSeconds}s + preStop ${preStopSeconds}s`,
  );

  // Memory: the request covers the benchmark's peak RSS (150 MB goal), the limit leaves room above it.
  const mebibytes = (text: string) => Number(/^(\d+)Mi$/.exec(text)?.[1]);
  assert.ok(mebibytes(container.resources.requests.memory) >= 150);
  assert.ok(mebibytes(container.resources.limits.memory) > mebibytes(container.resources.requests.memory));

  // Labels: the Service, the autoscaler and the disruption budget all find these pods.
  const labels = deployment.spec.template.metadata.labels;
  assert.deepEqual(deployment.spec.selector.matchLabels, labels);
  const service = objects.get('Service');
  assert.deepEqual(service.spec.selector, labels);
  assert.equal(service.spec.ports[0].targetPort, 'http');
  assert.deepEqual(
    service.spec.ports.map((entry: any) => entry.targetPort),
    ['http'],
    'the admin port stays out of the Service',
  );
  const autoscaler = objects.get('HorizontalPodAutoscaler');
  assert.deepEqual(autoscaler.spec.scaleTargetRef, { apiVersion: deployment.apiVersion, kind: 'Deployment', name: deployment.metadata.name });
  // The guide's figures: 3 to 10 replicas at 70% CPU, and the autoscaler alone owns the count.
  assert.equal(autoscaler.spec.minReplicas, 3);
  assert.equal(autoscaler.spec.maxReplicas, 10);
  assert.equal(autoscaler.spec.metrics[0].resource.name, 'cpu');
  assert.equal(autoscaler.spec.metrics[0].resource.target.averageUtilization, 70);
  assert.equal(deployment.spec.replicas, undefined, 'no replicas: next to an autoscaler, every kubectl apply would reset the scale');
  assert.doesNotMatch(readFileSync(kubernetesPath, 'utf8'), /^\s*replicas:/m);
  // Spread over zones (one replica per zone before any gets two), and over nodes.
  const spread = pod.topologySpreadConstraints as { topologyKey: string; maxSkew: number; labelSelector: { matchLabels: unknown } }[];
  const zones = spread.find((constraint) => constraint.topologyKey === 'topology.kubernetes.io/zone');
  assert.ok(zones, 'spread over topology.kubernetes.io/zone');
  assert.equal(zones.maxSkew, 1);
  assert.deepEqual(zones.labelSelector.matchLabels, labels);
  const budget = objects.get('PodDisruptionBudget');
  assert.deepEqual(budget.spec.selector.matchLabels, labels);
  assert.equal(budget.spec.maxUnavailable, 1, 'a drain takes one pod at a time');
  assert.ok(autoscaler.spec.minReplicas - budget.spec.maxUnavailable >= 2, 'two replicas keep serving during a drain');
  assert.equal(pod.securityContext.runAsNonRoot, true);
});

test('Prometheus finds the pods on their admin port: the scrape config and the PodMonitor', () => {
  const deployment = kubernetesObjects().get('Deployment');
  const adminPort = deployment.spec.template.spec.containers[0].ports.find((entry: any) => entry.name === 'admin');
  const podMonitor = parse(readFileSync(new URL('../deploy/prometheus/switchyard-podmonitor.yaml', import.meta.url), 'utf8'));
  assert.equal(podMonitor.kind, 'PodMonitor');
  assert.deepEqual(podMonitor.spec.selector.matchLabels, deployment.spec.template.metadata.labels);
  assert.deepEqual(
    podMonitor.spec.podMetricsEndpoints.map((endpoint: any) => [endpoint.port, endpoint.path]),
    [[adminPort.name, '/metrics']],
  );
  const scrape = parse(readFileSync(new URL('../deploy/prometheus/switchyard-scrape.yml', import.meta.url), 'utf8')).scrape_configs[0];
  const address = scrape.relabel_configs.find((rule: any) => rule.target_label === '__address__');
  assert.deepEqual(address.source_labels, ['__address__', '__meta_kubernetes_pod_annotation_prometheus_io_port']);
  // The relabelling, applied as Prometheus would (its regexes are anchored): the pod's IP with the annotated port.
  const joined = `10.1.2.3:8700;${deployment.spec.template.metadata.annotations['prometheus.io/port']}`;
  assert.equal(joined.replace(new RegExp(`^(?:${address.regex})$`), address.replacement), `10.1.2.3:${adminPort.containerPort}`);
});
/* eslint-enable @typescript-eslint/no-explicit-any */

test('the image runs the built gateway with the V8 flags of npm start, as the user the manifests expect', () => {
  const dockerfile = readFileSync(dockerfilePath, 'utf8');
  const start = (JSON.parse(readFileSync(packagePath, 'utf8')) as { scripts: { start: string } }).scripts.start;
  const startFlags = start.split(' ').filter((word) => word.startsWith('--'));
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
  assert.deepEqual(entrypoint, ['node', ...startFlags, 'dist/cli.js']);
  const user = /^USER (\d+):(\d+)$/m.exec(dockerfile)!;
  const pod = kubernetesObjects().get('Deployment').spec.template.spec;
  assert.equal(Number(user[1]), pod.securityContext.runAsUser);
  assert.equal(Number(user[2]), pod.securityContext.runAsGroup);
  const exposed = [...dockerfile.matchAll(/^EXPOSE (\d+)$/gm)].map((match) => Number(match[1]));
  assert.deepEqual(
    exposed,
    pod.containers[0].ports.map((port: { containerPort: number }) => port.containerPort),
  );
  // The console's files sit beside dist/ (src/server/console-assets.ts reads ../../console from dist/server).
  assert.match(dockerfile, /^COPY console \.\/console$/m);
});

const kubernetesDirectory = new URL('../deploy/kubernetes/', import.meta.url);

/** The kustomizations: every file they list exists, and every manifest in their folder is listed. */
test('kubectl apply -k works: each kustomization lists its manifests, and kubectl builds it when present', (context) => {
  for (const folder of ['', 'monitoring/', 'redis/']) {
    const directory = new URL(folder, kubernetesDirectory);
    const kustomization = parse(readFileSync(new URL('kustomization.yaml', directory), 'utf8')) as { kind: string; resources: string[] };
    assert.equal(kustomization.kind, 'Kustomization');
    const manifests = readdirSync(directory).filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml');
    assert.deepEqual([...kustomization.resources].sort(), manifests.sort(), `deploy/kubernetes/${folder}kustomization.yaml lists its manifests`);
  }
  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  if (kubectl.error) {
    context.skip('kubectl is not installed: the kustomizations were checked by reading them, not built');
    return;
  }
  for (const folder of ['', 'monitoring/', 'redis/']) {
    const built = spawnSync('kubectl', ['kustomize', new URL(folder, kubernetesDirectory).pathname], { encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
  }
});

test("the ServiceMonitor reaches the pods' admin port through its headless Service, and the PrometheusRule is the rules file, regenerated", () => {
  const monitor = parse(readFileSync(new URL('monitoring/service-monitor.yaml', kubernetesDirectory), 'utf8'));
  const adminService = parse(readFileSync(new URL('monitoring/admin-service.yaml', kubernetesDirectory), 'utf8'));
  const pod = kubernetesObjects().get('Deployment').spec.template;
  assert.equal(adminService.spec.clusterIP, 'None');
  assert.deepEqual(adminService.spec.selector, pod.metadata.labels);
  const container = pod.spec.containers[0] as { ports: { name: string; containerPort: number }[] };
  const adminPort = adminService.spec.ports[0] as { name: string; port: number; targetPort: string };
  assert.equal(container.ports.find((port) => port.name === adminPort.targetPort)?.containerPort, adminPort.port);
  for (const [label, value] of Object.entries(monitor.spec.selector.matchLabels))
    assert.equal(adminService.metadata.labels[label], value, `the ServiceMonitor selects the admin Service (${label})`);
  assert.equal(kubernetesObjects().get('Service').metadata.labels['app.kubernetes.io/component'], undefined, 'and not the API Service');
  assert.equal(monitor.spec.endpoints[0].port, adminPort.name);
  assert.equal(monitor.spec.endpoints[0].path, '/metrics');
  const generated = readFileSync(prometheusRulePath, 'utf8');
  assert.equal(
    generated,
    prometheusRule(readFileSync(rulesPath, 'utf8')),
    'deploy/kubernetes/monitoring/prometheus-rule.yaml is out of date: run node deploy/generate-prometheus-rule.ts',
  );
  assert.deepEqual(parse(generated).spec.groups, parse(readFileSync(alertsPath, 'utf8')).groups);
});

test("the example Redis answers where the config's commented state.redis points", () => {
  const documents = parseAllDocuments(readFileSync(new URL('redis/redis.yaml', kubernetesDirectory), 'utf8')).map((document) => document.toJS());
  const service = documents.find((object) => object.kind === 'Service');
  const deployment = documents.find((object) => object.kind === 'Deployment');
  assert.deepEqual(service.spec.selector, deployment.spec.template.metadata.labels);
  const url = /redis:\/\/([a-z-]+):(\d+)/.exec(kubernetesObjects().get('ConfigMap').data['switchyard.yaml'])!;
  assert.equal(url[1], service.metadata.name);
  assert.equal(Number(url[2]), service.spec.ports[0].port);
});
