// `npm test` runs every test; `npm run test:unit` only test/unit (no root, no built tools, seconds).
// Integration tests (test/integration) build real namespaces and run the real Pulumi engine and
// load client; browser tests (test/browser) drive Chromium.
const unitOnly = process.env.NETLAB_TESTS === 'unit';

export default {
  files: unitOnly ? ['test/unit/**/*.test.ts'] : ['test/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  // Integration tests build real namespaces; they run one file at a time so the
  // 2-core machine is not oversubscribed and names never collide between files.
  // Unit tests are pure and may share the cores.
  concurrency: unitOnly ? 2 : 1,
  timeout: '3m',
};
