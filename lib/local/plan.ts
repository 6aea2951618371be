// spec → plan: every command `netlab up` runs, per host, in order, plus the files it writes and
// the measurement points. Pure: no I/O, so `netlab plan` prints exactly what `up` executes.
import { CLIENT_FLOOR_DEFAULT_SECONDS, type Datapath, type ProxyMode, ProxySchema, type Spec } from '../spec/schema.ts';
import { placement, tuningSteps, tuningStepText, workerCpuAffinity, type TuningStep } from '../tuning/plan.ts';
import { untuned, type Tuning } from '../tuning/profile.ts';
import { formatCpuList, type Topology } from '../tuning/topology.ts';
import { shq } from '../core/shell.ts';
import { nginxConf, WRK_REPORT_LUA } from '../server/nginx.ts';
import { proxyProvider } from '../proxy/index.ts';
import { kubeProxyProvider } from '../proxy/kube-proxy/index.ts';
import { type ControlPlane, controlPlane } from '../k8s/controlplane.ts';
import { k8sBin, type K8sProgram } from '../k8s/tools.ts';
import { pulumiFleetCommand } from '../k8s/fleet-writer.ts';
import type { ProxyContext, ProxyProgram } from '../proxy/provider.ts';
import { fleetOf, serviceTarget } from '../proxy/target.ts';
import type { ServicePort } from '../proxy/fleet.ts';
import { datapathBackend } from '../datapath/index.ts';
import { FLANNEL_READY_SECONDS, type FlannelDatapath, type FlannelPlan, flannelPlan } from '../datapath/flannel/index.ts';
import type { DatapathBackend, DatapathBuild, Endpoint, LabHost, Role } from '../datapath/types.ts';

import { cgroupBase, nsPrefix } from '../core/names.ts';
import { inCgroup, inNs, ipn, KILL_GRACE_MS } from '../core/netns.ts';
import { intToIp, parseCidr } from '../core/cidr.ts';
import { SpecError } from '../spec/errors.ts';
import { bodyFor, responseFiles } from '../server/http.ts';
import { gridPoints, type GridPoint, type Tool } from '../workload/points.ts';

/** A command run as is (no shell), or a teardown action: stop every process in a namespace, or
 * kill everything in a cgroup tree and remove it (which also frees BPF programs attached to it). */
export type Step = { host: string; argv: string[]; timeoutSeconds?: number } | { host: string; killNetns: string } | { host: string; removeCgroup: string };

export interface PlanFile {
  path: string;
  /** Text content, or `fill` bytes of "x" (response bodies). */
  content?: string;
  fill?: number;
}

export type { Endpoint };

export type { Tool };

/** A point of the grid (lib/workload/points.ts) with the commands that measure it here. */
export interface Point extends GridPoint {
  /** Commands run just before the point, not timed (sysctls of the point). */
  before?: string[][];
  /** Commands run at a given second into the point (conn-reuse: drain, then remove a backend). */
  events?: { atSeconds: number; argv: string[] }[];
  /** conn-reuse: the backend drained (weight 0) and later removed. */
  drain?: { backend: string; atSeconds: number; removedAtSeconds: number };
  /** Unrecorded warm-up load run just before the point, if any. */
  warmup?: string[];
  argv: string[];
  /** Where the tool writes extra raw output (ab's percentile CSV), relative to the raw dir. */
  extraRaw?: string;
}

/** How the lab is checked: an HTTP fetch from the client endpoint (in its cgroup, so through an
 * ebpf proxy) and pings at the path MTU and one byte above it, never fragmented. */
export interface PlanChecks {
  /** curl printing `<status> <header bytes> <body bytes>` for one URL. */
  http: (url: string) => string[];
  /** ping of the server endpoint with an IP packet of exactly `packetBytes`, DF set. */
  ping: (packetBytes: number) => string[];
}

export interface Plan {
  stack: string;
  /** Each host on a machine of its own (PlanOptions.wire); absent: one machine, a veth wire. */
  wire?: { nic: string };
  datapath: Datapath;
  runDir: string;
  rawDir: string;
  /** Namespaces in creation order. */
  namespaces: string[];
  /** The checks of the built lab, as commands: the runner runs these and nothing of its own. */
  checks: PlanChecks;
  setup: Step[];
  files: PlanFile[];
  start: Step[];
  teardown: Step[];
  client: Endpoint & { cgroup: string };
  server: Endpoint & { port: number; urls: { responseBytes: number; url: string }[]; cgroup: string };
  /** cgroups in creation order (parents first). */
  cgroups: string[];
  /** MTU of the path between the client and the server endpoint. */
  pathMtu: number;
  points: Point[];
  proxy: PlanProxy | null;
  /** datapathImplementation flannel: the real flanneld and CNI plugins (lib/datapath/flannel), and
   * the control plane they need; their set-up is part of `setup`. */
  flannel: PlanFlannel | null;
  tuning: PlanTuning | null;
  /** Proxy stacks with the rps client: its floor, measured once before the proxy is programmed. */
  clientFloor: ClientFloor | null;
}

