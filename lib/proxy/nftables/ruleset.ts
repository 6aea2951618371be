// kube-proxy nftables mode as `nft -f` input: table `ip kube-proxy`, the `service-ips` verdict
// map keyed ipv4_addr . inet_proto . inet_service, a chain per Service port with
// `numgen random mod N vmap`, a chain per endpoint doing the DNAT, masquerading by mark 0x4000.
// Pure. The text is split into batches so one `nft -f` never holds the whole fleet.
import { nftEndpointChain, nftServiceChain, type ServicePort } from '../fleet.ts';

const T = 'ip kube-proxy';

export interface NftRuleset {
  /** The base: table, hooks, masquerading, the map and the services dispatch rule. */
  base: string;
  /** Per-Service chains and map elements, `batchSize` Services per text. */
  batches: string[];
  chains: number;
  rules: number;
  mapElements: number;
}

export function nftablesRuleset(fleet: ServicePort[], o: { clusterCidr: string; batchSize?: number }): NftRuleset {
  const base = [
    `add table ${T} { comment "rules for kube-proxy" ; }`,
    `add chain ${T} mark-for-masquerade`,
    `add rule ${T} mark-for-masquerade mark set mark or 0x4000`,
    `add chain ${T} masquerading`,
    `add rule ${T} masquerading mark and 0x4000 == 0 return`,
    `add rule ${T} masquerading mark set mark xor 0x4000`,
    `add rule ${T} masquerading masquerade fully-random`,
    `add chain ${T} services`,
    `add chain ${T} nat-output { type nat hook output priority -100 ; }`,
    `add rule ${T} nat-output jump services`,
    `add chain ${T} nat-postrouting { type nat hook postrouting priority 100 ; }`,
    `add rule ${T} nat-postrouting jump masquerading`,
    `add chain ${T} nat-prerouting { type nat hook prerouting priority -100 ; }`,
    `add rule ${T} nat-prerouting jump services`,
    `add map ${T} service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }`,
    `add rule ${T} services ip daddr . meta l4proto . th dport vmap @service-ips`,
    '',
  ].join('\n');
  let chains = base.split('\n').filter((l) => l.startsWith('add chain ')).length;
  let rules = base.split('\n').filter((l) => l.startsWith('add rule ')).length;
  const batchSize = o.batchSize ?? 500;
  const batches: string[] = [];
  for (let start = 0; start < fleet.length; start += batchSize) {
    const lines: string[] = [];
    const elements: string[] = [];
    for (const s of fleet.slice(start, start + batchSize)) {
      const svc = nftServiceChain(s);
      const eps = s.endpoints.map((e) => ({ e, chain: nftEndpointChain(s, e) }));
      // Endpoint chains first: the vmap in the service chain refers to them.
      for (const { e, chain } of eps) {
        lines.push(`add chain ${T} ${chain}`);
        lines.push(`add rule ${T} ${chain} ip saddr ${e.ip} jump mark-for-masquerade`);
        lines.push(`add rule ${T} ${chain} meta l4proto tcp dnat to ${e.ip}:${e.port}`);
      }
      lines.push(`add chain ${T} ${svc}`);
      lines.push(`add rule ${T} ${svc} ip daddr ${s.clusterIP} tcp dport ${s.port} ip saddr != ${o.clusterCidr} jump mark-for-masquerade`);
      lines.push(`add rule ${T} ${svc} numgen random mod ${eps.length} vmap { ${eps.map((x, i) => `${i} : goto ${x.chain}`).join(' , ')} }`);
      elements.push(`${s.clusterIP} . tcp . ${s.port} : goto ${svc}`);
      chains += 1 + eps.length;
      rules += 2 + 2 * eps.length;
    }
    lines.push(`add element ${T} service-ips { ${elements.join(' , ')} }`);
    batches.push(lines.join('\n') + '\n');
  }
  return { base, batches, chains, rules, mapElements: fleet.length };
}
