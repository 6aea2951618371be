// The real flannel (issue 16, `datapathImplementation: flannel`): flanneld with the Kubernetes
// subnet manager in each host namespace, one per node as on a real cluster, and the pods wired by
// the CNI plugins (flannel → bridge + host-local) through cnitool, called as a container runtime
// calls them for the kubelet. It runs the hostgw and vxlan datapaths, whose model (hostgw.ts,
// vxlan.ts) is held to it (compare.ts). Pure: this returns the files and commands; the runner runs
// them. See README.md here.
import { dirname } from 'node:path';
import { intToIp } from '../../core/cidr.ts';
import { inCgroup, inNs } from '../../core/netns.ts';
import { shq } from '../../core/shell.ts';
import { type ControlPlane, daemon, waitFor } from '../../k8s/controlplane.ts';
import { list } from '../../k8s/objects.ts';
import type { K8sProgram } from '../../k8s/tools.ts';
import type { DatapathBackend, Endpoint, LabHost, Role } from '../types.ts';
import { VXLAN_OVERHEAD, VXLAN_PORT, VXLAN_VNI } from '../vxlan.ts';

/** The datapaths the real flannel runs, and the flannel backend of each. */
export const FLANNEL_BACKENDS = { hostgw: 'host-gw', vxlan: 'vxlan' } as const;
export type FlannelDatapath = keyof typeof FLANNEL_BACKENDS;
export const FLANNEL_DATAPATHS = Object.keys(FLANNEL_BACKENDS) as FlannelDatapath[];

/** The upstream programs a flannel run needs (installed by scripts/install-k8s.sh): the control plane, flanneld, cnitool and the plugins. */
export const FLANNEL_PROGRAMS = ['etcd', 'kube-apiserver', 'kubectl', 'flanneld', 'cnitool', 'flannel', 'bridge', 'host-local', 'loopback'] as const;

/** Seconds the set-up waits for each flanneld to write its subnet file, and then for its route to the other node's pods. */
export const FLANNEL_READY_SECONDS = 120;

/** The CNI network name (the `cbr0` of flannel's own manifest) and the loopback network's. */
export const CNI_NETWORK = 'cbr0';
export const CNI_LOOPBACK = 'lo';
/** The CNI spec version of the configuration: the flannel plugin (containernetworking/plugins v0.9.1) speaks up to 0.4.0. */
export const CNI_VERSION = '0.4.0';

/** The namespace, service account and cluster role flanneld runs as (flannel's own manifest's names). */
export const FLANNEL_NAMESPACE = 'kube-flannel';
export const FLANNEL_SERVICE_ACCOUNT = 'flannel';

export interface FlannelOptions {
  /** `hostgw` or `vxlan`. */
  datapath: FlannelDatapath;
  hosts: readonly [LabHost, LabHost];
  /** Node name of each host (the control plane's Node objects). */
  nodeName: (role: Role) => string;
  /** network.podCidr: flannel's Network. */
  podCidr: string;
  /** The lab's control plane, already in the set-up before flanneld starts. */
  cp: ControlPlane;
  /** Its files: net-conf.json, the CNI configuration, kubeconfigs, logs, subnet files, the CNI state (inside the run folder). */
  dir: string;
  /** cgroup of both flanneld processes (their CPU is recorded apart). */
  cgroup: string;
  bin: (name: K8sProgram) => string;
}

/** What a flannel run adds to the plan. */
export interface FlannelPlan {
  backend: (typeof FLANNEL_BACKENDS)[FlannelDatapath];
  dir: string;
  cgroup: string;
  /** Written before the set-up runs (nothing secret: the token is made by a set-up command). */
  files: { path: string; content: string }[];
  /** After the control plane: flanneld's identity (service account, RBAC, token), then each
   * flanneld, then the waits for its subnet file and its route to the other node. */
  setup: { host: Role | 'cp'; argv: string[] }[];
  /** The run's teardown, before the namespaces go: each pod released through the plugins. */
  teardown: { host: Role; network: string; argv: string[] }[];
  /** Prints flanneld's own version. */
  version: string[];
  logs: Record<Role, string>;
  subnetFiles: Record<Role, string>;
  /** The datapath: pods made as a runtime makes a sandbox, wired through cnitool. */
  datapath: (model: DatapathBackend) => DatapathBackend;
}

