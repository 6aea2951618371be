// Rules across keys: what one key allows depends on another (target × datapath, proxy × workload,
// address ranges that must not overlap, what an EC2 type and image offer). Run once every single
// key is valid (document.ts), so each rule sees parsed, defaulted values.
import type { z } from 'zod';
import {
  enhancedNetworking,
  hourlyCost,
  imageFor,
  kernelAtLeast,
  kubeadmRefusesKernel,
  KUBERNETES_MINORS,
  KUBERNETES_VERSIONS,
  supportStatus,
  today,
  TYPES,
  type Kernel,
} from '../aws/catalogue.ts';
import { overlaps, parseCidr, type Cidr } from '../core/cidr.ts';
import { findDatapath } from '../datapath/index.ts';
import { FLANNEL_DATAPATHS } from '../datapath/flannel/index.ts';
import { proxyProvider } from '../proxy/index.ts';
import { KUBE_PROXY_MODES } from '../proxy/kube-proxy/index.ts';
import { PULUMI_FLEET_HARD_MAX_SERVICES } from '../k8s/fleet-writer.ts';
import { untuned } from '../tuning/profile.ts';
import {
  AWS_DATAPATHS,
  DATAPATHS,
  type AwsDatapath,
  type Datapath,
  type NetworkSchema,
  type ProxySchema,
  type SpecShape,
  type TARGETS,
  type WorkloadSchema,
  SERVICE_CIDR_DEFAULT,
} from './schema.ts';

/** Every cross-key rule of a stack; adds one issue per problem. */
export function crossKeyRules(s: z.output<typeof SpecShape>, ctx: z.RefinementCtx): void {
  const w = s.workload;
  targetRules(s, ctx);
  if (w.tool === 'wrk') {
    const low = w.connections.filter((c) => c < w.threads);
    if (low.length)
      ctx.addIssue({
        code: 'custom',
        path: ['workload', 'connections'],
        input: w.connections,
        message: `every connection count must be >= workload.threads (${w.threads}); ${low.join(', ')} is lower`,
      });
  } else if (w.tool === 'ab') {
    const high = w.concurrency.filter((c) => c > w.requests);
    if (high.length)
      ctx.addIssue({
        code: 'custom',
        path: ['workload', 'concurrency'],
        input: w.concurrency,
        message: `concurrency must not exceed workload.requests (${w.requests}); ${high.join(', ')} does`,
      });
  }
  const under = parseCidr(s.network.underlayCidr);
  const pods = parseCidr(s.network.podCidr);
  if (under.prefix > 29)
    ctx.addIssue({
      code: 'custom',
      path: ['network', 'underlayCidr'],
      input: s.network.underlayCidr,
      message: 'prefix must be /29 or shorter: the hosts and their macvlan/ipvlan pods need addresses',
    });
  if (pods.prefix > 23)
    ctx.addIssue({
      code: 'custom',
      path: ['network', 'podCidr'],
      input: s.network.podCidr,
      message: 'prefix must be /23 or shorter: each of the two hosts gets a /24',
    });
  if (overlaps(under, pods))
    ctx.addIssue({
      code: 'custom',
      path: ['network', 'podCidr'],
      input: s.network.podCidr,
      message: `must not overlap network.underlayCidr (${s.network.underlayCidr})`,
    });
  if (s.target === 'local' && findDatapath(s.datapath)?.podsOnUnderlay) {
    if (under.prefix > 27)
      ctx.addIssue({
        code: 'custom',
        path: ['network', 'underlayCidr'],
        input: s.network.underlayCidr,
        message: `${s.datapath} puts pods on the underlay: prefix must be /27 or shorter`,
      });
  }
  datapathRules(s, ctx);
  proxyRules(s, ctx);
  if (s.tuning.notrack && s.proxy && proxyProvider(s.proxy.mode).netfilter)
    ctx.addIssue({
      code: 'custom',
      path: ['tuning', 'notrack'],
      input: true,
      message: `proxy.mode ${s.proxy.mode} needs conntrack (its DNAT is undone on the replies through conntrack), so NOTRACK would break the Services; set tuning.notrack: false${s.tuning.profile !== 'none' ? ` (profile ${s.tuning.profile} turns it on)` : ''}, or use proxy.mode none or ebpf`,
    });
}

