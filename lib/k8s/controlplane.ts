// A one-machine Kubernetes control plane for the embedded lab (issue 16): etcd and kube-apiserver
// in a namespace of their own (`netlab.<stack>.cp`), joined to each host namespace by a veth pair,
// with TLS (a throw-away CA made with openssl at run time), static-token authentication, RBAC, and
// one kubeconfig per node and user. Pure: this returns the files and commands; the runner runs them.
//
// Nothing secret is in the plan: keys and tokens are made by a set-up command (umask 077) inside
// the run folder, which the teardown removes, and the kubeconfigs point at token files
// (`tokenFile`), so `netlab plan` can print everything it holds.
import { stringify } from 'yaml';
import { inCgroup, inNs, ipn } from '../core/netns.ts';
import { shq } from '../core/shell.ts';
import type { K8sProgram } from './tools.ts';
import { type NodeSpec, list, nodeObject, nodeStatusPatch } from './objects.ts';

/** The links between the control plane's namespace and the hosts: 10.79.<i>.1 (cp) ↔ 10.79.<i>.2 (host i). */
export const CONTROL_PLANE_NET = '10.79.0.0/16';
export const APISERVER_PORT = 6443;
/** The link's name inside each host namespace. */
export const CP_LINK = 'k8s0';

/** Seconds the set-up waits for the API server to answer /readyz. */
export const APISERVER_READY_SECONDS = 60;

export interface ControlPlaneNode extends NodeSpec {
  /** The host namespace this node is. */
  netns: string;
}

export interface ControlPlaneOptions {
  /** The control plane's namespace. */
  ns: string;
  /** Its files: certificates, tokens, kubeconfigs, etcd's data, logs (inside the run folder). */
  dir: string;
  /** cgroup of etcd and kube-apiserver (their CPU is recorded apart from the lab's). */
  cgroup: string;
  /** The Service CIDR (kube-apiserver's --service-cluster-ip-range). */
  serviceCidr: string;
  nodes: ControlPlaneNode[];
  /** Absolute path of each program (lib/k8s/tools.ts k8sBin). */
  bin: (name: K8sProgram) => string;
}

export interface PlanFile {
  path: string;
  content: string;
}

export interface ControlPlane {
  ns: string;
  dir: string;
  /** Files written before the set-up runs (no secrets). */
  files: PlanFile[];
  /** Namespace, links, PKI, etcd, kube-apiserver, readiness, RBAC and Nodes, in order. */
  setup: string[][];
  /** The API server's URL as host `i` reaches it. */
  server: (node: number) => string;
  /** kubeconfig of `user` for host `i` (written with the plan's files; its token once set-up has run). */
  kubeconfig: (user: ControlPlaneUser, node: number) => string;
  /** The admin's kubeconfig, for programs run inside the control plane's namespace (its token in a file). */
  adminKubeconfig: string;
  /** `kubectl` as the admin, run inside the control plane's namespace. */
  kubectl: (...args: string[]) => string[];
  /** Log files of the daemons. */
  logs: { etcd: string; apiserver: string };
}

/** Who talks to the API server from a host: each node's kube-proxy (netlab itself, the admin, works from the control plane's namespace). */
export type ControlPlaneUser = 'kube-proxy';

const cpAddr = (i: number) => `10.79.${i}.1`;
const hostAddr = (i: number) => `10.79.${i}.2`;

/** `sh -c` that starts `argv` in the background with its output in `log`, and returns at once. */
export const daemon = (log: string, argv: string[]) => ['sh', '-c', 'log=$0; "$@" > "$log" 2>&1 < /dev/null &', log, ...argv];

/**
 * A bounded wait: run `probe` (a shell command) every 100 ms until it succeeds, for at most
 * `seconds` of wall time (a slow probe does not stretch the bound); on time-out print what was
 * awaited and the last lines of `log`, and fail.
 *
 * With `gate`, a cheap test that says the probe is worth running now: the probe then runs only
 * when the gate holds, or every `everySeconds` (default 2) in any case, so an expensive probe (a
 * save of the whole nat table) does not compete with the program it waits for. The gate can read
 * `$NETLAB_WAIT_START`, the wait's start (Unix seconds with nanoseconds).
 */
