import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { isPostgresUrl } from '../src/batch/open-batch-store.ts';
import { parseConfigText } from '../src/config/load-config.ts';

// The Kubernetes manifests run the Batch API on every replica over one
// PostgreSQL store: the store's URL (with its password) comes from a Secret,
// never from the ConfigMap, and the config it makes loads.

const manifest = new URL('../deploy/kubernetes/switchyard.yaml', import.meta.url);
/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects, read field by field */
type Manifest = any;

test('the Kubernetes Deployment gives every replica the Batch API on a PostgreSQL store whose URL comes from a Secret', () => {
  const objects = new Map(
    parseAllDocuments(readFileSync(manifest, 'utf8')).map((document) => {
      const object = document.toJS() as { kind: string };
      return [object.kind, object as Manifest];
    }),
  );
  const configText = objects.get('ConfigMap').data['switchyard.yaml'] as string;
  const url = 'postgres://switchyard:secret@postgres:5432/switchyard?schema=switchyard';
  const variables = Object.fromEntries(
    [...configText.matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((match) => [match[1]!, match[1] === 'SWITCHYARD_BATCH_STORE_URL' ? url : 'test-value']),
  );
  const config = parseConfigText(configText, 'ConfigMap', variables);
  assert.ok(config.batches && isPostgresUrl(config.batches.store), 'batches.store is the PostgreSQL URL');
  assert.equal(config.batches.store, url);
  const deployment = objects.get('Deployment');
  // The autoscaler owns the count (the Deployment has no replicas: of its own, or every apply would reset it).
  assert.ok(objects.get('HorizontalPodAutoscaler').spec.minReplicas > 1, 'several replicas, each with the Batch API');
  // The Secret the pods read their environment from (test/deploy-files.test.ts holds its recipe to the config's variables).
  assert.deepEqual(deployment.spec.template.spec.containers[0].envFrom, [{ secretRef: { name: 'switchyard-provider-keys' } }]);
  assert.match(readFileSync(manifest, 'utf8'), /--from-literal=SWITCHYARD_BATCH_STORE_URL='postgres:\/\/[^']+'/, 'the secret recipe gives the URL');
  assert.ok(!configText.includes('postgres://'), 'no database URL or password in the ConfigMap');
});
