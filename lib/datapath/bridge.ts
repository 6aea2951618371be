// What flannel's host-gw and vxlan backends share on each host: the cni0 bridge holding the host's
// pod /24 gateway, and one pod namespace plugged into it by a veth pair (the bridge CNI plugin's
// layout, as flannel's CNI configuration calls it: checked against the real plugins by
// flannel/compare.ts). The backends differ only in how a host reaches the other host's pod /24.
import { intToIp } from '../core/cidr.ts';
import { inNs, ipn } from '../core/netns.ts';
import type { DatapathBuild, Endpoint, Role, ServiceRouting } from './types.ts';

/**
 * Per host: forwarding on, cni0 with the /24's first address, a pod at the second. As the bridge
 * plugin (hairpinMode, isDefaultGateway) under flannel's plugin makes them: the bridge keeps a MAC
 * of its own rather than its lowest port's; addresses carry their broadcast; the host end of the
 * pod's veth has no transmit queue length and hairpin on; the pod routes the whole pod network via
 * the gateway as well as its default (flannel hands host-local that route).
 */
export function bridgePods(b: DatapathBuild, podMtu: number): Record<Role, Endpoint> {
  const endpoints = {} as Record<Role, Endpoint>;
  for (const h of b.hosts) {
    const gw = intToIp(h.podSubnetBase + 1);
    b.add(h.role, inNs(h.netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1'));
    b.add(h.role, ipn(h.netns, 'link', 'add', 'cni0', 'address', h.bridgeMac, 'mtu', String(podMtu), 'type', 'bridge'));
    b.add(h.role, ipn(h.netns, 'addr', 'add', `${gw}/24`, 'brd', '+', 'dev', 'cni0'));
    b.add(h.role, ipn(h.netns, 'link', 'set', 'cni0', 'up'));
    const pod = `${h.netns}.pod0`;
    const podIp = intToIp(h.podSubnetBase + 2);
    b.namespace(pod);
    b.add(h.role, ['ip', 'netns', 'add', pod]);
    b.add(h.role, ipn(pod, 'link', 'set', 'lo', 'up'));
    b.add(
      h.role,
      ipn(h.netns, 'link', 'add', 'veth0', 'mtu', String(podMtu), 'txqlen', '0', 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(podMtu), 'netns', pod),
    );
    b.add(h.role, ipn(h.netns, 'link', 'set', 'veth0', 'master', 'cni0'));
    b.add(h.role, ipn(h.netns, 'link', 'set', 'veth0', 'type', 'bridge_slave', 'hairpin', 'on'));
    b.add(h.role, ipn(h.netns, 'link', 'set', 'veth0', 'up'));
    b.add(h.role, ipn(pod, 'addr', 'add', `${podIp}/24`, 'brd', '+', 'dev', 'eth0'));
    b.add(h.role, ipn(pod, 'link', 'set', 'eth0', 'up'));
    b.add(h.role, ipn(pod, 'route', 'add', 'default', 'via', gw));
    b.add(h.role, ipn(pod, 'route', 'add', `${intToIp(b.pods.base)}/${b.pods.prefix}`, 'via', gw));
    endpoints[h.role] = { host: h.role, netns: pod, ip: podIp };
  }
  return endpoints;
}

/** The server's host hands backend traffic to its pod over cni0. */
export function serverPodRoute(b: DatapathBuild, r: ServiceRouting): void {
  b.add('server', ipn(b.hosts[1].netns, 'route', 'add', r.backendCidr, 'via', r.endpoints.server.ip, 'dev', 'cni0'));
}

/** The other host of `h`. */
export const peerOf = (b: DatapathBuild, role: Role) => (role === 'client' ? b.hosts[1] : b.hosts[0]);

/** The other host's pod /24, as a CIDR. */
export const peerSubnet = (b: DatapathBuild, role: Role) => `${intToIp(peerOf(b, role).podSubnetBase)}/24`;
