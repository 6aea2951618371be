// Holding the model to the real thing (issue 16): the nat table (iptables) or the `ip kube-proxy`
// table (nftables) the model writes against the one the real kube-proxy programs for the same
// Services, both as the kernel gives them back (`iptables-save` or `nft list table`, which print
// every rule in one canonical form whoever wrote it). Only what is run-specific is normalised
// away (normalizeSave, normalizeNft). Pure: the caller loads the model into a scratch namespace
// and lists it, and reads kube-proxy's.
import { diffArrays } from 'diff';
import { intToIp, parseCidr } from '../../core/cidr.ts';
import type { ServicePort } from '../fleet.ts';
import { LARGE_CLUSTER_ENDPOINTS } from '../iptables/ruleset.ts';

/**
 * One table of an iptables-save text, without what differs between any two saves of the same
 * rules: the header and footer comments and the packet/byte counters (of chains and of rules).
 * Two things kube-proxy does not fix are also left out:
 * - the order of KUBE-SERVICES' per-Service rules: the order of a Go map walk, different at
 *   every sync, so they are compared sorted, in the positions they hold;
 * - above 1000 endpoints (kube-proxy's large-cluster threshold), the comments on the endpoint
 *   rules (the KUBE-SVC-* jumps to KUBE-SEP-* and the KUBE-SEP-* rules). kube-proxy decides them
 *   at each sync by the endpoints it knows then, and rewrites a Service's chains only when that
 *   Service changes (its full resyncs are skipped in large clusters): the Services written by
 *   the syncs before the fleet passed 1000 endpoints keep their comments, the others have none,
 *   and which ones depends on how the fleet's writes fell into kube-proxy's syncs. So above the
 *   threshold these comments are compared as absent on both sides (the model writes none).
 */
export function normalizeSave(text: string, table = 'nat'): string[] {
  const out = saveLines(text, table);
  const perService = /^-A KUBE-SERVICES .* -j KUBE-SVC-/;
  const at = out.flatMap((l, i) => (perService.test(l) ? [i] : []));
  const sorted = at.map((i) => out[i]!).sort();
  at.forEach((i, k) => {
    out[i] = sorted[k]!;
  });
  if (out.filter((l) => l.startsWith(':KUBE-SEP-')).length <= LARGE_CLUSTER_ENDPOINTS) return out;
  const endpointRule = /^-A (KUBE-SEP-\S+ |KUBE-SVC-\S+ .*-j KUBE-SEP-)/;
  return out.map((l) => (endpointRule.test(l) ? l.replace(/ -m comment --comment (?:"[^"]*"|\S+)/, '') : l));
}

function saveLines(text: string, table: string): string[] {
  const out: string[] = [];
  let inTable = false;
  for (const raw of text.split('\n')) {
    const l = raw.trimEnd();
    if (l.startsWith('*')) inTable = l === `*${table}`;
    else if (!inTable || !l || l.startsWith('#') || l === 'COMMIT') continue;
    else if (l.startsWith(':')) out.push(l.replace(/ \[\d+:\d+\]$/, ''));
    else out.push(l.replace(/^\[\d+:\d+\] /, ''));
  }
  return out;
}

export interface RulesetDiff {
  /** Lines the model has and kube-proxy does not, in order. */
  onlyModel: string[];
  /** Lines kube-proxy has and the model does not. */
  onlyReal: string[];
  /** Lines both have. */
  same: number;
}

/** A line diff (Myers, from the `diff` package) of two normalized saves. */
export function diffRulesets(model: string[], real: string[]): RulesetDiff {
  const out: RulesetDiff = { onlyModel: [], onlyReal: [], same: 0 };
  for (const part of diffArrays(model, real)) {
    if (part.added) out.onlyReal.push(...part.value);
    else if (part.removed) out.onlyModel.push(...part.value);
    else out.same += part.value.length;
  }
  return out;
}

/** The first `n` differing lines of each side, for a message. */
export function diffText(d: RulesetDiff, n = 20): string {
  const show = (sign: string, xs: string[]) =>
    xs
      .slice(0, n)
      .map((x) => `${sign} ${x}`)
      .concat(xs.length > n ? [`${sign} … ${xs.length - n} more`] : []);
  return [
    `${d.same} lines the same; ${d.onlyModel.length} only in the model (-), ${d.onlyReal.length} only in kube-proxy's (+)`,
    ...show('-', d.onlyModel),
    ...show('+', d.onlyReal),
  ].join('\n');
}

/**
 * `nft list table` text without what differs between two listings of the same table when
 * kube-proxy v1.37 wrote one and the model the other, each line trimmed. Two orders are left
 * out, and nothing else:
 * - the elements of a named set or map: the kernel keeps them in a hash table seeded at random
 *   when the set is made and gives them back in that order, so they are compared sorted (joined
 *   onto one line, since nft wraps them by their order);
 * - the per-Service chains (the only names with a `/`, kube-proxy's own test for them): the
 *   kernel lists chains in the order they were made, and kube-proxy makes a sync's new chains in
 *   the order of a Go map walk, at every sync that brings new Services, so these chain blocks are
 *   compared sorted by name, in the positions they hold.
 * Chain names, the order of rules in a chain, the order of the base chains, sets and maps, the
 * numgen maps' elements (keyed 0…N-1, in kube-proxy's endpoint order), comments: all compared as
 * they are. `nft list table` prints no handles (without -a) and kube-proxy's table no counters.
 */
export function normalizeNft(text: string): string[] {
  const out = nftLines(text);
  const blocks: [number, number][] = [];
  for (let i = 0; i < out.length; i++) {
    if (!/^chain \S*\/\S* \{$/.test(out[i]!)) continue;
    let end = i;
    while (end < out.length && out[end] !== '}') end++;
    blocks.push([i, end]);
    i = end;
  }
  if (!blocks.length) return out;
  const sorted = blocks.map(([a, b]) => out.slice(a, b + 1)).sort((x, y) => (x[0]! < y[0]! ? -1 : x[0]! > y[0]! ? 1 : 0));
  const res: string[] = [];
  let k = 0;
  for (let i = 0; i < out.length; i++) {
    const b = blocks[k];
    if (b && i === b[0]) {
      res.push(...sorted[k]!);
      i = b[1];
      k++;
    } else res.push(out[i]!);
  }
  return res;
}

/** The listing's lines, trimmed, blank ones dropped, each set's or map's elements on one line, sorted. */
function nftLines(text: string): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (!l) continue;
    const m = /^elements = \{(.*)$/.exec(l);
    if (!m) {
      out.push(l);
      continue;
    }
    let body = m[1]!;
    while (!body.trimEnd().endsWith('}') && i + 1 < lines.length) body += ` ${lines[++i]!.trim()}`;
    const items = body
      .replace(/\}\s*$/, '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)
      .sort();
    out.push(`elements = { ${items.join(', ')} }`);
  }
  return out;
}

/**
 * The Service the API server makes for itself, `default/kubernetes` port `https` 443 at the
 * Service CIDR's first address. The lab's API server runs with `--endpoint-reconciler-type=none`,
 * so it has no endpoints, and kube-proxy's nftables table holds it as a Service to reject.
 */
export function apiServerService(serviceCidr: string): ServicePort {
  return {
    namespace: 'default',
    name: 'kubernetes',
    portName: 'https',
    protocol: 'tcp',
    clusterIP: intToIp(parseCidr(serviceCidr).base + 1),
    port: 443,
    endpoints: [],
  };
}
