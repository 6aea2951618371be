// An aws stack as data: addresses, image, enhanced networking, cost, the cluster input, the
// measured points and the ordered remote steps. Pure; the Pulumi components build resources from
// it and `netlab plan` prints it.
import type { AwsSpec, Spec } from '../spec/schema.ts';
import { enhancedNetworking, hourlyCost, imageFor, supportStatus, type CostEstimate, type Image } from './catalogue.ts';
import type { ClusterInput } from './cluster.ts';
import { awsPoints, hostTuningScript, runScript, workloadManifest, workloadScript, type AwsPoint } from './workload.ts';
import {
  awsVpcHostScript,
  cniScript,
  ipvlanConflist,
  ipvlanHostScript,
  joinCommandScript,
  joinScript,
  kubeadmInitScript,
  kubeconfigScript,
} from './cluster.ts';
import { factsScript, kubePackagesScript, packagesScript, ttlHelper, ttlUserData, verifyScript, waitScript } from './scripts.ts';
import { intToIp, parseCidr } from '../core/cidr.ts';
import { SpecError } from '../spec/errors.ts';
import { checkScript, imageRelease } from '../remote/scripts.ts';
import { remoteSteps, type AwsHost, type RemotePlan, type RemoteStep, type Role } from '../remote/plan.ts';

export type { AwsHost, RemoteStep, Role } from '../remote/plan.ts';

export interface AwsPlan extends RemotePlan {
  target: 'aws';
  stack: string;
  region: string;
  /** As asked; null = the first zone of the region that offers the instance type (looked up at preview). */
  availabilityZone: string | null;
  instanceType: string;
  image: Image;
  networking: { kind: string; driver: string | null; why: string };
  cost: CostEstimate;
  /** Off where the pod network routes pod addresses the VPC does not know (host-gw, aws-vpc, Calico without encapsulation, Cilium native routing). */
  sourceDestCheck: boolean;
  /** aws-vpc: each host's pod range, routed by the VPC route table to that host's network interface (Pulumi routes; no flannel). */
  podRoutes: Record<Role, string> | null;
  /** The image's support status on the day the plan was made. */
  support: { ended: boolean; text: string };
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
  const cost = hourlyCost({
    instanceType: a.instanceType,
    region: a.region,
    rootVolumeGb: a.rootVolumeGb,
    hosts: 2,
    overrideUsdPerHour: a.hourlyPriceUsd,
    spot: a.spot,
    spotPriceUsd: a.spotPriceUsd,
  });
  // Validation refuses both of these; the checks keep the plan total for direct callers.
  if ('error' in en) throw new SpecError(`stack ${spec.name}`, [`netlab:aws.instanceType = ${a.instanceType}: ${en.error}`]);
  if ('error' in cost) throw new SpecError(`stack ${spec.name}`, [`netlab:aws.hourlyPriceUsd: ${cost.error}`]);
  const image = imageFor(a.os, a.kernel);
  if (!image) throw new SpecError(`stack ${spec.name}`, [`netlab:aws.kernel = ${a.kernel}: no ${a.os} image has it`]);
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
  const points = awsPoints(spec);
  const awsVpc = spec.datapath === 'aws-vpc';
  const pod = parseCidr(spec.network.podCidr);
  const podRoutes = awsVpc ? { server: `${intToIp(pod.base)}/24`, client: `${intToIp(pod.base + 256)}/24` } : null;
  const plan: Omit<AwsPlan, 'steps'> = {
    stack: spec.name,
    target: 'aws',
    clusterKind: 'kubeadm',
    kubernetesVersion: a.kubernetesVersion,
    serverPods: a.serverPods,
    ttl: true,
    undo: false,
    region: a.region,
    availabilityZone: a.availabilityZone ?? null,
    instanceType: a.instanceType,
    image,
    support: supportStatus(image),
    networking: en,
    cost,
    sourceDestCheck: !routed,
    podRoutes,
    hosts,
    subnetGateway: at(1),
    cluster,
    points,
    tags: { 'netlab:stack': spec.name, 'netlab:datapath': spec.datapath, 'netlab:proxy': p?.mode ?? 'none', 'netlab:ttl-minutes': String(a.ttlMinutes) },
  };
  return { ...plan, steps: remoteSteps(spec, plan) };
}

