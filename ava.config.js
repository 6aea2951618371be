// `npm test` runs every test; `npm run test:unit` only test/unit (no root, no built tools, seconds).
// Integration tests (test/integration) build real namespaces and run the real Pulumi engine and
// load client; browser tests (test/browser) drive Chromium.
// `npm test` runs the two parts one after the other: unit (NETLAB_TESTS=unit, 2 at a time) and
// the rest (NETLAB_TESTS=integration: integration and browser, one file at a time).
const unitOnly = process.env.NETLAB_TESTS === 'unit';
const integrationOnly = process.env.NETLAB_TESTS === 'integration';

export default {
  files: unitOnly ? ['test/unit/**/*.test.ts'] : integrationOnly ? ['test/integration/**/*.test.ts', 'test/browser/**/*.test.ts'] : ['test/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  // Integration tests build real namespaces; they run one file at a time so the
  // 2-core machine is not oversubscribed and names never collide between files.
  // Unit tests are pure and may share the cores.
  concurrency: unitOnly ? 2 : 1,
  timeout: '3m',
};
