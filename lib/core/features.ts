// The kernel features the lab can probe for (lib/local/features.ts tries each in a scratch
// namespace). Datapaths and proxy modes name the ones they need.
export const FEATURES = [
  'netns',
  'veth',
  'bridge',
  'vxlan',
  'macvlan',
  'ipvlan',
  'dummy',
  'ipvs',
  'nftables',
  'iptables-nft',
  'iptables-legacy',
  'bpf',
  'cgroup2',
] as const;
export type Feature = (typeof FEATURES)[number];