/**
 * The load client's own floor: `ab -c 1` and the client at the stack's rate, a new connection per
 * request, straight to the server's address, in the client's namespace, cgroup and CPUs.
 */
export interface ClientFloor {
  rate: number;
  url: string;
  ab: string[];
  /** ab's percentile CSV, relative to the raw dir. */
  abCsv: string;
  rps: string[];
  /** Both commands run under the client's spinners (workload.busyPoll). */
  busyPoll: boolean;
  timeoutSeconds: number;
}

/**
 * Seconds the client runs for its floor (ab sends as many requests) where the workload does not say
 * (rps and conn-reuse: workload.floorSeconds, default the same), and how many rounds of both.
 */
export const CLIENT_FLOOR_SECONDS = CLIENT_FLOOR_DEFAULT_SECONDS;
export const CLIENT_FLOOR_ROUNDS = 3;

export interface PlanFlannel extends FlannelPlan {
  controlPlane: ControlPlane;
}

/** The runner's bound on each set-up step of the control plane and flannel, above their own named waits. */
export const FLANNEL_STEP_SECONDS = FLANNEL_READY_SECONDS + 60;

export interface PlanTuning {
  spec: Tuning;
  steps: TuningStep[];
  /** CPUs of the load tool (taskset) and of nginx's workers (worker_cpu_affinity), when pinned. */
  placement: { client: number[]; server: number[] } | null;
  /** Prints the Cpus_allowed_list a process started exactly like the load tool gets (pinning read-back). */
  probe: string[] | null;
}

export interface PlanProxy {
  mode: ProxyMode;
  /** Who writes the rules: netlab's model, or the real kube-proxy through the control plane. */
  implementation: 'model' | 'kube-proxy';
  /** The control plane (implementation kube-proxy): its set-up is the first part of `setup`. */
  controlPlane: ControlPlane | null;
  /** Namespace of the client's host, where the rules live. */
  hostNs: string;
  /** The runner's bound on each set-up and program step, above the steps' own named waits
   * (proxy.syncTimeoutSeconds with the real kube-proxy), so theirs is the message shown. */
  stepSeconds: number;
  setup: { files: { path: string; content: string }[]; steps: string[][] };
  counts: number[];
  /** The fleet at one Service count (built once per count). */
  fleet: (services: number) => ServicePort[];
  /** The programming commands and files for one Service count (generated on demand: large). */
  program: (services: number) => ProxyProgram;
  /** URLs the client calls at a Service count, per response size. */
  urls: (services: number) => { responseBytes: number; url: string; hosts: number }[];
  /** Commands that remove the mode's state from the host namespace, leaving the namespace (the
   * teardown deletes the namespace instead; tests use these to check each mode owns its cleanup). */
  cleanup: string[][];
}

export interface PlanOptions {
  /** Where the run keeps its files (nginx config, response bodies); `/run/netlab/<stack>`. */
  runDir: string;
  /** Where raw tool output goes; `results/<stack>/<run-id>/raw`. */
  rawDir: string;
  /** Mount point of the cgroup v2 hierarchy (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid systems). */
  cgroupRoot?: string;
  /** Where the real Kubernetes programs are (lib/k8s/tools.ts k8sBin; tests pass fixed paths). */
  k8sBin?: (name: K8sProgram) => string;
  /** How to start netlab's load client (tools/rps, built into the tools cache: lib/workload/rps.ts rpsClientPath). */
  rpsClient?: string[];
  /** How to start the Pulumi fleet writer (lib/k8s/fleet-writer.ts pulumiFleetCommand; tests pass a fixed one). */
  pulumiFleet?: string[];
  /** clang's multiarch include directory (ebpf). */
  includeDir?: string;
  /** The machine's CPU topology and kernel release: needed when the stack tunes the host. */
  host?: { topology: Topology; kernel: string };
  /**
   * How the two hosts are wired. Absent: both are namespaces of this machine, joined by a veth pair.
   * `nic`: each host is a machine of its own (a VM of lib/vm) whose NIC of this name, on the wire to
   * the other, becomes the host namespace's eth0; each host's steps then run on its own machine.
   */
  wire?: { nic: string };
}

const taskset = (cpus: number[]) => ['taskset', '-c', formatCpuList(cpus)];

