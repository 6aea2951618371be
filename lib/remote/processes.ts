// `ssh.cluster: processes`: a Kubernetes cluster made of the upstream programs netlab builds from
// their Go modules (scripts/install-k8s.sh: etcd, kube-apiserver, kube-proxy, kubectl, flanneld,
// cnitool and the CNI plugins), run as plain processes on the two hosts. No kubelet and no container
// runtime: the server's one nginx pod is a network namespace wired by cnitool through flannel's CNI
// plugin, as a runtime wires a sandbox, and its Service fleet is selectorless Services plus
// EndpointSlices naming the pod, as the EndpointSlice controller would write them. It needs no
// registry and no package repository beyond the distribution's, so it is the cluster the ssh
// rehearsal runs offline; on your own hosts it is the cluster to use when they cannot pull images.
//
// Pure: scripts only. components/remote/processes.ts runs them over SSH; every script that starts
// or changes something has an undo script that `pulumi destroy` runs.
import { HEAD, HOST_DIR } from '../aws/scripts.ts';
import { intToIp, parseCidr } from '../core/cidr.ts';
import { shq } from '../core/shell.ts';
import { sshOptions } from '../core/ssh.ts';
import { APISERVER_PORT, APISERVER_READY_SECONDS, apiserverArgv, etcdArgv, kubeconfigText, pkiScript, waitFor } from '../k8s/controlplane.ts';
import { list, nodeObject, nodeStatusPatch, type NodeSpec } from '../k8s/objects.ts';
import type { K8sProgram } from '../k8s/tools.ts';
import { FLANNEL_READY_SECONDS, cniConfigs, flanneldArgv, netConf, type FlannelDatapath } from '../datapath/flannel/index.ts';
import { KUBE_PROXY_TIMEOUT_SECONDS } from '../proxy/kube-proxy/index.ts';
/** A host's role (the same as lib/remote/plan.ts's; not imported from it, which imports this). */
type Role = 'server' | 'client';

/** The programs, the cluster's files and the pod's namespace on each host. */
export const PROC_BIN = `${HOST_DIR}/bin`;
export const PROC_DIR = `${HOST_DIR}/cluster`;
export const POD_NETNS = 'netlab-nginx';
/** Ports the server's control plane listens on (etcd on 127.0.0.1 only); a host already using one is refused by name. */
export const CONTROL_PLANE_PORTS = [2379, 2380, APISERVER_PORT] as const;
/** The namespace of the workload's Services (as on the kubeadm cluster). */
export const WORKLOAD_NAMESPACE = 'netlab';

/** What each host runs: the server the control plane, flanneld and the pod; the client flanneld and kube-proxy. */
export const PROCESS_PROGRAMS: Record<Role, readonly K8sProgram[]> = {
  server: ['etcd', 'kube-apiserver', 'kubectl', 'flanneld', 'cnitool', 'flannel', 'bridge', 'host-local', 'loopback'],
  client: ['kube-proxy', 'kubectl', 'flanneld'],
};

/** Sysctls kube-proxy may set on its host; their values before it starts are put back on destroy. */
export const KUBE_PROXY_SYSCTLS = [
  'net.ipv4.conf.all.route_localnet',
  'net.bridge.bridge-nf-call-iptables',
  'net.ipv4.vs.conntrack',
  'net.ipv4.vs.conn_reuse_mode',
  'net.ipv4.vs.expire_nodest_conn',
  'net.ipv4.vs.expire_quiescent_template',
] as const;

export interface ProcessesCluster {
  datapath: FlannelDatapath;
  podCidr: string;
  serviceCidr: string;
  proxyMode: 'iptables' | 'nftables' | 'ipvs' | 'none';
  ipvsScheduler: string;
  /** Each host's address between the hosts (the API server's, flanneld's --iface, the Nodes' InternalIP). */
  addresses: Record<Role, string>;
}

