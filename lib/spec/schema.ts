// The experiment spec: one Pulumi stack file (`config: { netlab:<key>: … }`) validated into one
// typed object with documented defaults. Pure: no I/O here (see stackfile.ts for reading files).
import { z } from 'zod';
import { DATAPATH_NAMES, type DatapathName } from '../datapath/index.ts';
import { PROXY_MODE_NAMES, type ProxyModeName } from '../proxy/index.ts';
import { IPTABLES_BACKENDS, IPVS_SCHEDULERS, type IptablesBackend } from '../proxy/provider.ts';
import { NOT_PRINTABLE } from '../core/text.ts';
import { FLEET_WRITERS } from '../k8s/fleet-writer.ts';
import { resolveTuning, SCHED_MIGRATION_COST, TUNING_SETTINGS } from '../tuning/profile.ts';
import { DISTROS, KERNELS, KUBERNETES_VERSIONS } from '../aws/catalogue.ts';
import { bodyOrNull } from '../server/http.ts';

/** Datapaths of the embedded lab (network namespaces with flannel-identical devices and routes):
 * the registry's names (lib/datapath/index.ts). */
export const DATAPATHS = DATAPATH_NAMES;
export type Datapath = DatapathName;

/**
 * Pod networks of the aws target: the same names mean the same datapath (hostgw and vxlan are
 * flannel's backends, ipvlan the CNI reference plugin), plus what only a real cluster has.
 */
export const AWS_DATAPATHS = ['host', 'hostgw', 'vxlan', 'aws-vpc', 'ipvlan', 'calico-ipip', 'calico-vxlan', 'calico-direct', 'cilium'] as const;
export type AwsDatapath = (typeof AWS_DATAPATHS)[number];
const ALL_DATAPATHS = [...new Set([...DATAPATHS, ...AWS_DATAPATHS])] as [Datapath | AwsDatapath, ...(Datapath | AwsDatapath)[]];

export const TARGETS = ['local', 'aws', 'ssh'] as const;

/** kube-proxy's and kubeadm's default Service range (proxy.serviceCidr). */
export const SERVICE_CIDR_DEFAULT = '10.96.0.0/12';

/** Who builds the cluster on the remote hosts (targets aws and ssh; processes is ssh only). */
export const REMOTE_CLUSTERS = ['kubeadm', 'processes', 'none'] as const;

/** Who builds an embedded-lab datapath: netlab's model, or the real flannel (hostgw and vxlan). */
export const DATAPATH_IMPLEMENTATIONS = ['model', 'flannel'] as const;

/** A strict object whose unknown-key error lists the keys that are allowed there. */
function strict<T extends z.ZodRawShape>(shape: T) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === 'unrecognized_keys'
        ? `unknown key${iss.keys.length > 1 ? 's' : ''} ${iss.keys.map((k) => JSON.stringify(k)).join(', ')}; allowed here: ${allowed}`
        : undefined,
  });
}

// `abort` stops later refinements from running on an out-of-range value; inside a sweep union it
// must stay off, or zod reports the union as a whole instead of the offending list element.
const int = (min: number, max: number, abort = true) => {
  const error = `expected a whole number from ${min} to ${max}`;
  return z.number({ error }).int({ error, abort }).min(min, { error, abort }).max(max, { error, abort });
};

/** A sweep value: a scalar or a non-empty list of them, always resolved to a list without repeats. */
function sweep<T extends z.ZodType>(item: T, what: string) {
  return z
    .union([item, z.array(item).min(1, { error: `expected ${what} or a non-empty list of them` })], {
      error: `expected ${what} or a non-empty list of them`,
    })
    .transform((v) => [...new Set((Array.isArray(v) ? v : [v]) as z.output<T>[])]);
}

const bool = z.boolean({ error: 'expected true or false' });

/**
 * For every check that reads more than one value (across keys, list items or a tuple): it runs
 * only once every value under it is valid. zod's default skips a check only after an aborting
 * issue, and an out-of-range sweep item does not abort (see `int`), so without this a check would
 * be handed the raw, untransformed value (a scalar where it expects a list).
 */
