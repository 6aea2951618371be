// kube-proxy's nftables mode as `nft -f` input, laid out as kube-proxy v1.37 lays it out: one
// table `ip kube-proxy`; filter chains that reject or drop what no Service takes; the `services`
// chain masquerading by the `cluster-ips` set and dispatching through the `service-ips` verdict
// map (ipv4_addr . inet_proto . inet_service); one chain per Service port whose single rule DNATs
// through `numgen random mod N map { i : ip . port }`; masquerading by mark 0x4000 and by the
// `hairpin-connections` set. Pure. The text is split into batches so one `nft -f` never holds
// the whole fleet. See README.md here.
import { nftServiceChain, servicePortName, type Endpoint, type ServicePort } from '../fleet.ts';

const T = 'ip kube-proxy';
const MASQ_MARK = '0x4000';

/** What kube-proxy knows of its node and cluster beyond the Services. */
export interface NftOptions {
  /** kube-proxy's --cluster-cidr: ClusterIP traffic from outside it is marked for masquerading. */
  clusterCidr: string;
  /**
   * The Service CIDR(s), comma-separated as kube-proxy writes them: new connections to an
   * address in it that no Service took are dropped. Absent: no drop rule (kube-proxy knows no
   * ServiceCIDR).
   */
  serviceCidr?: string;
  /**
   * The node addresses that accept NodePort traffic: with kube-proxy's default
   * (`--nodeport-addresses` unset, "primary") the Node's InternalIP. Absent: an empty set (the
   * lab's model runs know no Node; no Service of the lab has a NodePort).
   */
  nodeIPs?: string[];
  /** Services per `nft -f` batch (default 500). */
  batchSize?: number;
}

export interface NftRuleset {
  /** The base: table, base chains, sets and maps, the fixed chains and their rules. */
  base: string;
  /** Per-Service chains and the elements of the sets and maps, `batchSize` Services per text. */
  batches: string[];
  /** Counted as `nft list table` shows them (lib/proxy/kube-proxy/index.ts sizeOf): every chain,
   * every rule, and the elements of `service-ips`. */
  chains: number;
  rules: number;
  mapElements: number;
}

/** Byte-wise string order (Go's sort.Strings), not locale order. */
const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A Service port's endpoints in kube-proxy's order: by their "ip:port" text (10.0.0.10 before 10.0.0.2). */
export const kubeProxyOrder = (eps: Endpoint[]) => [...eps].sort((a, b) => byText(`${a.ip}:${a.port}`, `${b.ip}:${b.port}`));

/** The rule of a Service port's chain: DNAT to one endpoint, or to one of N picked by numgen. */
export function dnatRule(s: ServicePort): string {
  const eps = kubeProxyOrder(s.endpoints);
  // kube-proxy special-cases one endpoint (a map costs more to load than it saves).
  if (eps.length === 1) return `meta l4proto ${s.protocol} dnat to ${eps[0]!.ip}:${eps[0]!.port}`;
  const map = eps.map((e, i) => `${i} : ${e.ip} . ${e.port}`).join(' , ');
  return `meta l4proto ${s.protocol} dnat ip addr . port to numgen random mod ${eps.length} map { ${map} }`;
}

/** The base chains: name, type, hook and priority (written as numbers, as kube-proxy's library writes them). */
const BASE_CHAINS: [string, string, string, number][] = [
  ['filter-prerouting-pre-dnat', 'filter', 'prerouting', -110],
  ['filter-output-pre-dnat', 'filter', 'output', -110],
  ['filter-input', 'filter', 'input', 0],
  ['filter-forward', 'filter', 'forward', 0],
  ['filter-output', 'filter', 'output', 0],
  ['nat-prerouting', 'nat', 'prerouting', -100],
  ['nat-output', 'nat', 'output', -100],
  ['nat-postrouting', 'nat', 'postrouting', 100],
];

/** Jumps from the base chains, in kube-proxy's order (the order of the rules within each base chain). */
const JUMPS: [string, string, string][] = [
  ['filter-input', 'ct state new', 'nodeport-endpoints-check'],
  ['filter-input', 'ct state new', 'service-endpoints-check'],
  ['filter-forward', 'ct state new', 'service-endpoints-check'],
  ['filter-output', 'ct state new', 'service-endpoints-check'],
  ['filter-prerouting-pre-dnat', 'ct state new', 'firewall-check'],
  ['filter-output-pre-dnat', 'ct state new', 'firewall-check'],
  ['nat-output', '', 'services'],
  ['nat-prerouting', '', 'services'],
  ['nat-postrouting', '', 'masquerading'],
  ['filter-forward', 'ct state new', 'cluster-ips-check'],
  ['filter-output', 'ct state new', 'cluster-ips-check'],
];

/** The base, in the order kube-proxy's first (full) sync creates it: `nft list table` lists sets
 * and maps, then chains, each in creation order, and the rules of a chain in the order added. */
