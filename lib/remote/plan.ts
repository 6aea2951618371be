// The remote flow shared by the two targets whose hosts are reached over SSH: `aws` (make two EC2
// hosts, then this flow) and `ssh` (two hosts you already have). RemotePlan is what the flow's
// components (components/remote/) read; awsPlan and sshPlan both produce one. Pure.
import type { Image } from '../aws/catalogue.ts';
import { imageFor } from '../aws/catalogue.ts';
import type { ClusterInput } from '../aws/cluster.ts';
import { kubeProxyMode } from '../aws/cluster.ts';
import { awsPoints, hostTuningScript, runScript, workloadManifest, workloadScript, type AwsPoint } from '../aws/workload.ts';
import { cniScript, joinCommandScript, joinScript, kubeadmInitScript, kubeconfigScript } from '../aws/cluster.ts';
import { factsScript, kubePackagesScript, packagesScript, packagesUndoScript, verifyScript } from '../aws/scripts.ts';
import {
  checkScript,
  hostDirUndoScript,
  hostNginxScript,
  hostNginxUndoScript,
  kubeadmUndoScript,
  kubePackagesUndoScript,
  tuningUndoScript,
} from './scripts.ts';
import type { RemoteSpec, Spec, SshSpec } from '../spec/schema.ts';
import {
  clusterClientScript,
  clusterClientUndoScript,
  controlPlaneScript,
  controlPlaneUndoScript,
  credentialsScript,
  flannelScript,
  flannelUndoScript,
  kubeProxyScript,
  kubeProxyUndoScript,
  podScript,
  podSubnets,
  podUndoScript,
  PROCESS_PROGRAMS,
  pushScript,
  RUN_ENV,
  type ProcessesCluster,
} from './processes.ts';

export type Role = 'client' | 'server';

export interface AwsHost {
  role: Role;
  privateIp: string;
  /** Secondary addresses of the primary interface (ipvlan pods). */
  secondaryIps: string[];
}

export interface RemoteStep {
  name: string;
  host: Role;
  what: string;
}

/**
 * Who builds the cluster: kubeadm (both targets); netlab from the upstream programs it builds, run as
 * processes (ssh.cluster: processes; lib/remote/processes.ts); or nobody (ssh.cluster: none: nginx on
 * the server host).
 */
export type ClusterKind = 'kubeadm' | 'processes' | 'none';

/** How netlab's SSH sessions reach one host. */
export interface SshEndpoint {
  /** Address or DNS name SSH connects to. */
  address: string;
  user: string;
  port: number;
}

/** What the remote flow needs to know of a stack, whichever target made the hosts. */
export interface RemotePlan {
  stack: string;
  target: 'aws' | 'ssh';
  /** The image (aws) or the distribution family the hosts run (ssh): package manager, tuned, the kernel check. */
  image: Image;
  /** The NIC driver the verify step requires; null = any (recorded). */
  networking: { driver: string | null };
  /** Each host's address between the hosts (kubeadm's advertise address; what the load targets). */
  hosts: Record<Role, AwsHost>;
  subnetGateway: string;
  podRoutes: Record<Role, string> | null;
  cluster: ClusterInput;
  clusterKind: ClusterKind;
  kubernetesVersion: string;
  serverPods: number;
  points: AwsPoint[];
  steps: RemoteStep[];
  /** aws: hosts arm a time-to-live at boot and the first step waits for it. */
  ttl: boolean;
  /** ssh: every step that changes a host undoes it on `pulumi destroy` (the hosts are yours and stay). */
  undo: boolean;
}

export interface SshPlan extends RemotePlan {
  target: 'ssh';
  endpoints: Record<Role, SshEndpoint>;
}

export function isSshSpec(spec: Spec): spec is SshSpec {
  return spec.target === 'ssh' && !!spec.ssh;
}

export function isRemoteSpec(spec: Spec): spec is RemoteSpec {
  return (spec.target === 'aws' && !!spec.aws) || isSshSpec(spec);
}

/**
 * The distribution family of ssh hosts as an Image: its package manager and tuned come from the
 * image netlab would launch on aws for the same os (Debian 12, Amazon Linux 2023); the kernel check
 * uses ssh.kernel when set, and accepts any kernel otherwise.
 */
export function sshImage(spec: SshSpec): Image {
  const base = imageFor(spec.ssh.os, spec.ssh.kernel ?? '6.1');
  if (!base) throw new Error(`no ${spec.ssh.os} image family for kernel ${spec.ssh.kernel}`); // refused at validation
  return { ...base, unamePrefix: spec.ssh.kernel ? base.unamePrefix : '' };
}