/** Each host's pod range: the server the first /24 of network.podCidr, the client the second. */
export function podSubnets(podCidr: string): Record<Role, string> {
  const c = parseCidr(podCidr);
  const base = c.base;
  return { server: `${intToIp(base)}/24`, client: `${intToIp(base + 256)}/24` };
}

const nodes = (c: ProcessesCluster): NodeSpec[] =>
  (['server', 'client'] as const).map((r) => ({ name: r, internalIP: c.addresses[r], podCIDR: podSubnets(c.podCidr)[r] }));

/** The files of the cluster's three users (`<file>.token`, `<file>.kubeconfig`) and their names in tokens.csv. */
const USERS = [
  ['admin', 'netlab-admin'],
  ['kube-proxy', 'system:kube-proxy'],
  ['flannel', 'netlab-flannel'],
] as const;
/** What the credentials step hands the client: the CA and every user's token. */
const CREDENTIAL_FILES = ['ca.crt', ...USERS.map(([f]) => `${f}.token`)].join(' ');

/** The commands that write the three kubeconfigs (admin, kube-proxy, flannel) against the API server on `serverIp`. */
const kubeconfigFiles = (serverIp: string) =>
  USERS.map(
    ([file, user]) =>
      `cat > ${PROC_DIR}/${file}.kubeconfig <<'KUBECONFIG'\n${kubeconfigText(`https://${serverIp}:${APISERVER_PORT}`, `${PROC_DIR}/ca.crt`, user, `${PROC_DIR}/${file}.token`).trimEnd()}\nKUBECONFIG`,
  ).join('\n');

/** The shell functions every script of this cluster uses: start a daemon with a pid file, stop it, bounded waits. */
const FNS = `D=${PROC_DIR}
B=${PROC_BIN}
export PATH="$B:$PATH"
# kubectl's discovery cache in netlab's folder, not in root's home.
export KUBECACHEDIR="$D/kube-cache"
# A daemon in a session of its own (the SSH session ends, it stays), its pid in $D/<name>.pid.
start() { local name=$1; shift; setsid "$@" > "$D/$name.log" 2>&1 < /dev/null & echo $! > "$D/$name.pid"; }
# Stop a daemon started by start(): TERM, up to 10 s, then KILL; only if the pid is still that program.
stop() {
  local f="$D/$1.pid" pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  if grep -qF "$2" "/proc/$pid/cmdline" 2> /dev/null; then
    kill "$pid" 2> /dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2> /dev/null || true
  fi
  rm -f "$f"
}
need() { for p in "$@"; do [ -x "$B/$p" ] || { echo "netlab: $B/$p is missing (the binaries step copies it from this machine's tool cache)" >&2; exit 1; }; done; }
`;

const sh = (argv: string[]) => argv.map(shq).join(' ');

/**
 * binaries (run here, one per host): the host's programs from this machine's tool cache, streamed
 * as one tar over SSH into PROC_BIN (links followed). The key comes from NETLAB_SSH_KEY and lives
 * only in a 0700 temporary folder for the copy.
 */
export function pushScript(o: { binDir: string; programs: readonly string[]; host: string; user: string; port: number }): string {
  const root = o.user === 'root' ? '' : 'sudo -n ';
  const ssh = sshOptions({ keyFile: 'KEY', port: o.port, connectTimeout: 20 })
    .map((a) => (a === 'KEY' ? '"$t/key"' : shq(a)))
    .join(' ');
  const remote = `${root}install -d -m 755 ${PROC_BIN} && ${root}tar -xf - -C ${PROC_BIN} --no-same-owner`;
  return `#!/bin/sh
set -eu
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
( umask 077; printf '%s\\n' "$NETLAB_SSH_KEY" > "$t/key" )
tar -C ${shq(o.binDir)} -chf - ${o.programs.map(shq).join(' ')} | ssh ${ssh} ${shq(`${o.user}@${o.host}`)} ${shq(remote)}
echo "copied ${o.programs.join(' ')} to ${o.host}:${PROC_BIN}"
`;
}