/** flanneld's network configuration (what flannel's manifest mounts as net-conf.json). */
export function netConf(podCidr: string, datapath: FlannelDatapath): string {
  const backend = datapath === 'vxlan' ? { Type: 'vxlan', VNI: VXLAN_VNI, Port: VXLAN_PORT } : { Type: 'host-gw' };
  return `${JSON.stringify({ Network: podCidr, EnableNFTables: false, Backend: backend }, null, 2)}\n`;
}

/**
 * The CNI configuration of a host: flannel's own (`cbr0`, the flannel plugin delegating to bridge,
 * hairpin mode and the default route, as flannel's manifest has it), at the spec version the plugin
 * speaks, and the loopback network a runtime brings up in every sandbox. `ipMasq: false`: the lab's
 * traffic is pod to pod (the Service backends stand for pods), which a cluster never masquerades,
 * and the model has no masquerade either; README.md here says why it is spelled out.
 */
export function cniConfigs(subnetFile: string): { name: string; content: string }[] {
  const cbr0 = {
    cniVersion: CNI_VERSION,
    name: CNI_NETWORK,
    plugins: [{ type: 'flannel', subnetFile, delegate: { hairpinMode: true, isDefaultGateway: true, ipMasq: false } }],
  };
  const lo = { cniVersion: CNI_VERSION, name: CNI_LOOPBACK, type: 'loopback' };
  return [
    { name: '10-flannel.conflist', content: `${JSON.stringify(cbr0, null, 2)}\n` },
    { name: '99-loopback.conf', content: `${JSON.stringify(lo, null, 2)}\n` },
  ];
}

/** flanneld's identity as on a cluster: a service account in its namespace, bound to a role that
 * reads Nodes and patches their status (its lease annotations and NetworkUnavailable). */
export function rbacObjects(): Record<string, unknown>[] {
  const role = 'netlab-flannel';
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: FLANNEL_NAMESPACE } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: FLANNEL_SERVICE_ACCOUNT, namespace: FLANNEL_NAMESPACE } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: role },
      rules: [
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: role },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'ServiceAccount', name: FLANNEL_SERVICE_ACCOUNT, namespace: FLANNEL_NAMESPACE }],
    },
  ];
}

/** A kubeconfig for flanneld on host `i`: the API server as that host reaches it, the token in a file. */
export const flannelKubeconfig = (server: string, ca: string, tokenFile: string) =>
  `${JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'netlab', cluster: { server, 'certificate-authority': ca } }],
      users: [{ name: 'flannel', user: { tokenFile } }],
      contexts: [{ name: 'netlab', context: { cluster: 'netlab', user: 'flannel' } }],
      'current-context': 'netlab',
    },
    null,
    2,
  )}\n`;

/**
 * `cnitool <verb> <network> <pod netns>` in the host's namespace, as the runtime calls the plugins:
 * CNI_PATH the built plugins, NETCONFPATH the host's configuration. cnitool's result cache and
 * host-local's leases go to /var/lib/cni: the command gets a private mount namespace whose /var/lib
 * is a tmpfs and whose /var/lib/cni is the host's state folder in the run folder, so nothing is
 * written outside it and the state lives from `add` to `del`.
 */
export function cnitool(
  o: { hostNs: string; cniPath: string; confDir: string; stateDir: string; cnitool: string },
  verb: 'add' | 'del',
  net: string,
  podNs: string,
  ifname = 'eth0',
): string[] {
  return inNs(
    o.hostNs,
    'unshare',
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    'mount -t tmpfs netlab-cni /var/lib && mkdir /var/lib/cni && mount --bind "$0" /var/lib/cni && exec "$@"',
    o.stateDir,
    'env',
    `CNI_PATH=${o.cniPath}`,
    `NETCONFPATH=${o.confDir}`,
    `CNI_IFNAME=${ifname}`,
    o.cnitool,
    verb,
    net,
    `/var/run/netns/${podNs}`,
  );
}