/** The ordered steps of the flow after the hosts exist, shared by both targets. */
export function remoteSteps(spec: RemoteSpec, o: Omit<RemotePlan, 'steps'>): RemoteStep[] {
  const { image } = o;
  const driver = o.networking.driver;
  const steps: RemoteStep[] = [];
  const both = (name: string, what: string) => (['server', 'client'] as const).forEach((host) => steps.push({ name, host, what }));
  both('check', 'first connection: root or passwordless sudo, a supported distribution; both hosts pass before anything changes on either');
  if (o.ttl) both('wait', 'cloud-init finished and the time-to-live armed (refuses to go on otherwise)');
  both(
    'verify',
    `running kernel ${image.unamePrefix ? `starts with ${image.unamePrefix}` : 'recorded (any)'} and the primary NIC's driver is ${driver ?? '(any: recorded)'}`,
  );
  both(
    'packages',
    `base packages (${image.packages}), only those missing (nothing fetched when all are there); the client also builds its load tools (tcpkali from source: bison, flex, a C and C++ compiler)`,
  );
  both('facts', 'lscpu -p, NIC queues and IRQs, kernel: the input of the tuning plan');
  both(
    'tuning',
    `tuning profile ${spec.tuning.profile}: the same tuningSteps as the embedded lab (embedded: false), each write read back${spec.tuning.tuned !== null && !image.tuned ? `; tuned recorded as skipped (${image.os} does not package it)` : ''}`,
  );
  const mode = kubeProxyMode(o.cluster);
  if (o.clusterKind === 'kubeadm') {
    both('kube-packages', `containerd, kubeadm/kubelet/kubectl ${o.kubernetesVersion}${mode === 'ipvs' ? ', IPVS modules' : ''}`);
    steps.push({ name: 'kubeadm-init', host: 'server', what: `kubeadm init; kube-proxy ${mode ?? 'skipped (Cilium replaces it)'}` });
    steps.push({ name: 'join-command', host: 'server', what: 'kubeadm token create --print-join-command (secret)' });
    steps.push({ name: 'kubeconfig', host: 'server', what: 'admin kubeconfig (secret; also a stack output)' });
    steps.push({ name: 'join', host: 'client', what: 'kubeadm join as node "client"; kubectl configured for the run script' });
    if (spec.datapath === 'ipvlan') both('ipvlan-conf', 'ipvlan CNI conflist over the ENI secondary addresses');
    if (o.podRoutes)
      for (const role of ['server', 'client'] as const)
        steps.push({
          name: 'aws-vpc-conf',
          host: role,
          what: `bridge CNI with host-local addresses from ${o.podRoutes[role]} (VPC route to this host's interface); no flannel`,
        });
    steps.push({ name: 'cni', host: 'server', what: `pod network ${spec.datapath}; both nodes Ready` });
    steps.push({ name: 'workload', host: 'server', what: `nginx × ${o.serverPods} on the server node${spec.datapath === 'host' ? ' (hostNetwork)' : ''}` });
  } else if (o.clusterKind === 'processes') {
    const sub = podSubnets(o.cluster.podCidr);
    for (const role of ['server', 'client'] as const)
      steps.push({ name: 'binaries', host: role, what: `copied from this machine's tool cache over SSH: ${PROCESS_PROGRAMS[role].join(', ')}` });
    steps.push({
      name: 'control-plane',
      host: 'server',
      what: `etcd (127.0.0.1) and kube-apiserver (${o.hosts.server.privateIp}:6443), a throw-away CA, static tokens; Nodes server (${sub.server}) and client (${sub.client})`,
    });
    steps.push({ name: 'credentials', host: 'server', what: "the CA and the client's tokens (secret)" });
    steps.push({ name: 'cluster-client', host: 'client', what: 'the credentials and kubeconfigs (secret)' });
    both('flannel', `flanneld, kube subnet manager, backend ${spec.datapath === 'vxlan' ? 'vxlan' : 'host-gw'}; IP forwarding on`);
    const pm = o.cluster.proxyMode;
    if (pm !== 'none' && pm !== 'ebpf') steps.push({ name: 'kube-proxy', host: 'client', what: `the real kube-proxy, mode ${pm}; waits for its first sync` });
    steps.push({ name: 'workload', host: 'server', what: "one nginx pod: a namespace wired by cnitool through flannel's CNI plugin (bridge, host-local)" });
  } else steps.push({ name: 'workload', host: 'server', what: 'nginx on the server host itself (no cluster: ssh.cluster none)' });
  const p = spec.proxy;
  steps.push({
    name: 'run',
    host: 'client',
    what: `${o.points.length} points${p ? `, Service fleet ${p.services.join('/')} (${p.mode})` : ''}; raw output, points.tsv, env.json, tarball`,
  });
  return steps;
}