/**
 * control-plane (server): a throw-away CA and the API server's certificate (openssl), static tokens
 * for the admin, kube-proxy and flanneld, etcd on 127.0.0.1, kube-apiserver on the server's address
 * between the hosts, then the two Nodes (podCIDR, InternalIP, as a kubelet would register them),
 * flanneld's role and the workload's namespace. Refuses a host whose ports 2379, 2380 or 6443 are taken.
 */
export function controlPlaneScript(c: ProcessesCluster): string {
  const ip = c.addresses.server;
  const firstServiceIp = intToIp(parseCidr(c.serviceCidr).base + 1);
  const sans = [`IP:${ip}`, 'IP:127.0.0.1', `IP:${firstServiceIp}`, 'DNS:kubernetes', 'DNS:kubernetes.default.svc', 'DNS:localhost'];
  const admin = `${PROC_DIR}/admin.kubeconfig`;
  const kubectl = (...a: string[]) => ['kubectl', `--kubeconfig=${admin}`, '--request-timeout=30s', ...a];
  const objects = list([
    ...nodes(c).map(nodeObject),
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: WORKLOAD_NAMESPACE } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'netlab-flannel' },
      rules: [
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'netlab-flannel' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'netlab-flannel' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'netlab-flannel' }],
    },
  ]);
  const apiserver = apiserverArgv('kube-apiserver', { dir: PROC_DIR, bindAddress: ip, advertiseAddress: ip, serviceCidr: c.serviceCidr });
  // On your host etcd's data is on disk: it keeps fsync.
  const etcd = etcdArgv('etcd', `${PROC_DIR}/etcd`, { fsync: true });
  return `${HEAD}${FNS}need etcd kube-apiserver kubectl
command -v openssl > /dev/null || { echo 'netlab: openssl is missing on the server (the packages step installs it)' >&2; exit 1; }
# A re-run (changed stack) starts from nothing.
stop kube-apiserver kube-apiserver
stop etcd etcd
for port in ${CONTROL_PLANE_PORTS.join(' ')}; do
  if ss -Htln "sport = :$port" | grep -q .; then echo "netlab: port $port on the server is in use ($(ss -Htlnp "sport = :$port" | head -1)); the cluster's etcd and kube-apiserver need 2379, 2380 and 6443" >&2; exit 1; fi
done
rm -rf "$D"
install -d -m 700 "$D" "$D/etcd"
sh -c ${shq(pkiScript(sans))} "$D"
( umask 077; openssl rand -hex 24 > "$D/flannel.token"; printf '%s,netlab-flannel,netlab-flannel\\n' "$(cat "$D/flannel.token")" >> "$D/tokens.csv" )
${kubeconfigFiles(ip)}
start etcd ${sh(etcd)}
start kube-apiserver ${sh(apiserver)}
${sh(waitFor('kube-apiserver ready (GET /readyz)', sh(kubectl('get', '--raw=/readyz')), APISERVER_READY_SECONDS, `${PROC_DIR}/kube-apiserver.log`))}
cat > "$D/objects.json" <<'OBJECTS'
${JSON.stringify(objects)}
OBJECTS
${sh(kubectl('apply', '--server-side', '--field-manager=netlab', '-f', `${PROC_DIR}/objects.json`))} > /dev/null
${nodes(c)
  .map((n) => sh(kubectl('patch', 'node', n.name, '--subresource=status', '--type=merge', '-p', JSON.stringify(nodeStatusPatch(n)))))
  .join(' > /dev/null\n')} > /dev/null
# The annotation a kubelet's registration writes: flanneld adds its own to this map.
${sh(kubectl('annotate', 'node', 'server', 'client', 'volumes.kubernetes.io/controller-managed-attach-detach=true', '--overwrite'))} > /dev/null
echo "control plane up: kube-apiserver $(kube-apiserver --version | awk '{print $2}') on https://${ip}:${APISERVER_PORT}, etcd $(etcd --version | awk '/etcd Version/ {print $3}'); nodes: $(${sh(kubectl('get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.spec.podCIDR} {end}'))})"
`;
}

