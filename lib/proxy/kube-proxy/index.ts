// The real kube-proxy (issue 16), built from k8s.io/kubernetes by scripts/install-k8s.sh, in the
// client host's namespace as on a node: it watches the lab's control plane and writes the rules
// itself. The lab only writes the fleet as Services and EndpointSlices through the API and waits
// until the kernel holds the last one. Wraps the model provider of the same mode (iptables,
// nftables, ipvs) for its kernel features, tools and counters. See README.md here.
import { inCgroup, inNs } from '../../core/netns.ts';
import { intToIp, ipToInt } from '../../core/cidr.ts';
import { shq } from '../../core/shell.ts';
import { daemon, waitFor } from '../../k8s/controlplane.ts';
import { fleetWriterFor } from '../../k8s/fleet-writer.ts';
import { FIELD_MANAGER, fleetObjects, list, pruneBeyond } from '../../k8s/objects.ts';
import type { ServicePort } from '../fleet.ts';
import { iptablesCommand } from '../iptables/index.ts';
import type { KubeContext, ProxyContext, ProxyProgram, ProxyProvider, ProxySize } from '../provider.ts';

/** The upstream programs a kube-proxy run needs (installed by scripts/install-k8s.sh). */
export const KUBE_PROXY_PROGRAMS = ['kube-apiserver', 'kube-proxy', 'kubectl', 'etcd'] as const;

/** The modes the real kube-proxy is run in (`proxy.implementation: kube-proxy`). */
export const KUBE_PROXY_MODES = ['iptables', 'nftables', 'ipvs'] as const;

/** Seconds the set-up waits for kube-proxy's first sync, and a programming for its rules, unless
 * the stack says otherwise (proxy.syncTimeoutSeconds, whose default this is). */
export const KUBE_PROXY_TIMEOUT_SECONDS = 300;

const METRICS = '127.0.0.1:10249';

const kubeOf = (ctx: ProxyContext): KubeContext => {
  if (!ctx.kube) throw new Error('proxy.implementation kube-proxy needs the lab control plane (ProxyContext.kube)');
  return ctx.kube;
};

/** The folder whose iptables, iptables-save and iptables-restore are the chosen backend's, first on kube-proxy's PATH. */
const backendDir = (ctx: ProxyContext) => `${ctx.dir}/iptables-${ctx.options.iptablesBackend}`;

/** kube-proxy's command line: the mode, the node, and everything machine-wide left alone. */
export function kubeProxyArgv(mode: string, ctx: ProxyContext): string[] {
  const k = kubeOf(ctx);
  return [
    k.bin('kube-proxy'),
    `--kubeconfig=${k.kubeconfig}`,
    `--hostname-override=${k.nodeName}`,
    `--proxy-mode=${mode}`,
    `--cluster-cidr=${ctx.clusterCidr}`,
    // Conntrack sysctls left as they are (0 = do not set). Everything else is kube-proxy's
    // default, so the rules are what a node with a default configuration gets.
    '--conntrack-max-per-core=0',
    '--conntrack-tcp-timeout-established=0',
    '--conntrack-tcp-timeout-close-wait=0',
    `--metrics-bind-address=${METRICS}`,
    '--healthz-bind-address=127.0.0.1:10256',
    // No periodic full resync during a measured point (it would also reset the rule counters).
    '--iptables-sync-period=1h',
    ...(mode === 'ipvs' ? [`--ipvs-scheduler=${ctx.options.ipvs.scheduler}`, '--ipvs-sync-period=1h'] : []),
  ];
}

/**
 * A shell test that holds when the kernel has `s` with its last endpoint and nothing at `vip`, the
 * address after the fleet's last ClusterIP (a larger fleet's). One read of the kernel's state per
 * run (a save of 10,000 Services is megabytes), its lines matched as fixed strings.
 */
