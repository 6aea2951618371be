// The experiment spec: one Pulumi stack file (`config: { netlab:<key>: … }`) validated into one
// typed object with documented defaults. Pure: no I/O here (see stackfile.ts for reading files).
import { z } from 'zod';
import { isStackName, STACK_NAME_RULE } from '../core/names.ts';
import { bodyOrNull } from '../server/nginx.ts';
import { resolveTuning, SCHED_MIGRATION_COST, TUNING_SETTINGS } from '../tuning/profile.ts';
import { DISTROS, enhancedNetworking, hourlyCost, imageFor, kernelAtLeast, KERNELS, kubeadmRefusesKernel, KUBERNETES_MINORS, KUBERNETES_VERSIONS, supportStatus, today, TYPES } from '../aws/catalogue.ts';

/** Datapaths of the embedded lab (network namespaces with flannel-identical devices and routes). */
export const DATAPATHS = ['host', 'hostgw', 'vxlan', 'macvlan', 'ipvlan'] as const;
export type Datapath = (typeof DATAPATHS)[number];

/**
 * Pod networks of the aws target: the same names mean the same datapath (hostgw and vxlan are
 * flannel's backends, ipvlan the CNI reference plugin), plus what only a real cluster has.
 */
export const AWS_DATAPATHS = ['host', 'hostgw', 'vxlan', 'aws-vpc', 'ipvlan', 'calico-ipip', 'calico-vxlan', 'calico-direct', 'cilium'] as const;
export type AwsDatapath = (typeof AWS_DATAPATHS)[number];
const ALL_DATAPATHS = [...new Set([...DATAPATHS, ...AWS_DATAPATHS])] as [Datapath | AwsDatapath, ...(Datapath | AwsDatapath)[]];

export const TARGETS = ['local', 'aws'] as const;

/** `netlab:` config secrets read by the Pulumi program only: the private half of aws.sshPublicKey. */
export const SECRET_KEYS = ['sshPrivateKey'] as const;

/** Config namespaces other than `netlab` that a stack file may carry (read by Pulumi, ignored here). */
export const FOREIGN_NAMESPACES = ['pulumi', 'aws', 'command', 'kubernetes'] as const;

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
const ONCE_VALID = { when: (payload: z.core.ParsePayload) => payload.issues.length === 0 };

/** Control, format (e.g. bidi overrides) and line/paragraph-separator characters: never shown raw. */
const NOT_PRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;
const DESCRIPTION_MSG = 'expected one line of printable text, at most 200 characters (no line breaks, tabs, escape codes or other control characters)';

/** `s` with every character NOT_PRINTABLE matches escaped as \uXXXX, so printing it cannot drive a terminal. */
export function printable(s: string): string {
  return s.replace(new RegExp(NOT_PRINTABLE.source, 'gu'), (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}

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
      error: 'no body size gives exactly this total with nginx\'s headers; use one byte more',
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
});

export const WORKLOAD_TOOLS = ['ab', 'wrk', 'rps', 'conn-reuse', 'tcpkali'] as const;

export const WorkloadSchema = z.discriminatedUnion('tool', [AbSchema, WrkSchema, RpsSchema, ConnReuseSchema, TcpkaliSchema], {
  error: (iss) =>
    iss.code === 'invalid_union' || iss.code === 'invalid_type'
      ? `expected an object whose "tool" is one of: ${WORKLOAD_TOOLS.join(', ')}`
      : undefined,
});

export const PROXY_MODES = ['none', 'iptables', 'nftables', 'ipvs', 'ebpf'] as const;
export type ProxyMode = (typeof PROXY_MODES)[number];
export const PROXY_TARGETS = ['fixed', 'last', 'random'] as const;
export const IPTABLES_BACKENDS = ['nft', 'legacy'] as const;
export type IptablesBackend = (typeof IPTABLES_BACKENDS)[number];
export const IPVS_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq'] as const;