export function buildPlan(spec: Spec, opts: PlanOptions): Plan {
  if (spec.target !== 'local') throw new Error(`buildPlan plans the embedded lab; stack ${spec.name} has target ${spec.target} (see lib/aws/plan.ts)`);
  const prefix = nsPrefix(spec.name);
  const under = parseCidr(spec.network.underlayCidr);
  const pods = parseCidr(spec.network.podCidr);
  const mtu = spec.network.underlayMtu;
  const hosts: LabHost[] = (['client', 'server'] as const).map((role, i) => ({
    role,
    netns: `${prefix}${role}`,
    underlayIp: intToIp(under.base + i + 1),
    podSubnetBase: pods.base + i * 256,
    vtepMac: `0e:6e:6c:00:00:0${i + 1}`,
    bridgeMac: `0e:6e:6c:00:01:0${i + 1}`,
  }));
  const underPrefix = under.prefix;

  const namespaces: string[] = [];
  const setup: Step[] = [];
  const add = (host: string, argv: string[]) => setup.push({ host, argv });

  // Hosts and the wire between them. The veth pair is created directly between the two host
  // namespaces (`peer … netns`), so no link ever exists in the root namespace. Hosts on machines of
  // their own each move that machine's NIC on the wire into the host namespace instead.
  for (const h of hosts) {
    namespaces.push(h.netns);
    add(h.role, ['ip', 'netns', 'add', h.netns]);
    add(h.role, ipn(h.netns, 'link', 'set', 'lo', 'up'));
  }
  const [c, s] = hosts as [LabHost, LabHost];
  const nic = opts.wire?.nic;
  if (nic)
    for (const h of hosts) {
      add(h.role, ['ip', 'link', 'set', nic, 'netns', h.netns]);
      add(h.role, ipn(h.netns, 'link', 'set', nic, 'name', 'eth0', 'mtu', String(mtu)));
    }
  else add('client', ipn(c.netns, 'link', 'add', 'eth0', 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(mtu), 'netns', s.netns));
  for (const h of hosts) {
    add(h.role, ipn(h.netns, 'addr', 'add', `${h.underlayIp}/${underPrefix}`, 'dev', 'eth0'));
    add(h.role, ipn(h.netns, 'link', 'set', 'eth0', 'up'));
  }

  const cgroupRoot = opts.cgroupRoot ?? '/sys/fs/cgroup';
  const cgBase = cgroupBase(cgroupRoot, spec.name);

  // The datapath: its devices, pods and routes (lib/datapath/<name>.ts). With the real flannel
  // (lib/datapath/flannel) the control plane and flanneld come first, and the datapath's commands
  // (the pods through cnitool, the Service routes) are kept aside to run after them.
  const flannel = spec.datapathImplementation === 'flannel' ? labFlannel(spec, [c, s], opts, cgBase) : null;
  const deferred: Step[] = [];
  const model = datapathBackend(spec.datapath);
  const datapath = flannel ? flannel.datapath(model) : model;
  const build: DatapathBuild = {
    hosts: [c, s],
    underlay: under,
    pods,
    mtu,
    add: (host, argv) => (flannel ? deferred.push({ host, argv, timeoutSeconds: FLANNEL_STEP_SECONDS }) : add(host, argv)),
    namespace: (name) => namespaces.push(name),
  };
  const { endpoints: endpoint, pathMtu } = datapath.build(build);
  if (flannel) namespaces.push(flannel.controlPlane.ns);

  // The stack's cgroups (CPU accounting; the ebpf proxy attaches to the client's), then the
  // Service fleet (lib/proxy/<mode>) and host tuning.
  const cgroups = [cgBase, `${cgBase}/client`, `${cgBase}/server`];
  // The real kube-proxy and its control plane get cgroups of their own, so their CPU is recorded apart.
  const kube = spec.proxy?.implementation === 'kube-proxy' ? { cp: `${cgBase}/cp`, kubeProxy: `${cgBase}/kube-proxy` } : null;
  if (kube) cgroups.push(kube.cp, kube.kubeProxy);
  // So do flanneld and (without kube-proxy) the control plane it needs.
  if (flannel) cgroups.push(...(kube ? [] : [`${cgBase}/cp`]), flannel.cgroup);
  const proxy = spec.proxy
    ? planProxy(spec, spec.proxy, {
        build,
        datapath,
        endpoint,
        hostNs: c.netns,
        clientCgroup: `${cgBase}/client`,
        opts,
        kube,
        hosts: [c, s],
        sharedCp: flannel?.controlPlane ?? null,
      })
    : null;

  // Host tuning: the lab's hosts are namespaces of this machine, their NIC the wire's veth ends.
  const tuning = untuned(spec.tuning)
    ? null
    : planTuning(spec, { hosts, namespaces, datapath, clientNetns: endpoint.client.netns, clientCgroup: `${cgBase}/client`, opts });

  // Server: nginx in the server endpoint's namespace, one static file per response size.
  const port = 80;
  const srv = endpoint.server;
  const nginxDir = `${opts.runDir}/nginx`;
  const wwwDir = `${opts.runDir}/www`;
  const bodies = responseFiles(spec.server.responseBytes);
  const files: PlanFile[] = [
    {
      path: `${nginxDir}/nginx.conf`,
      content: nginxConf({
        spec,
        listen: spec.proxy ? String(port) : `${srv.ip}:${port}`,
        dir: nginxDir,
        wwwDir,
        accessLog: spec.workload.tool === 'conn-reuse',
        ...(tuning?.placement ? { cpuAffinity: workerCpuAffinity(tuning.placement.server, spec.server.workers) } : {}),
      }),
    },
    ...bodies.map((b) => ({ path: `${wwwDir}/${b.responseBytes}`, fill: b.bodyBytes })),
  ];
  if (spec.workload.tool === 'wrk') files.push({ path: `${opts.runDir}/wrk-report.lua`, content: WRK_REPORT_LUA });
  // On a machine of its own, the server host needs the stack's cgroup as its server cgroup's parent.
  if (nic) add('server', ['mkdir', cgBase]);
  for (const cg of cgroups) add(cg.endsWith('/server') ? 'server' : 'client', ['mkdir', cg]);
  if (flannel) {
    files.push(...flannel.controlPlane.files, ...flannel.files);
    for (const argv of flannel.controlPlane.setup) setup.push({ host: 'cp', argv, timeoutSeconds: FLANNEL_STEP_SECONDS });
    for (const st of flannel.setup) setup.push({ ...st, timeoutSeconds: FLANNEL_STEP_SECONDS });
    setup.push(...deferred);
  }
  const start: Step[] = [
    {
      host: 'server',
      argv: inCgroup(`${cgBase}/server`, inNs(srv.netns, 'nginx', '-p', nginxDir, '-c', `${nginxDir}/nginx.conf`, '-e', `${nginxDir}/error.log`)),
    },
  ];
  const urls = spec.server.responseBytes.map((n) => ({ responseBytes: n, url: `http://${srv.ip}:${port}/${n}` }));

  // Teardown: stop every process in each namespace, then delete it (innermost first). Deleting a
  // host namespace removes its links; veth pairs die with either end.
  const teardown: Step[] = [{ host: 'client', removeCgroup: cgBase }];
  for (const ns of [...namespaces].reverse()) {
    const host = ns.startsWith(s.netns) ? 'server' : 'client';
    teardown.push({ host, killNetns: ns });
    teardown.push({ host, argv: ['ip', 'netns', 'del', ns] });
  }

  return {
    stack: spec.name,
    ...(opts.wire ? { wire: opts.wire } : {}),
    datapath: spec.datapath as Datapath,
    runDir: opts.runDir,
    rawDir: opts.rawDir,
    namespaces,
    setup,
    files,
    start,
    teardown,
    checks: {
      http: (url) =>
        inCgroup(
          `${cgBase}/client`,
          inNs(endpoint.client.netns, 'curl', '-sS', '-o', '/dev/null', '--max-time', '5', '-w', '%{http_code} %{size_header} %{size_download}', url),
        ),
      // 20 B IPv4 header + 8 B ICMP header around the payload.
      ping: (packetBytes) =>
        inNs(endpoint.client.netns, 'ping', '-n', '-q', '-c', '1', '-W', '2', '-M', 'do', '-s', String(packetBytes - 28), endpoint.server.ip),
    },
    client: { ...endpoint.client, cgroup: `${cgBase}/client` },
    server: { ...srv, port, urls, cgroup: `${cgBase}/server` },
    cgroups,
    pathMtu,
    points: buildPoints(spec, { ...endpoint.client, cgroup: `${cgBase}/client` }, urls, proxy, opts, tuning?.placement?.client ?? null),
    proxy,
    flannel,
    tuning,
    clientFloor: proxy ? clientFloor(spec, `${cgBase}/client`, endpoint.client.netns, urls[0]!, opts, tuning?.placement?.client ?? null) : null,
  };
}

