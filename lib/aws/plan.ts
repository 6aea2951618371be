// An aws stack as data: addresses, image, enhanced networking, cost, the cluster input, the
// measured points and the ordered remote steps. Pure; the Pulumi components build resources from
// it and `netlab plan` prints it.
import { intToIp, parseCidr, SpecError, type AwsSpec, type Spec } from '../spec.ts';
import { enhancedNetworking, hourlyCost, IMAGES, type CostEstimate, type Image } from './catalogue.ts';
import type { ClusterInput } from './cluster.ts';
import { kubeProxyMode } from './cluster.ts';
import { awsPoints, type AwsPoint } from './workload.ts';

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

export interface AwsPlan {
  stack: string;
  region: string;
  availabilityZone: string;
  instanceType: string;
  image: Image;
  networking: { kind: string; driver: string | null; why: string };
  cost: CostEstimate;
  /** Off where the pod network routes pod addresses the VPC does not know (host-gw, aws-vpc, Calico without encapsulation, Cilium native routing). */
  sourceDestCheck: boolean;
  /** flannel aws-vpc writes routes into the VPC route table: the hosts need an instance role for it. */
  needsRouteRole: boolean;
  hosts: Record<Role, AwsHost>;
  subnetGateway: string;
  cluster: ClusterInput;
  points: AwsPoint[];
  steps: RemoteStep[];
  tags: Record<string, string>;
}

export function isAwsSpec(spec: Spec): spec is AwsSpec {
  return spec.target === 'aws' && !!spec.aws;
}

export function awsPlan(spec: AwsSpec): AwsPlan {
  const a = spec.aws;
  const en = enhancedNetworking(a.instanceType);
  const cost = hourlyCost({ instanceType: a.instanceType, region: a.region, rootVolumeGb: a.rootVolumeGb, hosts: 2, overrideUsdPerHour: a.hourlyPriceUsd });
  // Validation refuses both of these; the checks keep the plan total for direct callers.
  if ('error' in en) throw new SpecError(`stack ${spec.name}`, [`netlab:aws.instanceType = ${a.instanceType}: ${en.error}`]);
  if ('error' in cost) throw new SpecError(`stack ${spec.name}`, [`netlab:aws.hourlyPriceUsd: ${cost.error}`]);
  const sub = parseCidr(a.subnetCidr);
  const at = (n: number) => intToIp(sub.base + n);
  // Fixed host addresses make every script plannable before anything exists: server .10, client .11.
  // ipvlan pods take secondary addresses from .32 on: the server's pods (+2 for CoreDNS), then 2 on the client.
  const ipvlan = spec.datapath === 'ipvlan';
  const serverPodIps = ipvlan ? Array.from({ length: a.serverPods + 2 }, (_, i) => at(32 + i)) : [];
  const clientPodIps = ipvlan ? [at(32 + a.serverPods + 2), at(33 + a.serverPods + 2)] : [];
  const hosts: Record<Role, AwsHost> = {
    server: { role: 'server', privateIp: at(10), secondaryIps: serverPodIps },
    client: { role: 'client', privateIp: at(11), secondaryIps: clientPodIps },
  };
  const p = spec.proxy;
  const cluster: ClusterInput = {
    serverIp: hosts.server.privateIp,
    clientIp: hosts.client.privateIp,
    kubernetesVersion: a.kubernetesVersion,
    podCidr: spec.network.podCidr,
    serviceCidr: p?.serviceCidr ?? '10.96.0.0/12',
    proxyMode: p?.mode ?? 'none',
    ipvsScheduler: p?.ipvs.scheduler ?? 'rr',
    datapath: spec.datapath,
  };
  // Encapsulation (vxlan, IPIP) and ipvlan (the ENI's own secondary addresses) pass the check.
  const routed = ['host', 'hostgw', 'aws-vpc', 'calico-direct', 'cilium'].includes(spec.datapath);
  const mode = kubeProxyMode(cluster);
  const points = awsPoints(spec);
  const steps: RemoteStep[] = [];
  const both = (name: string, what: string) => (['server', 'client'] as const).forEach((host) => steps.push({ name, host, what }));
  both('wait', 'cloud-init finished and the time-to-live armed (refuses to go on otherwise)');
  both('verify', `running kernel starts with ${IMAGES[a.kernel].unamePrefix} and the primary NIC's driver is ${'driver' in en && en.driver ? en.driver : '(any: no enhanced networking)'}`);
  both('packages', 'base packages; the client also builds its load tools (tcpkali from source)');
  both('facts', 'lscpu -p, NIC queues and IRQs, kernel: the input of the tuning plan');
  both('tuning', `tuning profile ${spec.tuning.profile}: the same tuningSteps as the embedded lab (embedded: false), each write read back`);
  both('kube-packages', `containerd, kubeadm/kubelet/kubectl ${a.kubernetesVersion}${mode === 'ipvs' ? ', IPVS modules' : ''}`);
  steps.push({ name: 'kubeadm-init', host: 'server', what: `kubeadm init; kube-proxy ${mode ?? 'skipped (Cilium replaces it)'}` });
  steps.push({ name: 'join-command', host: 'server', what: 'kubeadm token create --print-join-command (secret)' });
  steps.push({ name: 'kubeconfig', host: 'server', what: 'admin kubeconfig (secret; also a stack output)' });
  steps.push({ name: 'join', host: 'client', what: 'kubeadm join as node "client"; kubectl configured for the run script' });
  if (ipvlan) both('ipvlan-conf', 'ipvlan CNI conflist over the ENI secondary addresses');
  steps.push({ name: 'cni', host: 'server', what: `pod network ${spec.datapath}; both nodes Ready` });
  steps.push({ name: 'workload', host: 'server', what: `nginx × ${a.serverPods} on the server node${spec.datapath === 'host' ? ' (hostNetwork)' : ''}` });
  steps.push({ name: 'run', host: 'client', what: `${points.length} points${p ? `, Service fleet ${p.services.join('/')} (${p.mode})` : ''}; raw output, points.tsv, env.json, tarball` });
  return {
    stack: spec.name,
    region: a.region,
    availabilityZone: a.availabilityZone ?? `${a.region}a`,
    instanceType: a.instanceType,
    image: IMAGES[a.kernel],
    networking: en,
    cost,
    sourceDestCheck: !routed,
    needsRouteRole: spec.datapath === 'aws-vpc',
    hosts,
    subnetGateway: at(1),
    cluster,
    points,
    steps,
    tags: { 'netlab:stack': spec.name, 'netlab:datapath': spec.datapath, 'netlab:proxy': p?.mode ?? 'none', 'netlab:ttl-minutes': String(a.ttlMinutes) },
  };
}

