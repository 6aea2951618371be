// nftables mode: kube-proxy's `ip kube-proxy` table as v1.37 lays it out (a verdict map from
// VIP . protocol . port to a chain per Service port, whose one rule DNATs through a numgen map),
// loaded as a reset, the base, then the Services in batches. See README.md here.
import { inNs } from '../../core/netns.ts';
import type { ServicePort } from '../fleet.ts';
import type { ProxyFile, ProxyProgram, ProxyProvider } from '../provider.ts';
import { type NftOptions, nftablesRuleset } from './ruleset.ts';

/** Creating then deleting the table removes it whether or not it exists. */
const RESET = 'add table ip kube-proxy\ndelete table ip kube-proxy\n';

/** kube-proxy's nftables table: a reset, the base, then the Services in batches of `batchSize`. */
export function nftablesProgram(o: { fleet: ServicePort[]; hostNs: string; dir: string } & NftOptions): ProxyProgram {
  const r = nftablesRuleset(o.fleet, { clusterCidr: o.clusterCidr, serviceCidr: o.serviceCidr, nodeIPs: o.nodeIPs, batchSize: o.batchSize });
  const f = (name: string) => `${o.dir}/${name}-${o.fleet.length}`;
  const files: ProxyFile[] = [
    { path: `${f('nft-reset')}.nft`, content: RESET },
    { path: `${f('nft-base')}.nft`, content: r.base },
    ...r.batches.map((content, i) => ({ path: `${f('nft-batch')}-${i}.nft`, content })),
  ];
  return {
    services: o.fleet.length,
    fleet: o.fleet,
    files,
    steps: files.map((x) => inNs(o.hostNs, 'nft', '-f', x.path)),
    size: { rules: r.rules, chains: r.chains, mapElements: r.mapElements },
  };
}

export const nftables: ProxyProvider = {
  name: 'nftables',
  summary: "kube-proxy's nftables table: a verdict map from VIP . protocol . port to a chain per Service, numgen DNAT maps",
  netfilter: true,
  callsBackends: false,
  features: () => ['nftables'],
  tools: () => ['nft'],
  setup: (ctx) => ({ files: [], steps: [inNs(ctx.hostNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')] }),
  // The Service CIDR is the stack's; the node's addresses are not known to a mode, so the model's
  // nodeport-ips set stays empty (no Service of the lab has a NodePort).
  program: (ctx, fleet) => nftablesProgram({ fleet, hostNs: ctx.hostNs, dir: ctx.dir, clusterCidr: ctx.clusterCidr, serviceCidr: ctx.options.serviceCidr }),
  cleanup: (ctx) => [inNs(ctx.hostNs, 'nft', RESET.trim().replace('\n', '; '))],
};
