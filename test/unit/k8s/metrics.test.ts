// kube-proxy's sync counters from its metrics endpoint, and their difference over one programming.
import test from 'ava';
import { parseSyncCounters, syncDelta } from '../../../lib/proxy/kube-proxy/metrics.ts';

// The shape kube-proxy's /metrics gives (Prometheus text format), labelled per IP family.
const scrape = (
  syncs: number,
  seconds: number,
  failures: number,
) => `# HELP kubeproxy_sync_proxy_rules_duration_seconds [ALPHA] SyncProxyRules latency in seconds
# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram
kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="0.001"} 0
kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="+Inf"} ${syncs}
kubeproxy_sync_proxy_rules_duration_seconds_sum{ip_family="IPv4"} ${seconds}
kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"} ${syncs}
kubeproxy_sync_full_proxy_rules_duration_seconds_sum{ip_family="IPv4"} ${seconds / 2}
kubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family="IPv4"} 1
kubeproxy_sync_partial_proxy_rules_duration_seconds_sum{ip_family="IPv4"} ${seconds / 2}
kubeproxy_sync_partial_proxy_rules_duration_seconds_count{ip_family="IPv4"} ${syncs - 1}
kubeproxy_sync_proxy_rules_iptables_restore_failures_total{ip_family="IPv4"} ${failures}
kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.7e+09
`;

test('parseSyncCounters sums the sync histograms and failure counters; other series are ignored', (t) => {
  t.deepEqual(parseSyncCounters(scrape(3, 0.5, 1)), {
    syncs: 3,
    syncSeconds: 0.5,
    fullSyncs: 1,
    fullSyncSeconds: 0.25,
    partialSyncs: 2,
    partialSyncSeconds: 0.25,
    failures: 1,
  });
  // Two IP families add up; a series not exported counts 0.
  const dual = 'kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"} 2\nkubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv6"} 5\n';
  t.is(parseSyncCounters(dual).syncs, 7);
  t.is(parseSyncCounters(dual).fullSyncs, 0);
  t.is(parseSyncCounters('').syncs, 0);
});

test('syncDelta is what kube-proxy did between the two scrapes', (t) => {
  const d = syncDelta(parseSyncCounters(scrape(3, 0.5, 1)), parseSyncCounters(scrape(7, 1.7, 1)));
  t.deepEqual(d, { syncs: 4, syncSeconds: 1.2, fullSyncs: 0, fullSyncSeconds: 0.6, partialSyncs: 4, partialSyncSeconds: 0.6, failures: 0 });
});