/** The Service fleet on the client's host: backend routes through the datapath, then the mode's
 * set-up, program per Service count and cleanup (lib/proxy/<mode>). The server endpoint takes the
 * whole backend CIDR as local (AnyIP), so one nginx answers on every backend address. */
function planProxy(
  spec: Spec,
  p: NonNullable<Spec['proxy']>,
  o: {
    build: DatapathBuild;
    datapath: DatapathBackend;
    endpoint: Record<Role, Endpoint>;
    hostNs: string;
    clientCgroup: string;
    opts: PlanOptions;
    kube: { cp: string; kubeProxy: string } | null;
    hosts: [LabHost, LabHost];
    /** The control plane when the datapath (the real flannel) starts it in the set-up. */
    sharedCp: ControlPlane | null;
  },
): PlanProxy {
  const model = proxyProvider(p.mode);
  const mode = o.kube ? kubeProxyProvider(model) : model;
  o.build.add('server', ipn(o.endpoint.server.netns, 'route', 'add', 'local', p.backendCidr, 'dev', 'lo'));
  o.datapath.serviceRoutes(o.build, { endpoints: o.endpoint, backendCidr: p.backendCidr, serviceCidr: p.serviceCidr, vipNeedsRoute: mode.netfilter });
  // With the real kube-proxy: a control plane in a namespace of its own, one Node per host.
  const cp = o.kube ? (o.sharedCp ?? labControlPlane(spec, o.hosts, o.opts, o.kube.cp, p.serviceCidr)) : null;
  if (cp && !o.sharedCp) o.build.namespace(cp.ns);
  const ctx: ProxyContext = {
    hostNs: o.hostNs,
    dir: `${o.opts.runDir}/proxy`,
    clientCgroup: o.clientCgroup,
    includeDir: o.opts.includeDir ?? '/usr/include/x86_64-linux-gnu',
    clusterCidr: spec.network.podCidr,
    options: p,
    ...(cp && o.kube
      ? {
          kube: {
            bin: (name: 'kube-proxy' | 'kubectl') => (o.opts.k8sBin ?? k8sBin)(name),
            kubeconfig: cp.kubeconfig('kube-proxy', 0),
            nodeName: `${spec.name}-client`,
            cgroup: o.kube.kubeProxy,
            kubectl: cp.kubectl,
            log: `${o.opts.runDir}/k8s/kube-proxy.log`,
            pulumiFleet: {
              command: o.opts.pulumiFleet ?? pulumiFleetCommand(),
              ns: cp.ns,
              kubeconfig: cp.adminKubeconfig,
              stateDir: `${o.opts.runDir}/pulumi-fleet`,
            },
          },
        }
      : {}),
  };
  const fleets = new Map<number, ServicePort[]>();
  const fleet = (n: number) => fleets.get(n) ?? fleets.set(n, fleetOf(p, n)).get(n)!;
  const own = mode.setup(ctx);
  return {
    mode: p.mode,
    implementation: p.implementation,
    hostNs: o.hostNs,
    stepSeconds: p.implementation === 'kube-proxy' ? p.syncTimeoutSeconds + 120 : 300,
    controlPlane: cp,
    setup: cp && !o.sharedCp ? { files: [...cp.files, ...own.files], steps: [...cp.setup, ...own.steps] } : own,
    counts: p.services,
    fleet,
    program: (n) => mode.program(ctx, fleet(n)),
    cleanup: mode.cleanup(ctx),
    urls: (n) => {
      const t = serviceTarget(mode, p.target, fleet(n));
      return spec.server.responseBytes.map((b) => ({ responseBytes: b, url: `http://${t.ip}:${t.port}/${b}`, hosts: t.hosts }));
    },
  };
}