/** Undo of control-plane: kube-apiserver and etcd stopped, the cluster's files (certificates, tokens, etcd's data) removed. */
export function controlPlaneUndoScript(): string {
  return `${HEAD}${FNS}stop kube-apiserver kube-apiserver
stop etcd etcd
rm -rf "$D"
`;
}

/** credentials (server, a secret step): the CA and the client's tokens, as shell assignments for the client's cluster-client step. */
export function credentialsScript(): string {
  return `${HEAD}D=${PROC_DIR}
for f in ${CREDENTIAL_FILES}; do
  printf 'NETLAB_%s=%s\\n' "$(printf %s "$f" | tr -c 'a-zA-Z0-9\\n' _)" "$(base64 -w0 < "$D/$f")"
done
`;
}

/** cluster-client (client, a secret step): the credentials written (umask 077) and the kubeconfigs pointing at the server's API. */
export function clusterClientScript(c: ProcessesCluster): string {
  return `${HEAD}D=${PROC_DIR}
rm -rf "$D"
install -d -m 700 "$D"
umask 077
# NETLAB_<file>: the credentials step's output, put before this script (set -u: each must be there).
for f in ${CREDENTIAL_FILES}; do
  v=NETLAB_$(printf %s "$f" | tr -c 'a-zA-Z0-9' _)
  printf %s "\${!v}" | base64 -d > "$D/$f"
done
${kubeconfigFiles(c.addresses.server)}
KUBECACHEDIR="$D/kube-cache" ${PROC_BIN}/kubectl --kubeconfig="$D/admin.kubeconfig" --request-timeout=30s get nodes -o name
`;
}

/** Undo of cluster-client: the client's credentials removed. */
export function clusterClientUndoScript(): string {
  return `${HEAD}rm -rf ${PROC_DIR}
`;
}

/**
 * flannel (each host): flanneld with the kube subnet manager (its lease is the Node's podCIDR),
 * the address between the hosts as its interface, no masquerade and no firewall rules of its own;
 * IP forwarding on (the server forwards to its pod; its old value is put back on destroy). Waits
 * for flanneld's subnet file.
 */
export function flannelScript(c: ProcessesCluster, role: Role): string {
  const argv = flanneldArgv({
    flanneld: 'flanneld',
    kubeconfig: `${PROC_DIR}/flannel.kubeconfig`,
    netConf: `${PROC_DIR}/net-conf.json`,
    subnetFile: `${PROC_DIR}/subnet.env`,
  }).map((a) => (a === '--iface=eth0' ? `--iface=${c.addresses[role]}` : a));
  return `${HEAD}${FNS}need flanneld
stop flanneld flanneld
[ -s "$D/flannel.undo" ] || echo "sysctl -qw net.ipv4.ip_forward=$(sysctl -n net.ipv4.ip_forward)" > "$D/flannel.undo"
sysctl -qw net.ipv4.ip_forward=1
cat > "$D/net-conf.json" <<'NETCONF'
${netConf(c.podCidr, c.datapath).trimEnd()}
NETCONF
rm -f "$D/subnet.env"
start flanneld env NODE_NAME=${role} ${sh(argv)}
${sh(waitFor(`flanneld's subnet file on the ${role}`, `test -s ${PROC_DIR}/subnet.env`, FLANNEL_READY_SECONDS, `${PROC_DIR}/flanneld.log`))}
echo "flanneld $(flanneld --version 2>&1 | head -1) on ${role}: $(grep FLANNEL_SUBNET "$D/subnet.env")"
`;
}

/** Undo of flannel: flanneld stopped, its routes, bridge and VXLAN device removed, IP forwarding as it was. */
export function flannelUndoScript(c: ProcessesCluster, role: Role): string {
  const peer = podSubnets(c.podCidr)[role === 'server' ? 'client' : 'server'];
  return `${HEAD}${FNS}stop flanneld flanneld
ip route del ${peer} 2> /dev/null || true
ip link delete flannel.1 2> /dev/null || true
ip link delete cni0 2> /dev/null || true
if [ -s "$D/flannel.undo" ]; then bash "$D/flannel.undo"; fi
rm -f "$D/flannel.undo" "$D/subnet.env" "$D/net-conf.json" "$D/flanneld.log"
`;
}

/** Wait until flannel routes the other host's pod range (flanneld on both hosts has its lease). */
const peerRoute = (c: ProcessesCluster, role: Role) => {
  const peer = podSubnets(c.podCidr)[role === 'server' ? 'client' : 'server'];
  return sh(waitFor(`flannel's route to ${peer} on the ${role}`, `ip route show ${peer} | grep -q .`, FLANNEL_READY_SECONDS, `${PROC_DIR}/flanneld.log`));
};