export function waitFor(what: string, probe: string, seconds: number, log: string, opts: { gate?: string; everySeconds?: number } = {}): string[] {
  const script = [
    'what=$0; log=$1; probe=$2; secs=$3; gate=$4; every=$5',
    'NETLAB_WAIT_START=$(date +%s.%N); export NETLAB_WAIT_START',
    'start=$(date +%s); last=-1000',
    'while :; do',
    '  now=$(date +%s)',
    '  if [ -z "$gate" ] || [ $((now - last)) -ge "$every" ] || sh -c "$gate" > /dev/null 2>&1; then',
    '    last=$now',
    '    if sh -c "$probe" > /dev/null 2>&1; then exit 0; fi',
    '  fi',
    '  if [ $((now - start)) -ge "$secs" ]; then echo "netlab: $what did not happen within $secs s; the last lines of $log:" >&2; tail -n 15 "$log" >&2; exit 1; fi',
    '  sleep 0.1',
    'done',
  ].join('\n');
  return ['sh', '-c', script, what, log, probe, String(seconds), opts.gate ?? '', String(opts.everySeconds ?? 2)];
}

/** The openssl and token commands of the PKI (run with umask 077, in `dir`). */
export function pkiScript(sans: string[]): string {
  const ext = `subjectAltName=${sans.join(',')}\\nextendedKeyUsage=serverAuth\\nkeyUsage=critical,digitalSignature,keyEncipherment`;
  return [
    'set -eu',
    'umask 077',
    'cd "$0"',
    'ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"',
    'openssl req -x509 $ec -days 2 -subj /CN=netlab-ca -keyout ca.key -out ca.crt 2> /dev/null',
    'openssl req $ec -subj /CN=kube-apiserver -keyout apiserver.key -out apiserver.csr 2> /dev/null',
    `printf '${ext}\\n' > apiserver.ext`,
    'openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile apiserver.ext -out apiserver.crt 2> /dev/null',
    'openssl ecparam -name prime256v1 -genkey -noout -out sa.key',
    'openssl ec -in sa.key -pubout -out sa.pub 2> /dev/null',
    'for u in admin kube-proxy; do openssl rand -hex 24 > "$u.token"; done',
    '{ printf \'%s,netlab-admin,netlab-admin,"system:masters"\\n\' "$(cat admin.token)"; printf \'%s,system:kube-proxy,kube-proxy\\n\' "$(cat kube-proxy.token)"; } > tokens.csv',
    // The CA key signs nothing after this.
    'rm -f ca.key apiserver.csr ca.srl',
    'chmod 644 ca.crt',
  ].join('\n');
}

/** A kubeconfig of one user: the API server at `server`, its CA in the file `ca`, the user's token in `tokenFile`. */
export const kubeconfigText = (server: string, ca: string, user: string, tokenFile: string) =>
  stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'netlab', cluster: { server, 'certificate-authority': ca } }],
    users: [{ name: user, user: { tokenFile } }],
    contexts: [{ name: 'netlab', context: { cluster: 'netlab', user } }],
    'current-context': 'netlab',
  });

/** etcd for one lab: one member on 127.0.0.1 (clients 2379, peers 2380), its data in `dataDir`. */
export function etcdArgv(etcd: string, dataDir: string, o: { fsync: boolean }): string[] {
  return [
    etcd,
    '--name=netlab',
    `--data-dir=${dataDir}`,
    '--listen-client-urls=http://127.0.0.1:2379',
    '--advertise-client-urls=http://127.0.0.1:2379',
    '--listen-peer-urls=http://127.0.0.1:2380',
    '--initial-advertise-peer-urls=http://127.0.0.1:2380',
    '--initial-cluster=netlab=http://127.0.0.1:2380',
    ...(o.fsync ? [] : ['--unsafe-no-fsync']),
    '--auto-compaction-mode=revision',
    '--auto-compaction-retention=10000',
    '--log-level=warn',
  ];
}

/**
 * kube-apiserver of a lab: etcd on 127.0.0.1, TLS from the PKI in `dir` (pkiScript), static
 * tokens, RBAC, no anonymous access, and nothing reconciling the kubernetes Service's endpoints
 * (there is no kubelet to serve them).
 */