/** The lab's control plane (lib/k8s/controlplane.ts): its namespace, one Node per host. */
function labControlPlane(spec: Spec, hosts: readonly [LabHost, LabHost], opts: PlanOptions, cgroup: string, serviceCidr: string): ControlPlane {
  return controlPlane({
    ns: `${nsPrefix(spec.name)}cp`,
    dir: `${opts.runDir}/k8s`,
    cgroup,
    serviceCidr,
    nodes: hosts.map((h) => ({
      name: nodeName(spec, h.role),
      netns: h.netns,
      internalIP: h.underlayIp,
      podCIDR: `${intToIp(h.podSubnetBase)}/24`,
    })),
    bin: (name) => (opts.k8sBin ?? k8sBin)(name),
  });
}

/** A host's Node name. */
const nodeName = (spec: Spec, role: Role) => `${spec.name}-${role}`;

/** datapathImplementation flannel: the control plane (kube-proxy's too, when both are real) and flanneld on each host. */
function labFlannel(spec: Spec, hosts: readonly [LabHost, LabHost], opts: PlanOptions, cgBase: string): PlanFlannel {
  const cp = labControlPlane(spec, hosts, opts, `${cgBase}/cp`, spec.proxy?.serviceCidr ?? ProxySchema.parse({}).serviceCidr);
  const plan = flannelPlan({
    datapath: spec.datapath as FlannelDatapath,
    hosts,
    nodeName: (role) => nodeName(spec, role),
    podCidr: spec.network.podCidr,
    cp,
    dir: `${opts.runDir}/flannel`,
    cgroup: `${cgBase}/flanneld`,
    bin: (name) => (opts.k8sBin ?? k8sBin)(name),
  });
  return { ...plan, controlPlane: cp };
}

/** Host tuning of the lab's hosts (namespaces of this machine, their NIC the wire's veth ends). */
function planTuning(
  spec: Spec,
  o: { hosts: LabHost[]; namespaces: string[]; datapath: DatapathBackend; clientNetns: string; clientCgroup: string; opts: PlanOptions },
): PlanTuning {
  const host = o.opts.host;
  if (!host) throw new Error(`stack ${spec.name} tunes the host: planning it needs the machine's CPU topology and kernel`);
  const place = spec.tuning.pinning ? placement(host.topology, true) : null;
  const w = spec.workload;
  if (place && w.tool === 'wrk' && w.threads !== place.client.length)
    throw new SpecError(`stack ${spec.name}`, [
      `netlab:workload.threads = ${w.threads}: with tuning.pinning the load tool runs one thread per CPU it is pinned to; on this machine the client gets ${place.client.length} CPU(s) (${formatCpuList(place.client)}), so use threads: ${place.client.length} or set tuning.pinning: false`,
    ]);
  const steps = tuningSteps(spec.tuning, {
    topology: host.topology,
    kernel: host.kernel,
    nics: o.hosts.map((h) => ({ name: 'eth0', rxQueues: 1, txQueues: 1, irqs: [], netns: h.netns })),
    embedded: true,
    namespaces: o.namespaces,
    iptables: 'iptables-legacy',
    traffic: { tcpPorts: [80], udpPorts: [...o.datapath.udpPorts] },
  });
  const probe = place ? inCgroup(o.clientCgroup, inNs(o.clientNetns, ...taskset(place.client), 'grep', '-m1', 'Cpus_allowed_list', '/proc/self/status')) : null;
  return { spec: spec.tuning, steps, placement: place, probe };
}