/** datapathImplementation flannel: the real flannel runs flannel's two backends, in the embedded lab. */
function datapathRules(s: z.output<typeof SpecShape>, ctx: z.RefinementCtx): void {
  if (s.datapathImplementation !== 'flannel') return;
  const issue = (message: string) => ctx.addIssue({ code: 'custom', path: ['datapathImplementation'], input: s.datapathImplementation, message });
  if (s.target !== 'local')
    issue(`the real flannel as lab processes is for target local (on aws the cluster installs its own CNI); with target ${s.target} use model`);
  else if (!(FLANNEL_DATAPATHS as readonly string[]).includes(s.datapath))
    issue(
      `the real flannel runs the datapaths ${FLANNEL_DATAPATHS.join(' and ')} (its host-gw and vxlan backends); datapath ${s.datapath} exists only as model`,
    );
}

interface CrossFields {
  target: (typeof TARGETS)[number];
  datapath: Datapath | AwsDatapath;
  network: z.output<typeof NetworkSchema>;
  proxy?: z.output<typeof ProxySchema> | undefined;
  workload: z.output<typeof WorkloadSchema>;
}

function proxyRules(s: CrossFields, ctx: z.RefinementCtx): void {
  const p = s.proxy;
  const w = s.workload;
  if (!p) {
    if (w.tool === 'conn-reuse')
      ctx.addIssue({ code: 'custom', path: ['workload', 'tool'], input: w.tool, message: 'conn-reuse drains an IPVS real server: it needs proxy.mode ipvs' });
    return;
  }
  const issue = (path: (string | number)[], input: unknown, message: string) => ctx.addIssue({ code: 'custom', path, input, message });
  const svc = parseCidr(p.serviceCidr);
  const be = parseCidr(p.backendCidr);
  const named: [string, Cidr][] = [
    ['network.underlayCidr', parseCidr(s.network.underlayCidr)],
    ['network.podCidr', parseCidr(s.network.podCidr)],
    ['proxy.serviceCidr', svc],
  ];
  for (const [key, c] of named.slice(0, 2)) if (overlaps(svc, c)) issue(['proxy', 'serviceCidr'], p.serviceCidr, `must not overlap ${key}`);
  for (const [key, c] of named) if (overlaps(be, c)) issue(['proxy', 'backendCidr'], p.backendCidr, `must not overlap ${key}`);
  const most = Math.max(...p.services);
  const svcRoom = 2 ** (32 - svc.prefix) - 3;
  if (most > svcRoom)
    issue(['proxy', 'services'], p.services, `${most} Services do not fit in proxy.serviceCidr ${p.serviceCidr} (${svcRoom} usable addresses)`);
  const beRoom = 2 ** (32 - be.prefix) - 2;
  if (most * p.backendsPerService > beRoom)
    issue(
      ['proxy', 'backendsPerService'],
      p.backendsPerService,
      `${most} Services × ${p.backendsPerService} backends do not fit in proxy.backendCidr ${p.backendCidr} (${beRoom} addresses)`,
    );
  const netfilter = proxyProvider(p.mode).netfilter;
  // On aws the client runs in the client host's own namespace, where kube-proxy's rules are.
  if (netfilter && s.target === 'local' && findDatapath(s.datapath)?.bypassesHostNetfilter)
    issue(
      ['proxy', 'mode'],
      p.mode,
      `${s.datapath} pods send straight onto the wire, past the host namespace's netfilter, so host-side kube-proxy rules never see them; with datapath ${s.datapath} use proxy.mode none or ebpf`,
    );
  if (p.implementation === 'kube-proxy') {
    if (!(KUBE_PROXY_MODES as readonly string[]).includes(p.mode))
      issue(
        ['proxy', 'implementation'],
        p.implementation,
        `the real kube-proxy has the modes ${KUBE_PROXY_MODES.join(', ')}; with mode ${p.mode} use implementation model`,
      );
    if (p.iptablesLayout !== 'current')
      issue(
        ['proxy', 'iptablesLayout'],
        p.iptablesLayout,
        'the real kube-proxy (its version in tools/k8s/versions.env) writes the current layout; the 2019 layout exists only as implementation model',
      );
    if (s.target !== 'local')
      issue(['proxy', 'implementation'], p.implementation, 'kube-proxy as a lab process is for target local (on aws the cluster runs its own)');
    const most = Math.max(...p.services);
    if (p.writer === 'pulumi' && most > PULUMI_FLEET_HARD_MAX_SERVICES)
      issue(
        ['proxy', 'writer'],
        p.writer,
        `a Pulumi write of ${most} Services takes minutes (its cost per Service grows with the fleet: 400 took 225 s here); the Pulumi writer takes up to ${PULUMI_FLEET_HARD_MAX_SERVICES}: use auto or server-side-apply`,
      );
  } else if (p.writer !== 'auto')
    issue(
      ['proxy', 'writer'],
      p.writer,
      'the writer is who writes Services into the API of implementation kube-proxy; the model writes rules itself: use auto, or implementation kube-proxy',
    );
  if (p.target === 'random' && w.tool !== 'rps')
    issue(['proxy', 'target'], p.target, `random needs workload.tool rps (it picks a Service per connection); ${w.tool} calls one URL: use fixed or last`);
  if (w.tool === 'conn-reuse' && p.mode !== 'ipvs') issue(['workload', 'tool'], w.tool, 'conn-reuse drains an IPVS real server: it needs proxy.mode ipvs');
  if (w.tool === 'conn-reuse' && p.services.length > 1)
    issue(['proxy', 'services'], p.services, 'conn-reuse runs against one Service count: give a single number');
}

