// Pure AWS facts the target needs, as tables: which image gives which kernel, how each instance
// family does enhanced networking, and what an hour costs. No I/O and no SDK: the components read
// these, the tests check them, and `netlab plan` prints them.

/** The kernels an `aws` stack can ask for, each from one public image line. */
export const KERNELS = ['4.14', '5.10', '6.1', '6.12'] as const;
export type Kernel = (typeof KERNELS)[number];

export type OsFamily = 'amazon-linux-2' | 'amazon-linux-2023' | 'debian-11' | 'debian-12' | 'debian-13';
/** `aws.os`: which publisher's image line provides the kernel. */
export const DISTROS = ['amazon-linux', 'debian'] as const;
export type Distro = (typeof DISTROS)[number];

export interface Image {
  kernel: Kernel;
  distro: Distro;
  os: OsFamily;
  /** Public SSM parameter holding the newest AMI id of the line (x86_64). */
  ssmParameter: string;
  /** AWS account that publishes the AMIs (getAmi's owner filter). */
  owner: string;
  /** Login user of the image. */
  user: string;
  /** Package manager of the image. */
  packages: 'yum' | 'dnf' | 'apt-get';
  /** `uname -r` must start with this; host preparation fails loudly otherwise. */
  unamePrefix: string;
  /** cgroup version the image boots with (kubelet and Cilium care). */
  cgroup: 1 | 2;
  /** The distribution packages tuned (Amazon Linux 2023 does not: its tuning step records tuned as skipped). */
  tuned: boolean;
  /** Last day of the publisher's (free) support, ISO date. */
  supportEnds: string;
  note: string;
}

const AL = '/aws/service/ami-amazon-linux-latest';
const DEBIAN = '/aws/service/debian/release';
/** Amazon's own account alias for getAmi, and Debian's AWS account (the official Debian cloud images). */
export const AMAZON_OWNER = 'amazon';
export const DEBIAN_OWNER = '136693071363';

const al2 = {
  distro: 'amazon-linux',
  os: 'amazon-linux-2',
  owner: AMAZON_OWNER,
  user: 'ec2-user',
  packages: 'yum',
  cgroup: 1,
  tuned: true,
  supportEnds: '2026-06-30',
} as const;
const al2023 = {
  distro: 'amazon-linux',
  os: 'amazon-linux-2023',
  owner: AMAZON_OWNER,
  user: 'ec2-user',
  packages: 'dnf',
  cgroup: 2,
  tuned: false,
  supportEnds: '2029-06-30',
} as const;
const debian = { distro: 'debian', owner: DEBIAN_OWNER, user: 'admin', packages: 'apt-get', cgroup: 2, tuned: true } as const;

/**
 * Every image line netlab knows. Amazon Linux pins the kernel series in the parameter name itself;
 * each Debian release has one kernel series (its cloud kernel). Support ends: Amazon Linux 2
 * 2026-06-30, Amazon Linux 2023 2029-06-30; Debian 11 LTS 2026-08-31, Debian 12 LTS 2028-06-30,
 * Debian 13 LTS 2030-06-30.
 */