function clientFloor(
  spec: Spec,
  cgroup: string,
  netns: string,
  u: { responseBytes: number; url: string },
  opts: PlanOptions,
  cpus: number[] | null,
): ClientFloor | null {
  const w = spec.workload;
  if (w.tool !== 'rps' && w.tool !== 'conn-reuse') return null;
  const rate = w.tool === 'rps' ? w.rate[0]! : w.rate;
  const load = (argv: string[]) => inCgroup(cgroup, inNs(netns, ...(cpus ? taskset(cpus) : []), ...argv));
  const abCsv = 'client-floor-ab.csv';
  const seconds = w.tool === 'rps' || w.tool === 'conn-reuse' ? w.floorSeconds : CLIENT_FLOOR_SECONDS;
  const n = rate * seconds;
  const client = opts.rpsClient ?? ['netlab-rps'];
  // With busyPoll both sides run under the same spinners: ab through the client's --busy-poll-around.
  const busy = w.tool === 'rps' && w.busyPoll;
  return {
    rate,
    url: u.url,
    ab: load([
      ...(busy ? [...client, '--busy-poll-around'] : []),
      'ab',
      '-q',
      '-r',
      '-n',
      String(n),
      '-c',
      '1',
      '-s',
      String(w.timeoutSeconds),
      '-e',
      `${opts.rawDir}/${abCsv}`,
      u.url,
    ]),
    abCsv,
    rps: load([
      ...client,
      u.url,
      '--rate',
      String(rate),
      '--duration',
      String(seconds),
      '--requests-per-connection',
      '1',
      '--hosts',
      '1',
      '--max-connections',
      '1000',
      '--timeout',
      String(w.timeoutSeconds * 1000),
      '--expect-body',
      String(bodyFor(u.responseBytes)),
      ...(busy ? ['--busy-poll', 'true'] : []),
    ]),
    busyPoll: busy,
    timeoutSeconds: seconds + w.timeoutSeconds + 60,
  };
}

type Url = { responseBytes: number; url: string; hosts: number };