export const ONCE_VALID = { when: (payload: z.core.ParsePayload) => payload.issues.length === 0 };

const DESCRIPTION_MSG = 'expected one line of printable text, at most 200 characters (no line breaks, tabs, escape codes or other control characters)';

const CIDR_MSG = 'expected an IPv4 CIDR such as 10.244.0.0/16 (octets 0-255, prefix 0-32)';
const ipv4 = z.string({ error: CIDR_MSG }).refine(
  (s) => {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(s);
    return !!m && m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
  },
  { error: CIDR_MSG, abort: true },
);

export const NetworkSchema = strict({
  /** The underlay between the two hosts (the "wire"). Hosts get .1 (client) and .2 (server). */
  underlayCidr: ipv4.default('10.77.0.0/24'),
  /** MTU of the underlay veth. vxlan pods get MTU − 50, as flannel does. */
  underlayMtu: int(1280, 9000).default(1500),
  /** Cluster pod CIDR; each host gets the /24 at its index (client .0.0/24, server .1.0/24). */
  podCidr: ipv4.default('10.244.0.0/16'),
}).prefault({});

export const ServerSchema = strict({
  /** Total size in bytes of one keep-alive HTTP response (status line + headers + body). */
  responseBytes: sweep(
    int(230, 1_048_576, false).refine((n) => bodyOrNull(n) !== null, {
      error: "no body size gives exactly this total with nginx's headers; use one byte more",
      ...ONCE_VALID,
    }),
    'a response size in bytes (230 to 1048576)',
  ).default([350]),
  /** nginx worker_processes. */
  workers: int(1, 64).default(1),
  /** nginx keepalive_requests: requests served on one connection before the server closes it. */
  keepaliveRequests: int(1, 1_000_000).default(100),
}).prefault({});

const AbSchema = strict({
  tool: z.literal('ab'),
  /** Requests per measured point (ab -n). */
  requests: int(1, 1_000_000).default(10_000),
  /** Concurrent requests (ab -c); a list sweeps. */
  concurrency: sweep(int(1, 1000, false), 'a concurrency from 1 to 1000').default([1]),
  /** HTTP keep-alive (ab -k); a list sweeps. */
  keepalive: sweep(bool, 'true or false').default([false]),
  /** Per-request timeout in seconds (ab -s). */
  timeoutSeconds: int(1, 60).default(10),
});

const WrkSchema = strict({
  tool: z.literal('wrk'),
  /** Length of one measured point in seconds (wrk -d). */
  durationSeconds: int(1, 600).default(10),
  /** Open connections (wrk -c); a list sweeps. */
  connections: sweep(int(1, 10_000, false), 'a connection count from 1 to 10000').default([1]),
  /** wrk threads (wrk -t); must not exceed any connection count. */
  threads: int(1, 64).default(1),
  /** false sends `Connection: close`, so every request opens a new connection; a list sweeps. */
  keepalive: sweep(bool, 'true or false').default([true]),
  /** Per-request timeout in seconds (wrk --timeout). */
  timeoutSeconds: int(1, 60).default(5),
});

/** The default length of one round of the client's floor (lib/local/plan.ts CLIENT_FLOOR_SECONDS). */
export const CLIENT_FLOOR_DEFAULT_SECONDS = 5;

