// Proxy mode → the commands and files that install a Service fleet on the client's host, once per
// Service count of a sweep. Pure: `netlab plan` prints exactly what `up` runs, and the runner only
// times the `steps` (the programming time) and reads the counters.
import type { IptablesBackend, ProxyMode, Spec } from '../spec/schema.ts';
import { buildFleet, type ServicePort } from './fleet.ts';
import { EBPF_MAP_DIR, EBPF_SOURCE, ebpfCompile, ebpfLoadScript, ebpfMaps } from './ebpf.ts';
import { iptablesRuleset, type IptablesLayout } from './iptables.ts';
import { IPVS_DEVICE, ipvsRuleset, ipvsSysctls } from './ipvs.ts';
import { nftablesRuleset } from './nftables.ts';

export interface ProxyFile {
  path: string;
  content: string;
}

export interface ProxyContext {
  mode: ProxyMode;
  /** Namespace of the client's host, where kube-proxy would run. */
  hostNs: string;
  /** Directory for generated rule files. */
  dir: string;
  /** cgroup v2 directory the client workload runs in (ebpf attaches here). */
  clientCgroup: string;
  /** Multiarch include directory for clang (asm/types.h), e.g. /usr/include/x86_64-linux-gnu. */
  includeDir: string;
  spec: Spec;
}

export interface ProxySize {
  rules: number;
  chains: number;
  mapElements: number;
}

export interface ProxyProgram {
  services: number;
  fleet: ServicePort[];
  files: ProxyFile[];
  /** Run in order; their total time is the programming time. */
  steps: string[][];
  size: ProxySize;
  /** iptables: zero the nat counters before a point, save them after (rules walked). */
  zeroCounters?: string[];
  saveCounters?: string[];
}

const inNs = (ns: string, ...argv: string[]) => ['ip', 'netns', 'exec', ns, ...argv];