export const IMAGES: readonly Image[] = [
  {
    ...al2,
    kernel: '4.14',
    ssmParameter: `${AL}/amzn2-ami-hvm-x86_64-gp2`,
    unamePrefix: '4.14.',
    note: 'Amazon Linux 2 with its original 4.14 kernel: below 5.9, so IPVS conn_reuse_mode=1 drops SYNs to reused ports (E3). The only kernel below 5.9 in the catalogue',
  },
  {
    ...al2,
    kernel: '5.10',
    ssmParameter: `${AL}/amzn2-ami-kernel-5.10-hvm-x86_64-gp2`,
    unamePrefix: '5.10.',
    note: 'Amazon Linux 2 with the 5.10 kernel line: at or above 5.9 (IPVS fix for reused ports), below 5.13 (no kube-proxy nftables)',
  },
  {
    ...al2023,
    kernel: '6.1',
    ssmParameter: `${AL}/al2023-ami-kernel-6.1-x86_64`,
    unamePrefix: '6.1.',
    note: 'Amazon Linux 2023, kernel 6.1 line; no tuned package',
  },
  {
    ...al2023,
    kernel: '6.12',
    ssmParameter: `${AL}/al2023-ami-kernel-6.12-x86_64`,
    unamePrefix: '6.12.',
    note: 'Amazon Linux 2023, kernel 6.12 line; no tuned package',
  },
  {
    ...debian,
    kernel: '5.10',
    os: 'debian-11',
    ssmParameter: `${DEBIAN}/11/latest/amd64`,
    unamePrefix: '5.10.',
    supportEnds: '2026-08-31',
    note: 'Debian 11 (bullseye), cloud kernel 5.10',
  },
  {
    ...debian,
    kernel: '6.1',
    os: 'debian-12',
    ssmParameter: `${DEBIAN}/12/latest/amd64`,
    unamePrefix: '6.1.',
    supportEnds: '2028-06-30',
    note: 'Debian 12 (bookworm), cloud kernel 6.1',
  },
  {
    ...debian,
    kernel: '6.12',
    os: 'debian-13',
    ssmParameter: `${DEBIAN}/13/latest/amd64`,
    unamePrefix: '6.12.',
    supportEnds: '2030-06-30',
    note: 'Debian 13 (trixie), cloud kernel 6.12',
  },
];

/** The image for a distribution and kernel line, if the catalogue has one. */
export function imageFor(distro: Distro, kernel: Kernel): Image | undefined {
  return IMAGES.find((i) => i.distro === distro && i.kernel === kernel);
}

/** Today as an ISO date (NETLAB_TODAY overrides it, for tests of dates to come). */
export function today(): string {
  return process.env.NETLAB_TODAY ?? new Date().toISOString().slice(0, 10);
}

/** Whether the publisher still supports the image on `on` (ISO date), in words. */
export function supportStatus(i: Pick<Image, 'os' | 'supportEnds'>, on: string = today()): { ended: boolean; text: string } {
  const ended = on > i.supportEnds;
  return { ended, text: ended ? `${i.os}: support ended ${i.supportEnds} (no security fixes)` : `${i.os}: supported until ${i.supportEnds}` };
}

// ---------------------------------------------------------------------------------------------
// Kubernetes minors

/**
 * Kubernetes minors netlab offers, with their end of life. On 2026-11-30 the module proxy's newest
 * k8s.io/kubernetes tags are v1.35.4, v1.36.3 and v1.37.2: 1.35–1.37 are the maintained minors.
 * 1.31 (end of life 2025-10-28) stays only for kernels below 4.19, which kubeadm's preflight
 * refuses from 1.32 on (system-validators: kernel 4.19 or newer); it needs aws.acceptEndOfSupport.
 * The end-of-life dates of 1.35–1.37 are estimates (release date + the project's 14 months of
 * patch support), not read from a published table: check them against kubernetes.io/releases.
 */
export const KUBERNETES_MINORS = { '1.31': '2025-10-28', '1.35': '2027-02-28', '1.36': '2027-06-28', '1.37': '2027-10-28' } as const;
export type KubernetesMinor = keyof typeof KUBERNETES_MINORS;
export const KUBERNETES_VERSIONS = Object.keys(KUBERNETES_MINORS) as KubernetesMinor[];

/** kubeadm refuses this kernel for this Kubernetes minor (preflight SystemVerification). */
export function kubeadmRefusesKernel(kernel: Kernel, minor: string): boolean {
  const [, m] = minor.split('.').map(Number);
  return m! >= 32 && !kernelAtLeast(kernel, 4, 19);
}

/** Kernel version as [major, minor]. */
export function kernelParts(k: Kernel): [number, number] {
  const [a, b] = k.split('.').map(Number);
  return [a!, b!];
}
export const kernelAtLeast = (k: Kernel, major: number, minor: number) => {
  const [a, b] = kernelParts(k);
  return a > major || (a === major && b >= minor);
};

// ---------------------------------------------------------------------------------------------
// Instance types