const RpsSchema = strict({
  tool: z.literal('rps'),
  /** Requests per second, sent on schedule whatever the server does (open loop); a list sweeps. */
  rate: sweep(int(1, 100_000, false), 'a rate from 1 to 100000 req/s').default([1000]),
  /** Length of one measured point in seconds. */
  durationSeconds: int(1, 3600).default(60),
  /** false: a new connection per request; true: `requestsPerConnection` requests per connection; a list sweeps. */
  keepalive: sweep(bool, 'true or false').default([false]),
  /** Requests one keep-alive connection carries before the client closes it (nginx's default limit is 100). */
  requestsPerConnection: int(2, 1_000_000).default(100),
  /** Open connections allowed at once; a request finding none free waits, and that wait counts. */
  maxConnections: int(1, 20_000).default(1000),
  /** Per-request time limit in seconds. */
  timeoutSeconds: int(1, 60).default(5),
  /**
   * Keep every CPU of the machine out of idle while the client runs (its `--busy-poll`): one spinner
   * per CPU at SCHED_IDLE and nice 19, which any other task preempts at once. An idle vCPU halts and
   * waking it costs tens of µs per request, more than a small proxy effect; ab's back-to-back
   * requests never let a CPU idle, so this also makes the client's floor comparable with ab's. The
   * spinners' CPU is reported apart (`cpu.nice`, `cpu.busyPollCores`), never as the lab's.
   */
  busyPoll: bool.default(false),
  /**
   * Seconds of each of the three rounds of the load client's floor (the client and `ab -c 1` on the
   * direct path, before a proxy is programmed; result.json `proxy.clientFloor`). Shorter rounds are
   * noisier; the tests use 1.
   */
  floorSeconds: int(1, 60).default(CLIENT_FLOOR_DEFAULT_SECONDS),
});

const TcpkaliSchema = strict({
  tool: z.literal('tcpkali'),
  /** Total requests per second over all connections, held constant (E2); a list sweeps. */
  rate: sweep(int(1, 5_000_000, false), 'a rate from 1 to 5000000 req/s').default([50_000]),
  /** Keep-alive connections the rate is spread over (each sends rate/connections per second). */
  connections: int(1, 100_000).default(1000),
  /** tcpkali worker threads; 0 = one per CPU the client is pinned to (all CPUs without pinning). */
  threads: int(0, 512).default(0),
  /** Length of one measured point in seconds (tcpkali -T), after the connections are up. */
  durationSeconds: int(1, 3600).default(30),
});

export const CONN_REUSE_DEFAULTS = { localPortRange: [40000, 40099] as [number, number] };

const ConnReuseSchema = strict({
  tool: z.literal('conn-reuse'),
  /** New connections per second (each carries one request). */
  rate: int(1, 20_000).default(500),
  durationSeconds: int(10, 3600).default(30),
  /** The client's ip_local_port_range: narrow, so source ports are reused while old entries linger. */
  localPortRange: z
    .tuple([int(1024, 65535), int(1024, 65535)], { error: 'expected [first, last] ports, e.g. [40000, 40099]' })
    .refine(([a, b]) => a <= b, { error: 'the first port must not exceed the last', ...ONCE_VALID })
    .default(CONN_REUSE_DEFAULTS.localPortRange),
  /** Seconds into the run when the first backend of the target Service is drained (weight 0). */
  drainAtSeconds: int(1, 3600).default(10),
  /** Seconds between weight 0 and removing the backend (kube-proxy's graceful termination). */
  removeAfterSeconds: int(0, 3600).default(10),
  timeoutSeconds: int(1, 60).default(5),
  /** Seconds of each of the three rounds of the load client's floor, as for rps (the vm stacks use 1). */
  floorSeconds: int(1, 60).default(CLIENT_FLOOR_DEFAULT_SECONDS),
});

export const WORKLOAD_TOOLS = ['ab', 'wrk', 'rps', 'conn-reuse', 'tcpkali'] as const;

export const WorkloadSchema = z.discriminatedUnion('tool', [AbSchema, WrkSchema, RpsSchema, ConnReuseSchema, TcpkaliSchema], {
  error: (iss) =>
    iss.code === 'invalid_union' || iss.code === 'invalid_type' ? `expected an object whose "tool" is one of: ${WORKLOAD_TOOLS.join(', ')}` : undefined,
});

/** The proxy modes: the registry's names (lib/proxy/index.ts). */
export const PROXY_MODES = PROXY_MODE_NAMES;
export type ProxyMode = ProxyModeName;
export const PROXY_TARGETS = ['fixed', 'last', 'random'] as const;
export { IPTABLES_BACKENDS, IPVS_SCHEDULERS, type IptablesBackend };