/** What each target allows: the embedded lab and the EC2 pair differ in datapaths, tools and keys. */
function targetRules(s: z.output<typeof SpecShape>, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], input: unknown, message: string) => ctx.addIssue({ code: 'custom', path, input, message });
  const w = s.workload;
  if (s.vm && s.target !== 'local') issue(['vm'], s.vm, `only with target local (the embedded lab inside a microVM); this stack's target is ${s.target}`);
  if (s.target === 'local') {
    if (s.aws) issue(['aws'], s.aws, 'only with target aws (this stack runs on local network namespaces)');
    if (s.vm) vmRules(s, ctx, s.vm);
    if (!(DATAPATHS as readonly string[]).includes(s.datapath))
      issue(['datapath'], s.datapath, `${s.datapath} needs a real cluster (target aws); the embedded lab has: ${DATAPATHS.join(', ')}`);
    if (w.tool === 'tcpkali')
      issue(
        ['workload', 'tool'],
        w.tool,
        'tcpkali is not packaged for Debian, so the embedded lab has no tcpkali; use rps for a constant rate here (tcpkali runs on target aws, built from source on the client host)',
      );
    return;
  }
  if (s.target === 'ssh') {
    sshRules(s, ctx);
    return;
  }
  if (s.ssh) issue(['ssh'], s.ssh, `only with target ssh (this stack's target is ${s.target})`);
  const a = s.aws;
  if (!a) {
    issue(['aws'], undefined, 'target aws needs netlab:aws with at least sshCidr (the address range allowed to SSH to the hosts)');
    return;
  }
  remoteRules(s, ctx, 'aws');
  const en = enhancedNetworking(a.instanceType);
  if ('error' in en) issue(['aws', 'instanceType'], a.instanceType, en.error);
  const facts = TYPES[a.instanceType];
  if (s.datapath === 'ipvlan' && facts && a.serverPods + 1 > facts.ipv4PerEni)
    issue(
      ['aws', 'serverPods'],
      a.serverPods,
      `ipvlan gives every server pod a secondary address of the server's interface; ${a.instanceType} holds ${facts.ipv4PerEni} addresses per interface (one is the host's)`,
    );
  if (a.spotPriceUsd !== undefined && !a.spot)
    issue(
      ['aws', 'spotPriceUsd'],
      a.spotPriceUsd,
      'prices spot instances: only with aws.spot: true (on-demand hosts are priced from the table or aws.hourlyPriceUsd)',
    );
  const cost = hourlyCost({
    instanceType: a.instanceType,
    region: a.region,
    rootVolumeGb: a.rootVolumeGb,
    hosts: 2,
    overrideUsdPerHour: a.hourlyPriceUsd,
    spot: a.spot,
    spotPriceUsd: a.spotPriceUsd,
  });
  if ('error' in cost) issue(['aws', 'hourlyPriceUsd'], a.hourlyPriceUsd, cost.error);
  else if (cost.usdPerHour > a.maxHourlyUsd)
    issue(
      ['aws', 'maxHourlyUsd'],
      a.maxHourlyUsd,
      `the stack would cost about ${cost.usdPerHour.toFixed(2)} USD per hour (${cost.source}); raise aws.maxHourlyUsd or pick a smaller type`,
    );
  const image = imageFor(a.os, a.kernel);
  if (!image)
    issue(['aws', 'kernel'], a.kernel, `${a.os} has no image with kernel ${a.kernel}; debian offers 5.10, 6.1 and 6.12, amazon-linux 4.14, 5.10, 6.1 and 6.12`);
  else {
    const st = supportStatus(image);
    if (st.ended && !a.acceptEndOfSupport)
      issue(
        ['aws', 'kernel'],
        a.kernel,
        `${st.text}; pick a supported image (aws.os: debian, or kernel 6.1/6.12) or set aws.acceptEndOfSupport: true to run it anyway`,
      );
  }
  const ended = kubernetesEnded(a.kubernetesVersion);
  if (ended && !a.acceptEndOfSupport) issue(['aws', 'kubernetesVersion'], a.kubernetesVersion, `${ended} or set aws.acceptEndOfSupport: true`);
  if (kubeadmRefusesKernel(a.kernel, a.kubernetesVersion))
    issue(
      ['aws', 'kubernetesVersion'],
      a.kubernetesVersion,
      `kubeadm ${a.kubernetesVersion} refuses kernel ${a.kernel} in its preflight (Kubernetes 1.32 and newer need Linux 4.19 or newer); kernel 4.14 runs with 1.31 only`,
    );
  kernelRules(s, ctx, ['aws', 'kernel'], a.kernel);
  const vpc = parseCidr(a.vpcCidr);
  const sub = parseCidr(a.subnetCidr);
  if (sub.prefix < vpc.prefix || !overlaps(sub, vpc)) issue(['aws', 'subnetCidr'], a.subnetCidr, `must lie inside aws.vpcCidr (${a.vpcCidr})`);
  if (sub.prefix > 26)
    issue(['aws', 'subnetCidr'], a.subnetCidr, 'prefix must be /26 or shorter: AWS keeps 5 addresses, the hosts and ipvlan pods need the rest');
  if (vpc.prefix < 16 || vpc.prefix > 24) issue(['aws', 'vpcCidr'], a.vpcCidr, 'AWS allows VPC prefixes /16 to /24');
  if (overlaps(vpc, parseCidr(s.network.podCidr))) issue(['network', 'podCidr'], s.network.podCidr, `must not overlap aws.vpcCidr (${a.vpcCidr})`);
  if (s.proxy && overlaps(vpc, parseCidr(s.proxy.serviceCidr)))
    issue(['proxy', 'serviceCidr'], s.proxy.serviceCidr, `must not overlap aws.vpcCidr (${a.vpcCidr})`);
}