/**
 * cnitool in a private mount namespace whose /var/lib/cni is $D/cni: cnitool's result cache and
 * host-local's leases stay in netlab's folder, and a runtime's own /var/lib/cni on the host is
 * neither read nor written. (/var/lib/cni must exist as a mount point: podScript makes it when the
 * host has none, and its undo removes it again.)
 */
const cnitool = (verb: 'add' | 'del', net: string) =>
  `unshare --mount --propagation private sh -c 'mount --bind "$0" /var/lib/cni && exec "$@"' "$D/cni" env CNI_PATH="$B" NETCONFPATH="$D/net.d" CNI_IFNAME=eth0 cnitool ${verb} ${net} /var/run/netns/${POD_NETNS}`;

/**
 * workload (server): the pod as a runtime makes it (a network namespace, `cnitool add` of the
 * loopback and flannel networks: flannel's plugin delegates to bridge with host-local), then
 * `nginxScript` run inside it. Prints `netlab-pod-ip: <address>`, which the run targets.
 */
export function podScript(c: ProcessesCluster, nginxScript: string): string {
  const confs = cniConfigs(`${PROC_DIR}/subnet.env`)
    .map((f) => `cat > "$D/net.d/${f.name}" <<'CNI'\n${f.content.trimEnd()}\nCNI`)
    .join('\n');
  return `${HEAD}${FNS}need cnitool flannel bridge host-local loopback
${peerRoute(c, 'server')}
if ip netns list | grep -qw ${POD_NETNS}; then
  ${cnitool('del', 'cbr0')} || true
  ip netns delete ${POD_NETNS}
fi
rm -rf "$D/cni" "$D/net.d"
install -d -m 700 "$D/cni" "$D/net.d"
if [ ! -d /var/lib/cni ]; then mkdir /var/lib/cni; touch "$D/made-var-lib-cni"; fi
${confs}
ip netns add ${POD_NETNS}
${cnitool('add', 'lo')} > /dev/null
${cnitool('add', 'cbr0')} > "$D/pod-cni.json"
ip=$(ip -n ${POD_NETNS} -4 -o addr show dev eth0 | awk '{split($4, a, "/"); print a[1]; exit}')
[ -n "$ip" ] || { echo 'netlab: the pod got no IPv4 address from cnitool add' >&2; exit 1; }
ip netns exec ${POD_NETNS} bash -s <<'NGINX'
${nginxScript.trimEnd()}
NGINX
echo "netlab-pod-ip: $ip"
`;
}

/** Undo of the pod: nginx stopped (`nginxUndo`), the networks released through the plugins, the namespace deleted. */
export function podUndoScript(nginxUndo: string): string {
  return `${HEAD}${FNS}ip netns exec ${POD_NETNS} bash -s <<'NGINX' || true
${nginxUndo.trimEnd()}
NGINX
if ip netns list | grep -qw ${POD_NETNS}; then
  ${cnitool('del', 'cbr0')} || echo 'netlab: cnitool del cbr0 failed; deleting the namespace anyway' >&2
  ${cnitool('del', 'lo')} || true
  ip netns delete ${POD_NETNS}
fi
if [ -e "$D/made-var-lib-cni" ]; then rmdir /var/lib/cni 2> /dev/null || true; fi
rm -rf "$D/cni" "$D/net.d" "$D/pod-cni.json" "$D/made-var-lib-cni"
`;
}