/** The plan of an ssh stack: the two hosts as given, and the remote flow's steps. Pure. */
export function sshPlan(spec: SshSpec): SshPlan {
  const h = spec.ssh;
  const image = sshImage(spec);
  const endpoint = (r: Role): SshEndpoint => ({ address: h.hosts[r].address, user: h.hosts[r].user ?? h.user, port: h.hosts[r].port ?? h.port });
  const privateIp = (r: Role) => h.hosts[r].privateAddress ?? h.hosts[r].address;
  const hosts: Record<Role, AwsHost> = {
    server: { role: 'server', privateIp: privateIp('server'), secondaryIps: [] },
    client: { role: 'client', privateIp: privateIp('client'), secondaryIps: [] },
  };
  const p = spec.proxy;
  const cluster: ClusterInput = {
    serverIp: hosts.server.privateIp,
    clientIp: hosts.client.privateIp,
    kubernetesVersion: h.kubernetesVersion,
    podCidr: spec.network.podCidr,
    serviceCidr: p?.serviceCidr ?? '10.96.0.0/12',
    proxyMode: p?.mode ?? 'none',
    ipvsScheduler: p?.ipvs.scheduler ?? 'rr',
    datapath: spec.datapath,
  };
  const plan: Omit<SshPlan, 'steps'> = {
    stack: spec.name,
    target: 'ssh',
    image,
    networking: { driver: h.nicDriver ?? null },
    hosts,
    subnetGateway: '',
    podRoutes: null,
    cluster,
    clusterKind: h.cluster,
    kubernetesVersion: h.kubernetesVersion,
    serverPods: h.serverPods,
    points: awsPoints(spec),
    ttl: false,
    undo: true,
    endpoints: { server: endpoint('server'), client: endpoint('client') },
  };
  return { ...plan, steps: remoteSteps(spec, plan) };
}

/** `netlab plan` of an ssh stack. */
export function renderSshPlan(plan: SshPlan): string {
  const out: string[] = [];
  const e = plan.endpoints;
  out.push(
    `# ssh stack ${plan.stack}: your two hosts, server ${e.server.user}@${e.server.address}:${e.server.port}, client ${e.client.user}@${e.client.address}:${e.client.port}`,
  );
  out.push(
    `# distribution: ${plan.image.os} packages (${plan.image.packages}); kernel ${plan.image.unamePrefix ? `must start with ${plan.image.unamePrefix}` : 'any (recorded)'}; NIC driver ${plan.networking.driver ?? 'any (recorded)'}`,
  );
  out.push(`# between the hosts: server ${plan.hosts.server.privateIp}, client ${plan.hosts.client.privateIp}`);
  out.push(
    `# cluster: ${
      plan.clusterKind === 'kubeadm'
        ? `kubeadm, Kubernetes ${plan.kubernetesVersion}`
        : plan.clusterKind === 'processes'
          ? "processes: netlab's builds of etcd, kube-apiserver, flanneld and kube-proxy (tools/k8s/versions.env), no kubelet"
          : 'none (nginx on the server host)'
    }`,
  );
  out.push('# every step undoes what it changed on `pulumi destroy`: packages it installed, tuning values, nginx, the cluster, /var/lib/netlab');
  out.push('# remote steps, in order:');
  plan.steps.forEach((s, i) => out.push(`${String(i + 1).padStart(2)}. ${s.host.padEnd(6)} ${s.name.padEnd(15)} ${s.what}`));
  out.push(`# points (${plan.points.length}):`);
  for (const p of plan.points) out.push(`  ${p.id}: ${p.command}`);
  return out.join('\n') + '\n';
}

/**
 * Every script an ssh stack sends to its hosts, by step name, in order, and each undo script
 * (`<step>.undo`) that `pulumi destroy` runs. The tuning script and the CPU lists come from the
 * facts step, as for aws (see awsScripts).
 */
