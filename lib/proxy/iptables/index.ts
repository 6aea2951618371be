// iptables mode: kube-proxy's nat table (KUBE-SERVICES → KUBE-SVC-* → KUBE-SEP-*), loaded with one
// restore through the backend the stack names (iptables-nft or iptables-legacy). See README.md here.
import { inNs } from '../../core/netns.ts';
import type { ServicePort } from '../fleet.ts';
import type { IptablesBackend, IptablesLayout, ProxyContext, ProxyProgram, ProxyProvider } from '../provider.ts';
import { iptablesRuleset } from './ruleset.ts';

/** The iptables command of a backend, named explicitly (plain `iptables` is whichever the distribution's alternatives pick). */
export const iptablesCommand = (backend: IptablesBackend) => `iptables-${backend}`;

/** kube-proxy's iptables nat table, loaded with one restore through the chosen backend. */
export function iptablesProgram(o: {
  fleet: ServicePort[];
  hostNs: string;
  dir: string;
  clusterCidr: string;
  layout: IptablesLayout;
  backend: IptablesBackend;
}): ProxyProgram {
  const r = iptablesRuleset(o.fleet, { clusterCidr: o.clusterCidr, layout: o.layout });
  const file = `${o.dir}/iptables-${o.fleet.length}.rules`;
  const cmd = iptablesCommand(o.backend);
  return {
    services: o.fleet.length,
    fleet: o.fleet,
    files: [{ path: file, content: r.text }],
    // Without --noflush the nat table is replaced as a whole: the previous count's chains go.
    steps: [inNs(o.hostNs, `${cmd}-restore`, file)],
    size: { rules: r.natRules, chains: r.natChains, mapElements: 0 },
    zeroCounters: inNs(o.hostNs, cmd, '-t', 'nat', '-Z'),
    saveCounters: inNs(o.hostNs, `${cmd}-save`, '-c', '-t', 'nat'),
  };
}

/** Empty the nat table of the host namespace: flush every chain, then delete the non-built-in ones. */
export const flushNat = (ctx: ProxyContext): string[][] => {
  const cmd = iptablesCommand(ctx.options.iptablesBackend);
  return [inNs(ctx.hostNs, cmd, '-t', 'nat', '-F'), inNs(ctx.hostNs, cmd, '-t', 'nat', '-X')];
};

export const iptables: ProxyProvider = {
  name: 'iptables',
  summary: "kube-proxy's iptables nat chains, one restore through iptables-nft or iptables-legacy",
  netfilter: true,
  callsBackends: false,
  features: (o) => [`iptables-${o.iptablesBackend}`],
  tools: (o) => [iptablesCommand(o.iptablesBackend)],
  setup: (ctx) => ({ files: [], steps: [inNs(ctx.hostNs, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')] }),
  program: (ctx, fleet) =>
    iptablesProgram({
      fleet,
      hostNs: ctx.hostNs,
      dir: ctx.dir,
      clusterCidr: ctx.clusterCidr,
      layout: ctx.options.iptablesLayout,
      backend: ctx.options.iptablesBackend,
    }),
  cleanup: flushNat,
};
