// ipvs mode: kube-proxy's IPVS proxier: the VIPs on the kube-ipvs0 dummy, a virtual server per
// VIP:port with masqueraded real servers, the KUBE-CLUSTER-IP ipset and a few nat rules. See README.md here.
import { inNs, ipn } from '../../core/netns.ts';
import { iptablesCommand } from '../iptables/index.ts';
import type { ProxyProvider } from '../provider.ts';
import { IPVS_DEVICE, ipvsRuleset, ipvsSysctls } from './ruleset.ts';

export const ipvs: ProxyProvider = {
  name: 'ipvs',
  summary: "kube-proxy's IPVS proxier: virtual servers on kube-ipvs0, the KUBE-CLUSTER-IP ipset, a few nat rules",
  netfilter: true,
  callsBackends: false,
  features: (o) => ['ipvs', 'dummy', `iptables-${o.iptablesBackend}`],
  tools: (o) => ['ipvsadm', 'ipset', iptablesCommand(o.iptablesBackend)],
  setup: (ctx) => ({
    files: [],
    steps: [
      inNs(ctx.hostNs, 'sysctl', '-qw', ...ipvsSysctls(ctx.options.ipvs.connReuseMode[0]!)),
      ipn(ctx.hostNs, 'link', 'add', IPVS_DEVICE, 'type', 'dummy'),
    ],
  }),
  program(ctx, fleet) {
    const r = ipvsRuleset(fleet, { clusterCidr: ctx.clusterCidr, scheduler: ctx.options.ipvs.scheduler });
    const f = (name: string) => `${ctx.dir}/${name}-${fleet.length}`;
    const ns = ctx.hostNs;
    const files = [
      { path: `${f('ipvs-addresses')}.batch`, content: r.addresses },
      { path: `${f('ipvs-ipset')}.restore`, content: r.ipset },
      { path: `${f('ipvs-ipvsadm')}.restore`, content: r.ipvsadm },
      { path: `${f('ipvs-iptables')}.rules`, content: r.iptables },
    ] as const;
    return {
      services: fleet.length,
      fleet,
      files: [...files],
      steps: [
        ipn(ns, 'addr', 'flush', 'dev', IPVS_DEVICE),
        ipn(ns, '-batch', files[0].path),
        inNs(ns, 'ipset', 'restore', '-exist', '-file', files[1].path),
        inNs(ns, 'ipvsadm', '--clear'),
        inNs(ns, 'sh', '-c', 'exec ipvsadm-restore < "$0"', files[2].path),
        inNs(ns, `${iptablesCommand(ctx.options.iptablesBackend)}-restore`, files[3].path),
      ],
      size: { rules: r.virtualServers + r.realServers, chains: 0, mapElements: r.ipsetEntries },
    };
  },
  cleanup(ctx) {
    const cmd = iptablesCommand(ctx.options.iptablesBackend);
    // The nat rules reference the ipset, so they go first.
    return [
      inNs(ctx.hostNs, cmd, '-t', 'nat', '-F'),
      inNs(ctx.hostNs, cmd, '-t', 'nat', '-X'),
      inNs(ctx.hostNs, 'ipvsadm', '--clear'),
      inNs(ctx.hostNs, 'ipset', 'destroy'),
      ipn(ctx.hostNs, 'link', 'del', IPVS_DEVICE),
    ];
  },
};
