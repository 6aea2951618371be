// The model held to the real kube-proxy (issue 16): for each Service count a run with
// `proxy.implementation: kube-proxy` programmed, the model's ruleset for the same fleet is loaded
// into a scratch namespace and listed the same way, and the two are diffed. Effects: a scratch
// namespace per count, removed whatever happens.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { diffRulesets, normalizeNft, normalizeSave, type RulesetDiff } from '../proxy/kube-proxy/compare.ts';
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
    const model = await modelSave({ mode: p.mode, backend: p.iptablesBackend, fleet: fleetOf(p, prog.services), clusterCidr: spec.network.podCidr });
    const norm = p.mode === 'iptables' ? normalizeSave : normalizeNft;
    out.push({ services: prog.services, mode: p.mode, ...diffRulesets(norm(model), norm(real)) });
  }
  return out;
}
