// Pure AWS facts the target needs, as tables: which image gives which kernel, how each instance
// family does enhanced networking, and what an hour costs. No I/O and no SDK: the components read
// these, the tests check them, and `netlab plan` prints them.

/** The kernels an `aws` stack can ask for, each from one public image line. */
export const KERNELS = ['4.14', '5.10', '6.1', '6.12'] as const;
export type Kernel = (typeof KERNELS)[number];

export type OsFamily = 'amazon-linux-2' | 'amazon-linux-2023';

export interface Image {
  kernel: Kernel;
  os: OsFamily;
  /** Public SSM parameter holding the newest AMI id of the line (x86_64). */
  ssmParameter: string;
  /** Login user of the image. */
  user: string;
  /** Package manager of the image. */
  packages: 'yum' | 'dnf';
  /** `uname -r` must start with this; host preparation fails loudly otherwise. */
  unamePrefix: string;
  /** cgroup version the image boots with (kubelet and Cilium care). */
  cgroup: 1 | 2;
  note: string;
}

const AL = '/aws/service/ami-amazon-linux-latest';

/** One image per kernel. Amazon Linux lines pin the kernel series in the parameter name itself. */
export const IMAGES: Record<Kernel, Image> = {
  '4.14': {
    kernel: '4.14',
    os: 'amazon-linux-2',
    ssmParameter: `${AL}/amzn2-ami-hvm-x86_64-gp2`,
    user: 'ec2-user',
    packages: 'yum',
    unamePrefix: '4.14.',
    cgroup: 1,
    note: 'Amazon Linux 2 with its original 4.14 kernel: below 5.9, so IPVS conn_reuse_mode=1 drops SYNs to reused ports (E3). Amazon Linux 2 reached end of support on 2026-06-30; its last images still launch but get no fixes',
  },
  '5.10': {
    kernel: '5.10',
    os: 'amazon-linux-2',
    ssmParameter: `${AL}/amzn2-ami-kernel-5.10-hvm-x86_64-gp2`,
    user: 'ec2-user',
    packages: 'yum',
    unamePrefix: '5.10.',
    cgroup: 1,
    note: 'Amazon Linux 2 with the 5.10 kernel line: at or above 5.9 (IPVS fix for reused ports), below 5.13 (no kube-proxy nftables). End of support 2026-06-30',
  },
  '6.1': {
    kernel: '6.1',
    os: 'amazon-linux-2023',
    ssmParameter: `${AL}/al2023-ami-kernel-6.1-x86_64`,
    user: 'ec2-user',
    packages: 'dnf',
    unamePrefix: '6.1.',
    cgroup: 2,
    note: 'Amazon Linux 2023, kernel 6.1 line',
  },
  '6.12': {
    kernel: '6.12',
    os: 'amazon-linux-2023',
    ssmParameter: `${AL}/al2023-ami-kernel-6.12-x86_64`,
    user: 'ec2-user',
    packages: 'dnf',
    unamePrefix: '6.12.',
    cgroup: 2,
    note: 'Amazon Linux 2023, kernel 6.12 line',
  },
};

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
}

/**
 * What the stack costs per hour while it exists: two instances, their root volumes and public
 * addresses. VPC, subnet, gateway, security group and placement group cost nothing; data transfer
 * inside one availability zone over private addresses is free.
 */
export function hourlyCost(o: { instanceType: string; region: string; rootVolumeGb: number; hosts: number; overrideUsdPerHour?: number | undefined }): CostEstimate | { error: string } {
  let instance: number;
  let source: string;
  if (o.overrideUsdPerHour !== undefined) {
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
  const volume = (o.rootVolumeGb * GP3_USD_PER_GB_MONTH) / HOURS_PER_MONTH;
  const lines = [
    { item: `${o.instanceType} instance`, count: o.hosts, usdPerHour: instance },
    { item: `${o.rootVolumeGb} GB gp3 root volume`, count: o.hosts, usdPerHour: volume },
    { item: 'public IPv4 address', count: o.hosts, usdPerHour: PUBLIC_IPV4_USD_PER_HOUR },
  ];
  const total = lines.reduce((s, l) => s + l.count * l.usdPerHour, 0);
  return { usdPerHour: Math.round(total * 10000) / 10000, lines, source };
}