export type EnhancedNetworking = 'ena' | 'ixgbevf' | 'none';

/**
 * Enhanced networking by family. Intel 82599 VF (`sriovNetSupport = "simple"`, driver ixgbevf) on
 * the older Xen families; ENA on everything Nitro and a few late Xen families (m4.16xlarge is the
 * one ENA size of m4). Families not listed are refused: guessing the driver would let a run on the
 * wrong NIC pass as the study's setup.
 */
const IXGBEVF = new Set(['c3', 'c4', 'd2', 'i2', 'm4', 'r3']);
const ENA_XEN = new Set(['f1', 'g3', 'h1', 'i3', 'm4.16xlarge', 'p2', 'p3', 'r4', 'x1', 'x1e']);
const ENA_NITRO = /^(c5|c5a|c5n|c5d|c6i|c6id|c6a|c6in|c7i|c7a|c8i|m5|m5a|m5n|m5d|m5zn|m6i|m6a|m6in|m7i|m7a|r5|r5a|r5n|r6i|r6a|r7i|r7a|t3|t3a|z1d|i3en|i4i)$/;
const NO_ENHANCED = /^(t2|m3|c1|m1|m2|t1)$/;
const ARM = /^[a-z]+\d+g[a-z]*$/;

export function familyOf(instanceType: string): string {
  return instanceType.split('.')[0]!;
}

export function enhancedNetworking(instanceType: string): { kind: EnhancedNetworking; driver: string | null; why: string } | { error: string } {
  const family = familyOf(instanceType);
  if (ARM.test(family)) return { error: `${instanceType} is an arm64 (Graviton) type; the image catalogue is x86_64 only` };
  if (ENA_XEN.has(instanceType) || ENA_XEN.has(family)) return { kind: 'ena', driver: 'ena', why: `${family}: Elastic Network Adapter on Xen` };
  if (IXGBEVF.has(family)) return { kind: 'ixgbevf', driver: 'ixgbevf', why: `${family}: Intel 82599 virtual function (SR-IOV, sriovNetSupport "simple")` };
  if (ENA_NITRO.test(family)) return { kind: 'ena', driver: 'ena', why: `${family}: Nitro, Elastic Network Adapter` };
  if (NO_ENHANCED.test(family)) return { kind: 'none', driver: null, why: `${family}: no enhanced networking` };
  return { error: `instance family ${family} is not in netlab's table (lib/aws/catalogue.ts); its NIC driver would be a guess` };
}

export interface TypeFacts {
  vcpus: number;
  /** Private IPv4 addresses one network interface can hold (primary included). */
  ipv4PerEni: number;
  /** On-demand Linux USD per hour in us-east-1, us-east-2 and us-west-2. */
  usdPerHour: number;
}

/**
 * Instance facts for the types the shipped stacks and their obvious alternatives use. Prices are
 * AWS's public on-demand Linux prices for us-east-1/us-east-2/us-west-2 as of 2025; other regions,
 * other types, or a newer price list: set `aws.hourlyPriceUsd`.
 */
export const TYPES: Record<string, TypeFacts> = {
  'c4.large': { vcpus: 2, ipv4PerEni: 10, usdPerHour: 0.1 },
  'c4.xlarge': { vcpus: 4, ipv4PerEni: 15, usdPerHour: 0.199 },
  'c4.2xlarge': { vcpus: 8, ipv4PerEni: 15, usdPerHour: 0.398 },
  'c4.4xlarge': { vcpus: 16, ipv4PerEni: 30, usdPerHour: 0.796 },
  'c4.8xlarge': { vcpus: 36, ipv4PerEni: 30, usdPerHour: 1.591 },
  'c5.large': { vcpus: 2, ipv4PerEni: 10, usdPerHour: 0.085 },
  'c5.xlarge': { vcpus: 4, ipv4PerEni: 15, usdPerHour: 0.17 },
  'c5.2xlarge': { vcpus: 8, ipv4PerEni: 15, usdPerHour: 0.34 },
  'c5.4xlarge': { vcpus: 16, ipv4PerEni: 30, usdPerHour: 0.68 },
  'c5.9xlarge': { vcpus: 36, ipv4PerEni: 30, usdPerHour: 1.53 },
  'c5n.9xlarge': { vcpus: 36, ipv4PerEni: 30, usdPerHour: 1.944 },
  'c6i.8xlarge': { vcpus: 32, ipv4PerEni: 30, usdPerHour: 1.36 },
  'm4.large': { vcpus: 2, ipv4PerEni: 10, usdPerHour: 0.1 },
  'm5.large': { vcpus: 2, ipv4PerEni: 10, usdPerHour: 0.096 },
  't3.large': { vcpus: 2, ipv4PerEni: 12, usdPerHour: 0.0832 },
};