/** The grid's points (lib/workload/points.ts) with the commands that measure them in the lab. */
function buildPoints(
  spec: Spec,
  client: Endpoint & { cgroup: string },
  direct: Plan['server']['urls'],
  proxy: PlanProxy | null,
  opts: PlanOptions,
  cpus: number[] | null,
): Point[] {
  const w = spec.workload;
  if (w.tool === 'tcpkali') throw new Error('tcpkali runs on target aws only'); // refused at validation
  const pin = cpus ? taskset(cpus) : [];
  const load = (argv: string[]) => inCgroup(client.cgroup, inNs(client.netns, ...pin, ...argv));
  const rpsClient = opts.rpsClient ?? ['netlab-rps'];
  // The URL of a response size at a Service count (straight to the server without a proxy).
  const urlsAt = new Map<number | undefined, Map<number, Url>>();
  const urlFor = (services: number | undefined, bytes: number): Url => {
    let m = urlsAt.get(services);
    if (!m)
      urlsAt.set(
        services,
        (m = new Map((services !== undefined && proxy ? proxy.urls(services) : direct.map((u) => ({ ...u, hosts: 1 }))).map((u) => [u.responseBytes, u]))),
      );
    return m.get(bytes)!;
  };
  return gridPoints(spec, { order: 'alternating' }).map((g): Point => {
    const { id, params: pa } = g;
    const { responseBytes, url, hosts } = urlFor(pa.services, pa.responseBytes);
    const point = (own: Partial<Point> & { argv: string[] }): Point => {
      const before = [
        ...(pa.connReuseMode !== undefined ? [inNs(proxy!.hostNs, 'sysctl', '-qw', `net.ipv4.vs.conn_reuse_mode=${pa.connReuseMode}`)] : []),
        ...(own.before ?? []),
      ];
      return { ...g, ...own, ...(before.length ? { before } : {}) };
    };
    const rpsArgv = (rate: number, perConn: number, seconds: number, maxConn: number, timeoutS: number) =>
      load([
        ...rpsClient,
        url,
        '--rate',
        String(rate),
        '--duration',
        String(seconds),
        '--requests-per-connection',
        String(perConn),
        '--hosts',
        String(hosts),
        '--max-connections',
        String(maxConn),
        '--timeout',
        String(timeoutS * 1000),
        '--expect-body',
        String(bodyFor(responseBytes)),
        ...(w.tool === 'rps' && w.busyPoll ? ['--busy-poll', 'true'] : []),
      ]);
    if (w.tool === 'conn-reuse') {
      const fleet = proxy!.fleet(pa.services!);
      const svc = fleet[spec.proxy!.target === 'fixed' ? 0 : fleet.length - 1]!;
      const vs = `${svc.clusterIP}:${svc.port}`;
      const drained = `${svc.endpoints[0]!.ip}:${svc.endpoints[0]!.port}`;
      return point({
        before: [inNs(client.netns, 'sysctl', '-qw', `net.ipv4.ip_local_port_range=${w.localPortRange[0]} ${w.localPortRange[1]}`, 'net.ipv4.tcp_tw_reuse=1')],
        drain: { backend: drained, atSeconds: w.drainAtSeconds, removedAtSeconds: w.drainAtSeconds + w.removeAfterSeconds },
        events: [
          { atSeconds: w.drainAtSeconds, argv: inNs(proxy!.hostNs, 'ipvsadm', '--edit-server', '-t', vs, '-r', drained, '-m', '-w', '0') },
          { atSeconds: w.drainAtSeconds + w.removeAfterSeconds, argv: inNs(proxy!.hostNs, 'ipvsadm', '--delete-server', '-t', vs, '-r', drained) },
        ],
        argv: rpsArgv(w.rate, 1, w.durationSeconds, 20_000, w.timeoutSeconds),
      });
    }
    const keepalive = pa.keepalive;
    if (w.tool === 'ab') {
      const extraRaw = `${id}.csv`;
      const argv = ['ab', '-q', '-r', '-n', String(w.requests), '-c', String(pa.concurrency!), '-s', String(w.timeoutSeconds)];
      if (keepalive) argv.push('-k');
      argv.push('-e', `${opts.rawDir}/${extraRaw}`, url);
      return point({ argv: load(argv), extraRaw });
    }
    if (w.tool === 'wrk') {
      const wrk = (secs: number, script: boolean) => {
        const a = [
          'wrk',
          '--threads',
          String(w.threads),
          '--connections',
          String(pa.connections!),
          '--duration',
          `${secs}s`,
          '--timeout',
          `${w.timeoutSeconds}s`,
        ];
        if (script) a.push('--latency', '--script', `${opts.runDir}/wrk-report.lua`);
        if (!keepalive) a.push('--header', 'Connection: close');
        a.push(url);
        return load(a);
      };
      return point({ ...(spec.warmupSeconds > 0 ? { warmup: wrk(spec.warmupSeconds, false) } : {}), argv: wrk(w.durationSeconds, true) });
    }
    const rate = pa.rate!;
    const perConn = pa.requestsPerConnection!;
    return point({
      ...(spec.warmupSeconds > 0 ? { warmup: rpsArgv(rate, perConn, spec.warmupSeconds, w.maxConnections, w.timeoutSeconds) } : {}),
      argv: rpsArgv(rate, perConn, w.durationSeconds, w.maxConnections, w.timeoutSeconds),
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Printing

export function stepText(step: Step): string {
  if ('argv' in step) return step.argv.map(shq).join(' ');
  if ('killNetns' in step) return `ip netns pids ${shq(step.killNetns)} | xargs -r kill  # then kill -9 what is left after ${KILL_GRACE_MS / 1000} s`;
  return `echo 1 > ${shq(`${step.removeCgroup}/cgroup.kill`)}; rmdir ${shq(step.removeCgroup)}/* ${shq(step.removeCgroup)}  # frees BPF programs attached there`;
}

/** File contents longer than this many lines are shortened unless `full` is asked for. */
export const PLAN_FILE_LINES = 60;

/** Appends a file's listing to `out` line by line: a generated ruleset can have hundreds of thousands
 * of lines, more than `push(...lines)` can pass as arguments. */
function fileText(out: string[], path: string, content: string, full: boolean): void {
  const lines = content.trimEnd().split('\n');
  const shown = full ? lines.length : Math.min(lines.length, PLAN_FILE_LINES);
  out.push(`# ${path}:`);
  for (let i = 0; i < shown; i++) out.push(`#   ${lines[i]}`);
  if (shown < lines.length) out.push(`#   … ${lines.length - shown} more lines (netlab plan --full prints them all)`);
}

/** The plan as text: per host, the exact commands in order, then files, load and teardown. */
export function renderPlan(plan: Plan, o: { full?: boolean } = {}): string {
  const full = !!o.full;
  const out: string[] = [];
  out.push(
    `# netlab plan for stack ${plan.stack} (datapath ${plan.datapath}${plan.flannel ? ' by the real flannel' : ''}${plan.proxy ? `, proxy ${plan.proxy.mode}` : ''})`,
  );
  out.push(
    `# client endpoint ${plan.client.ip} in ${plan.client.netns}; server endpoint ${plan.server.ip}:${plan.server.port} in ${plan.server.netns}; path MTU ${plan.pathMtu}`,
  );
  out.push(`# client load runs in cgroup ${plan.client.cgroup}, nginx in ${plan.server.cgroup}`);
  if (plan.flannel)
    out.push(
      `# set-up order: both hosts and the wire, the cgroups, the control plane, flanneld on each host (${plan.flannel.backend}) and its waits, then the pods through cnitool and the routes`,
    );
  for (const host of new Set(['client', 'server', ...plan.setup.map((x) => x.host)])) {
    out.push('', host === 'cp' ? "## control plane (etcd and kube-apiserver in their namespace; flanneld's identity): set-up" : `## host ${host}: set-up`);
    if (host === 'server')
      out.push(
        plan.wire
          ? `# (on a machine of its own: its NIC ${plan.wire.nic}, on the wire to the client's, becomes eth0)`
          : `# (runs after the client's first commands: its eth0 is the far end of the wire the client creates)`,
      );
    for (const st of plan.setup.filter((x) => x.host === host)) out.push(stepText(st));
  }
  if (plan.tuning) {
    const t = plan.tuning;
    out.push('', `## host tuning (profile ${t.spec.profile}; machine-wide values are saved first and put back at teardown)`);
    for (const st of t.steps) out.push(tuningStepText(st));
    if (t.placement)
      out.push(
        `# pinning: load tool on CPUs ${formatCpuList(t.placement.client)} (taskset), nginx workers on ${formatCpuList(t.placement.server)} (worker_cpu_affinity)`,
      );
  }
  out.push('', '## files');
  for (const f of plan.files) {
    if (f.fill !== undefined) out.push(`# ${f.path}: ${f.fill} bytes of "x"`);
    else fileText(out, f.path, f.content!, full);
  }
  out.push('', '## host server: start');
  for (const st of plan.start) out.push(stepText(st));
  const px = plan.proxy;
  if (px) {
    out.push('', `## host client: proxy ${px.mode}, set-up (in ${px.hostNs})`);
    for (const f of px.setup.files) fileText(out, f.path, f.content, full);
    for (const a of px.setup.steps) out.push(a.map(shq).join(' '));
    for (const n of px.counts) {
      const prog = px.program(n);
      const sz = prog.size;
      out.push(
        '',
        `## host client: program ${n} Services × ${prog.fleet[0]?.endpoints.length ?? 0} backends (timed: programming time; ${
          prog.measureSize
            ? 'from the API write until the kernel holds the last Service; the rules are counted then'
            : `${sz.rules} rules, ${sz.chains} chains, ${sz.mapElements} map elements`
        })`,
      );
      for (const f of prog.files) fileText(out, f.path, f.content, full);
      if (prog.syncMetrics) out.push(`# before and after the steps, kube-proxy's sync counters: ${prog.syncMetrics.map(shq).join(' ')}`);
      for (const a of prog.steps) out.push(a.map(shq).join(' '));
      if (prog.zeroCounters)
        out.push(`# before each point: ${prog.zeroCounters.map(shq).join(' ')}`, `# after each point (rules walked): ${prog.saveCounters!.map(shq).join(' ')}`);
      out.push(
        `# client calls: ${px
          .urls(n)
          .map((u) => `${u.url}${u.hosts > 1 ? ` (connections spread over ${u.hosts} consecutive addresses)` : ''}`)
          .join(', ')}`,
      );
    }
  }
  const cf = plan.clientFloor;
  if (cf) {
    out.push(
      '',
      `## host client: the load client's floor (once, before the proxy is programmed: ab -c 1, then the client at ${cf.rate} req/s, straight to the server)`,
    );
    out.push(`# ${CLIENT_FLOOR_ROUNDS} rounds of the two, k = 1…${CLIENT_FLOOR_ROUNDS}; the floor is the median of each`);
    out.push(`${cf.ab.map(shq).join(' ')} > ${shq(`${plan.rawDir}/client-floor-ab-`)}k.txt`);
    out.push(`${cf.rps.map(shq).join(' ')} > ${shq(`${plan.rawDir}/client-floor-rps-`)}k.txt`);
  }
  out.push('', `## host client: load (${plan.points.length} measured points)`);
  let programmed: number | undefined;
  for (const p of plan.points) {
    const n = p.params.services;
    if (plan.proxy && n !== undefined && n !== programmed) {
      out.push(`# program ${n} Service${n === 1 ? '' : 's'} (the ${plan.proxy.mode} steps above for ${n}), then check the target answers through the proxy`);
      programmed = n;
    }
    for (const b of p.before ?? []) out.push(`${b.map(shq).join(' ')}  # before ${p.id}`);
    if (p.warmup) out.push(`${p.warmup.map(shq).join(' ')}  # warm-up, not recorded`);
    out.push(`${p.argv.map(shq).join(' ')} > ${shq(`${plan.rawDir}/${p.id}.txt`)}`);
    for (const e of p.events ?? []) out.push(`  # at ${e.atSeconds} s into ${p.id}: ${e.argv.map(shq).join(' ')}`);
  }
  out.push('', '## teardown (also what `netlab down` does)');
  if (plan.flannel) {
    out.push(
      "# the run's own teardown first releases each pod through the CNI plugins (after a crash `netlab down` goes straight on: the CNI state is in the run folder)",
    );
    for (const st of plan.flannel.teardown) out.push(stepText(st));
  }
  for (const st of plan.teardown) out.push(stepText(st));
  return out.join('\n') + '\n';
}