export const ProxySchema = strict({
  /** How the client's host implements Services: none = the client addresses backends directly. */
  mode: z.enum(PROXY_MODES, { error: `expected one of: ${PROXY_MODES.join(', ')}` }).default('none'),
  /** Number of Services programmed; a list sweeps (re-programmed between points, hosts kept). */
  services: sweep(int(1, 30_000, false), 'a Service count from 1 to 30000').default([1]),
  /** Distinct backend (pod) addresses per Service, all served by the server's nginx. */
  backendsPerService: int(1, 100).default(10),
  serviceCidr: ipv4.default(SERVICE_CIDR_DEFAULT),
  /** Where backend addresses come from; routed to the server endpoint, which answers for all of them. */
  backendCidr: ipv4.default('10.128.0.0/12'),
  /** Which Service the client calls: the first, the last programmed, or (rps only) a random one per connection. */
  target: z.enum(PROXY_TARGETS, { error: `expected one of: ${PROXY_TARGETS.join(', ')}` }).default('last'),
  /** iptables mode: kube-proxy's current layout, or the pre-2021 one (2 rules per Service in KUBE-SERVICES). */
  iptablesLayout: z.enum(['current', '2019'], { error: 'expected one of: current, 2019' }).default('current'),
  /**
   * iptables and ipvs modes: the iptables that loads kube-proxy's rules. nft = iptables-nft (the
   * nf_tables kernel API; the default `iptables` of Debian 12, Amazon Linux 2023 and Ubuntu 22.04+,
   * so what kube-proxy uses there); legacy = iptables-legacy (x_tables).
   */
  iptablesBackend: z.enum(IPTABLES_BACKENDS, { error: `expected one of: ${IPTABLES_BACKENDS.join(', ')}` }).default('nft'),
  /**
   * Who writes the rules on the client's host. model: netlab writes kube-proxy's rules itself
   * (lib/proxy/<mode>; fast, offline, no build). kube-proxy: the real kube-proxy (its pinned
   * version, tools/k8s/versions.env) watching a one-machine control plane (etcd and
   * kube-apiserver in a lab namespace), with the fleet written as Services and EndpointSlices
   * through the API. Needs `bash scripts/install-k8s.sh` once.
   */
  implementation: z.enum(['model', 'kube-proxy'], { error: 'expected one of: model, kube-proxy' }).default('model'),
  /**
   * implementation kube-proxy: who writes each count's Services and EndpointSlices into the API.
   * pulumi: a Pulumi program of @pulumi/kubernetes resources, one `pulumi up` per count (its diff
   * creates and deletes what changed; lib/k8s/pulumi-fleet.ts). server-side-apply: one `kubectl
   * apply --server-side` of the whole fleet, then a prune. auto: pulumi up to
   * PULUMI_FLEET_MAX_SERVICES Services (lib/k8s/fleet-writer.ts), server-side apply above, where
   * the engine's per-resource cost would swamp the programming time (README, "Which writer, and why").
   */
  writer: z.enum(FLEET_WRITERS, { error: `expected one of: ${FLEET_WRITERS.join(', ')}` }).default('auto'),
  /**
   * implementation kube-proxy: seconds the lab waits for kube-proxy's first sync, and then at each
   * Service count for the kernel to hold the fleet, before it fails the run naming what it waited
   * for (a kube-proxy that crashed, hangs or never syncs is never measured as if its rules were there).
   */
  syncTimeoutSeconds: int(5, 3600).default(300),
  ipvs: strict({
    scheduler: z.enum(IPVS_SCHEDULERS, { error: `expected one of: ${IPVS_SCHEDULERS.join(', ')}` }).default('rr'),
    /** net.ipv4.vs.conn_reuse_mode; a list sweeps (E3 compares 0 and 1). */
    connReuseMode: sweep(int(0, 1, false), '0 or 1').default([1]),
  }).prefault({}),
});