/** Why a Kubernetes minor may no longer be used (its end of life has passed, with the maintained ones), or null. */
function kubernetesEnded(version: string): string | null {
  const end = KUBERNETES_MINORS[version as keyof typeof KUBERNETES_MINORS];
  if (!end || today() <= end) return null;
  return `Kubernetes ${version} reached end of life on ${end}; use a maintained minor (${KUBERNETES_VERSIONS.filter((v) => today() <= KUBERNETES_MINORS[v]).join(', ')})`;
}

/** What both remote targets (aws, ssh) refuse: embedded-lab datapaths and tools, and tcpkali against short keep-alive. */
function remoteRules(s: z.output<typeof SpecShape>, ctx: z.RefinementCtx, target: 'aws' | 'ssh'): void {
  const issue = (path: (string | number)[], input: unknown, message: string) => ctx.addIssue({ code: 'custom', path, input, message });
  const w = s.workload;
  if (!(AWS_DATAPATHS as readonly string[]).includes(s.datapath))
    issue(['datapath'], s.datapath, `${s.datapath} is an embedded-lab datapath; on ${target} expected one of: ${AWS_DATAPATHS.join(', ')}`);
  if (w.tool === 'rps')
    issue(
      ['workload', 'tool'],
      w.tool,
      `rps is netlab's own compiled client (tools/rps), which the ${target === 'aws' ? 'EC2 ' : ''}hosts do not install; on ${target} use tcpkali (constant rate, E2) or ab/wrk`,
    );
  if (s.proxy?.mode === 'ebpf' && s.datapath !== 'cilium')
    issue(['proxy', 'mode'], s.proxy.mode, `ebpf on ${target} is Cilium's kube-proxy replacement: set datapath: cilium`);
  if (w.tool === 'tcpkali') {
    const need = Math.ceil((Math.max(...w.rate) * w.durationSeconds) / w.connections);
    if (s.server.keepaliveRequests < need)
      issue(
        ['server', 'keepaliveRequests'],
        s.server.keepaliveRequests,
        `tcpkali measures keep-alive connections: at ${Math.max(...w.rate)} req/s over ${w.connections} connections for ${w.durationSeconds} s each connection carries ${need} requests, and nginx closes it after keepaliveRequests (default 100), so tcpkali would reconnect all the time; set it to at least ${need} (the shipped E2 stacks use 1000000)`,
      );
  }
}

