// What this machine's kernel and tools can do, found by trying (in a scratch namespace the lab
// creates and removes), not by guessing from version numbers.
import { k8sMissing, k8sMissingText } from '../k8s/tools.ts';
import { KUBE_PROXY_PROGRAMS } from '../proxy/kube-proxy/index.ts';
import { FLANNEL_PROGRAMS } from '../datapath/flannel/index.ts';
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { run } from '../core/exec.ts';

import type { Spec } from '../spec/schema.ts';
import { scratchNs } from '../core/names.ts';

import { FEATURES, type Feature } from '../core/features.ts';
import { findDatapath } from '../datapath/index.ts';
import { proxyProvider } from '../proxy/index.ts';
export { FEATURES, type Feature };
export interface FeatureState {
  ok: boolean;
  detail: string;
}

export const TOOLS: Record<string, { argv: string[]; pkg: string }> = {
  ip: { argv: ['ip', '-V'], pkg: 'iproute2' },
  bridge: { argv: ['bridge', '-V'], pkg: 'iproute2' },
  nginx: { argv: ['nginx', '-v'], pkg: 'nginx-light' },
  ab: { argv: ['ab', '-V'], pkg: 'apache2-utils' },
  wrk: { argv: ['wrk', '-v'], pkg: 'wrk' },
  curl: { argv: ['curl', '--version'], pkg: 'curl' },
  ping: { argv: ['ping', '-V'], pkg: 'iputils-ping' },
  'iptables-nft': { argv: ['iptables-nft', '-V'], pkg: 'iptables' },
  'iptables-legacy': { argv: ['iptables-legacy', '-V'], pkg: 'iptables' },
  nft: { argv: ['nft', '-v'], pkg: 'nftables' },
  ipset: { argv: ['ipset', '-v'], pkg: 'ipset' },
  ipvsadm: { argv: ['ipvsadm', '-v'], pkg: 'ipvsadm' },
  clang: { argv: ['clang', '--version'], pkg: 'clang' },
  bpftool: { argv: ['bpftool', 'version'], pkg: 'bpftool' },
  openssl: { argv: ['openssl', 'version'], pkg: 'openssl' },
};

/** Version line of a tool, or null when it is not installed. */
export async function toolVersion(name: string): Promise<string | null> {
  const t = TOOLS[name];
  if (!t) throw new Error(`unknown tool ${name}`);
  try {
    // Generous: every tool is asked at once, and inside an emulated VM (netlab:vm under TCG) 15
    // programs starting together took over 5 s, which made present tools look missing.
    const r = await run(t.argv, { check: false, timeoutMs: 30_000 });
    const text =
      `${r.stdout}\n${r.stderr}`
        .split('\n')
        .map((l) => l.trim())
        .find((l) => l.length > 0) ?? '';
    return text || (r.code === 0 ? 'present' : null);
  } catch {
    return null;
  }
}

export async function toolVersions(names = Object.keys(TOOLS)): Promise<Record<string, string | null>> {
  const versions = await Promise.all(names.map(toolVersion));
  return Object.fromEntries(names.map((n, i) => [n, versions[i]!]));
}

function kernelConfig(option: string): string | null {
  try {
    if (!existsSync('/proc/config.gz')) return null;
    const text = gunzipSync(readFileSync('/proc/config.gz')).toString();
    const m = new RegExp(`^${option}=(\\w+)`, 'm').exec(text);
    return m ? m[1]! : 'not set';
  } catch {
    return null;
  }
}

/**
 * Probe every kernel feature in a scratch namespace `netlab._probe.<pid>` that is always removed.
 */