export const PRICED_REGIONS = ['us-east-1', 'us-east-2', 'us-west-2'] as const;
/** gp3 storage, USD per GB-month (us-east-1). */
export const GP3_USD_PER_GB_MONTH = 0.08;
/** A public IPv4 address, USD per hour (charged since February 2024). */
export const PUBLIC_IPV4_USD_PER_HOUR = 0.005;
export const HOURS_PER_MONTH = 730;

export interface CostEstimate {
  usdPerHour: number;
  lines: { item: string; count: number; usdPerHour: number }[];
  source: string;
  /** The market the hosts are launched in and priced at: on-demand, or one-time spot (`aws.spot`). */
  market: 'on-demand' | 'spot';
}

/**
 * What the stack costs per hour while it exists: two instances, their root volumes and public
 * addresses. VPC, subnet, gateway, security group and placement group cost nothing; data transfer
 * inside one availability zone over private addresses is free.
 *
 * Spot (`spot: true`): the instances are priced at `spotPriceUsd` when given (the stack's own
 * figure, which netlab cannot check), else at the on-demand price as the upper bound (a spot
 * instance launched without a maximum price never bills above on-demand); the source says which.
 */
export function hourlyCost(o: {
  instanceType: string;
  region: string;
  rootVolumeGb: number;
  hosts: number;
  overrideUsdPerHour?: number | undefined;
  spot?: boolean | undefined;
  spotPriceUsd?: number | undefined;
}): CostEstimate | { error: string } {
  let instance: number;
  let source: string;
  if (o.spot && o.spotPriceUsd !== undefined) {
    instance = o.spotPriceUsd;
    source = 'spot: aws.spotPriceUsd from the stack';
  } else if (o.overrideUsdPerHour !== undefined) {
    instance = o.overrideUsdPerHour;
    source = 'aws.hourlyPriceUsd from the stack';
  } else {
    const facts = TYPES[o.instanceType];
    if (!facts) return { error: `no price for ${o.instanceType} in netlab's table (${Object.keys(TYPES).join(', ')}); set aws.hourlyPriceUsd` };
    if (!(PRICED_REGIONS as readonly string[]).includes(o.region))
      return { error: `prices are tabled for ${PRICED_REGIONS.join(', ')} only; for ${o.region} set aws.hourlyPriceUsd` };
    instance = facts.usdPerHour;
    source = `on-demand Linux price table (lib/aws/catalogue.ts), ${o.region}`;
  }
  if (o.spot && o.spotPriceUsd === undefined)
    source = `spot, priced at the on-demand price as the upper bound (${source}); set aws.spotPriceUsd for the spot price`;
  const volume = (o.rootVolumeGb * GP3_USD_PER_GB_MONTH) / HOURS_PER_MONTH;
  const lines = [
    { item: `${o.instanceType}${o.spot ? ' spot' : ''} instance`, count: o.hosts, usdPerHour: instance },
    { item: `${o.rootVolumeGb} GB gp3 root volume`, count: o.hosts, usdPerHour: volume },
    { item: 'public IPv4 address', count: o.hosts, usdPerHour: PUBLIC_IPV4_USD_PER_HOUR },
  ];
  const total = lines.reduce((s, l) => s + l.count * l.usdPerHour, 0);
  return { usdPerHour: Math.round(total * 10000) / 10000, lines, source, market: o.spot ? 'spot' : 'on-demand' };
}