/** Kernel-dependent rules of a remote stack whose kernel line is known before any host is reached. */
function kernelRules(s: z.output<typeof SpecShape>, ctx: z.RefinementCtx, path: string[], kernel: Kernel): void {
  const issue = (p: (string | number)[], input: unknown, message: string) => ctx.addIssue({ code: 'custom', path: p, input, message });
  if (s.datapath === 'cilium' && !kernelAtLeast(kernel, 5, 10))
    issue(path, kernel, `Cilium 1.16 needs Linux 5.4 or newer (kernel ${kernel} here); use kernel 5.10 or newer`);
  if (s.proxy?.mode === 'nftables' && !kernelAtLeast(kernel, 5, 13))
    issue(path, kernel, 'kube-proxy nftables mode needs Linux 5.13 or newer: use kernel 6.1 or 6.12');
}

/** Target local inside a microVM: what the guest's kernel or its root cannot do is refused before it boots. */
function vmRules(s: z.output<typeof SpecShape>, ctx: z.RefinementCtx, vm: NonNullable<z.output<typeof SpecShape>['vm']>): void {
  const issue = (p: (string | number)[], input: unknown, message: string) => ctx.addIssue({ code: 'custom', path: p, input, message });
  kernelRules(s, ctx, ['vm', 'kernel'], vm.kernel);
  if (s.proxy?.mode === 'ebpf')
    issue(
      ['proxy', 'mode'],
      s.proxy.mode,
      "the vm hosts' Debian root has no clang or bpftool to build the eBPF proxy: run mode ebpf on this machine (remove netlab:vm)",
    );
  if (!untuned(s.tuning))
    issue(
      ['tuning'],
      s.tuning.profile,
      "host tuning pins IRQs and CPUs of this machine's NICs and cores; a VM's virtual ones would measure qemu: remove netlab:tuning or netlab:vm",
    );
  if (vm.hosts === 2 && s.datapathImplementation === 'flannel')
    issue(
      ['vm', 'hosts'],
      vm.hosts,
      "the real flannel's control plane runs in a namespace of the client host, which the server host's flanneld cannot reach from a VM of its own: use netlab:vm.hosts: 1, or datapathImplementation: model",
    );
}

