// kube-proxy iptables mode as iptables-restore input: the whole nat table, loaded in one restore.
// Two layouts:
//   current — kube-proxy ≥ 1.21-ish: one rule per Service port in KUBE-SERVICES, the
//             masquerade rule first in KUBE-SVC-*, per-endpoint comments `svc -> ip:port`,
//             probabilities printed with %0.10f;
//   2019    — the layout the 2019 study measured, as kube-proxy 1.14 (k8s.io/kubernetes
//             v1.14.10, pkg/proxy/iptables/proxier.go) wrote it: the masquerade rule and the
//             jump both in KUBE-SERVICES (2 rules per Service), addresses as /32, probabilities
//             with %0.5f, and no comment on the KUBE-SVC-* → KUBE-SEP-* jumps nor in the
//             KUBE-SEP-* chains at any size: its helper that was to add them appended to a copy
//             of the argument slice, so the comment never reached the rule.
// Pure; tests compare whole outputs, as kube-proxy's own tests do.
import { sepChain, servicePortName, svcChain, type ServicePort } from '../fleet.ts';

import type { IptablesLayout } from '../provider.ts';
export type { IptablesLayout };

const MASQ_MARK = '0x4000';

/**
 * Above this many endpoints in all (kube-proxy's largeClusterEndpointsThreshold), kube-proxy's
 * current layout writes no comment on the KUBE-SVC-* → KUBE-SEP-* jumps nor in the KUBE-SEP-*
 * chains, to keep the ruleset small.
 */
export const LARGE_CLUSTER_ENDPOINTS = 1000;

/** kube-proxy writes a comment bare when it has no spaces, quoted otherwise. */
const comment = (c: string) => (c.includes(' ') ? `"${c}"` : c);

/** Byte-wise string order (Go's sort.Strings), not locale order. */
const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Go's %0.Nf of 1/(n-i). */
const probability = (remaining: number, digits: number) => (1 / remaining).toFixed(digits);

export interface IptablesRuleset {
  text: string;
  /** Rules in the nat table written by this ruleset (jumps from base chains included). */
  natRules: number;
  natChains: number;
}

