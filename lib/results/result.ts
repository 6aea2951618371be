// result.json: the one machine-readable output of a run. The zod schema below is the source of
// truth; docs/result.schema.json is generated from it (`netlab schema`) and checked by a test.
import { z } from 'zod';

export const RESULT_SCHEMA_ID = 'netlab.result/v1';

const LatencyMs = z.object({
  mean: z.number().nullable().describe('mean latency per request, ms; null where the tool does not report it (tcpkali)'),
  p50: z.number(),
  p90: z.number(),
  p99: z.number(),
  p999: z.number().nullable().describe('null where the tool cannot resolve it (ab: whole percents only)'),
  max: z.number(),
});

const Dist = z.object({
  mean: z.number(),
  p50: z.number(),
  p90: z.number(),
  p99: z.number(),
  p999: z.number(),
  p9999: z.number(),
  max: z.number(),
  count: z.number().int(),
});

export const CpuUse = z
  .object({
    seconds: z.number().describe('length of the sample'),
    cores: z
      .number()
      .describe(
        "whole machine, busy cores from /proc/stat (user + nice + system + softirq + irq), less the busy-poll spinners' exact CPU (busyPollCores) when they ran",
      ),
    user: z.number().describe('cores in user mode at normal priority'),
    nice: z.number().optional().describe('cores in user mode at lowered priority (the busy-poll spinners run at nice 19); absent in results before 2026-12'),
    system: z.number().describe('cores in kernel mode outside interrupts'),
    softirq: z.number().describe('cores in softirq (packet processing, netfilter, IPVS)'),
    irq: z.number(),
    steal: z
      .number()
      .optional()
      .describe('cores the hypervisor ran elsewhere while this VM wanted them; not in `cores`. A large value makes the point suspect'),
    clientCores: z.number().nullable().describe("the load client alone, from its cgroup (cpu.stat usage_usec), without its busy-poll spinners' CPU"),
    busyPollCores: z
      .number()
      .optional()
      .describe('the busy-poll spinners (workload.busyPoll), which run in the client cgroup at nice 19 and are counted apart from it'),
    serverCores: z.number().nullable().describe('nginx alone, from its cgroup'),
    kubeProxyCores: z.number().nullable().optional().describe('the real kube-proxy (proxy.implementation kube-proxy), from its cgroup'),
    controlPlaneCores: z.number().nullable().optional().describe('etcd and kube-apiserver (proxy.implementation kube-proxy), from their cgroup'),
    flanneldCores: z.number().nullable().optional().describe('both flanneld processes (datapathImplementation flannel), from their cgroup'),
  })
  .describe('CPU used while the point ran; "% of one core" = cores × 100');

export const PointResult = z.object({
  id: z.string(),
  tool: z.enum(['ab', 'wrk', 'rps', 'conn-reuse', 'tcpkali']),
  repetition: z.number().int(),
  params: z.object({
    responseBytes: z.number().int(),
    keepalive: z.boolean(),
    concurrency: z.number().int().optional(),
    requests: z.number().int().optional(),
    connections: z.number().int().optional(),
    threads: z.number().int().optional(),
    durationSeconds: z.number().optional(),
    rate: z.number().int().optional().describe('rps: the target request rate'),
    requestsPerConnection: z.number().int().optional(),
    services: z.number().int().optional().describe('Services programmed when the point ran'),
    proxyMode: z.string().optional(),
    target: z.string().optional(),
    connReuseMode: z.number().int().optional(),
  }),
  status: z
    .enum(['ok', 'invalid', 'failed'])
    .describe('ok; invalid = measured but errors above 1 % or nothing completed; failed = the tool failed or its output could not be read'),
  reason: z.string().optional().describe('why a point is invalid or failed'),
  requests: z.number().int().nullable(),
  attempts: z
    .number()
    .int()
    .nullable()
    .optional()
    .describe('requests tried: completed ones plus those lost before a response (failed connect, reset); errors are judged against this'),
  errors: z.number().int().nullable().describe('socket-level errors (connect, read, write, timeout)'),
  non2xx: z.number().int().nullable(),
  reqPerSec: z.number().nullable().describe('achieved requests per second'),
  bytesPerResponse: z.number().nullable(),
  latencyMs: LatencyMs.nullable(),
  toolSeconds: z.number().nullable().describe("the tool's own measured duration"),
  wallSeconds: z.number().describe('wall-clock time of the tool run'),
  detail: z.record(z.string(), z.number()).optional(),
  cpu: CpuUse.nullable().optional(),
  rulesWalked: z
    .object({
      connections: z.number().int().describe('new connections the nat table saw'),
      evaluations: z.number().int().describe('rule evaluations in the nat chains, all connections'),
      perConnection: z.number().nullable(),
    })
    .nullable()
    .optional()
    .describe('iptables mode: from per-rule packet counters and rule positions after the point'),
  rps: z
    .object({
      targetRate: z.number(),
      achievedRate: z.number(),
      keptUp: z.boolean().describe('achieved rate within 1 % of the target'),
      verdict: z.string(),
      planned: z.number().int(),
      sent: z.number().int(),
      connections: z.number().int(),
      connectStalls: z.number().int().describe('connects that took ≥ 900 ms (a lost SYN waits 1 s)'),
      serviceMs: Dist.describe('from hand-out to response, what a closed-loop tool would report'),
      connectMs: Dist,
      lagMs: Dist.describe('how late the client sent requests against their schedule'),
      clientCpuCores: z.number(),
      histogram: z.string().describe('latency HdrHistogram, compressed base64, µs'),
    })
    .optional(),
  connReuse: z
    .object({
      drainedBackend: z.string(),
      drainedAtSeconds: z.number(),
      removedAtSeconds: z.number(),
      requestsToDrainedAfterWeight0: z.number().int(),
      requestsToDrainedAfterRemoval: z.number().int(),
    })
    .optional(),
  raw: z.array(z.string()).describe('raw output files, relative to the run directory'),
  command: z.array(z.string()),
});
export type PointResult = z.infer<typeof PointResult>;