/** Target ssh: two hosts the user has; what netlab cannot check there later is refused here. */
function sshRules(s: z.output<typeof SpecShape>, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], input: unknown, message: string) => ctx.addIssue({ code: 'custom', path, input, message });
  if (s.aws) issue(['aws'], s.aws, 'only with target aws (target ssh runs on the hosts given in netlab:ssh)');
  const h = s.ssh;
  if (!h) {
    issue(
      ['ssh'],
      undefined,
      'target ssh needs netlab:ssh with hosts.server.address and hosts.client.address (and the key as the config secret netlab:sshPrivateKey)',
    );
    return;
  }
  remoteRules(s, ctx, 'ssh');
  if (s.datapath === 'aws-vpc') issue(['datapath'], s.datapath, 'aws-vpc routes pod ranges in a VPC route table, which only target aws has');
  if (s.datapath === 'ipvlan')
    issue(['datapath'], s.datapath, "ipvlan pods take secondary addresses of the host's interface, which netlab assigns only on target aws");
  const key = (r: 'server' | 'client') => `${h.hosts[r].address}:${h.hosts[r].port ?? h.port}`;
  if (key('server') === key('client'))
    issue(['ssh', 'hosts', 'client', 'address'], h.hosts.client.address, `the client must be another host than the server (both are ${key('server')})`);
  const priv = (r: 'server' | 'client') => h.hosts[r].privateAddress ?? h.hosts[r].address;
  if (priv('server') === priv('client'))
    issue(
      ['ssh', 'hosts', 'client', 'privateAddress'],
      h.hosts.client.privateAddress,
      `the hosts need two addresses between them (both are ${priv('server')})`,
    );
  if (h.cluster === 'none') {
    if (s.datapath !== 'host')
      issue(['datapath'], s.datapath, `without a cluster (ssh.cluster: none) there is no pod network: use datapath host, or ssh.cluster: kubeadm`);
    if (s.proxy)
      issue(['proxy'], s.proxy.mode, 'without a cluster (ssh.cluster: none) there are no Services: remove netlab:proxy, or use ssh.cluster: kubeadm');
  } else {
    if (h.cluster === 'processes') {
      if (s.datapath !== 'hostgw' && s.datapath !== 'vxlan')
        issue(['datapath'], s.datapath, 'ssh.cluster processes runs flannel: datapath hostgw (host-gw backend) or vxlan');
      if (h.serverPods !== 1) issue(['ssh', 'serverPods'], h.serverPods, 'ssh.cluster processes runs one nginx pod (no kubelet to run more): use 1');
      if (s.workload.tool === 'conn-reuse')
        issue(
          ['workload', 'tool'],
          s.workload.tool,
          'conn-reuse restarts the nginx Deployment, which ssh.cluster processes has not (no kubelet): use ssh.cluster kubeadm',
        );
    }
    // A host inside the pod or Service range is unreachable once the cluster runs: its traffic is
    // routed to pods, or dropped as an unallocated ClusterIP (kube-proxy's nftables mode drops all of
    // proxy.serviceCidr that no Service holds).
    const ranges: [string, string][] = [
      ['network.podCidr', s.network.podCidr],
      ['proxy.serviceCidr', s.proxy?.serviceCidr ?? SERVICE_CIDR_DEFAULT],
    ];
    for (const r of ['server', 'client'] as const) {
      const ip = priv(r);
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) continue;
      for (const [key, cidr] of ranges)
        if (overlaps(parseCidr(`${ip}/32`), parseCidr(cidr)))
          issue(
            ['ssh', 'hosts', r, h.hosts[r].privateAddress ? 'privateAddress' : 'address'],
            ip,
            `the ${r}'s address between the hosts is inside ${key} (${cidr}), which the cluster routes to pods or Services: pick another ${key}`,
          );
    }
    for (const r of ['server', 'client'] as const)
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(priv(r)))
        issue(
          ['ssh', 'hosts', r, 'privateAddress'],
          undefined,
          `${h.cluster} needs each host's IPv4 address between the hosts; ${r}'s address is the name ${h.hosts[r].address}: set privateAddress`,
        );
    const ended = kubernetesEnded(h.kubernetesVersion);
    if (ended) issue(['ssh', 'kubernetesVersion'], h.kubernetesVersion, ended);
  }
  // Without ssh.kernel the first connection checks the hosts' kernels (lib/remote/preflight.ts).
  if (h.kernel) kernelRules(s, ctx, ['ssh', 'kernel'], h.kernel);
}