/** One-time set-up for a mode (before the first Service count): sysctls, devices, the BPF object. */
export function proxySetup(ctx: ProxyContext): { files: ProxyFile[]; steps: string[][] } {
  const p = ctx.spec.proxy!;
  switch (ctx.mode) {
    case 'ebpf': {
      const most = Math.max(...p.services);
      const src = `${ctx.dir}/lb.c`;
      return {
        files: [{ path: src, content: EBPF_SOURCE }],
        steps: [ebpfCompile({ src, obj: `${ctx.dir}/lb.o`, services: most, backends: most * p.backendsPerService, includeDir: ctx.includeDir })],
      };
    }
    case 'ipvs':
      return {
        files: [],
        steps: [
          inNs(ctx.hostNs, 'sysctl', '-qw', ...ipvsSysctls(p.ipvs.connReuseMode[0]!)),
          ['ip', '-n', ctx.hostNs, 'link', 'add', IPVS_DEVICE, 'type', 'dummy'],
        ],
      };
    case 'iptables':
    case 'nftables':
      return { files: [], steps: [inNs(ctx.hostNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')] };
    case 'none':
      return { files: [], steps: [] };
  }
}

interface RulesetOptions {
  fleet: ServicePort[];
  hostNs: string;
  dir: string;
  clusterCidr: string;
}

/** The iptables command of a backend, named explicitly (plain `iptables` is whichever the distribution's alternatives pick). */
export const iptablesCommand = (backend: IptablesBackend) => `iptables-${backend}`;

/** kube-proxy's iptables nat table, loaded with one restore through the chosen backend. */
export function iptablesProgram(o: RulesetOptions & { layout: IptablesLayout; backend: IptablesBackend }): ProxyProgram {
  const r = iptablesRuleset(o.fleet, { clusterCidr: o.clusterCidr, layout: o.layout });
  const file = `${o.dir}/iptables-${o.fleet.length}.rules`;
  const cmd = iptablesCommand(o.backend);
  return {
    services: o.fleet.length,
    fleet: o.fleet,
    files: [{ path: file, content: r.text }],
    // Without --noflush the nat table is replaced as a whole: the previous count's chains go.
    steps: [inNs(o.hostNs, `${cmd}-restore`, file)],
    size: { rules: r.natRules, chains: r.natChains, mapElements: 0 },
    zeroCounters: inNs(o.hostNs, cmd, '-t', 'nat', '-Z'),
    saveCounters: inNs(o.hostNs, `${cmd}-save`, '-c', '-t', 'nat'),
  };
}

/** kube-proxy's nftables table: a reset, the base, then the Services in batches of `batchSize`. */
export function nftablesProgram(o: RulesetOptions & { batchSize?: number }): ProxyProgram {
  const r = nftablesRuleset(o.fleet, { clusterCidr: o.clusterCidr, batchSize: o.batchSize });
  const f = (name: string) => `${o.dir}/${name}-${o.fleet.length}`;
  const files: ProxyFile[] = [
    // Creating then deleting the table makes the reset work whether or not it exists.
    { path: `${f('nft-reset')}.nft`, content: 'add table ip kube-proxy\ndelete table ip kube-proxy\n' },
    { path: `${f('nft-base')}.nft`, content: r.base },
    ...r.batches.map((content, i) => ({ path: `${f('nft-batch')}-${i}.nft`, content })),
  ];
  return {
    services: o.fleet.length,
    fleet: o.fleet,
    files,
    steps: files.map((x) => inNs(o.hostNs, 'nft', '-f', x.path)),
    size: { rules: r.rules, chains: r.chains, mapElements: r.mapElements },
  };
}

/** The stack's fleet at one Service count. */
export function specFleet(spec: Spec, services: number): ServicePort[] {
  const p = spec.proxy!;
  return buildFleet({ count: services, backendsPerService: p.backendsPerService, serviceCidr: p.serviceCidr, backendCidr: p.backendCidr });
}

export function proxyProgram(ctx: ProxyContext, fleet: ServicePort[]): ProxyProgram {
  const p = ctx.spec.proxy!;
  const clusterCidr = ctx.spec.network.podCidr;
  const services = fleet.length;
  const f = (name: string) => `${ctx.dir}/${name}-${services}`;
  const ns = ctx.hostNs;
  switch (ctx.mode) {
    case 'none':
      return { services, fleet, files: [], steps: [], size: { rules: 0, chains: 0, mapElements: 0 } };
    case 'iptables':
      return iptablesProgram({ fleet, hostNs: ns, dir: ctx.dir, clusterCidr, layout: p.iptablesLayout, backend: p.iptablesBackend });
    case 'nftables':
      return nftablesProgram({ fleet, hostNs: ns, dir: ctx.dir, clusterCidr });
    case 'ebpf': {
      const m = ebpfMaps(fleet, EBPF_MAP_DIR);
      const batchFile = `${f('ebpf-maps')}.batch`;
      return {
        services,
        fleet,
        files: [{ path: batchFile, content: m.batch }],
        steps: [ebpfLoadScript({ obj: `${ctx.dir}/lb.o`, batchFile, cgroup: ctx.clientCgroup })],
        size: { rules: 0, chains: 0, mapElements: m.services + m.backends },
      };
    }
    case 'ipvs': {
      const r = ipvsRuleset(fleet, { clusterCidr, scheduler: p.ipvs.scheduler });
      const files = [
        { path: `${f('ipvs-addresses')}.batch`, content: r.addresses },
        { path: `${f('ipvs-ipset')}.restore`, content: r.ipset },
        { path: `${f('ipvs-ipvsadm')}.restore`, content: r.ipvsadm },
        { path: `${f('ipvs-iptables')}.rules`, content: r.iptables },
      ] as const;
      return {
        services,
        fleet,
        files: [...files],
        steps: [
          ['ip', '-n', ns, 'addr', 'flush', 'dev', IPVS_DEVICE],
          ['ip', '-n', ns, '-batch', files[0].path],
          inNs(ns, 'ipset', 'restore', '-exist', '-file', files[1].path),
          inNs(ns, 'ipvsadm', '--clear'),
          inNs(ns, 'sh', '-c', 'exec ipvsadm-restore < "$0"', files[2].path),
          inNs(ns, `${iptablesCommand(p.iptablesBackend)}-restore`, files[3].path),
        ],
        size: { rules: r.virtualServers + r.realServers, chains: 0, mapElements: r.ipsetEntries },
      };
    }
  }
}

/** The address a client calls for a Service count: a VIP (or, for `none`, a backend address) and
 * how many consecutive addresses from it the rps client may spread its connections over. */
export function proxyTarget(spec: Spec, fleet: ServicePort[]): { ip: string; hosts: number; port: number } {
  const p = spec.proxy!;
  const idx = p.target === 'fixed' ? 0 : fleet.length - 1;
  if (p.mode === 'none') {
    // Backends are consecutive addresses, Service after Service.
    if (p.target === 'random') return { ip: fleet[0]!.endpoints[0]!.ip, hosts: fleet.reduce((n, s) => n + s.endpoints.length, 0), port: fleet[0]!.endpoints[0]!.port };
    return { ip: fleet[idx]!.endpoints[0]!.ip, hosts: fleet[idx]!.endpoints.length, port: fleet[idx]!.endpoints[0]!.port };
  }
  if (p.target === 'random') return { ip: fleet[0]!.clusterIP, hosts: fleet.length, port: fleet[0]!.port };
  return { ip: fleet[idx]!.clusterIP, hosts: 1, port: fleet[idx]!.port };
}