export const Environment = z.object({
  hostname: z.string(),
  kernel: z.string(),
  os: z.string(),
  arch: z.string(),
  cpuModel: z.string(),
  cpus: z.number().int(),
  memoryBytes: z.number(),
  node: z.string(),
  tools: z.record(z.string(), z.string().nullable()).describe('tool → version line, null if absent'),
});
export type Environment = z.infer<typeof Environment>;

export const Check = z.object({ name: z.string(), ok: z.boolean(), detail: z.string() });
export type Check = z.infer<typeof Check>;

export const RunResult = z.object({
  schema: z.literal(RESULT_SCHEMA_ID),
  runId: z.string(),
  stack: z.string(),
  target: z.string(),
  status: z
    .enum(['running', 'ok', 'failed', 'interrupted'])
    .describe(
      'running = not finished (yet): the run is going on, or its process died and `netlab down` has not marked it failed; reports skip it. ok = it ran to the end, at least one point is valid, the lab stayed whole and was removed completely; failed = the lab could not be built, broke, no point gave a valid measurement, a result could not be written, or its teardown left something; interrupted = Ctrl-C/SIGTERM',
    ),
  error: z.string().optional(),
  startedAt: z.string(),
  finishedAt: z.string().nullable().describe('null while running'),
  spec: z.record(z.string(), z.unknown()).describe('the resolved spec, defaults filled in'),
  environment: Environment,
  vm: z
    .object({
      kernel: z.string().describe('the kernel series asked for (netlab:vm.kernel)'),
      release: z.string().nullable().describe("the guest's uname -r, as it reported it (null: it never came up)"),
      package: z.string().describe('the Debian package the kernel came from, name=version'),
      accel: z.enum(['kvm', 'tcg']).describe('kvm = hardware virtualisation; tcg = qemu emulating every instruction'),
      comparable: z
        .boolean()
        .describe("false under tcg: latency and throughput are emulation's, not comparable with native runs (reports show them apart); the behaviour still is"),
      host: z.object({ hostname: z.string(), kernel: z.string(), cpuModel: z.string(), cpus: z.number().int() }).describe('the machine that ran qemu'),
      bootSeconds: z.number().nullable().describe('qemu start to the guest init having its root and mounts'),
      clocksource: z
        .string()
        .nullable()
        .optional()
        .describe("the guest's clock source: tsc, kvm-clock; refined-jiffies or jiffies would round every latency to a jiffy (4 ms)"),
      guestSeconds: z.number().describe('qemu start to its exit'),
      exitStatus: z.number().int().nullable().describe("netlab up's exit status inside the guest (null: it never reported one)"),
      teardownSeconds: z.number().optional().describe('stopping qemu and virtiofsd and removing their cgroup and sockets, on this side'),
      memoryMiB: z.number().int(),
      cpus: z.number().int(),
      qemu: z
        .array(z.string())
        .optional()
        .describe("qemu's command line as run: the CPU model (host under kvm, Nehalem under tcg), the kernel's arguments and the devices the guest had"),
      hosts: z
        .union([z.literal(1), z.literal(2)])
        .optional()
        .describe(
          "netlab:vm.hosts: 1 = both lab hosts are namespaces of one VM; 2 = each is a VM of its own (the fields above are the client's, `server` the other)",
        ),
      wire: z.string().optional().describe('hosts = 2: how the two VMs are joined (taps on a bridge in a lab namespace of this machine)'),
      server: z
        .object({
          release: z.string().nullable().describe("the server VM's uname -r (null: it never came up)"),
          bootSeconds: z.number().nullable(),
          exitStatus: z
            .number()
            .int()
            .nullable()
            .describe("the server VM's agent's exit status (null: the VM was powered off by this side, as planned, or never reported)"),
          qemu: z.array(z.string()).optional(),
        })
        .optional()
        .describe('hosts = 2: the server VM'),
    })
    .optional()
    .describe('netlab:vm: the run went on inside a microVM of this kernel; environment describes the guest'),
  serverHost: z
    .object({
      address: z.string().describe("the server VM's address on the control link, where its agent answers"),
      kernel: z.string().describe("the server VM's uname -r"),
      clockOffsetMs: z
        .number()
        .describe(
          "the server VM's clock minus the client VM's (each sets its clock from qemu's RTC at boot, to the second); nginx's log times are corrected by it",
        ),
      rttMs: z.number().describe('round trip of the measurement the offset came from'),
    })
    .optional()
    .describe('netlab:vm.hosts = 2, written by the client VM: the server host is a VM of its own, reached through its agent (lib/vm/agent.ts)'),
  setup: z
    .object({
      seconds: z.number().describe('hosts, datapath and server start'),
      pathMtu: z.number().int(),
      client: z.object({ netns: z.string(), ip: z.string() }),
      server: z.object({ netns: z.string(), ip: z.string(), port: z.number().int() }),
      checks: z.array(Check),
    })
    .nullable(),
  teardown: z
    .object({
      seconds: z.number(),
      by: z.enum(['run', 'down']).optional().describe('down = the run died and `netlab down` removed what it left'),
      left: z.array(z.string()).optional().describe('what the teardown could not remove (then the run is failed)'),
    })
    .nullable()
    .describe('null while running, and when --keep left the lab up'),
  datapath: z
    .object({
      name: z.string(),
      implementation: z
        .enum(['model', 'flannel'])
        .describe("who built the datapath: netlab's model, or the real flanneld and CNI plugins (datapathImplementation)"),
      versions: z
        .object({
          flannel: z.string(),
          flannelCni: z.string(),
          cni: z.string(),
          cniPlugins: z.string(),
          kubernetes: z.string(),
          etcd: z.string(),
          flanneldReports: z.string().describe("what the flanneld binary printed for --version (it must be `flannel`'s pin)"),
        })
        .optional()
        .describe(
          'implementation flannel: the pinned upstream versions (tools/k8s/versions.env) of flanneld, the flannel CNI plugin, cnitool, the reference plugins, and the control plane it needs',
        ),
      controlPlaneSeconds: z
        .number()
        .optional()
        .describe('implementation flannel: etcd and kube-apiserver started, Nodes written, flanneld given its identity'),
      flanneldSeconds: z
        .number()
        .optional()
        .describe("implementation flannel: from starting flanneld on both hosts until each had written its subnet file and routed the other node's pod subnet"),
      cniDel: z
        .array(z.object({ host: z.string(), network: z.string(), ok: z.boolean(), detail: z.string() }))
        .optional()
        .describe('implementation flannel: the teardown releasing each pod through the plugins (cnitool del)'),
      state: z
        .string()
        .optional()
        .describe(
          'what the datapath left in the kernel after set-up, before any traffic: per lab namespace its links, addresses, routes, neighbour and fdb entries (iproute2 JSON), relative to the run directory',
        ),
    })
    .optional()
    .describe('the datapath and who built it'),
  proxy: z
    .object({
      mode: z.string(),
      implementation: z
        .enum(['model', 'kube-proxy'])
        .optional()
        .describe("who wrote the rules: netlab's model (absent = model) or the real kube-proxy through the API"),
      versions: z
        .object({ kubernetes: z.string(), etcd: z.string(), flannel: z.string(), flannelCni: z.string(), cni: z.string(), cniPlugins: z.string() })
        .optional()
        .describe('the pinned upstream versions (tools/k8s/versions.env) of a run with real components'),
      programs: z.array(
        z.object({
          services: z.number().int(),
          backendsPerService: z.number().int(),
          seconds: z
            .number()
            .describe(
              "programming time: installing the rules/maps for this Service count (implementation kube-proxy: from the API write until the kernel holds the last Service's rules)",
            ),
          rules: z.number().int(),
          chains: z.number().int(),
          mapElements: z.number().int(),
          kernelState: z
            .string()
            .optional()
            .describe(
              'implementation kube-proxy: what the kernel held after programming (iptables-save -t nat, nft list table, ipvsadm -Ln), gzipped, relative to the run directory',
            ),
          kubeProxySyncs: z
            .object({
              syncs: z.number(),
              syncSeconds: z.number(),
              fullSyncs: z.number(),
              fullSyncSeconds: z.number(),
              partialSyncs: z.number(),
              partialSyncSeconds: z.number(),
              failures: z.number(),
            })
            .optional()
            .describe(
              "implementation kube-proxy: kube-proxy's own metrics over this programming (after − before the write): syncs and seconds in them (kubeproxy_sync_proxy_rules_duration_seconds, and its full/partial split), failed iptables-restore or nft transactions",
            ),
          writer: z
            .enum(['pulumi', 'server-side-apply'])
            .optional()
            .describe(
              'implementation kube-proxy: who wrote the fleet into the API (proxy.writer): a `pulumi up` of @pulumi/kubernetes resources, or one server-side apply of the List plus a prune',
            ),
          writeSeconds: z
            .number()
            .optional()
            .describe(
              "implementation kube-proxy: the write's own duration, from the start of the programming (the same instant as `seconds`) until the API had the fleet",
            ),
          pulumi: z
            .object({
              upSeconds: z
                .number()
                .describe("the `pulumi up` alone: the CLI's run from start to exit (the rest of writeSeconds is starting Node, the workspace and the stack)"),
              refreshed: z.boolean().describe('the state was refreshed first (server-side apply had written the fleet since the last up)'),
              changes: z.record(z.string(), z.number()).describe("the engine's resource changes: create, delete, same, … (the provider included)"),
            })
            .optional()
            .describe('writer pulumi: what its `pulumi up` did'),
          check: Check.describe('the target answered through the proxy after programming'),
        }),
      ),
      clientFloor: z
        .object({
          rate: z.number().int().describe("req/s of the client (the stack's first rate)"),
          abMeanMs: z.number().nullable().describe('`ab -c 1` mean latency, ms, a new connection per request'),
          clientP50Ms: z.number().nullable().describe("the rps client's p50 latency (from intended send time), ms, a new connection per request"),
          clientMeanMs: z.number().nullable(),
          rounds: z
            .array(z.object({ abMeanMs: z.number(), clientP50Ms: z.number(), clientMeanMs: z.number() }))
            .optional()
            .describe('each round of ab then the client (the figures above are their medians); absent before 2026-12-01 (one round)'),
          ratio: z
            .number()
            .nullable()
            .describe("clientP50Ms ÷ abMeanMs: how far the instrument sits above ab's floor (the client is meant to stay within 1.3)"),
          clientKeptUp: z.boolean().nullable(),
          busyPoll: z
            .boolean()
            .optional()
            .describe("both sides ran with every CPU kept out of idle by the client's spinners (workload.busyPoll); absent before 2026-12"),
          abErrors: z.number().int().nullable(),
          clientErrors: z.number().int().nullable(),
          raw: z.array(z.string()).describe('raw output files, relative to the run directory'),
          error: z.string().optional().describe('why the floor could not be measured'),
        })
        .nullable()
        .optional()
        .describe(
          "the load client's floor, measured once per run before the proxy is programmed: ab -c 1 and the client on the same direct path to the server",
        ),
    })
    .nullable()
    .optional(),
  tuning: z
    .object({
      profile: z.string(),
      steps: z.array(
        z.object({
          setting: z.string().describe('the spec setting (rps, xps, a sysctl name, …)'),
          kind: z.enum(['write', 'command', 'skip']),
          netns: z.string().nullable().describe('namespace written in; null = the machine itself'),
          target: z.string().describe('file written or command run'),
          asked: z.string().nullable(),
          got: z.string().nullable().describe('what the kernel reports after the write, read back'),
          previous: z.string().nullable().describe('machine-wide files: the value before, put back at teardown'),
          status: z.enum(['applied', 'skipped', 'failed']),
          optional: z.boolean(),
          why: z.string(),
        }),
      ),
      placement: z
        .object({
          client: z.string().describe('CPU list the load tool is pinned to (taskset)'),
          server: z.string().describe('CPU list of the nginx workers (worker_cpu_affinity)'),
          clientReadBack: z.string().nullable().describe('Cpus_allowed_list a process started like the load tool gets'),
          serverReadBack: z.array(z.string()).describe('Cpus_allowed_list of each nginx worker'),
        })
        .nullable(),
      restored: z.array(z.string()).describe('machine-wide files put back at teardown'),
    })
    .nullable()
    .optional(),
  points: z.array(PointResult),
});
export type RunResult = z.infer<typeof RunResult>;

export function resultJsonSchema(): unknown {
  return z.toJSONSchema(RunResult, { target: 'draft-2020-12' });
}