export function sshScripts(spec: SshSpec, o: { facts?: string; clientCpus?: string; cpuAffinity?: string } = {}): Record<string, string> {
  const plan = sshPlan(spec);
  const tool = spec.workload.tool;
  const tools = tool === 'tcpkali' ? (['tcpkali'] as const) : tool === 'wrk' ? (['wrk'] as const) : (['ab'] as const);
  const image = plan.image;
  const out: Record<string, string> = {
    check: checkScript({ os: image.distro, unamePrefix: image.unamePrefix }),
    'check.undo': hostDirUndoScript(),
    verify: verifyScript({ unamePrefix: image.unamePrefix, driver: plan.networking.driver }),
    'packages-server': packagesScript({
      image,
      role: 'server',
      tools: [...tools],
      hostNginx: plan.clusterKind !== 'kubeadm',
      processes: plan.clusterKind === 'processes',
    }),
    'packages-client': packagesScript({ image, role: 'client', tools: [...tools] }),
    'packages.undo': packagesUndoScript(image, 'packages'),
    facts: factsScript(),
  };
  if (o.facts) out.tuning = hostTuningScript(spec, o.facts, image);
  out['tuning.undo'] = tuningUndoScript();
  if (plan.clusterKind === 'kubeadm') {
    out['kube-packages'] = kubePackagesScript({ image, kubernetesVersion: plan.kubernetesVersion, ipvs: spec.proxy?.mode === 'ipvs' });
    out['kube-packages.undo'] = kubePackagesUndoScript(image);
    out['kubeadm-init'] = kubeadmInitScript(plan.cluster);
    out['kubeadm-init.undo'] = kubeadmUndoScript();
    out['join-command'] = joinCommandScript();
    out.kubeconfig = kubeconfigScript();
    out.join = joinScript();
    out['join.undo'] = kubeadmUndoScript();
    out.cni = cniScript(plan.cluster);
    out.workload = workloadScript(workloadManifest(spec, { cpuAffinity: o.cpuAffinity }));
    out.run = runScript(spec, plan.points, { clientCpus: o.clientCpus ?? '<client CPUs from the facts step>' });
  } else if (plan.clusterKind === 'processes') {
    const c = processesCluster(plan);
    for (const role of ['server', 'client'] as const) {
      const e = plan.endpoints[role];
      out[`binaries-${role}`] = pushScript({ binDir: '<tool cache>/k8s/bin', programs: PROCESS_PROGRAMS[role], host: e.address, user: e.user, port: e.port });
    }
    out['control-plane'] = controlPlaneScript(c);
    out['control-plane.undo'] = controlPlaneUndoScript();
    out.credentials = credentialsScript();
    out['cluster-client'] = clusterClientScript(c);
    out['cluster-client.undo'] = clusterClientUndoScript();
    for (const role of ['server', 'client'] as const) {
      out[`flannel-${role}`] = flannelScript(c, role);
      out[`flannel-${role}.undo`] = flannelUndoScript(c, role);
    }
    if (c.proxyMode !== 'none') {
      out['kube-proxy'] = kubeProxyScript(c);
      out['kube-proxy.undo'] = kubeProxyUndoScript();
    }
    out.workload = podScript(c, hostNginxScript(spec, { cpuAffinity: o.cpuAffinity }));
    out['workload.undo'] = podUndoScript(hostNginxUndoScript());
    out.run = runScript(spec, plan.points, {
      clientCpus: o.clientCpus ?? '<client CPUs from the facts step>',
      serverAddress: '<the pod address the workload step printed>',
      processes: { prologue: RUN_ENV },
    });
  } else {
    out.workload = hostNginxScript(spec, { cpuAffinity: o.cpuAffinity });
    out['workload.undo'] = hostNginxUndoScript();
    out.run = runScript(spec, plan.points, { clientCpus: o.clientCpus ?? '<client CPUs from the facts step>', serverAddress: plan.hosts.server.privateIp });
  }
  return out;
}

/** `netlab plan --full` for an ssh stack: the plan, then every script whole. */
export function renderSshScripts(spec: SshSpec): string {
  const out = ['', '# scripts, as the remote steps send them (tuning: made on each host from its facts step); <step>.undo runs on pulumi destroy'];
  for (const [name, text] of Object.entries(sshScripts(spec))) out.push(`######## ${name}`, text.trimEnd());
  return out.join('\n') + '\n';
}

/** The processes cluster of a plan (ssh.cluster processes): flannel's backend, ranges, proxy mode, addresses. */
export function processesCluster(plan: Pick<RemotePlan, 'cluster' | 'hosts'>): ProcessesCluster {
  const c = plan.cluster;
  if (c.datapath !== 'hostgw' && c.datapath !== 'vxlan') throw new Error(`ssh.cluster processes runs flannel, not ${c.datapath}`); // refused at validation
  const mode = c.proxyMode;
  if (mode === 'ebpf') throw new Error('ssh.cluster processes has no eBPF proxy'); // refused at validation (ebpf needs Cilium)
  return {
    datapath: c.datapath,
    podCidr: c.podCidr,
    serviceCidr: c.serviceCidr,
    proxyMode: mode,
    ipvsScheduler: c.ipvsScheduler,
    addresses: { server: plan.hosts.server.privateIp, client: plan.hosts.client.privateIp },
  };
}
