import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The layering rule of DESIGN.md: a folder under src/ imports only from the
// folders before it in this list. `sim` stands alone so the simulator can be
// lifted out; `cli` may use everything.
const layers = [
  'errors',
  'config',
  'observability',
  'resilience',
  'state',
  'cache',
  'providers',
  'upstream',
  'routing',
  'pipeline',
  'front-doors',
  'batch',
  'server',
];

const layerRules = layers.map((layer, index) => ({
  files: [`src/${layer}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            group: [...layers.slice(index + 1), 'sim', 'cli'].map((later) => `**/${later}/*`),
            message: `src/${layer} may import only from ${layers.slice(0, index).join(', ') || 'nothing in src'} (DESIGN.md layering).`,
          },
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/peers/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        performance: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        NodeJS: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...layerRules,
  {
    // The console's script runs in the browser (served by src/server/console-assets.ts).
    files: ['console/**/*.js'],
    languageOptions: { sourceType: 'script', globals: { document: 'readonly', window: 'readonly', fetch: 'readonly', Node: 'readonly', uPlot: 'readonly' } },
  },
  {
    files: ['src/sim/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../*'], message: 'src/sim stands alone: it imports nothing else from src.' }] }] },
  },
  {
    files: ['src/providers/provider-spec.ts', 'src/providers/map-http-failure.ts', 'src/providers/retry-after.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['./openai-*', './anthropic*', './bedrock*', './azure*', './sdwebui*', './huggingface*'],
              message: 'Shared provider code never imports from one provider.',
            },
          ],
        },
      ],
    },
  },
);