export const ProxySchema = strict({
  /** How the client's host implements Services: none = the client addresses backends directly. */
  mode: z.enum(PROXY_MODES, { error: `expected one of: ${PROXY_MODES.join(', ')}` }).default('none'),
  /** Number of Services programmed; a list sweeps (re-programmed between points, hosts kept). */
  services: sweep(int(1, 30_000, false), 'a Service count from 1 to 30000').default([1]),
  /** Distinct backend (pod) addresses per Service, all served by the server's nginx. */
  backendsPerService: int(1, 100).default(10),
  serviceCidr: ipv4.default('10.96.0.0/12'),
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
  sysctls: z
    .record(
      z.string(),
      z.union([z.number().int().transform(String), z.string().min(1).max(200), z.null()], { error: SYSCTL_MSG }),
    )
    .optional(),
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
        ctx.addIssue({ code: 'custom', path: ['sysctls', key], input: key, message: 'expected a sysctl name such as net.ipv4.tcp_fin_timeout (net., fs., kernel. or vm., dot-separated)' });
    for (const [i, name] of t.optional.entries())
      if (!(TUNING_SETTINGS as readonly string[]).includes(name) && !(name in t.sysctls))
        ctx.addIssue({ code: 'custom', path: ['optional', i], input: name, message: `not a setting of this stack; allowed: ${[...TUNING_SETTINGS].join(', ')} or one of its sysctls` });
    if (SCHED_MIGRATION_COST in t.sysctls)
      ctx.addIssue({ code: 'custom', path: ['sysctls', SCHED_MIGRATION_COST], input: t.sysctls[SCHED_MIGRATION_COST], message: 'set it with tuning.schedMigrationCostNs (it moved to debugfs in Linux 5.13; netlab writes it where the kernel keeps it)' });
  }, ONCE_VALID);

const usd = (min: number, max: number) => z.number({ error: `expected US dollars from ${min} to ${max}` }).min(min, { error: `expected US dollars from ${min} to ${max}` }).max(max, { error: `expected US dollars from ${min} to ${max}` });

export const AwsSchema = strict({
  region: z.string({ error: 'expected an AWS region such as us-east-1' }).regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, { error: 'expected an AWS region such as us-east-1' }).default('us-east-1'),
  /** Availability zone for the subnet and the placement group; default: the region's "a" zone. */
  availabilityZone: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$/, { error: 'expected an availability zone such as us-east-1a' }).optional(),
  instanceType: z.string({ error: 'expected an EC2 instance type such as c4.8xlarge' }).regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, { error: 'expected an EC2 instance type such as c4.8xlarge' }).default('c4.8xlarge'),
  /** Kernel line; each comes from one public image (lib/aws/catalogue.ts). */
  kernel: z.enum(KERNELS, { error: `expected one of: ${KERNELS.join(', ')} (a quoted string in YAML)` }).default('6.1'),
  /** Whose image provides the kernel: Amazon Linux (4.14, 5.10, 6.1, 6.12) or Debian's official images (5.10, 6.1, 6.12). */
  os: z.enum(DISTROS, { error: `expected one of: ${DISTROS.join(', ')}` }).default('amazon-linux'),
  /** Run an image or Kubernetes minor past its end of support anyway (E3 needs a kernel below 5.9, which only Amazon Linux 2 has). */
  acceptEndOfSupport: z.boolean({ error: 'expected true or false' }).default(false),
  /** Who may SSH to the hosts. Required: there is no world-open default. */
  sshCidr: ipv4.refine((c) => !c.endsWith('/0'), { error: 'SSH open to the whole internet is refused; give your own address range, e.g. 203.0.113.7/32' }),
  /** An OpenSSH public key for the hosts; absent = a key pair is generated and kept (secret) in the stack state. */
  sshPublicKey: z.string().regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$/, { error: 'expected an OpenSSH public key line (ssh-ed25519 AAAA… or ssh-rsa AAAA…)' }).optional(),
  /** Hosts power off and terminate themselves this long after boot, whatever happens to the stack. */
  ttlMinutes: int(15, 2880).default(180),
  /** Refuse a stack whose estimated cost per hour is above this (also the policy pack's limit). */
  maxHourlyUsd: usd(0.01, 1000).default(10),
  /** On-demand USD per hour of one instance, for types or regions netlab's price table lacks. */
  hourlyPriceUsd: usd(0.001, 500).optional(),
  /** Kubernetes minor version (kubeadm, kubelet, kubectl from the community package repository). */
  kubernetesVersion: z.enum(KUBERNETES_VERSIONS as [string, ...string[]], { error: `expected one of: ${KUBERNETES_VERSIONS.join(', ')} (a quoted string in YAML)` }).default('1.36'),
  vpcCidr: ipv4.default('10.20.0.0/16'),
  subnetCidr: ipv4.default('10.20.1.0/24'),
  /** Server pods (nginx replicas); with ipvlan each gets a secondary address of the server's interface. */
  serverPods: int(1, 64).default(1),
  rootVolumeGb: int(8, 1000).default(30),
});