/** flanneld's command line on one node: the kube subnet manager, the wire as its interface, no firewall rules of its own. */
export function flanneldArgv(o: { flanneld: string; kubeconfig: string; netConf: string; subnetFile: string }): string[] {
  return [
    o.flanneld,
    '--kube-subnet-mgr',
    `--kubeconfig-file=${o.kubeconfig}`,
    `--net-config-path=${o.netConf}`,
    `--subnet-file=${o.subnetFile}`,
    // The host namespace has no default route to find it by.
    '--iface=eth0',
    // Pod-to-pod traffic is never masqueraded; the lab has no other (README.md here).
    '--ip-masq=false',
    // FORWARD accepts already in a lab namespace; the host's firewall belongs to the proxy under test.
    '--iptables-forward-rules=false',
  ];
}

export function flannelPlan(o: FlannelOptions): FlannelPlan {
  const d = o.dir;
  const backend = FLANNEL_BACKENDS[o.datapath];
  const netConfPath = `${d}/net-conf.json`;
  const tokenFile = `${d}/flannel.token`;
  const cniPath = [...new Set(['flannel', 'bridge', 'host-local', 'loopback'].map((n) => dirname(o.bin(n as K8sProgram))))].join(':');
  const per = (h: LabHost) => ({
    log: `${d}/flanneld-${h.role}.log`,
    subnetFile: `${d}/${h.role}/subnet.env`,
    kubeconfig: `${d}/flannel-${h.role}.kubeconfig`,
    confDir: `${d}/${h.role}/net.d`,
    stateDir: `${d}/${h.role}/cni`,
  });
  const files = [
    { path: netConfPath, content: netConf(o.podCidr, o.datapath) },
    { path: `${d}/rbac.json`, content: `${JSON.stringify(list(rbacObjects()))}\n` },
    ...o.hosts.flatMap((h, i) => {
      const p = per(h);
      return [
        { path: p.kubeconfig, content: flannelKubeconfig(o.cp.server(i), `${o.cp.dir}/ca.crt`, tokenFile) },
        ...cniConfigs(p.subnetFile).map((c) => ({ path: `${p.confDir}/${c.name}`, content: c.content })),
      ];
    }),
  ];
  const setup: FlannelPlan['setup'] = [
    // What a kubelet's registration writes on its Node besides the lab's fields: flanneld's kube
    // subnet manager adds its annotations to the Node's map and fails on a Node without one.
    {
      host: 'cp',
      argv: o.cp.kubectl(
        'annotate',
        'node',
        ...o.hosts.map((h) => o.nodeName(h.role)),
        'volumes.kubernetes.io/controller-managed-attach-detach=true',
        '--overwrite',
      ),
    },
    { host: 'cp', argv: o.cp.kubectl('apply', '--server-side', '--field-manager=netlab', '-f', `${d}/rbac.json`) },
    // A bound service-account token, as a pod's projected token (the API server signs it).
    {
      host: 'cp',
      argv: [
        'sh',
        '-c',
        'umask 077; out=$0; "$@" > "$out.tmp" && mv "$out.tmp" "$out"',
        tokenFile,
        ...o.cp.kubectl('create', 'token', FLANNEL_SERVICE_ACCOUNT, '-n', FLANNEL_NAMESPACE, '--duration=48h'),
      ],
    },
  ];
  for (const h of o.hosts) {
    const p = per(h);
    setup.push({ host: h.role, argv: ['mkdir', '-p', dirname(p.subnetFile), p.stateDir] });
    setup.push({
      host: h.role,
      argv: inCgroup(
        o.cgroup,
        inNs(
          h.netns,
          'env',
          `NODE_NAME=${o.nodeName(h.role)}`,
          ...daemon(p.log, flanneldArgv({ flanneld: o.bin('flanneld'), kubeconfig: p.kubeconfig, netConf: netConfPath, subnetFile: p.subnetFile })),
        ),
      ),
    });
  }
  for (const h of o.hosts) {
    const p = per(h);
    const peer = h.role === 'client' ? o.hosts[1] : o.hosts[0];
    const peerSubnet = `${intToIp(peer.podSubnetBase)}/24`;
    setup.push({
      host: h.role,
      argv: waitFor(`flanneld on ${o.nodeName(h.role)} writing ${p.subnetFile}`, `test -s ${shq(p.subnetFile)}`, FLANNEL_READY_SECONDS, p.log),
    });
    setup.push({
      host: h.role,
      argv: waitFor(
        `flanneld on ${o.nodeName(h.role)} routing ${o.nodeName(peer.role)}'s pod subnet ${peerSubnet}`,
        `ip -n ${shq(h.netns)} route show ${peerSubnet} | grep -q .`,
        FLANNEL_READY_SECONDS,
        p.log,
      ),
    });
  }
  const tool = (h: LabHost) => ({ hostNs: h.netns, cniPath, confDir: per(h).confDir, stateDir: per(h).stateDir, cnitool: o.bin('cnitool') });
  const podOf = (h: LabHost) => `${h.netns}.pod0`;
  const teardown = o.hosts.flatMap((h) => [
    { host: h.role, network: CNI_NETWORK, argv: cnitool(tool(h), 'del', CNI_NETWORK, podOf(h)) },
    { host: h.role, network: CNI_LOOPBACK, argv: cnitool(tool(h), 'del', CNI_LOOPBACK, podOf(h), 'lo') },
  ]);
  const logs = { client: per(o.hosts[0]).log, server: per(o.hosts[1]).log };
  const subnetFiles = { client: per(o.hosts[0]).subnetFile, server: per(o.hosts[1]).subnetFile };

  const datapath = (model: DatapathBackend): DatapathBackend => ({
    ...model,
    summary: `${model.summary} (the real flannel: flanneld ${backend} and the CNI plugins through cnitool)`,
    teardown: `${model.teardown}; each pod is released through the CNI plugins (cnitool del) first, flanneld is killed with its cgroup, and the CNI state lives in the run folder`,
    build(b) {
      const endpoints = {} as Record<Role, Endpoint>;
      for (const h of b.hosts) {
        const pod = podOf(h);
        const ip = intToIp(h.podSubnetBase + 2);
        // The sandbox's namespace, made as a runtime makes it, then the plugins: loopback, then the
        // flannel network (flannel reads flanneld's subnet file and calls bridge with host-local).
        b.namespace(pod);
        b.add(h.role, ['ip', 'netns', 'add', pod]);
        b.add(h.role, cnitool(tool(h), 'add', CNI_LOOPBACK, pod, 'lo'));
        b.add(h.role, cnitool(tool(h), 'add', CNI_NETWORK, pod));
        // host-local hands out the subnet's first free address after the gateway: the pod's, as the model has it.
        b.add(h.role, [
          'sh',
          '-c',
          'ip -n "$0" -4 addr show dev eth0 | grep -qF "inet $1/24" || { echo "netlab: host-local gave pod $0 another address than $1:" >&2; ip -n "$0" -4 addr show >&2; exit 1; }',
          pod,
          ip,
        ]);
        endpoints[h.role] = { host: h.role, netns: pod, ip };
      }
      return { endpoints, pathMtu: b.mtu - (o.datapath === 'vxlan' ? VXLAN_OVERHEAD : 0) };
    },
  });

  return {
    backend,
    dir: d,
    cgroup: o.cgroup,
    files,
    setup,
    teardown,
    version: [o.bin('flanneld'), '--version'],
    logs,
    subnetFiles,
    datapath,
  };
}