export function renderAwsPlan(plan: AwsPlan): string {
  const out: string[] = [];
  out.push(
    `# aws stack ${plan.stack}: ${plan.instanceType} × 2 in ${plan.availabilityZone ?? `the first zone of ${plan.region} offering ${plan.instanceType}`} (cluster placement group)`,
  );
  out.push(`# image: ${plan.image.os} via ${plan.image.ssmParameter} (kernel ${plan.image.kernel}, owner ${plan.image.owner}); ${plan.image.note}`);
  out.push(`# support: ${plan.support.text}${plan.support.ended ? ' — WARNING: accepted with aws.acceptEndOfSupport' : ''}`);
  out.push(`# enhanced networking: ${plan.networking.why}`);
  out.push(`# cost: ${plan.cost.usdPerHour.toFixed(4)} USD/hour (${plan.cost.source})`);
  for (const l of plan.cost.lines) out.push(`#   ${l.count} × ${l.item}: ${l.usdPerHour.toFixed(4)} USD/hour`);
  out.push(`# hosts: server ${plan.hosts.server.privateIp}, client ${plan.hosts.client.privateIp}; source/dest check ${plan.sourceDestCheck ? 'on' : 'off'}`);
  if (plan.podRoutes) out.push(`# VPC routes: ${plan.podRoutes.server} → server interface, ${plan.podRoutes.client} → client interface`);
  if (plan.hosts.server.secondaryIps.length)
    out.push(`# ipvlan pod addresses: server ${plan.hosts.server.secondaryIps.join(' ')}; client ${plan.hosts.client.secondaryIps.join(' ')}`);
  out.push('# remote steps, in order:');
  plan.steps.forEach((s, i) => out.push(`${String(i + 1).padStart(2)}. ${s.host.padEnd(6)} ${s.name.padEnd(14)} ${s.what}`));
  out.push(`# points (${plan.points.length}):`);
  for (const p of plan.points) out.push(`  ${p.id}: ${p.command}`);
  return out.join('\n') + '\n';
}

/**
 * Every script an aws stack sends to its hosts, by step name, in order. The tuning script, nginx's
 * CPU affinity and the client's CPU list come from the host's facts step: with `facts` (a facts
 * step's output) they are rendered for those facts; without, the tuning script is left out and the
 * CPU lists are placeholders.
 */
export function awsScripts(spec: AwsSpec, o: { facts?: string; clientCpus?: string; cpuAffinity?: string } = {}): Record<string, string> {
  const plan = awsPlan(spec);
  const tool = spec.workload.tool;
  const tools = tool === 'tcpkali' ? (['tcpkali'] as const) : tool === 'wrk' ? (['wrk'] as const) : (['ab'] as const);
  const out: Record<string, string> = {
    check: checkScript({ os: plan.image.distro, unamePrefix: plan.image.unamePrefix, release: imageRelease(plan.image.os) }),
    'ttl-user-data': ttlUserData(spec.aws.ttlMinutes),
    'ttl-helper': ttlHelper(),
    wait: waitScript(),
    verify: verifyScript({ unamePrefix: plan.image.unamePrefix, driver: plan.networking.driver }),
    'packages-server': packagesScript({ image: plan.image, role: 'server', tools: [...tools] }),
    'packages-client': packagesScript({ image: plan.image, role: 'client', tools: [...tools] }),
    facts: factsScript(),
  };
  if (o.facts) out.tuning = hostTuningScript(spec, o.facts, plan.image);
  out['kube-packages'] = kubePackagesScript({ image: plan.image, kubernetesVersion: spec.aws.kubernetesVersion, ipvs: spec.proxy?.mode === 'ipvs' });
  out['kubeadm-init'] = kubeadmInitScript(plan.cluster);
  out['join-command'] = joinCommandScript();
  out.kubeconfig = kubeconfigScript();
  out.join = joinScript();
  if (spec.datapath === 'ipvlan') {
    const ips = plan.hosts.server.secondaryIps;
    out['ipvlan-conf'] = ipvlanHostScript(
      ipvlanConflist({ subnetCidr: spec.aws.subnetCidr, gateway: plan.subnetGateway, first: ips[0]!, last: ips[ips.length - 1]! }),
    );
  }
  if (plan.podRoutes)
    for (const role of ['server', 'client'] as const)
      out[`aws-vpc-conf-${role}`] = awsVpcHostScript({ nodePodCidr: plan.podRoutes[role], podCidr: plan.cluster.podCidr });
  out.cni = cniScript(plan.cluster);
  out.workload = workloadScript(workloadManifest(spec, { cpuAffinity: o.cpuAffinity }));
  out.run = runScript(spec, plan.points, { clientCpus: o.clientCpus ?? '<client CPUs from the facts step>' });
  return out;
}

/** `netlab plan --full` for an aws stack: the plan, then every script whole. */
export function renderAwsScripts(spec: AwsSpec): string {
  const scripts = awsScripts(spec);
  const out = ['', '# scripts, as the remote steps send them (tuning: made on each host from its facts step, not known before the host exists)'];
  for (const [name, text] of Object.entries(scripts)) out.push(`######## ${name}`, text.trimEnd());
  return out.join('\n') + '\n';
}