const SYSCTL_NAME = /^(net|fs|kernel|vm)(\.[A-Za-z0-9_-]+)+$/;
const SYSCTL_MSG = 'expected a number or a text of up to 200 characters (null drops a setting of the profile)';

export const TuningSchema = strict({
  /** none: change nothing unless a key says so; study: seed 001's setup (E2), each key overridable. */
  profile: z.enum(['none', 'study'], { error: 'expected one of: none, study' }).optional(),
  irqAffinity: bool.optional(),
  rps: bool.optional(),
  xps: bool.optional(),
  rfs: bool.optional(),
  /** sysctl name → value; merged over the profile's list. */
  sysctls: z.record(z.string(), z.union([z.number().int().transform(String), z.string().min(1).max(200), z.null()], { error: SYSCTL_MSG })).optional(),
  schedMigrationCostNs: z.union([int(0, 1_000_000_000), z.null()], { error: 'expected nanoseconds (0 to 1000000000) or null' }).optional(),
  tuned: z.union([z.string().regex(/^[a-z0-9-]{1,64}$/), z.null()], { error: 'expected a tuned profile name such as network-latency, or null' }).optional(),
  notrack: bool.optional(),
  pinning: bool.optional(),
  /** Settings whose failure is recorded instead of stopping the run. */
  optional: z.array(z.string(), { error: 'expected a list of setting names' }).optional(),
})
  .prefault({})
  .transform((t) => resolveTuning(t))
  .superRefine((t, ctx) => {
    for (const key of Object.keys(t.sysctls))
      if (!SYSCTL_NAME.test(key))
        ctx.addIssue({
          code: 'custom',
          path: ['sysctls', key],
          input: key,
          message: 'expected a sysctl name such as net.ipv4.tcp_fin_timeout (net., fs., kernel. or vm., dot-separated)',
        });
    for (const [i, name] of t.optional.entries())
      if (!(TUNING_SETTINGS as readonly string[]).includes(name) && !(name in t.sysctls))
        ctx.addIssue({
          code: 'custom',
          path: ['optional', i],
          input: name,
          message: `not a setting of this stack; allowed: ${[...TUNING_SETTINGS].join(', ')} or one of its sysctls`,
        });
    if (SCHED_MIGRATION_COST in t.sysctls)
      ctx.addIssue({
        code: 'custom',
        path: ['sysctls', SCHED_MIGRATION_COST],
        input: t.sysctls[SCHED_MIGRATION_COST],
        message: 'set it with tuning.schedMigrationCostNs (it moved to debugfs in Linux 5.13; netlab writes it where the kernel keeps it)',
      });
  }, ONCE_VALID);

const usd = (min: number, max: number) =>
  z
    .number({ error: `expected US dollars from ${min} to ${max}` })
    .min(min, { error: `expected US dollars from ${min} to ${max}` })
    .max(max, { error: `expected US dollars from ${min} to ${max}` });

