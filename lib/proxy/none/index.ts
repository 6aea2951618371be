// none: no Service proxy. The client calls a backend address directly; the baseline the other
// modes are measured against. See README.md here.
import { emptyProgram, type ProxyProvider } from '../provider.ts';

export const none: ProxyProvider = {
  name: 'none',
  summary: 'no proxy: the client calls a backend address directly (the baseline)',
  netfilter: false,
  callsBackends: true,
  features: () => [],
  tools: () => [],
  setup: () => ({ files: [], steps: [] }),
  program: (_ctx, fleet) => emptyProgram(fleet),
  cleanup: () => [],
};
