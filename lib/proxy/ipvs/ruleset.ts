// kube-proxy IPVS mode, as the inputs of the tools kube-proxy's netlink calls correspond to: the
// VIPs on the `kube-ipvs0` dummy (ip -batch), one virtual server per VIP:port with its real
// servers in masquerade mode (ipvsadm-restore), the `KUBE-CLUSTER-IP` ipset (ipset restore), the
// few nat rules IPVS mode keeps (iptables-restore), and the sysctls kube-proxy sets. Pure.
import type { ServicePort } from '../fleet.ts';

export const IPVS_DEVICE = 'kube-ipvs0';

export interface IpvsRuleset {
  /** `ip -batch` lines: the VIPs on kube-ipvs0. */
  addresses: string;
  /** `ipvsadm-restore` input. */
  ipvsadm: string;
  /** `ipset restore -exist` input. */
  ipset: string;
  /** `iptables-restore` input (nat table). */
  iptables: string;
  virtualServers: number;
  realServers: number;
  ipsetEntries: number;
}

/** The sysctls kube-proxy's IPVS proxier sets (pkg/proxy/ipvs/proxier.go), conn_reuse_mode from the spec. */
export function ipvsSysctls(connReuseMode: number): string[] {
  return [
    'net.ipv4.ip_forward=1',
    'net.ipv4.vs.conntrack=1',
    `net.ipv4.vs.conn_reuse_mode=${connReuseMode}`,
    'net.ipv4.vs.expire_nodest_conn=1',
    'net.ipv4.vs.expire_quiescent_template=1',
  ];
}

export function ipvsRuleset(fleet: ServicePort[], o: { clusterCidr: string; scheduler: string }): IpvsRuleset {
  const addresses: string[] = [];
  const ipvsadm: string[] = [];
  // Loaded with `ipset restore -exist`: the set survives between Service counts (the nat rules
  // refer to it, so it cannot be destroyed) and is emptied instead.
  const ipset = ['create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536', 'flush KUBE-CLUSTER-IP'];
  let realServers = 0;
  for (const s of fleet) {
    const vs = `${s.clusterIP}:${s.port}`;
    addresses.push(`addr add ${s.clusterIP}/32 dev ${IPVS_DEVICE}`);
    ipvsadm.push(`-A -t ${vs} -s ${o.scheduler}`);
    for (const e of s.endpoints) {
      ipvsadm.push(`-a -t ${vs} -r ${e.ip}:${e.port} -m -w 1`);
      realServers++;
    }
    ipset.push(`add KUBE-CLUSTER-IP ${s.clusterIP},tcp:${s.port}`);
  }
  const iptables = [
    '*nat',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-POSTROUTING - [0:0]',
    ':KUBE-MARK-MASQ - [0:0]',
    ':KUBE-NODE-PORT - [0:0]',
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE',
    '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
    `-A KUBE-SERVICES ! -s ${o.clusterCidr} -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ`,
    '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
    '-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT',
    'COMMIT',
    '',
  ].join('\n');
  return {
    addresses: addresses.join('\n') + '\n',
    ipvsadm: ipvsadm.join('\n') + '\n',
    ipset: ipset.join('\n') + '\n',
    iptables,
    virtualServers: fleet.length,
    realServers,
    ipsetEntries: fleet.length,
  };
}
