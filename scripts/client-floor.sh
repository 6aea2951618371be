#!/usr/bin/env bash
# The load client's floor, side by side with ab, on one kept lab:
#   npx netlab up local-host --keep && bash scripts/client-floor.sh; npx netlab down local-host
# Three rounds, the client pinned to CPU 0 and nginx to CPU 1, 1000 req/s, a new connection per
# request: ab -c 1 and each engine of the client as they are; then the same with busy-poll
# (workload.busyPoll): ab through `netlab-rps --busy-poll-around`, the client with `--busy-poll
# true`, so both run with every CPU kept out of idle by SCHED_IDLE spinners. Prints figures only;
# changes nothing outside the lab's namespaces but nginx's affinity.
set -euo pipefail
cd "$(dirname "$0")/.."
NS=netlab.local-host.client
URL=http://10.77.0.2/350
RPS=$(node --import tsx -e "import('./lib/workload/rps.ts').then((m) => console.log(m.rpsClient()))")
ip netns list | grep -q "^$NS" || { echo "no local-host lab: run npx netlab up local-host --keep first" >&2; exit 2; }

client() {
  ip netns exec "$NS" taskset -c 0 "$RPS" "$URL" --rate 1000 --duration 5 "$@" 2>/dev/null |
    node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => { const r = JSON.parse(s); console.log(`${r.impl}: p50 ${r.latencyMs.p50} ms, mean ${r.latencyMs.mean} ms, client ${r.cpu.cores} cores`); });'
}
ab1() { ip netns exec "$NS" taskset -c 0 "$@" ab -q -c 1 -n 5000 "$URL" 2>/dev/null | awk '/Time per request/ { print "ab -c 1: mean " $4 " ms"; exit }'; }

pgrep -f "nginx: worker" | xargs -r -n1 taskset -pc 1 > /dev/null
for round in 1 2 3; do echo "round $round"; ab1; client --engine epoll; client --engine goroutines; done
for round in 1 2 3; do
  echo "round $round, busy-poll"
  ab1 "$RPS" --busy-poll-around
  client --engine epoll --busy-poll true
  client --engine goroutines --busy-poll true
done