export function fleetProbe(mode: string, ctx: ProxyContext, s: ServicePort, vip: string): string {
  const ep = s.endpoints.at(-1)!;
  const all = (has: string[], hasNot: string) =>
    `awk ${[...has.map((h, i) => `-v a${i}=${shq(h)}`), `-v no=${shq(hasNot)}`].join(' ')} '${has.map((_, i) => `index($0, a${i}) { h${i} = 1 }`).join(' ')} index($0, no) { n = 1 } END { exit !(${has.map((_, i) => `h${i}`).join(' && ')} && !n) }'`;
  if (mode === 'iptables')
    return `${iptablesCommand(ctx.options.iptablesBackend)}-save -t nat | ${all([`--to-destination ${ep.ip}:${ep.port}`, `-d ${s.clusterIP}/32 `], `-d ${vip}/32 `)}`;
  // nftables: the endpoint in its Service's numgen map ("ip . port"; up to 1.30 a chain per
  // endpoint: "dnat to ip:port"), the Service in the service-ips map ("vip . tcp . port").
  if (mode === 'nftables')
    return `nft list table ip kube-proxy | { ${all([`${s.clusterIP} . tcp . ${s.port} `], `${vip} . tcp . `)} && nft list table ip kube-proxy | grep -qF -e 'dnat to ${ep.ip}:${ep.port}' -e '${ep.ip} . ${ep.port}'; }`;
  return `ipvsadm -Ln -t ${s.clusterIP}:${s.port} | grep -qF '${ep.ip}:${ep.port}' && ! ipvsadm -Ln | grep -qF '${vip}:'`;
}

/**
 * kube-proxy's own word that it has synced everything it was told since the wait began: a sync
 * ended after $NETLAB_WAIT_START and no Service or endpoint change is pending. Cheap (one metrics
 * read), so the wait polls it and reads the kernel only when it holds (and every 2 s regardless).
 */
export const syncedGate = (): string =>
  `curl -fsS --max-time 2 http://${METRICS}/metrics | awk -v s="$NETLAB_WAIT_START" '/^kubeproxy_sync_proxy_rules_(service|endpoint)_changes_pending[ {]/ { p += $NF } /^kubeproxy_sync_proxy_rules_last_timestamp_seconds[ {]/ { if ($NF + 0 > s + 0) t = 1 } END { exit !(t && p == 0) }'`;