export const SpecSchema = strict({
  /** One line shown by `netlab list` and in reports. */
  description: z
    .string({ error: DESCRIPTION_MSG })
    .max(200, { error: DESCRIPTION_MSG })
    .refine((d) => !NOT_PRINTABLE.test(d), { error: DESCRIPTION_MSG })
    .default(''),
  /** Where the hosts live: `local` = network namespaces on this machine; `aws` = an EC2 pair. */
  target: z.enum(TARGETS, { error: `expected one of: ${TARGETS.join(', ')}` }).default('local'),
  /** The pod network (CNI) between the hosts. */
  datapath: z.enum(ALL_DATAPATHS, { error: `expected one of: ${DATAPATHS.join(', ')} (local); ${AWS_DATAPATHS.join(', ')} (aws)` }).default('host'),
  /** The EC2 pair, its image and its Kubernetes; required with target aws. */
  aws: AwsSchema.optional(),
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
}).superRefine((s, ctx) => {
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
    ctx.addIssue({ code: 'custom', path: ['network', 'underlayCidr'], input: s.network.underlayCidr, message: 'prefix must be /29 or shorter: the hosts and their macvlan/ipvlan pods need addresses' });
  if (pods.prefix > 23)
    ctx.addIssue({ code: 'custom', path: ['network', 'podCidr'], input: s.network.podCidr, message: 'prefix must be /23 or shorter: each of the two hosts gets a /24' });
  if (overlaps(under, pods))
    ctx.addIssue({ code: 'custom', path: ['network', 'podCidr'], input: s.network.podCidr, message: `must not overlap network.underlayCidr (${s.network.underlayCidr})` });
  if (s.target === 'local' && (s.datapath === 'macvlan' || s.datapath === 'ipvlan')) {
    if (under.prefix > 27)
      ctx.addIssue({ code: 'custom', path: ['network', 'underlayCidr'], input: s.network.underlayCidr, message: `${s.datapath} puts pods on the underlay: prefix must be /27 or shorter` });
  }
  proxyRules(s, ctx);
  if (s.tuning.notrack && s.proxy && (s.proxy.mode === 'iptables' || s.proxy.mode === 'nftables' || s.proxy.mode === 'ipvs'))
    ctx.addIssue({
      code: 'custom',
      path: ['tuning', 'notrack'],
      input: true,
      message: `proxy.mode ${s.proxy.mode} needs conntrack (its DNAT is undone on the replies through conntrack), so NOTRACK would break the Services; set tuning.notrack: false${s.tuning.profile !== 'none' ? ` (profile ${s.tuning.profile} turns it on)` : ''}, or use proxy.mode none or ebpf`,
    });
}, ONCE_VALID);

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
    if (w.tool === 'conn-reuse') ctx.addIssue({ code: 'custom', path: ['workload', 'tool'], input: w.tool, message: 'conn-reuse drains an IPVS real server: it needs proxy.mode ipvs' });
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
  if (most > svcRoom) issue(['proxy', 'services'], p.services, `${most} Services do not fit in proxy.serviceCidr ${p.serviceCidr} (${svcRoom} usable addresses)`);
  const beRoom = 2 ** (32 - be.prefix) - 2;
  if (most * p.backendsPerService > beRoom)
    issue(['proxy', 'backendsPerService'], p.backendsPerService, `${most} Services × ${p.backendsPerService} backends do not fit in proxy.backendCidr ${p.backendCidr} (${beRoom} addresses)`);
  const netfilter = p.mode === 'iptables' || p.mode === 'nftables' || p.mode === 'ipvs';
  // On aws the client runs in the client host's own namespace, where kube-proxy's rules are.
  if (netfilter && s.target === 'local' && (s.datapath === 'macvlan' || s.datapath === 'ipvlan'))
    issue(['proxy', 'mode'], p.mode, `${s.datapath} pods send straight onto the wire, past the host namespace's netfilter, so host-side kube-proxy rules never see them; with datapath ${s.datapath} use proxy.mode none or ebpf`);
  if (p.target === 'random' && w.tool !== 'rps')
    issue(['proxy', 'target'], p.target, `random needs workload.tool rps (it picks a Service per connection); ${w.tool} calls one URL: use fixed or last`);
  if (w.tool === 'conn-reuse' && p.mode !== 'ipvs')
    issue(['workload', 'tool'], w.tool, 'conn-reuse drains an IPVS real server: it needs proxy.mode ipvs');
  if (w.tool === 'conn-reuse' && p.services.length > 1)
    issue(['proxy', 'services'], p.services, 'conn-reuse runs against one Service count: give a single number');
}