/**
 * kube-proxy (client): the real kube-proxy in the stack's mode as node "client", with its
 * conntrack settings left alone and no periodic resync during a point. The sysctls it may set are
 * journaled first. Waits for flannel's route to the server's pods, then for kube-proxy's healthz
 * (it answers once the first sync is done).
 */
export function kubeProxyScript(c: ProcessesCluster): string {
  const argv = [
    'kube-proxy',
    `--kubeconfig=${PROC_DIR}/kube-proxy.kubeconfig`,
    '--hostname-override=client',
    `--proxy-mode=${c.proxyMode}`,
    `--cluster-cidr=${c.podCidr}`,
    '--conntrack-max-per-core=0',
    '--conntrack-tcp-timeout-established=0',
    '--conntrack-tcp-timeout-close-wait=0',
    '--metrics-bind-address=127.0.0.1:10249',
    '--healthz-bind-address=127.0.0.1:10256',
    '--iptables-sync-period=1h',
    ...(c.proxyMode === 'ipvs' ? [`--ipvs-scheduler=${c.ipvsScheduler}`, '--ipvs-sync-period=1h'] : []),
  ];
  return `${HEAD}${FNS}need kube-proxy
stop kube-proxy kube-proxy
if [ ! -e "$D/kube-proxy.undo" ]; then
  for k in ${KUBE_PROXY_SYSCTLS.join(' ')}; do
    v=$(sysctl -n "$k" 2> /dev/null) && echo "sysctl -qw $k=$v" >> "$D/kube-proxy.undo"
  done
  touch "$D/kube-proxy.undo"
  # kube-proxy's iptables modes add a KUBE-FIREWALL chain that its --cleanup leaves; remove it on
  # destroy only where this host had none before.
  for ipt in iptables ip6tables; do
    if command -v "$ipt" > /dev/null && ! "$ipt" -w -t filter -S KUBE-FIREWALL > /dev/null 2>&1; then echo "$ipt" >> "$D/kube-firewall.made"; fi
  done
fi
${peerRoute(c, 'client')}
start kube-proxy ${sh(argv)}
${sh(waitFor('kube-proxy healthy after its first sync (GET /healthz)', 'curl -fsS --max-time 2 http://127.0.0.1:10256/healthz', KUBE_PROXY_TIMEOUT_SECONDS, `${PROC_DIR}/kube-proxy.log`))}
echo "kube-proxy $(kube-proxy --version | awk '{print $2}') on client, mode ${c.proxyMode}"
`;
}

/** Undo of kube-proxy: stopped, its rules removed by its own --cleanup, the sysctls it may have set put back. */
export function kubeProxyUndoScript(): string {
  return `${HEAD}${FNS}stop kube-proxy kube-proxy
if [ -x "$B/kube-proxy" ]; then "$B/kube-proxy" --cleanup > /dev/null 2>&1 || echo 'netlab: kube-proxy --cleanup failed' >&2; fi
if [ -s "$D/kube-firewall.made" ]; then
  while read -r ipt; do
    for chain in INPUT OUTPUT; do
      while "$ipt" -w -t filter -D "$chain" -j KUBE-FIREWALL 2> /dev/null; do :; done
    done
    "$ipt" -w -t filter -F KUBE-FIREWALL 2> /dev/null || true
    "$ipt" -w -t filter -X KUBE-FIREWALL 2> /dev/null || true
  done < "$D/kube-firewall.made"
fi
if [ -s "$D/kube-proxy.undo" ]; then bash "$D/kube-proxy.undo" || true; fi
rm -f "$D/kube-proxy.undo" "$D/kube-firewall.made" "$D/kube-proxy.log"
`;
}

/** The run script's prologue on a processes cluster: its programs and the admin kubeconfig. */
export const RUN_ENV = `export PATH="${PROC_BIN}:$PATH" KUBECONFIG=${PROC_DIR}/admin.kubeconfig KUBECACHEDIR=${PROC_DIR}/kube-cache\n`;