function baseText(o: NftOptions): string[] {
  const set = (name: string, type: string, comment: string) => `add set ${T} ${name} { type ${type} ; comment "${comment}" ; }`;
  const map = (name: string, type: string, comment: string) => `add map ${T} ${name} { type ${type} : verdict ; comment "${comment}" ; }`;
  const rule = (chain: string, r: string) => `add rule ${T} ${chain} ${r}`;
  return [
    `add table ${T} { comment "rules for kube-proxy" ; }`,
    ...BASE_CHAINS.map(([name, type, hook, prio]) => `add chain ${T} ${name} { type ${type} hook ${hook} priority ${prio} ; }`),
    ...['nodeport-endpoints-check', 'service-endpoints-check', 'firewall-check', 'services', 'masquerading', 'cluster-ips-check'].map(
      (c) => `add chain ${T} ${c}`,
    ),
    `add chain ${T} reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }`,
    set('hairpin-connections', 'ipv4_addr . ipv4_addr . inet_proto . inet_service', 'service hairpin connections'),
    set('cluster-ips', 'ipv4_addr', 'Active ClusterIPs'),
    set('nodeport-ips', 'ipv4_addr', 'IPs that accept NodePort traffic'),
    ...(o.nodeIPs?.length ? [`add element ${T} nodeport-ips { ${o.nodeIPs.join(' , ')} }`] : []),
    map('no-endpoint-services', 'ipv4_addr . inet_proto . inet_service', 'vmap to drop or reject packets to services with no endpoints'),
    map('no-endpoint-nodeports', 'inet_proto . inet_service', 'vmap to drop or reject packets to service nodeports with no endpoints'),
    map('firewall-ips', 'ipv4_addr . inet_proto . inet_service', 'destinations that are subject to LoadBalancerSourceRanges'),
    map('service-ips', 'ipv4_addr . inet_proto . inet_service', 'ClusterIP, ExternalIP and LoadBalancer IP traffic'),
    map('service-nodeports', 'inet_proto . inet_service', 'NodePort traffic'),
    ...JUMPS.map(([from, match, to]) => rule(from, `${match ? `${match} ` : ''}jump ${to}`)),
    // Masquerade what was marked (ClusterIP traffic from outside the cluster), and hairpin
    // connections (an endpoint on this node reaching itself through its Service).
    rule('masquerading', `mark and ${MASQ_MARK} != 0 mark set mark xor ${MASQ_MARK} masquerade fully-random`),
    rule('masquerading', 'ct status dnat ip saddr . ip daddr . meta l4proto . th dport @hairpin-connections masquerade fully-random'),
    // New connections still addressed to a ClusterIP after DNAT found no Service port there.
    rule('cluster-ips-check', 'ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"'),
    ...(o.serviceCidr ? [rule('cluster-ips-check', `ip daddr { ${o.serviceCidr} } drop comment "Drop traffic to unallocated ClusterIPs"`)] : []),
    rule('reject-chain', 'reject'),
    rule('service-endpoints-check', 'ip daddr . meta l4proto . th dport vmap @no-endpoint-services'),
    rule('nodeport-endpoints-check', 'ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports'),
    rule('firewall-check', 'ip daddr . meta l4proto . th dport vmap @firewall-ips'),
    rule(
      'services',
      `ip daddr @cluster-ips ip saddr != ${o.clusterCidr} mark set mark or ${MASQ_MARK} comment "masquerade clusterIP traffic from outside cluster"`,
    ),
    rule('services', 'ip daddr . meta l4proto . th dport vmap @service-ips'),
    rule('services', 'ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports'),
  ];
}

export function nftablesRuleset(fleet: ServicePort[], o: NftOptions): NftRuleset {
  const baseLines = baseText(o);
  const base = `${baseLines.join('\n')}\n`;
  let chains = baseLines.filter((l) => l.startsWith('add chain ')).length;
  let rules = baseLines.filter((l) => l.startsWith('add rule ')).length;
  let mapElements = 0;
  const batchSize = o.batchSize ?? 500;
  const batches: string[] = [];
  for (let start = 0; start < fleet.length; start += batchSize) {
    const lines: string[] = [];
    const clusterIPs: string[] = [];
    const serviceIPs: string[] = [];
    const noEndpoints: string[] = [];
    for (const s of fleet.slice(start, start + batchSize)) {
      const key = `${s.clusterIP} . ${s.protocol} . ${s.port}`;
      clusterIPs.push(s.clusterIP);
      if (!s.endpoints.length) {
        // No endpoint anywhere: no chain; new connections are rejected from the filter hooks.
        noEndpoints.push(`${key} comment "${servicePortName(s)}" : goto reject-chain`);
        continue;
      }
      const svc = nftServiceChain(s);
      lines.push(`add chain ${T} ${svc}`);
      lines.push(`add rule ${T} ${svc} ${dnatRule(s)}`);
      serviceIPs.push(`${key} : goto ${svc}`);
      chains += 1;
      rules += 1;
      mapElements += 1;
    }
    const add = (name: string, elements: string[]) => (elements.length ? [`add element ${T} ${name} { ${elements.join(' , ')} }`] : []);
    lines.push(...add('cluster-ips', clusterIPs), ...add('no-endpoint-services', noEndpoints), ...add('service-ips', serviceIPs));
    batches.push(`${lines.join('\n')}\n`);
  }
  return { base, batches, chains, rules, mapElements };
}
