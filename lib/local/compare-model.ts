// The model held to the real kube-proxy (issue 16): for each Service count a run with
// `proxy.implementation: kube-proxy` programmed, the model's ruleset for the same fleet is loaded
// into a scratch namespace and listed the same way, and the two are diffed. Effects: a scratch
// namespace per count, removed whatever happens.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { intToIp, parseCidr } from '../core/cidr.ts';
import { apiServerService, diffRulesets, normalizeNft, normalizeSave, type RulesetDiff } from '../proxy/kube-proxy/compare.ts';
import { fleetOf } from '../proxy/target.ts';
import type { RunResult } from '../results/result.ts';
import type { Spec } from '../spec/schema.ts';
import { modelSave } from './proxy-load.ts';

export interface ModelComparison extends RulesetDiff {
  services: number;
  mode: string;
}

/** One comparison per Service count of a kube-proxy run (iptables and nftables modes). */
export async function compareWithModel(spec: Spec, result: RunResult, dir: string): Promise<ModelComparison[]> {
  const p = spec.proxy;
  if (!p || p.implementation !== 'kube-proxy' || (p.mode !== 'iptables' && p.mode !== 'nftables')) return [];
  const out: ModelComparison[] = [];
  const seen = new Set<number>();
  for (const prog of result.proxy?.programs ?? []) {
    if (!prog.kernelState || seen.has(prog.services)) continue;
    seen.add(prog.services);
    const real = gunzipSync(readFileSync(join(dir, prog.kernelState))).toString();
    const fleet = fleetOf(p, prog.services);
    // nftables: kube-proxy's table also holds the API server's own Service (in the reject map: the
    // lab's API server writes it no endpoints), the Service CIDR (dropped when unallocated) and its
    // Node's InternalIP (nodeport-ips): the client host's underlay address, host 0 of
    // lib/local/plan.ts. The iptables nat table holds none of these.
    const model = await modelSave(
      p.mode === 'nftables'
        ? {
            mode: p.mode,
            backend: p.iptablesBackend,
            fleet: [apiServerService(p.serviceCidr), ...fleet],
            clusterCidr: spec.network.podCidr,
            serviceCidr: p.serviceCidr,
            nodeIPs: [intToIp(parseCidr(spec.network.underlayCidr).base + 1)],
          }
        : { mode: p.mode, backend: p.iptablesBackend, fleet, clusterCidr: spec.network.podCidr },
    );
    const norm = p.mode === 'iptables' ? normalizeSave : normalizeNft;
    out.push({ services: prog.services, mode: p.mode, ...diffRulesets(norm(model), norm(real)) });
  }
  return out;
}