export const AwsSchema = strict({
  region: z
    .string({ error: 'expected an AWS region such as us-east-1' })
    .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, { error: 'expected an AWS region such as us-east-1' })
    .default('us-east-1'),
  /** Availability zone for the subnet and the placement group; default: the first zone (by name) of the region that offers the instance type. */
  availabilityZone: z
    .string()
    .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$/, { error: 'expected an availability zone such as us-east-1a' })
    .optional(),
  instanceType: z
    .string({ error: 'expected an EC2 instance type such as c4.8xlarge' })
    .regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, { error: 'expected an EC2 instance type such as c4.8xlarge' })
    .default('c4.8xlarge'),
  /** Kernel line; each comes from one public image (lib/aws/catalogue.ts). */
  kernel: z.enum(KERNELS, { error: `expected one of: ${KERNELS.join(', ')} (a quoted string in YAML)` }).default('6.1'),
  /** Whose image provides the kernel: Amazon Linux (4.14, 5.10, 6.1, 6.12) or Debian's official images (5.10, 6.1, 6.12). */
  os: z.enum(DISTROS, { error: `expected one of: ${DISTROS.join(', ')}` }).default('amazon-linux'),
  /** Run an image or Kubernetes minor past its end of support anyway (E3 needs a kernel below 5.9, which only Amazon Linux 2 has). */
  acceptEndOfSupport: z.boolean({ error: 'expected true or false' }).default(false),
  /** Who may SSH to the hosts. Required: there is no world-open default. */
  sshCidr: ipv4.refine((c) => !c.endsWith('/0'), { error: 'SSH open to the whole internet is refused; give your own address range, e.g. 203.0.113.7/32' }),
  /** An OpenSSH public key for the hosts; absent = a key pair is generated and kept (secret) in the stack state. */
  sshPublicKey: z
    .string()
    .regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$/, {
      error: 'expected an OpenSSH public key line (ssh-ed25519 AAAA… or ssh-rsa AAAA…)',
    })
    .optional(),
  /** Hosts power off and terminate themselves this long after boot, whatever happens to the stack. */
  ttlMinutes: int(15, 2880).default(180),
  /** Refuse a stack whose estimated cost per hour is above this (also the policy pack's limit). */
  maxHourlyUsd: usd(0.01, 1000).default(10),
  /** On-demand USD per hour of one instance, for types or regions netlab's price table lacks. */
  hourlyPriceUsd: usd(0.001, 500).optional(),
  /**
   * Launch both hosts as spot instances (60–90 % below on-demand; EC2 may reclaim them with a
   * two-minute notice). A run cut short by an interruption is recorded as `interrupted`, never as a
   * result.
   */
  spot: z.boolean({ error: 'expected true or false' }).default(false),
  /** Spot USD per hour of one instance (the price you saw for the zone); the cost line and the caps use it when spot is on. */
  spotPriceUsd: usd(0.001, 500).optional(),
  /** Kubernetes minor version (kubeadm, kubelet, kubectl from the community package repository). */
  kubernetesVersion: z
    .enum(KUBERNETES_VERSIONS as [string, ...string[]], { error: `expected one of: ${KUBERNETES_VERSIONS.join(', ')} (a quoted string in YAML)` })
    .default('1.36'),
  vpcCidr: ipv4.default('10.20.0.0/16'),
  subnetCidr: ipv4.default('10.20.1.0/24'),
  /** Server pods (nginx replicas); with ipvlan each gets a secondary address of the server's interface. */
  serverPods: int(1, 64).default(1),
  rootVolumeGb: int(8, 1000).default(30),
});

const ADDRESS_MSG = 'expected an IPv4 address such as 192.0.2.10 or a DNS name such as node1.lab.example';
const address = z.string({ error: ADDRESS_MSG }).refine(
  (s) => {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
    if (m) return m.slice(1).every((o) => Number(o) <= 255);
    return s.length <= 253 && /^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(s);
  },
  { error: ADDRESS_MSG, abort: true },
);
const IP_MSG = 'expected an IPv4 address such as 10.0.0.10';
const ipv4Address = z
  .string({ error: IP_MSG })
  .refine((s) => /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(s) && s.split('.').every((o) => Number(o) <= 255), { error: IP_MSG, abort: true });
const USER_MSG = 'expected a login name: a letter or _, then letters, digits, _, . or - (at most 32)';
const loginUser = z.string({ error: USER_MSG }).regex(/^[a-z_][a-z0-9_.-]{0,31}$/i, { error: USER_MSG });

/** One host of the ssh target: where netlab's SSH sessions go, and its address between the two hosts. */
export const SshHostSchema = strict({
  /** Where SSH connects (IPv4 address or DNS name). Required. */
  address,
  /** The host's IPv4 address on the network between the two hosts (kubeadm's advertise address, what the load targets); default: `address`. */
  privateAddress: ipv4Address.optional(),
  /** Login user on this host; default: `ssh.user`. */
  user: loginUser.optional(),
  /** SSH port on this host; default: `ssh.port`. */
  port: int(1, 65535).optional(),
});