/** What each target allows: the embedded lab and the EC2 pair differ in datapaths, tools and keys. */
function targetRules(s: z.output<typeof SpecSchema>, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], input: unknown, message: string) => ctx.addIssue({ code: 'custom', path, input, message });
  const w = s.workload;
  if (s.target === 'local') {
    if (s.aws) issue(['aws'], s.aws, 'only with target aws (this stack runs on local network namespaces)');
    if (!(DATAPATHS as readonly string[]).includes(s.datapath))
      issue(['datapath'], s.datapath, `${s.datapath} needs a real cluster (target aws); the embedded lab has: ${DATAPATHS.join(', ')}`);
    if (w.tool === 'tcpkali')
      issue(['workload', 'tool'], w.tool, 'tcpkali is not packaged for Debian, so the embedded lab has no tcpkali; use rps for a constant rate here (tcpkali runs on target aws, built from source on the client host)');
    return;
  }
  const a = s.aws;
  if (!a) {
    issue(['aws'], undefined, 'target aws needs netlab:aws with at least sshCidr (the address range allowed to SSH to the hosts)');
    return;
  }
  if (!(AWS_DATAPATHS as readonly string[]).includes(s.datapath))
    issue(['datapath'], s.datapath, `${s.datapath} is an embedded-lab datapath; on aws expected one of: ${AWS_DATAPATHS.join(', ')}`);
  if (w.tool === 'rps')
    issue(['workload', 'tool'], w.tool, "rps is netlab's own Node client, which the EC2 hosts do not run; on aws use tcpkali (constant rate, E2) or ab/wrk");
  const en = enhancedNetworking(a.instanceType);
  if ('error' in en) issue(['aws', 'instanceType'], a.instanceType, en.error);
  const facts = TYPES[a.instanceType];
  if (s.datapath === 'ipvlan' && facts && a.serverPods + 1 > facts.ipv4PerEni)
    issue(['aws', 'serverPods'], a.serverPods, `ipvlan gives every server pod a secondary address of the server's interface; ${a.instanceType} holds ${facts.ipv4PerEni} addresses per interface (one is the host's)`);
  const cost = hourlyCost({ instanceType: a.instanceType, region: a.region, rootVolumeGb: a.rootVolumeGb, hosts: 2, overrideUsdPerHour: a.hourlyPriceUsd });
  if ('error' in cost) issue(['aws', 'hourlyPriceUsd'], a.hourlyPriceUsd, cost.error);
  else if (cost.usdPerHour > a.maxHourlyUsd)
    issue(['aws', 'maxHourlyUsd'], a.maxHourlyUsd, `the stack would cost about ${cost.usdPerHour.toFixed(2)} USD per hour (${cost.source}); raise aws.maxHourlyUsd or pick a smaller type`);
  const image = imageFor(a.os, a.kernel);
  if (!image) issue(['aws', 'kernel'], a.kernel, `${a.os} has no image with kernel ${a.kernel}; debian offers 5.10, 6.1 and 6.12, amazon-linux 4.14, 5.10, 6.1 and 6.12`);
  else {
    const st = supportStatus(image);
    if (st.ended && !a.acceptEndOfSupport)
      issue(['aws', 'kernel'], a.kernel, `${st.text}; pick a supported image (aws.os: debian, or kernel 6.1/6.12) or set aws.acceptEndOfSupport: true to run it anyway`);
  }
  const k8sEnd = KUBERNETES_MINORS[a.kubernetesVersion as keyof typeof KUBERNETES_MINORS];
  if (k8sEnd && today() > k8sEnd && !a.acceptEndOfSupport)
    issue(['aws', 'kubernetesVersion'], a.kubernetesVersion, `Kubernetes ${a.kubernetesVersion} reached end of life on ${k8sEnd}; use a maintained minor (${KUBERNETES_VERSIONS.filter((v) => today() <= KUBERNETES_MINORS[v]).join(', ')}) or set aws.acceptEndOfSupport: true`);
  if (w.tool === 'tcpkali') {
    const need = Math.ceil((Math.max(...w.rate) * w.durationSeconds) / w.connections);
    if (s.server.keepaliveRequests < need)
      issue(['server', 'keepaliveRequests'], s.server.keepaliveRequests, `tcpkali measures keep-alive connections: at ${Math.max(...w.rate)} req/s over ${w.connections} connections for ${w.durationSeconds} s each connection carries ${need} requests, and nginx closes it after keepaliveRequests (default 100), so tcpkali would reconnect all the time; set it to at least ${need} (the shipped E2 stacks use 1000000)`);
  }
  if (kubeadmRefusesKernel(a.kernel, a.kubernetesVersion))
    issue(['aws', 'kubernetesVersion'], a.kubernetesVersion, `kubeadm ${a.kubernetesVersion} refuses kernel ${a.kernel} in its preflight (Kubernetes 1.32 and newer need Linux 4.19 or newer); kernel 4.14 runs with 1.31 only`);
  if (s.datapath === 'cilium' && !kernelAtLeast(a.kernel, 5, 10))
    issue(['aws', 'kernel'], a.kernel, `Cilium 1.16 needs Linux 5.4 or newer (${image?.os ?? a.os} here); use kernel 5.10 or newer`);
  const mode = s.proxy?.mode ?? 'none';
  if (mode === 'ebpf' && s.datapath !== 'cilium')
    issue(['proxy', 'mode'], mode, "ebpf on aws is Cilium's kube-proxy replacement: set datapath: cilium");
  if (mode === 'nftables' && !kernelAtLeast(a.kernel, 5, 13))
    issue(['aws', 'kernel'], a.kernel, 'kube-proxy nftables mode needs Linux 5.13 or newer: use kernel 6.1 or 6.12');
  const vpc = parseCidr(a.vpcCidr);
  const sub = parseCidr(a.subnetCidr);
  if (sub.prefix < vpc.prefix || !overlaps(sub, vpc)) issue(['aws', 'subnetCidr'], a.subnetCidr, `must lie inside aws.vpcCidr (${a.vpcCidr})`);
  if (sub.prefix > 26) issue(['aws', 'subnetCidr'], a.subnetCidr, 'prefix must be /26 or shorter: AWS keeps 5 addresses, the hosts and ipvlan pods need the rest');
  if (vpc.prefix < 16 || vpc.prefix > 24) issue(['aws', 'vpcCidr'], a.vpcCidr, 'AWS allows VPC prefixes /16 to /24');
  if (overlaps(vpc, parseCidr(s.network.podCidr))) issue(['network', 'podCidr'], s.network.podCidr, `must not overlap aws.vpcCidr (${a.vpcCidr})`);
  if (s.proxy && overlaps(vpc, parseCidr(s.proxy.serviceCidr))) issue(['proxy', 'serviceCidr'], s.proxy.serviceCidr, `must not overlap aws.vpcCidr (${a.vpcCidr})`);
}