/** Counts of what kube-proxy wrote, in the model's units (lib/proxy/<mode>/ruleset.ts). */
export function sizeOf(mode: string, text: string): ProxySize {
  const lines = text.split('\n');
  if (mode === 'iptables')
    return {
      rules: lines.filter((l) => l.startsWith('-A ')).length,
      chains: lines.filter((l) => l.startsWith(':') && !/^:(PREROUTING|INPUT|OUTPUT|POSTROUTING) /.test(l)).length,
      mapElements: 0,
    };
  if (mode === 'nftables') {
    // `nft list table`: chain headers, their rules (one per line), and the map elements.
    let chains = 0;
    let rules = 0;
    let inChain = false;
    for (const l of lines) {
      const t = l.trim();
      if (/^chain \S+ \{$/.test(t)) {
        chains++;
        inChain = true;
      } else if (t === '}') inChain = false;
      else if (inChain && t && !t.startsWith('type ') && !t.startsWith('comment ')) rules++;
    }
    const map = /map service-ips \{[\s\S]*?elements = \{([\s\S]*?)\}/.exec(text);
    return { rules, chains, mapElements: map ? map[1]!.split(',').filter((x) => x.trim()).length : 0 };
  }
  return {
    rules: lines.filter((l) => /^(TCP|UDP|SCTP) /.test(l)).length + lines.filter((l) => /^\s+-> \d/.test(l)).length,
    chains: 0,
    mapElements: 0,
  };
}

/** The real kube-proxy in `model`'s mode. */
export function kubeProxyProvider(model: ProxyProvider): ProxyProvider {
  const mode = model.name;
  return {
    name: mode,
    summary: `the real kube-proxy in ${mode} mode, fed through the lab's API server`,
    netfilter: model.netfilter,
    callsBackends: false,
    features: (o) => model.features(o),
    tools: (o) => [...model.tools(o), 'curl'],
    setup(ctx) {
      const k = kubeOf(ctx);
      const b = ctx.options.iptablesBackend;
      const dir = backendDir(ctx);
      const link = (name: string) =>
        `ln -sfn "$(command -v iptables-${b}${name})" "$0/iptables${name}"; ln -sfn "$(command -v ip6tables-${b}${name})" "$0/ip6tables${name}"`;
      return {
        files: [],
        steps: [
          // As on a node (kube-proxy itself only warns when forwarding is off).
          inNs(ctx.hostNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'),
          // kube-proxy runs `iptables`, `iptables-save` and `iptables-restore` from PATH: the stack's backend.
          ['sh', '-c', `set -e; mkdir -p "$0"; ${link('')}; ${link('-save')}; ${link('-restore')}`, dir],
          inCgroup(k.cgroup, inNs(ctx.hostNs, 'env', `PATH=${dir}:/usr/sbin:/usr/bin:/sbin:/bin`, ...daemon(k.log, kubeProxyArgv(mode, ctx)))),
          inNs(
            ctx.hostNs,
            ...waitFor(
              `kube-proxy's first sync (${METRICS}/metrics)`,
              // A histogram per IP family: kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"} 1
              `curl -fsS http://${METRICS}/metrics | grep -Eq '^kubeproxy_sync_proxy_rules_duration_seconds_count(\\{[^}]*\\})? [1-9]'`,
              ctx.options.syncTimeoutSeconds ?? KUBE_PROXY_TIMEOUT_SECONDS,
              k.log,
            ),
          ),
        ],
      };
    },
    program(ctx, fleet): ProxyProgram {
      const k = kubeOf(ctx);
      const n = fleet.length;
      const file = `${ctx.dir}/kube-fleet-${n}.json`;
      const last = fleet.at(-1)!;
      const next = intToIp(ipToInt(last.clusterIP) + 1);
      const namespaces = [...new Set(fleet.map((s) => s.namespace))];
      const model0 = model.program(ctx, fleet.slice(0, 1));
      // Services beyond n (a shrink): one DeleteCollection per type (lib/k8s/objects.ts pruneBeyond).
      const prune = pruneBeyond(namespaces);
      // The write: through Pulumi (one `pulumi up` of the fleet stack, whose diff creates and
      // deletes) or one server-side apply of the List plus a prune (lib/k8s/fleet-writer.ts says
      // which). When the writers alternate, the server-side apply leaves a mark that the Pulumi
      // stack no longer matches the API: the next Pulumi write first prunes what that apply left
      // beyond its fleet, and refreshes its state.
      const pf = k.pulumiFleet;
      const writer = pf ? fleetWriterFor(ctx.options.writer ?? 'auto', n) : 'server-side-apply';
      const stale = `${ctx.dir}/pulumi-fleet.stale`;
      const write: string[][] =
        writer === 'pulumi' && pf
          ? [
              ['sh', '-c', [`[ -e ${shq(stale)} ] || exit 0`, prune].join('\n'), String(n), ...k.kubectl()],
              inNs(pf.ns, ...pf.command, '--objects', file, '--kubeconfig', pf.kubeconfig, '--state', pf.stateDir, '--refresh-if', stale),
            ]
          : [
              k.kubectl('apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '--force-conflicts', '-f', file),
              ['sh', '-c', [prune, ...(pf ? [`: > ${shq(stale)}`] : [])].join('\n'), String(n), ...k.kubectl()],
            ];
      return {
        services: n,
        fleet,
        files: [{ path: file, content: `${JSON.stringify(list(fleetObjects(fleet)))}\n` }],
        steps: [
          ...write,
          inNs(
            ctx.hostNs,
            ...waitFor(
              `kube-proxy programming ${n} Services (the last with its endpoints, none beyond it)`,
              fleetProbe(mode, ctx, last, next),
              ctx.options.syncTimeoutSeconds ?? KUBE_PROXY_TIMEOUT_SECONDS,
              k.log,
              { gate: syncedGate() },
            ),
          ),
        ],
        size: { rules: 0, chains: 0, mapElements: 0 },
        write: { writer, steps: write.length },
        measureSize: {
          argv:
            mode === 'iptables'
              ? inNs(ctx.hostNs, `${iptablesCommand(ctx.options.iptablesBackend)}-save`, '-t', 'nat')
              : mode === 'nftables'
                ? inNs(ctx.hostNs, 'nft', 'list', 'table', 'ip', 'kube-proxy')
                : inNs(ctx.hostNs, 'ipvsadm', '-Ln'),
          parse: (text) => sizeOf(mode, text),
        },
        syncMetrics: inNs(ctx.hostNs, 'curl', '-fsS', '--max-time', '10', `http://${METRICS}/metrics`),
        ...(model0.zeroCounters ? { zeroCounters: model0.zeroCounters } : {}),
        ...(model0.saveCounters ? { saveCounters: model0.saveCounters } : {}),
      };
    },
    cleanup(ctx) {
      const k = kubeOf(ctx);
      return [
        ['sh', '-c', 'echo 1 > "$0/cgroup.kill"', k.cgroup],
        inNs(ctx.hostNs, 'env', `PATH=${backendDir(ctx)}:/usr/sbin:/usr/bin:/sbin:/bin`, k.bin('kube-proxy'), '--cleanup', `--proxy-mode=${mode}`),
      ];
    },
  };
}