export async function probeFeatures(): Promise<Record<Feature, FeatureState>> {
  const ns = scratchNs('probe');
  const res = {} as Record<Feature, FeatureState>;
  const tryCmd = async (argv: string[]): Promise<FeatureState> => {
    try {
      const r = await run(argv, { check: false, timeoutMs: 10_000 });
      const err = r.stderr.trim().split('\n')[0] ?? '';
      return r.code === 0 ? { ok: true, detail: 'works' } : { ok: false, detail: err || `exit ${r.code}` };
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
  };
  res.netns = await tryCmd(['ip', 'netns', 'add', ns]);
  try {
    if (res.netns.ok) {
      const ipn = (...a: string[]) => ['ip', '-n', ns, ...a];
      res.veth = await tryCmd(ipn('link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1'));
      // The probes below are independent of each other, so they run at once: each is a process
      // start, and under emulation (a vm host under TCG) one costs most of a second.
      const nfProbes = async () => {
        // nft and iptables-nft both commit to nf_tables: one after the other.
        const nft = await tryCmd(['ip', 'netns', 'exec', ns, 'nft', 'add', 'table', 'ip', 'netlab_probe']);
        return [nft, await tryCmd(['ip', 'netns', 'exec', ns, 'iptables-nft', '-t', 'nat', '-N', 'NETLAB-PROBE'])] as const;
      };
      const [bridge, vxlan, macvlan, ipvlan, dummy, [nftables, iptablesNft], iptablesLegacy, ipvsadm] = await Promise.all([
        tryCmd(ipn('link', 'add', 'br0', 'type', 'bridge')),
        tryCmd(ipn('link', 'add', 'vx0', 'type', 'vxlan', 'id', '1', 'dstport', '8472', 'nolearning')),
        // macvlan and ipvlan each on its own veth end: a device that carries a macvlan refuses an
        // ipvlan (EBUSY), which made a kernel with ipvlan look as if it had none.
        tryCmd(ipn('link', 'add', 'link', res.veth.ok ? 'p0' : 'lo', 'name', 'mv0', 'type', 'macvlan', 'mode', 'bridge')),
        tryCmd(ipn('link', 'add', 'link', res.veth.ok ? 'p1' : 'lo', 'name', 'iv0', 'type', 'ipvlan', 'mode', 'l2')),
        tryCmd(ipn('link', 'add', 'dm0', 'type', 'dummy')),
        nfProbes(),
        // Each iptables backend on its own kernel API: nf_tables (above), and x_tables (ip_tables/iptable_nat).
        tryCmd(['ip', 'netns', 'exec', ns, 'iptables-legacy', '-t', 'nat', '-N', 'NETLAB-PROBE']),
        // IPVS: the kernel exposes /proc/net/ip_vs in every namespace once the module is in; with
        // ipvsadm present, listing loads the module where the kernel has it as one.
        tryCmd(['ip', 'netns', 'exec', ns, 'ipvsadm', '-Ln']),
      ]);
      Object.assign(res, { bridge, vxlan, macvlan, ipvlan, dummy, nftables, 'iptables-nft': iptablesNft, 'iptables-legacy': iptablesLegacy });
      const procIpvs = existsSync('/proc/net/ip_vs');
      const cfg = kernelConfig('CONFIG_IP_VS');
      res.ipvs =
        procIpvs || ipvsadm.ok
          ? { ok: true, detail: 'works' }
          : {
              ok: false,
              detail: `no /proc/net/ip_vs${cfg ? `; kernel config CONFIG_IP_VS ${cfg}` : ''}${/exec of|No such file/.test(ipvsadm.detail) ? '; ipvsadm not installed' : `; ipvsadm: ${ipvsadm.detail}`}`,
            };
    } else {
      for (const f of FEATURES) if (f !== 'netns') res[f] = { ok: false, detail: 'cannot create a network namespace' };
    }
  } finally {
    if (res.netns.ok) await run(['ip', 'netns', 'del', ns], { check: false });
  }
  const bpfCfg = kernelConfig('CONFIG_BPF_SYSCALL');
  res.bpf =
    existsSync('/proc/sys/kernel/bpf_stats_enabled') || bpfCfg === 'y'
      ? { ok: true, detail: 'bpf() syscall present' }
      : { ok: false, detail: `no bpf() syscall${bpfCfg ? ` (CONFIG_BPF_SYSCALL ${bpfCfg})` : ''}` };
  const mounts = existsSync('/proc/mounts') ? readFileSync('/proc/mounts', 'utf8') : '';
  const cg2 = mounts.split('\n').find((l) => l.split(' ')[2] === 'cgroup2');
  res.cgroup2 = cg2 ? { ok: true, detail: `mounted at ${cg2.split(' ')[1]}` } : { ok: false, detail: 'no cgroup2 mount' };
  return res;
}

/** Kernel features and tools a spec needs; `neededBy` says which part of the spec needs each feature. */
export function requirements(spec: Spec): { features: Feature[]; neededBy: Partial<Record<Feature, string>>; tools: string[] } {
  const neededBy: Partial<Record<Feature, string>> = {};
  const need = (fs: Feature[], by: string) => fs.forEach((f) => (neededBy[f] ??= by));
  need([...(findDatapath(spec.datapath)?.features ?? [])], `datapath ${spec.datapath}`);
  need(['cgroup2'], 'the client and server cgroups (CPU accounting)');
  const mode = spec.proxy?.mode ?? 'none';
  const provider = proxyProvider(mode);
  const tools = ['ip', 'bridge', 'nginx', 'curl', 'ping'];
  if (spec.workload.tool === 'ab' || spec.workload.tool === 'wrk') tools.push(spec.workload.tool);
  if (spec.proxy) {
    // iptables and ipvs modes load kube-proxy's nat rules through the chosen iptables backend.
    for (const f of provider.features(spec.proxy))
      need([f], f.startsWith('iptables-') ? `proxy mode ${mode} with iptablesBackend ${spec.proxy.iptablesBackend}` : `proxy mode ${mode}`);
    tools.push(...provider.tools(spec.proxy));
    // The real kube-proxy's control plane makes its CA and keys with openssl.
    if (spec.proxy.implementation === 'kube-proxy') tools.push('openssl');
  }
  // So does the real flannel's.
  if (spec.datapathImplementation === 'flannel') tools.push('openssl');
  return { features: Object.keys(neededBy) as Feature[], neededBy, tools: [...new Set(tools)] };
}

/** Why a spec cannot run here (empty when it can). */
export function missing(spec: Spec, features: Record<Feature, FeatureState>, tools: Record<string, string | null>, kernel: string): string[] {
  const req = requirements(spec);
  const out: string[] = [];
  for (const f of req.features)
    if (!features[f]?.ok)
      out.push(`${req.neededBy[f]} needs the kernel feature "${f}", which this kernel (${kernel}) lacks: ${features[f]?.detail ?? 'not probed'}`);
  for (const t of req.tools) if (!tools[t]) out.push(`needs the tool "${t}" (Debian package ${TOOLS[t]?.pkg ?? t}); run: npm run deps`);
  if (spec.proxy?.implementation === 'kube-proxy') {
    const gone = k8sMissing(KUBE_PROXY_PROGRAMS);
    if (gone.length) out.push(`proxy.implementation kube-proxy: ${k8sMissingText(gone)}`);
  }
  if (spec.datapathImplementation === 'flannel') {
    const gone = k8sMissing(FLANNEL_PROGRAMS);
    if (gone.length) out.push(`datapathImplementation flannel: ${k8sMissingText(gone)}`);
  }
  return out;
}