export type Spec = z.output<typeof SpecSchema> & { name: string };
export type AwsSpec = Spec & { target: 'aws'; aws: NonNullable<Spec['aws']>; datapath: AwsDatapath };
export type Workload = Spec['workload'];

// ---------------------------------------------------------------------------------------------
// Addresses

export interface Cidr {
  base: number; // network address as unsigned 32-bit
  prefix: number;
}

export function parseCidr(s: string): Cidr {
  const [ip, p] = s.split('/');
  const prefix = Number(p);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (ipToInt(ip!) & mask) >>> 0, prefix };
}

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => ((acc << 8) | Number(o)) >>> 0, 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');
}

function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
  return ((a.base & mask) >>> 0) === ((b.base & mask) >>> 0);
}

// ---------------------------------------------------------------------------------------------
// Stack names and config documents

export { STACK_NAME } from '../core/names.ts';

/** A refused stack: its source and every problem, each made printable (it may quote the file). */
export class SpecError extends Error {
  readonly problems: string[];
  constructor(
    readonly source: string,
    problems: string[],
  ) {
    const shown = problems.map(printable);
    super(`${printable(source)}: invalid experiment spec\n${shown.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'SpecError';
    this.problems = shown;
  }
}

/** Several refused stacks, reported together: each with its own source and problems. */
export class SpecErrors extends SpecError {
  constructor(readonly errors: SpecError[]) {
    super(errors.map((e) => e.source).join(', '), errors.flatMap((e) => e.problems.map((p) => `${e.source}: ${p}`)));
    this.message = errors.map((e) => e.message).join('\n');
  }
}

/**
 * A value as JSON, cut to 80 characters (and never rendering more than that). A number YAML reads
 * but JSON cannot hold is shown as YAML writes it: `.nan`, `.inf`, or the text of a Symbol that
 * stackfile.ts puts in its place (such as `1e400`).
 */
export function show(v: unknown): string {
  const s = render(v, 81);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function render(v: unknown, room: number): string {
  if (typeof v === 'symbol') return v.description ?? '?';
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? '.nan' : v > 0 ? '.inf' : '-.inf';
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? String(v);
  const entries = Array.isArray(v) ? v.map((x) => ['', x] as const) : Object.entries(v);
  let out = '';
  for (const [k, x] of entries) {
    if (out.length > room) break;
    out += `${out ? ',' : ''}${Array.isArray(v) ? '' : `${JSON.stringify(k)}:`}${render(x, room - out.length)}`;
  }
  return Array.isArray(v) ? `[${out}]` : `{${out}}`;
}

/** The refusal of a document that is not a Pulumi stack file; it quotes nothing of the document. */
export const NOT_A_STACK_FILE = 'not a stack file: expected a YAML mapping with a "config:" key (Pulumi stack config format); nothing of the file is shown';

/**
 * Validate a parsed stack document (`{ config: { 'netlab:key': value } }`) into a Spec.
 * Throws SpecError listing every problem: `netlab:<key path> = <value>: <what is allowed>`.
 */
export function specFromStackDoc(name: string, doc: unknown, source = `stack ${name}`): Spec {
  if (!isStackName(name)) throw new SpecError(source, [`stack name ${show(name)}: ${STACK_NAME_RULE}`]);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc) || !Object.hasOwn(doc, 'config')) throw new SpecError(source, [NOT_A_STACK_FILE]);
  const top = doc as Record<string, unknown>;
  const problems: string[] = [];
  for (const k of Object.keys(top))
    if (!['config', 'secretsprovider', 'encryptedkey', 'encryptionsalt', 'environment'].includes(k))
      problems.push(`top-level key ${show(k)}: unknown; a Pulumi stack file holds "config:" (and secrets settings)`);
  const config = top.config;
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw new SpecError(source, [...problems, 'config: expected a mapping of "netlab:<key>": value (config: {} for every default)']);
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
    const colon = key.indexOf(':');
    const ns = colon < 0 ? '' : key.slice(0, colon);
    // Secrets the program reads itself (never part of the spec, so never in result.json).
    if (ns === 'netlab' && (SECRET_KEYS as readonly string[]).includes(key.slice(colon + 1))) continue;
    if (ns === 'netlab') raw[key.slice(colon + 1)] = value;
    else if (!(FOREIGN_NAMESPACES as readonly string[]).includes(ns))
      problems.push(`config key ${show(key)}: expected "netlab:<key>" (or a ${FOREIGN_NAMESPACES.join('/')} provider key)`);
  }
  const parsed = SpecSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    for (const iss of parsed.error.issues) {
      const keyPath = iss.path.map(String).join('.');
      if (iss.code === 'unrecognized_keys') {
        problems.push(`${keyPath ? `netlab:${keyPath}` : 'config'}: ${iss.message}`);
      } else {
        let value = 'input' in iss ? iss.input : undefined;
        // A discriminator error carries the whole object: show the offending field instead.
        const last = iss.path[iss.path.length - 1];
        if (value && typeof value === 'object' && !Array.isArray(value) && typeof last === 'string' && last in value)
          value = (value as Record<string, unknown>)[last];
        problems.push(`netlab:${keyPath} = ${value === undefined ? '(missing)' : show(value)}: ${iss.message}`);
      }
    }
  }
  if (problems.length || !parsed.success) throw new SpecError(source, problems);
  return { ...parsed.data, name };
}
