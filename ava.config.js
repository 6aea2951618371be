export default {
  files: ['test/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  // Integration tests build real namespaces; they run one file at a time so the
  // 2-core machine is not oversubscribed and names never collide between files.
  concurrency: 1,
  timeout: '3m',
};