/** Two hosts you already have, reached over SSH (key: the config secret netlab:sshPrivateKey). */
export const SshSchema = strict({
  /** The server and the client host. Required. */
  hosts: strict({ server: SshHostSchema, client: SshHostSchema }),
  /** Login user on both hosts: root, or a user with passwordless sudo. */
  user: loginUser.default('root'),
  /** SSH port on both hosts. */
  port: int(1, 65535).default(22),
  /** The hosts' distribution, which names their packages: debian (11 or 12) or amazon-linux (2 or 2023); checked at the first connection. */
  os: z.enum(DISTROS, { error: `expected one of: ${DISTROS.join(', ')}` }).default('debian'),
  /** The kernel line the hosts must run (`uname -r` must start with it); absent = any, recorded. */
  kernel: z.enum(KERNELS, { error: `expected one of: ${KERNELS.join(', ')} (a quoted string in YAML)` }).optional(),
  /** The driver the primary NIC must use (e.g. ena, ixgbe, mlx5_core); absent = any, recorded. */
  nicDriver: z
    .string({ error: 'expected a kernel driver name such as ena or mlx5_core' })
    .regex(/^[a-z0-9_-]{1,32}$/, { error: 'expected a kernel driver name such as ena or mlx5_core' })
    .optional(),
  /**
   * Who runs Kubernetes on the hosts. kubeadm: netlab installs containerd and kubeadm and builds
   * the cluster (needs the hosts to reach the Kubernetes package and image registries). processes:
   * etcd, kube-apiserver, flanneld and kube-proxy as processes from the programs netlab builds
   * (copied from this machine over SSH; no kubelet, no images), one nginx pod wired by cnitool
   * through flannel's CNI plugin, the Service fleet as selectorless Services with EndpointSlices
   * (datapath hostgw or vxlan; lib/remote/processes.ts). none: no cluster; nginx runs on the server
   * host itself and the load goes straight to it (datapath host, no proxy), for a plain
   * host-to-host baseline.
   */
  cluster: z.enum(REMOTE_CLUSTERS, { error: `expected one of: ${REMOTE_CLUSTERS.join(', ')}` }).default('kubeadm'),
  /** Kubernetes minor version (kubeadm, kubelet, kubectl from the community package repository). */
  kubernetesVersion: z
    .enum(KUBERNETES_VERSIONS as [string, ...string[]], { error: `expected one of: ${KUBERNETES_VERSIONS.join(', ')} (a quoted string in YAML)` })
    .default('1.36'),
  /** Server pods (nginx replicas). */
  serverPods: int(1, 64).default(1),
});

/** The kernel series a vm host can boot: Debian's cloud kernels of bullseye, bookworm and bookworm-backports. */
export const VM_KERNELS = ['5.10', '6.1', '6.12'] as const;
export type VmKernel = (typeof VM_KERNELS)[number];
/** How the VM runs: kvm (hardware virtualisation), tcg (qemu's emulation), or auto (kvm when it works here). */
export const VM_ACCELS = ['auto', 'kvm', 'tcg'] as const;

/**
 * The embedded lab inside a microVM of a chosen kernel (target local; lib/vm). qemu boots a Debian
 * cloud kernel (`bash scripts/install-vm.sh` fetches and caches it) on a small cached Debian root,
 * and the stack runs there exactly as on this machine: its hosts are network namespaces inside the
 * VM. The kernel becomes an experiment variable, and features this machine's kernel lacks (IPVS,
 * ipvlan) are there. Under tcg, timings are emulation's: result.json marks them not comparable.
 */
