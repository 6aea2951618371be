// ebpf mode: a socket-level load balancer. A cgroup/connect4 program on the client's cgroup
// rewrites a connect() to a Service VIP:port into a backend address, from BPF hash maps, before any
// packet exists (Cilium's kube-proxy replacement for host traffic works this way). See README.md here.
import type { ProxyProvider } from '../provider.ts';
import { EBPF_MAP_DIR, EBPF_SOURCE, ebpfCompile, ebpfDetachScript, ebpfLoadScript, ebpfMaps } from './program.ts';

export const ebpf: ProxyProvider = {
  name: 'ebpf',
  summary: 'a cgroup/connect4 socket load balancer: connect() to a VIP rewritten to a backend from BPF maps',
  netfilter: false,
  callsBackends: false,
  features: () => ['bpf'],
  tools: () => ['clang', 'bpftool'],
  setup(ctx) {
    const most = Math.max(...ctx.options.services);
    const src = `${ctx.dir}/lb.c`;
    return {
      files: [{ path: src, content: EBPF_SOURCE }],
      steps: [ebpfCompile({ src, obj: `${ctx.dir}/lb.o`, services: most, backends: most * ctx.options.backendsPerService, includeDir: ctx.includeDir })],
    };
  },
  program(ctx, fleet) {
    const m = ebpfMaps(fleet, EBPF_MAP_DIR);
    const batchFile = `${ctx.dir}/ebpf-maps-${fleet.length}.batch`;
    return {
      services: fleet.length,
      fleet,
      files: [{ path: batchFile, content: m.batch }],
      steps: [ebpfLoadScript({ obj: `${ctx.dir}/lb.o`, batchFile, cgroup: ctx.clientCgroup })],
      size: { rules: 0, chains: 0, mapElements: m.services + m.backends },
    };
  },
  // The maps are pinned only in the load script's private bpffs; detaching frees program and maps.
  cleanup: (ctx) => [ebpfDetachScript(ctx.clientCgroup)],
};
