// kube-proxy's own account of its syncs, from its Prometheus endpoint (--metrics-bind-address).
// The lab reads the endpoint just before it writes a fleet and again once the kernel holds it; the
// difference is what kube-proxy did for that programming: how many syncs (full and partial), the
// seconds it spent in them, and any failed restore/transaction. Pure: the caller fetches the text.

/** The counters of one scrape, summed over label sets (kube-proxy labels them by IP family). */
export interface SyncCounters {
  syncs: number;
  syncSeconds: number;
  fullSyncs: number;
  fullSyncSeconds: number;
  partialSyncs: number;
  partialSyncSeconds: number;
  /** iptables-restore (iptables mode) or nft transaction (nftables mode) failures. */
  failures: number;
}

const SERIES: Record<string, keyof SyncCounters> = {
  kubeproxy_sync_proxy_rules_duration_seconds_count: 'syncs',
  kubeproxy_sync_proxy_rules_duration_seconds_sum: 'syncSeconds',
  kubeproxy_sync_full_proxy_rules_duration_seconds_count: 'fullSyncs',
  kubeproxy_sync_full_proxy_rules_duration_seconds_sum: 'fullSyncSeconds',
  kubeproxy_sync_partial_proxy_rules_duration_seconds_count: 'partialSyncs',
  kubeproxy_sync_partial_proxy_rules_duration_seconds_sum: 'partialSyncSeconds',
  kubeproxy_sync_proxy_rules_iptables_restore_failures_total: 'failures',
  kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total: 'failures',
  kubeproxy_sync_proxy_rules_nftables_sync_failures_total: 'failures',
};

/** The sync counters of one scrape (Prometheus text format); a series kube-proxy does not export counts 0. */
export function parseSyncCounters(text: string): SyncCounters {
  const out: SyncCounters = { syncs: 0, syncSeconds: 0, fullSyncs: 0, fullSyncSeconds: 0, partialSyncs: 0, partialSyncSeconds: 0, failures: 0 };
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{[^}]*\})? (\S+)/.exec(line);
    const key = m && SERIES[m[1]!];
    if (!key) continue;
    const v = Number(m[2]);
    if (Number.isFinite(v)) out[key] += v;
  }
  return out;
}

/** What happened between two scrapes (after − before). */
export function syncDelta(before: SyncCounters, after: SyncCounters): SyncCounters {
  const out = { ...after };
  for (const k of Object.keys(out) as (keyof SyncCounters)[]) out[k] = Math.round((after[k] - before[k]) * 1e6) / 1e6;
  return out;
}
