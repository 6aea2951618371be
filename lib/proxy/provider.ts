// The proxy-mode interface: how the client's host turns a Service fleet into kernel state. One
// folder per mode implements it (iptables/, nftables/, ipvs/, ebpf/, none/), each with a README on
// its theory; index.ts registers them. README.md "Add a proxy mode" says how to add one.
import type { Feature } from '../core/features.ts';
import type { ServicePort } from './fleet.ts';

export const IPTABLES_BACKENDS = ['nft', 'legacy'] as const;
export type IptablesBackend = (typeof IPTABLES_BACKENDS)[number];
export type IptablesLayout = 'current' | '2019';
export const IPVS_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq'] as const;
export type IpvsScheduler = (typeof IPVS_SCHEDULERS)[number];

/** What a mode reads from the stack's `proxy:` section (the spec's parsed values fit this shape). */
export interface ProxyOptions {
  /** Service counts of the sweep. */
  services: number[];
  backendsPerService: number;
  serviceCidr: string;
  backendCidr: string;
  iptablesLayout: IptablesLayout;
  iptablesBackend: IptablesBackend;
  ipvs: { scheduler: IpvsScheduler; connReuseMode: number[] };
  /** The real kube-proxy: who writes the fleet into the API (proxy.writer; absent = auto). */
  writer?: 'auto' | 'pulumi' | 'server-side-apply';
  /** The real kube-proxy: bound on its first sync and on each programming (proxy.syncTimeoutSeconds). */
  syncTimeoutSeconds?: number;
}

/** Where a mode works: the client's host namespace, a folder for its files, the client's cgroup. */
export interface ProxyContext {
  /** Namespace of the client's host, where kube-proxy would run. */
  hostNs: string;
  /** Directory for generated rule files. */
  dir: string;
  /** cgroup v2 directory the client workload runs in (ebpf attaches here). */
  clientCgroup: string;
  /** Multiarch include directory for clang (asm/types.h), e.g. /usr/include/x86_64-linux-gnu. */
  includeDir: string;
  /** The pod network (network.podCidr): kube-proxy's --cluster-cidr. */
  clusterCidr: string;
  options: ProxyOptions;
  /** With `proxy.implementation: kube-proxy`: the control plane the real kube-proxy talks to. */
  kube?: KubeContext;
}

/** What the real kube-proxy needs from the lab's control plane (lib/k8s/controlplane.ts). */
export interface KubeContext {
  /** Absolute path of an upstream program (kube-proxy, kubectl). */
  bin: (name: 'kube-proxy' | 'kubectl') => string;
  /** kube-proxy's kubeconfig on the client's host. */
  kubeconfig: string;
  /** The client host's Node name (kube-proxy's --hostname-override). */
  nodeName: string;
  /** cgroup kube-proxy runs in, so its CPU is recorded apart. */
  cgroup: string;
  /** `kubectl` as the admin (argv). */
  kubectl: (...args: string[]) => string[];
  /** kube-proxy's log file. */
  log: string;
  /**
   * The Pulumi fleet writer (lib/k8s/pulumi-fleet.ts): its command (argv prefix), the namespace it
   * runs in (the control plane's, where the API server is), the admin kubeconfig as seen from
   * there, and its stack's folder in the run folder.
   */
  pulumiFleet?: { command: string[]; ns: string; kubeconfig: string; stateDir: string };
}

export interface ProxyFile {
  path: string;
  content: string;
}

export interface ProxySize {
  rules: number;
  chains: number;
  mapElements: number;
}

/** A fleet of one size in a mode's form: the files, the timed load steps and the counters. */
export interface ProxyProgram {
  services: number;
  fleet: ServicePort[];
  files: ProxyFile[];
  /** Run in order; their total time is the programming time. */
  steps: string[][];
  size: ProxySize;
  /** Counters the mode keeps per packet: zero them before a point, save them after (iptables: rules walked). */
  zeroCounters?: string[];
  saveCounters?: string[];
  /**
   * When the rules are written by another program (the real kube-proxy), `size` is not known
   * beforehand: this command prints the programmed state after the steps, and `parse` counts it.
   */
  measureSize?: { argv: string[]; parse: (stdout: string) => ProxySize };
  /** The real kube-proxy: the first `steps` of `steps` write the fleet into the API, by `writer`
   * (timed apart as the write's own duration; the programming time still starts with them). */
  write?: { writer: 'pulumi' | 'server-side-apply'; steps: number };
  /** The real kube-proxy: a command printing its Prometheus metrics, read before the steps and
   * after them, so the programming also carries kube-proxy's own count and time of its syncs. */
  syncMetrics?: string[];
}

export interface ProxyProvider {
  /** The spec's `proxy.mode` value. */
  readonly name: string;
  /** One line for listings and docs. */
  readonly summary: string;
  /** The Service's translation lives in netfilter and is undone on replies through conntrack, so
   * NOTRACK would break it; its DNAT in OUTPUT runs after the socket's route lookup, so the VIP
   * needs a route; and pods whose packets bypass the host's netfilter never meet it. */
  readonly netfilter: boolean;
  /** Clients call a backend address directly instead of a Service VIP. */
  readonly callsBackends: boolean;
  /** Kernel features needed with these options (probed before anything is built). */
  features(o: ProxyOptions): Feature[];
  /** Tools needed with these options (command names of lib/local/features.ts TOOLS). */
  tools(o: ProxyOptions): string[];
  /** One-time set-up before the first Service count: sysctls, devices, a compiled program. */
  setup(ctx: ProxyContext): { files: ProxyFile[]; steps: string[][] };
  /** The fleet at one Service count: files, load steps (each replaces the previous count's state), counters. */
  program(ctx: ProxyContext, fleet: ServicePort[]): ProxyProgram;
  /** Commands that remove everything the mode put in the host namespace, leaving the namespace
   * itself (as kube-proxy's cleanup does when switching modes). The lab's teardown deletes the
   * namespace and the cgroup, which removes the same state and more. */
  cleanup(ctx: ProxyContext): string[][];
}

/** An empty program of `fleet` (for modes that hold nothing per Service). */
export const emptyProgram = (fleet: ServicePort[]): ProxyProgram => ({
  services: fleet.length,
  fleet,
  files: [],
  steps: [],
  size: { rules: 0, chains: 0, mapElements: 0 },
});