export function renderAwsPlan(plan: AwsPlan): string {
  const out: string[] = [];
  out.push(`# aws stack ${plan.stack}: ${plan.instanceType} × 2 in ${plan.availabilityZone} (cluster placement group)`);
  out.push(`# image: ${plan.image.os} via ${plan.image.ssmParameter} (kernel ${plan.image.kernel}); ${plan.image.note}`);
  out.push(`# enhanced networking: ${plan.networking.why}`);
  out.push(`# cost: ${plan.cost.usdPerHour.toFixed(4)} USD/hour (${plan.cost.source})`);
  for (const l of plan.cost.lines) out.push(`#   ${l.count} × ${l.item}: ${l.usdPerHour.toFixed(4)} USD/hour`);
  out.push(`# hosts: server ${plan.hosts.server.privateIp}, client ${plan.hosts.client.privateIp}; source/dest check ${plan.sourceDestCheck ? 'on' : 'off'}`);
  if (plan.hosts.server.secondaryIps.length) out.push(`# ipvlan pod addresses: server ${plan.hosts.server.secondaryIps.join(' ')}; client ${plan.hosts.client.secondaryIps.join(' ')}`);
  out.push('# remote steps, in order:');
  plan.steps.forEach((s, i) => out.push(`${String(i + 1).padStart(2)}. ${s.host.padEnd(6)} ${s.name.padEnd(14)} ${s.what}`));
  out.push(`# points (${plan.points.length}):`);
  for (const p of plan.points) out.push(`  ${p.id}: ${p.command}`);
  return out.join('\n') + '\n';
}