export function apiserverArgv(bin: string, o: { dir: string; bindAddress: string; advertiseAddress: string; serviceCidr: string }): string[] {
  const d = o.dir;
  return [
    bin,
    '--etcd-servers=http://127.0.0.1:2379',
    `--bind-address=${o.bindAddress}`,
    `--secure-port=${APISERVER_PORT}`,
    `--advertise-address=${o.advertiseAddress}`,
    '--endpoint-reconciler-type=none',
    `--tls-cert-file=${d}/apiserver.crt`,
    `--tls-private-key-file=${d}/apiserver.key`,
    `--client-ca-file=${d}/ca.crt`,
    `--token-auth-file=${d}/tokens.csv`,
    '--authorization-mode=Node,RBAC',
    '--anonymous-auth=false',
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${d}/sa.pub`,
    `--service-account-signing-key-file=${d}/sa.key`,
    `--service-cluster-ip-range=${o.serviceCidr}`,
    `--cert-dir=${d}/apiserver-certs`,
    '--profiling=false',
  ];
}

export function controlPlane(o: ControlPlaneOptions): ControlPlane {
  const d = o.dir;
  const ns = o.ns;
  const server = (i: number) => `https://${cpAddr(i)}:${APISERVER_PORT}`;
  const kubeconfig = (user: ControlPlaneUser, i: number) => `${d}/${user}-node${i}.kubeconfig`;
  const adminLocal = `${d}/admin-local.kubeconfig`;
  const kubectl = (...args: string[]) => inNs(ns, o.bin('kubectl'), '--kubeconfig', adminLocal, '--request-timeout=30s', ...args);
  const logs = { etcd: `${d}/etcd.log`, apiserver: `${d}/kube-apiserver.log` };

  const files: PlanFile[] = [
    { path: adminLocal, content: kubeconfigText(`https://127.0.0.1:${APISERVER_PORT}`, `${d}/ca.crt`, 'admin', `${d}/admin.token`) },
    ...o.nodes.map((_, i) => ({ path: kubeconfig('kube-proxy', i), content: kubeconfigText(server(i), `${d}/ca.crt`, 'kube-proxy', `${d}/kube-proxy.token`) })),
    { path: `${d}/nodes.json`, content: `${JSON.stringify(list(o.nodes.map(nodeObject)))}\n` },
  ];

  const sans = ['IP:127.0.0.1', 'IP:10.96.0.1', ...o.nodes.map((_, i) => `IP:${cpAddr(i)}`), 'DNS:kubernetes', 'DNS:kubernetes.default.svc', 'DNS:localhost'];
  const setup: string[][] = [
    // The namespace and one link per host, made inside the namespaces (never in the root one).
    ['ip', 'netns', 'add', ns],
    ipn(ns, 'link', 'set', 'lo', 'up'),
    ...o.nodes.flatMap((n, i) => [
      ipn(ns, 'link', 'add', `n${i}`, 'type', 'veth', 'peer', 'name', CP_LINK, 'netns', n.netns),
      ipn(ns, 'addr', 'add', `${cpAddr(i)}/24`, 'dev', `n${i}`),
      ipn(ns, 'link', 'set', `n${i}`, 'up'),
      ipn(n.netns, 'addr', 'add', `${hostAddr(i)}/24`, 'dev', CP_LINK),
      ipn(n.netns, 'link', 'set', CP_LINK, 'up'),
    ]),
    ['mkdir', '-p', `${d}/etcd`],
    ['sh', '-c', pkiScript(sans), d],
    inCgroup(
      o.cgroup,
      inNs(
        ns,
        // Its data is on tmpfs and lives for one run: fsync buys nothing.
        ...daemon(logs.etcd, etcdArgv(o.bin('etcd'), `${d}/etcd`, { fsync: false })),
      ),
    ),
    inCgroup(
      o.cgroup,
      inNs(
        ns,
        ...daemon(
          logs.apiserver,
          apiserverArgv(o.bin('kube-apiserver'), { dir: d, bindAddress: '0.0.0.0', advertiseAddress: cpAddr(0), serviceCidr: o.serviceCidr }),
        ),
      ),
    ),
    waitFor('kube-apiserver ready (GET /readyz)', kubectl('get', '--raw=/readyz').map(shq).join(' '), APISERVER_READY_SECONDS, logs.apiserver),
    kubectl('apply', '--server-side', '--field-manager=netlab', '-f', `${d}/nodes.json`),
    ...o.nodes.map((n) => kubectl('patch', 'node', n.name, '--subresource=status', '--type=merge', '-p', JSON.stringify(nodeStatusPatch(n)))),
  ];
  return { ns, dir: d, files, setup, server, kubeconfig, adminKubeconfig: adminLocal, kubectl, logs };
}
