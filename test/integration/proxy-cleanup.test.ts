// Each proxy mode owns its cleanup: in a scratch namespace, program a small fleet with the mode's
// own set-up and load steps, run its cleanup commands, and find the namespace's tables empty again
// (the namespace itself stays, as when kube-proxy switches modes). Needs root and the mode's tools.
import { mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { arch } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../lib/core/exec.ts';
import { scratchNs } from '../../lib/core/names.ts';
import { inNs } from '../../lib/core/netns.ts';
import { probeFeatures } from '../../lib/local/features.ts';
import { cgroupRoot, removeNamespaces } from '../../lib/local/state.ts';
import { multiarchInclude } from '../../lib/proxy/ebpf/program.ts';
import { proxyProvider } from '../../lib/proxy/index.ts';
import type { IptablesBackend, ProxyContext, ProxyOptions } from '../../lib/proxy/provider.ts';
import { fleetOf } from '../../lib/proxy/target.ts';
import { serialIf } from '../helpers/needs.ts';

const root = process.getuid?.() === 0;
const features = root ? await probeFeatures() : null;

/** What a mode leaves in a namespace, as the kernel lists it: empty when nothing is left. */
async function state(ns: string, backend: IptablesBackend): Promise<string> {
  const nat = await run(inNs(ns, `iptables-${backend}-save`, '-t', 'nat'), { check: false });
  const rules = nat.stdout.split('\n').filter((l) => /^-A |^:KUBE/.test(l));
  const nft = await run(inNs(ns, 'nft', 'list', 'tables'), { check: false });
  return [...rules, ...nft.stdout.split('\n').filter((l) => l.includes('kube-proxy'))].join('\n');
}

const cases: { mode: string; backend: IptablesBackend; feature: 'iptables-nft' | 'iptables-legacy' | 'nftables' }[] = [
  { mode: 'iptables', backend: 'nft', feature: 'iptables-nft' },
  { mode: 'iptables', backend: 'legacy', feature: 'iptables-legacy' },
  { mode: 'nftables', backend: 'nft', feature: 'nftables' },
];

/** A three-Service fleet's options for a mode loaded with `backend`. */
const optionsFor = (backend: IptablesBackend): ProxyOptions => ({
  services: [3],
  backendsPerService: 2,
  serviceCidr: '10.96.0.0/12',
  backendCidr: '10.128.0.0/12',
  iptablesLayout: 'current',
  iptablesBackend: backend,
  ipvs: { scheduler: 'rr', connReuseMode: [1] },
});

for (const c of cases) {
  const why = !root ? 'needs root' : !features![c.feature].ok ? `this kernel lacks ${c.feature}: ${features![c.feature].detail}` : null;
  serialIf(why, `${c.mode} (${c.backend}): its cleanup empties what its program loaded`, async (t) => {
    const ns = scratchNs('cleanup');
    const dir = mkdtempSync(join(tmpdir(), 'netlab-cleanup-'));
    await run(['ip', 'netns', 'add', ns]);
    try {
      const options = optionsFor(c.backend);
      const ctx: ProxyContext = { hostNs: ns, dir, clientCgroup: '/nonexistent', includeDir: '/usr/include', clusterCidr: '10.244.0.0/16', options };
      const mode = proxyProvider(c.mode);
      const setup = mode.setup(ctx);
      const prog = mode.program(ctx, fleetOf(options, 3));
      for (const f of [...setup.files, ...prog.files]) writeFileSync(f.path, f.content);
      for (const argv of [...setup.steps, ...prog.steps]) await run(argv);
      t.not(await state(ns, c.backend), '', 'the program loaded something');
      for (const argv of mode.cleanup(ctx)) await run(argv);
      t.is(await state(ns, c.backend), '');
    } finally {
      await removeNamespaces([ns]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

// eBPF: the program is attached to the client's cgroup; its cleanup detaches it, and with it
// go the maps (pinned only in the load script's private bpffs).
const cgRoot = root ? cgroupRoot() : null;
const ebpfWhy = !root ? 'needs root' : !features!.bpf.ok ? `this kernel lacks bpf: ${features!.bpf.detail}` : !cgRoot ? 'no cgroup2 mount' : null;
serialIf(ebpfWhy, 'ebpf: its cleanup detaches the connect4 program it attached', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-cleanup-'));
  const cg = join(cgRoot!, scratchNs('cleanup'));
  mkdirSync(cg);
  const attached = async () => (await run(['bpftool', 'cgroup', 'show', cg])).stdout.split('\n').filter((l) => /connect4/.test(l)).length;
  try {
    const options = optionsFor('nft');
    const ctx: ProxyContext = { hostNs: 'unused', dir, clientCgroup: cg, includeDir: multiarchInclude(arch()), clusterCidr: '10.244.0.0/16', options };
    const mode = proxyProvider('ebpf');
    const setup = mode.setup(ctx);
    const prog = mode.program(ctx, fleetOf(options, 3));
    for (const f of [...setup.files, ...prog.files]) writeFileSync(f.path, f.content);
    for (const argv of [...setup.steps, ...prog.steps]) await run(argv);
    t.is(await attached(), 1, 'the program is attached');
    for (const argv of mode.cleanup(ctx)) await run(argv);
    t.is(await attached(), 0);
  } finally {
    rmdirSync(cg);
    rmSync(dir, { recursive: true, force: true });
  }
});
