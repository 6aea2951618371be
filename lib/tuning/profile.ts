// The tuning part of the spec: which host settings a stack changes. A named profile fills in
// every key the stack does not give; `study` is seed 001's setup (E2). Pure.

/** Seed 001's sysctls, as published. Two of them are gone from newer kernels (see tuning/plan.ts). */
export const STUDY_SYSCTLS: Record<string, string> = {
  'fs.file-max': '1024000',
  'net.ipv4.ip_local_port_range': '2000 65535',
  'net.ipv4.tcp_max_tw_buckets': '2000000',
  'net.ipv4.tcp_tw_reuse': '1',
  'net.ipv4.tcp_tw_recycle': '1',
  'net.ipv4.tcp_fin_timeout': '10',
  'net.ipv4.tcp_slow_start_after_idle': '0',
  'net.ipv4.tcp_low_latency': '1',
};

export const SCHED_MIGRATION_COST = 'kernel.sched_migration_cost_ns';

/** Settings that can be named in `tuning.optional` besides sysctl names. */
export const TUNING_SETTINGS = ['irqAffinity', 'rps', 'xps', 'rfs', 'tuned', 'notrack', 'pinning', SCHED_MIGRATION_COST] as const;

export interface Tuning {
  profile: 'none' | 'study';
  /** Each NIC queue's IRQ on the first CPU of a NUMA node; irqbalance stopped. */
  irqAffinity: boolean;
  /** rps_cpus on every RX queue: the physical cores other than the IRQ CPUs. */
  rps: boolean;
  /** xps_cpus on every TX queue: all CPUs of one NUMA node per queue. */
  xps: boolean;
  /** RFS: rps_sock_flow_entries 65536 and rps_flow_cnt 32768 per RX queue. */
  rfs: boolean;
  /** sysctl name → value, written in this order. */
  sysctls: Record<string, string>;
  schedMigrationCostNs: number | null;
  /** tuned profile to activate; null = leave tuned alone. */
  tuned: string | null;
  /** raw-table NOTRACK for the benchmark traffic (refused with a proxy mode that needs conntrack). */
  notrack: boolean;
  /** nginx workers pinned with worker_cpu_affinity; the load tool with taskset. */
  pinning: boolean;
  /** Settings whose failure is reported in result.json instead of stopping the run. */
  optional: string[];
}

export const PROFILES: Record<Tuning['profile'], Omit<Tuning, 'profile'>> = {
  none: {
    irqAffinity: false,
    rps: false,
    xps: false,
    rfs: false,
    sysctls: {},
    schedMigrationCostNs: null,
    tuned: null,
    notrack: false,
    pinning: false,
    optional: [],
  },
  study: {
    irqAffinity: true,
    rps: true,
    xps: true,
    rfs: true,
    sysctls: STUDY_SYSCTLS,
    schedMigrationCostNs: 10_000_000,
    tuned: 'network-latency',
    notrack: true,
    pinning: true,
    // Since Linux 5.13 the migration cost lives in debugfs, which kernel lockdown may refuse.
    optional: [SCHED_MIGRATION_COST],
  },
};

/** A stack's tuning keys over its profile; a sysctl set to null drops one of the profile's. */
export function resolveTuning(given: Partial<Omit<Tuning, 'sysctls'>> & { sysctls?: Record<string, string | null> }): Tuning {
  const profile = given.profile ?? 'none';
  const base = PROFILES[profile];
  const sysctls: Record<string, string> = { ...base.sysctls };
  for (const [k, v] of Object.entries(given.sysctls ?? {})) {
    if (v === null) delete sysctls[k];
    else sysctls[k] = v;
  }
  const pick = <K extends keyof Tuning>(k: K): Tuning[K] => (given[k] !== undefined ? given[k] : (base as Tuning)[k]) as Tuning[K];
  return {
    profile,
    irqAffinity: pick('irqAffinity'),
    rps: pick('rps'),
    xps: pick('xps'),
    rfs: pick('rfs'),
    sysctls,
    schedMigrationCostNs: pick('schedMigrationCostNs'),
    tuned: pick('tuned'),
    notrack: pick('notrack'),
    pinning: pick('pinning'),
    optional: pick('optional'),
  };
}

/** True when the stack changes nothing on its hosts. */
export const untuned = (t: Tuning) =>
  !t.irqAffinity &&
  !t.rps &&
  !t.xps &&
  !t.rfs &&
  !Object.keys(t.sysctls).length &&
  t.schedMigrationCostNs === null &&
  t.tuned === null &&
  !t.notrack &&
  !t.pinning;
