// Programming-time bench: load a generated fleet into a scratch namespace and time it. Effects
// only; the rulesets come from the pure generators. The namespace is removed whatever happens.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../core/exec.ts';
import { removeNamespaces } from './state.ts';
import { buildFleet, type ServicePort } from '../proxy/fleet.ts';
import { iptablesProgram } from '../proxy/iptables/index.ts';
import { nftablesProgram } from '../proxy/nftables/index.ts';
import { scratchNs } from '../core/names.ts';

export const LOAD_MODES = ['iptables-nft', 'iptables-legacy', 'iptables-nft-2019', 'iptables-legacy-2019', 'nftables'] as const;
export type LoadMode = (typeof LOAD_MODES)[number];

export interface LoadResult {
  mode: LoadMode;
  /** Loaded with --noflush (kube-proxy's way) rather than replacing the table (the lab's). */
  noflush: boolean;
  services: number;
  backendsPerService: number;
  /** Rules the kernel holds afterwards (iptables: `-A` lines of the nat save; nftables: rules listed). */
  rulesLoaded: number;
  seconds: number;
  status: 'ok' | 'timeout' | 'failed';
  error?: string;
}

/**
 * Load one fleet into a fresh scratch namespace and time it. `noflush` (iptables modes only) loads
 * with `--noflush`, as kube-proxy itself does, instead of replacing the nat table as the lab does.
 */
export async function timeProxyLoad(o: {
  mode: LoadMode;
  services: number;
  backendsPerService: number;
  timeoutSeconds: number;
  batchSize?: number;
  noflush?: boolean;
}): Promise<LoadResult> {
  const fleet = buildFleet({ count: o.services, backendsPerService: o.backendsPerService, serviceCidr: '10.96.0.0/12', backendCidr: '10.128.0.0/12' });
  const ns = scratchNs('load');
  const dir = mkdtempSync(join(tmpdir(), 'netlab-load-'));
  const inNs = (...a: string[]) => ['ip', 'netns', 'exec', ns, ...a];
  const base = { mode: o.mode, noflush: !!o.noflush && o.mode !== 'nftables', services: o.services, backendsPerService: o.backendsPerService };
  const where = { fleet, hostNs: ns, dir, clusterCidr: '10.244.0.0/16' };
  await run(['ip', 'netns', 'add', ns]);
  try {
    // The same commands and files `netlab up` uses for these modes.
    const prog =
      o.mode === 'nftables'
        ? nftablesProgram({ ...where, batchSize: o.batchSize })
        : iptablesProgram({ ...where, layout: o.mode.endsWith('2019') ? '2019' : 'current', backend: o.mode.startsWith('iptables-nft') ? 'nft' : 'legacy' });
    for (const f of prog.files) writeFileSync(f.path, f.content);
    const steps = o.noflush && o.mode !== 'nftables' ? prog.steps.map((argv) => [...argv.slice(0, -1), '--noflush', argv.at(-1)!]) : prog.steps;
    const t0 = Date.now();
    const deadline = t0 + o.timeoutSeconds * 1000;
    for (const argv of steps) {
      const r = await run(argv, { check: false, timeoutMs: Math.max(1, deadline - Date.now()) });
      const seconds = (Date.now() - t0) / 1000;
      if (r.timedOut) return { ...base, rulesLoaded: 0, seconds, status: 'timeout', error: `not loaded after ${o.timeoutSeconds} s` };
      if (r.code !== 0) return { ...base, rulesLoaded: 0, seconds, status: 'failed', error: r.stderr.trim().split('\n')[0] };
    }
    const seconds = (Date.now() - t0) / 1000;
    const save =
      o.mode === 'nftables'
        ? await run(inNs('nft', 'list', 'table', 'ip', 'kube-proxy'), { timeoutMs: 600_000 })
        : await run(prog.saveCounters!, { timeoutMs: 600_000 });
    const rulesLoaded =
      o.mode === 'nftables'
        ? save.stdout.split('\n').filter((l) => /^\t\t(?!type |comment |elements |policy )\S/.test(l) && !l.includes('elements =')).length
        : save.stdout.split('\n').filter((l) => /^(\[\d+:\d+\] )?-A /.test(l)).length;
    return { ...base, rulesLoaded, seconds, status: 'ok' };
  } finally {
    await removeNamespaces([ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What the kernel gives back for the model's ruleset of `fleet`: loaded into a scratch namespace
 * with the lab's own commands, then `iptables-<backend>-save -t nat` (iptables) or `nft list
 * table ip kube-proxy` (nftables). Compared with the real kube-proxy's (lib/proxy/kube-proxy/compare.ts).
 * nftables also writes what kube-proxy knows of its node: the Service CIDR and the node's addresses.
 */
export async function modelSave(o: {
  mode: 'iptables' | 'nftables';
  backend: 'nft' | 'legacy';
  fleet: ServicePort[];
  clusterCidr: string;
  serviceCidr?: string;
  nodeIPs?: string[];
}): Promise<string> {
  const ns = scratchNs('model');
  const dir = mkdtempSync(join(tmpdir(), 'netlab-model-'));
  await run(['ip', 'netns', 'add', ns]);
  try {
    const where = { fleet: o.fleet, hostNs: ns, dir, clusterCidr: o.clusterCidr };
    const prog =
      o.mode === 'nftables'
        ? nftablesProgram({ ...where, serviceCidr: o.serviceCidr, nodeIPs: o.nodeIPs })
        : iptablesProgram({ ...where, layout: 'current', backend: o.backend });
    for (const f of prog.files) writeFileSync(f.path, f.content);
    for (const argv of prog.steps) await run(argv, { timeoutMs: 300_000 });
    const save =
      o.mode === 'nftables'
        ? ['ip', 'netns', 'exec', ns, 'nft', 'list', 'table', 'ip', 'kube-proxy']
        : ['ip', 'netns', 'exec', ns, `iptables-${o.backend}-save`, '-t', 'nat'];
    return (await run(save, { timeoutMs: 300_000 })).stdout;
  } finally {
    await removeNamespaces([ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}