export function iptablesRuleset(fleet: ServicePort[], o: { clusterCidr: string; layout: IptablesLayout }): IptablesRuleset {
  const old = o.layout === '2019';
  // KUBE-PROXY-CANARY: the empty chain today's kube-proxy keeps in each table to notice a flush.
  const chains: string[] = ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ', ...(old ? [] : ['KUBE-PROXY-CANARY'])];
  const rules: string[] = [];
  // Jumps from the built-in chains (kube-proxy adds these with `iptables -I`; here they are part
  // of the same restore, into the lab namespace's empty built-in chains).
  rules.push('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  rules.push('-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  rules.push('-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING');
  if (old) {
    rules.push(`-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -m mark --mark ${MASQ_MARK}/${MASQ_MARK} -j MASQUERADE`);
    rules.push(`-A KUBE-MARK-MASQ -j MARK --set-xmark ${MASQ_MARK}/${MASQ_MARK}`);
  } else {
    rules.push(`-A KUBE-POSTROUTING -m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`);
    rules.push(`-A KUBE-POSTROUTING -j MARK --xor-mark ${MASQ_MARK}`);
    // --random-fully: kube-proxy asks for it whenever iptables supports it (1.6.2 and later).
    rules.push('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully');
    rules.push(`-A KUBE-MARK-MASQ -j MARK --or-mark ${MASQ_MARK}`);
  }
  const svcRules: string[] = [];
  const sepRules: string[] = [];
  const large = !old && fleet.reduce((n, s) => n + s.endpoints.length, 0) > LARGE_CLUSTER_ENDPOINTS;
  for (const s of fleet) {
    const name = servicePortName(s);
    const svc = svcChain(s);
    // The 2019 layout wrote addresses as /32; the current one writes them bare.
    const match = `-m comment --comment ${comment(`${name} cluster IP`)} -m tcp -p tcp -d ${s.clusterIP}${old ? '/32' : ''} --dport ${s.port}`;
    const masq = `${match} ! -s ${o.clusterCidr} -j KUBE-MARK-MASQ`;
    chains.push(svc);
    if (old) rules.push(`-A KUBE-SERVICES ${masq}`);
    rules.push(`-A KUBE-SERVICES ${match} -j ${svc}`);
    if (!old) svcRules.push(`-A ${svc} ${masq}`);
    const n = s.endpoints.length;
    // Today's kube-proxy orders a Service's endpoints by their "ip:port" text (so 10.0.0.10
    // comes before 10.0.0.2); the 2019 layout kept the order it was given.
    const eps = old ? s.endpoints : [...s.endpoints].sort((a, b) => byText(`${a.ip}:${a.port}`, `${b.ip}:${b.port}`));
    eps.forEach((e, i) => {
      const sep = sepChain(s, e);
      chains.push(sep);
      const stat = i < n - 1 ? ` -m statistic --mode random --probability ${probability(n - i, old ? 5 : 10)}` : '';
      const c = comment(`${name} -> ${e.ip}:${e.port}`);
      const jumpComment = large || old ? '' : ` -m comment --comment ${c}`;
      const sepComment = large || old ? '' : ` -m comment --comment ${comment(name)}`;
      svcRules.push(`-A ${svc}${jumpComment}${stat} -j ${sep}`);
      sepRules.push(`-A ${sep}${sepComment} -s ${old ? `${e.ip}/32` : e.ip} -j KUBE-MARK-MASQ`);
      sepRules.push(`-A ${sep}${sepComment} -m tcp -p tcp -j DNAT --to-destination ${e.ip}:${e.port}`);
    });
  }
  rules.push(
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
  );
  const nat = [...rules, ...svcRules, ...sepRules];
  const text = ['*nat', ...chains.map((c) => `:${c} - [0:0]`), ...nat, 'COMMIT', ''].join('\n');
  return { text, natRules: nat.length, natChains: chains.length };
}

// ---------------------------------------------------------------------------------------------
// Rules walked per new connection, from `iptables-save -c -t nat` after a run.

interface SavedRule {
  packets: number;
  target: string;
}

/** nat-table chains of `iptables-save -c`, each with its rules' packet counters and targets in order. */
function parseSave(save: string): Map<string, SavedRule[]> {
  const rules = new Map<string, SavedRule[]>();
  let inNat = false;
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) inNat = line === '*nat';
    if (!inNat) continue;
    const chainDecl = /^:(\S+) /.exec(line);
    if (chainDecl) {
      rules.set(chainDecl[1]!, rules.get(chainDecl[1]!) ?? []);
      continue;
    }
    const m = /^\[(\d+):\d+\] -A (\S+) .*-j (\S+)/.exec(line);
    if (m) rules.get(m[2]!)!.push({ packets: Number(m[1]), target: m[3]! });
  }
  return rules;
}

/** Targets after which a packet does not come back to evaluate the next rule of the chain. */
const terminal = (target: string) => !['KUBE-MARK-MASQ', 'MARK', 'RETURN'].includes(target);

export interface RulesWalked {
  /** New connections seen by the nat table (packets entering KUBE-SERVICES from the OUTPUT hook). */
  connections: number;
  /** Rule evaluations in the lab's nat chains, all connections. */
  evaluations: number;
  perConnection: number | null;
}

/**
 * Count rule evaluations from per-rule packet counters and rule positions. In the nat table only
 * a connection's first packet is evaluated, so counters count connections. In each chain every
 * rule is evaluated by the packets that entered the chain minus those that already left through
 * an earlier terminal rule; a jump to a chain that returns (KUBE-MARK-MASQ) is not terminal.
 * Packets entering a chain = sum of the jumps to it (or, for a built-in chain, every packet
 * traversing it: taken as the hook's jump count into KUBE-SERVICES/KUBE-POSTROUTING).
 */
export function rulesWalked(save: string, hooks: string[] = ['OUTPUT']): RulesWalked {
  const rules = parseSave(save);
  const entered = new Map<string, number>();
  for (const list of rules.values()) for (const r of list) if (rules.has(r.target)) entered.set(r.target, (entered.get(r.target) ?? 0) + r.packets);
  let evaluations = 0;
  for (const [chain, list] of rules) {
    if (!chain.startsWith('KUBE-') || chain === 'KUBE-POSTROUTING' || chain === 'KUBE-MARK-MASQ') continue;
    let reaching = entered.get(chain) ?? 0;
    for (const r of list) {
      evaluations += reaching;
      if (terminal(r.target)) reaching -= r.packets;
    }
  }
  const connections = hooks.reduce((sum, h) => sum + (rules.get(h)?.find((r) => r.target === 'KUBE-SERVICES')?.packets ?? 0), 0);
  // The hook rule that jumps to KUBE-SERVICES is itself one evaluation per connection.
  evaluations += connections;
  return { connections, evaluations, perConnection: connections ? evaluations / connections : null };
}