export const VmSchema = strict({
  /** The guest's kernel series (a quoted string in YAML). Required. */
  kernel: z.enum(VM_KERNELS, { error: `expected one of: ${VM_KERNELS.join(', ')} (a quoted string in YAML)` }),
  /** The accelerator: auto takes kvm when a probe guest boots with it here (netlab doctor says why not), else tcg. */
  accel: z.enum(VM_ACCELS, { error: `expected one of: ${VM_ACCELS.join(', ')}` }).default('auto'),
  /** The guest's memory in MiB (its root's overlay is in memory too). */
  memoryMiB: int(1024, 65536).default(2048),
  /** The guest's virtual CPUs. */
  cpus: int(1, 64).default(2),
  /** Minutes the whole guest run may take, boot to power-off, before netlab stops it. */
  timeoutMinutes: int(1, 240).default(30),
  /**
   * 2: each lab host is a VM of its own (memoryMiB and cpus each), the two joined by a wire of taps
   * on a bridge in a lab namespace of this machine; the client VM runs the plan and reaches the
   * server VM through an agent on a control link of their own. 1: both hosts are namespaces of one VM.
   */
  hosts: z.union([z.literal(1), z.literal(2)], { error: 'expected 1 (both hosts in one VM) or 2 (a VM per host)' }).default(2),
});

/** Every key of a stack, each validated on its own (rules across keys: rules.ts). */
export const SpecShape = strict({
  /** One line shown by `netlab list` and in reports. */
  description: z
    .string({ error: DESCRIPTION_MSG })
    .max(200, { error: DESCRIPTION_MSG })
    .refine((d) => !NOT_PRINTABLE.test(d), { error: DESCRIPTION_MSG })
    .default(''),
  /** Where the hosts live: `local` = network namespaces on this machine; `aws` = an EC2 pair; `ssh` = two hosts you have, over SSH. */
  target: z.enum(TARGETS, { error: `expected one of: ${TARGETS.join(', ')}` }).default('local'),
  /** The pod network (CNI) between the hosts. */
  datapath: z.enum(ALL_DATAPATHS, { error: `expected one of: ${DATAPATHS.join(', ')} (local); ${AWS_DATAPATHS.join(', ')} (aws)` }).default('host'),
  /**
   * Who builds the datapath on the embedded lab's hosts. model: netlab builds flannel's devices,
   * routes, neighbours and fdb entries itself (lib/datapath/<name>.ts; fast, offline, no build).
   * flannel: the real flanneld (kube subnet manager, one per host, fed by the lab's control plane)
   * and the CNI plugins through cnitool (hostgw and vxlan only; lib/datapath/flannel). Needs
   * `bash scripts/install-k8s.sh` once.
   */
  datapathImplementation: z.enum(DATAPATH_IMPLEMENTATIONS, { error: `expected one of: ${DATAPATH_IMPLEMENTATIONS.join(', ')}` }).default('model'),
  /** The EC2 pair, its image and its Kubernetes; required with target aws. */
  aws: AwsSchema.optional(),
  /** Your own two hosts, reached over SSH; required with target ssh. */
  ssh: SshSchema.optional(),
  /** Run the embedded lab inside a microVM of this kernel (target local); absent = on this machine's kernel. */
  vm: VmSchema.optional(),
  network: NetworkSchema,
  server: ServerSchema,
  /** A Service fleet and how the client's host implements it; absent = the client calls the server directly. */
  proxy: ProxySchema.optional(),
  workload: WorkloadSchema.prefault({ tool: 'wrk' }),
  /** Host tuning (IRQ/RPS/XPS/RFS, sysctls, tuned, NOTRACK, CPU pinning); default: none. */
  tuning: TuningSchema,
  /** How often every point of the sweep is measured. */
  repetitions: int(1, 100).default(1),
  /** Seconds of unrecorded load before each point (wrk only: ab has no warm-up). */
  warmupSeconds: int(0, 60).default(1),
});

export type Spec = z.output<typeof SpecShape> & { name: string };
export type AwsSpec = Spec & { target: 'aws'; aws: NonNullable<Spec['aws']>; datapath: AwsDatapath };
export type SshSpec = Spec & { target: 'ssh'; ssh: NonNullable<Spec['ssh']>; datapath: AwsDatapath };
/** A stack whose hosts are reached over SSH: an EC2 pair (aws) or your own (ssh). */
export type RemoteSpec = AwsSpec | SshSpec;
export type Workload = Spec['workload'];
