// What runs on the cluster and the client host of an aws stack, as pure text: the tuning script
// (from the same tuning plan as the embedded lab), nginx's Deployment, the Service fleet and the
// measuring loop. The loop writes raw tool output plus points.tsv; `netlab collect` turns those
// into result.json on the machine running Pulumi.
import { shq } from '../core/shell.ts';
import { ParseError, type Measured } from '../workload/parsers.ts';
import { nginxConf, WRK_REPORT_LUA } from '../server/nginx.ts';
import type { RemoteSpec } from '../spec/schema.ts';
import { tuningSteps, type TuningStep } from '../tuning/plan.ts';
import { parseLscpuP } from '../tuning/topology.ts';
import type { Image } from './catalogue.ts';
import { HEAD, HOST_DIR, parseFacts, RETRY_FN } from './scripts.ts';
import { NGINX_IMAGE } from './cluster.ts';
import { responseFiles } from '../server/http.ts';
import { gridPoints, type GridPoint } from '../workload/points.ts';

/**
 * The tuning steps as a script. Every write is read back; each step prints one TSV line
 * (status, setting, target, asked, got, why) to stdout and to tuning.tsv. A failed step that is not
 * optional stops the script naming the step, as the embedded runner does.
 */
/**
 * undo_of: the command that undoes one tuning command, read before it runs, for the commands the
 * steps use: irqbalance started again only if it ran, tuned back to the profile it had (or off), a
 * NOTRACK rule deleted. Anything else has no undo (none is generated today).
 */
function undoOf(steps: TuningStep[]): string {
  const argv = steps.flatMap((s) => (s.kind === 'command' ? [s.argv] : []));
  const cases: string[] = [];
  if (argv.some((a) => a[0] === 'systemctl' && a[1] === 'stop'))
    cases.push(`    'systemctl stop') systemctl is-active --quiet "$3" && printf 'systemctl start %q' "$3" ;;`);
  if (argv.some((a) => a[0] === 'tuned-adm'))
    cases.push(
      `    'tuned-adm profile') local p; p=$(tuned-adm active 2> /dev/null | sed -n 's/^Current active profile: //p'); if [ -n "$p" ]; then printf 'tuned-adm profile %q' "$p"; else echo 'tuned-adm off'; fi ;;`,
    );
  if (argv.some((a) => /iptables/.test(a[0]!)))
    cases.push(`    *iptables*) if [ "\${4:-}" = -A ]; then local a=("$@"); a[3]=-D; printf '%q ' "\${a[@]}"; fi ;;`);
  return `undo_of() {\n${cases.length ? `  case "$1 \${2:-}" in\n${cases.join('\n')}\n  esac\n` : ''}  return 0\n}\n`;
}

export function tuningScript(steps: TuningStep[]): string {
  const lines = steps.map((s) => {
    if (s.kind === 'skip') return `skip ${shq(s.setting)} ${shq(s.why)}`;
    if (s.kind === 'write') return `${s.debugfs ? 'debugfs; ' : ''}put ${shq(s.setting)} ${shq(s.path)} ${shq(s.value)} ${s.optional ? 1 : 0} ${shq(s.why)}`;
    return `cmd ${shq(s.setting)} ${s.optional ? 1 : 0} ${shq(s.why)} ${s.argv.map(shq).join(' ')}`;
  });
  return `${HEAD}out=${HOST_DIR}/tuning.tsv
install -d ${HOST_DIR}
# What each applied step changed, one shell line to put it back (run newest first by the undo step).
undo="\${out%/*}/tuning.undo"
: > "$out"
[ -e "$undo" ] || : > "$undo"
err="$out.err"
record() { printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$@" | tee -a "$out"; }
journal() { printf '%s\\n' "$1" >> "$undo"; }
fail() { record failed "$1" "$2" "$3" "$4" "$5"; if [ "$6" = 0 ]; then echo "netlab: tuning step $1 failed: $2 (make it optional with netlab:tuning.optional: [$1])" >&2; exit 1; fi; }
put() {
  local setting=$1 path=$2 value=$3 optional=$4 why=$5 got before
  before=$(cat "$path" 2> /dev/null | tr '\\n\\t' '  ' | sed 's/ *$//') || before=''
  if ! printf '%s' "$value" > "$path" 2> "$err"; then fail "$setting" "$path" "$value" "$(tr '\\n' ' ' < "$err")" "$why" "$optional"; return; fi
  got=$(tr '\\n\\t' '  ' < "$path" | sed 's/ *$//')
  journal "printf '%s' $(printf '%q' "$before") > $(printf '%q' "$path")"
  record applied "$setting" "$path" "$value" "$got" "$why"
}
cmd() {
  local setting=$1 optional=$2 why=$3
  shift 3
  local back
  back=$(undo_of "$@")
  if "$@" > "$err" 2>&1; then
    [ -z "$back" ] || journal "$back"
    record applied "$setting" "$*" '' '' "$why"
  else fail "$setting" "$*" '' "$(tr '\\n' ' ' < "$err")" "$why" "$optional"; fi
}
skip() { record skipped "$1" '' '' '' "$2"; }
${undoOf(steps)}debugfs() { mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug; }
${lines.join('\n')}
`;
}

/**
 * The tuning script for a host, from what its facts step printed. Pure. On an image without a tuned
 * package (Amazon Linux 2023) the tuned step is recorded as skipped with the reason, never dropped.
 */
export function hostTuningScript(spec: RemoteSpec, factsText: string, image: Pick<Image, 'os' | 'tuned'>): string {
  const f = parseFacts(factsText);
  const steps = tuningSteps(spec.tuning, {
    topology: parseLscpuP(f.lscpu),
    kernel: f.kernel,
    nics: [{ name: f.nic.name, rxQueues: f.nic.rxQueues, txQueues: f.nic.txQueues, irqs: f.nic.irqs }],
    embedded: false,
    namespaces: [],
    iptables: 'iptables',
    traffic: { tcpPorts: [80], udpPorts: spec.datapath === 'vxlan' || spec.datapath === 'calico-vxlan' ? [8472, 4789] : [] },
  });
  return tuningScript(
    steps.map(
      (s): TuningStep =>
        s.setting === 'tuned' && s.kind === 'command' && !image.tuned
          ? {
              kind: 'skip',
              setting: 'tuned',
              why: `tuned profile ${spec.tuning.tuned} not applied: ${image.os} does not package tuned (its other settings are applied one by one above)`,
            }
          : s,
    ),
  );
}

export const NGINX_DIR = '/tmp/netlab';

/** nginx's Deployment and its configuration; nginx pods go on the server node only. */
export function workloadManifest(spec: RemoteSpec, o: { cpuAffinity?: string | undefined }): string {
  const conf = nginxConf({
    spec,
    listen: '80',
    dir: NGINX_DIR,
    wwwDir: `${NGINX_DIR}/www`,
    foreground: true,
    ...(o.cpuAffinity ? { cpuAffinity: o.cpuAffinity } : {}),
  });
  const files = responseFiles(spec.server.responseBytes)
    .map((f) => `head -c ${f.bodyBytes} /dev/zero | tr '\\0' x > ${NGINX_DIR}/www/${f.responseBytes}`)
    .join('; ');
  const indent = (text: string, n: number) =>
    text
      .trimEnd()
      .split('\n')
      .map((l) => (l ? ' '.repeat(n) + l : l))
      .join('\n');
  const hostNetwork = spec.datapath === 'host';
  return `apiVersion: v1
kind: Namespace
metadata:
  name: netlab
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: nginx-conf
  namespace: netlab
data:
  nginx.conf: |
${indent(conf, 4)}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
  namespace: netlab
spec:
  replicas: ${spec.target === 'aws' ? spec.aws.serverPods : spec.ssh.serverPods}
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      hostNetwork: ${hostNetwork}
      nodeSelector:
        kubernetes.io/hostname: server
      tolerations:
        - key: node-role.kubernetes.io/control-plane
          operator: Exists
          effect: NoSchedule
      containers:
        - name: nginx
          image: ${NGINX_IMAGE}
          command: ["/bin/sh", "-c"]
          args:
            - mkdir -p ${NGINX_DIR}/www ${NGINX_DIR}/tmp; ${files}; exec nginx -c /etc/netlab/nginx.conf
          ports:
            - containerPort: 80
          volumeMounts:
            - name: conf
              mountPath: /etc/netlab
      volumes:
        - name: conf
          configMap:
            name: nginx-conf
`;
}

export function workloadScript(manifest: string): string {
  return `${HEAD}kubectl apply -f - <<'MANIFEST'
${manifest}MANIFEST
kubectl -n netlab rollout status deployment/nginx --timeout=10m
kubectl -n netlab get pods -o wide
`;
}

/** A point of the grid (lib/workload/points.ts) with the command that measures it on the client host. */
export interface AwsPoint extends GridPoint {
  tool: 'tcpkali' | 'ab' | 'wrk' | 'conn-reuse';
  /** The tool's command line; URL and CPU list are filled in by the run script ($URL, $CPUS, $RAW). */
  command: string;
}

/** Concurrency of the closed-loop client that makes new connections during E3's rolling update on aws. */
export const CONN_REUSE_CONCURRENCY = 8;
const PERCENTILES = '50,90,99,99.9,99.99,99.999,100';

/**
 * E3's load on aws: `workers` loops, each opening a new connection per request (curl with
 * `Connection: close`, so the client port changes every time and gets reused within
 * ip_local_port_range) until `seconds` have passed, whatever fails: a refused, reset or timed-out
 * attempt is logged and the loop goes on. One line per attempt:
 * `worker start_epoch curl_exit http_code connect_s total_s local_port`. Only bash, date and curl:
 * every image has them (Node does not run on Amazon Linux 2, whose glibc is too old, and E3's
 * kernel below 5.9 exists only there).
 */
export const REUSE_LOAD_FN = `reuse_worker() {
  local w=$1 end=$2 limit=$3 t out rc
  while [ "$(date +%s%N)" -lt "$end" ]; do
    t=$(date +%s.%N)
    rc=0
    out=$(curl -s -o /dev/null -H 'Connection: close' -m "$limit" -w '%{http_code} %{time_connect} %{time_total} %{local_port}' "$URL") || rc=$?
    printf '%s %s %s %s\\n' "$w" "$t" "$rc" "\${out:-000 0 0 0}"
  done
}
reuse_load() {
  local workers=$1 seconds=$2 limit=$3 end w
  end=$(( $(date +%s%N) + seconds * 1000000000 ))
  for ((w = 1; w <= workers; w++)); do reuse_worker "$w" "$end" "$limit" & done
  wait
}
export -f reuse_worker reuse_load
`;

/** What reuse_load logged, as measurements; `rolloutAt` (epoch seconds) splits attempts before and after the rolling update. */
export function parseReuseLog(text: string, rolloutAt?: number): Measured {
  const rows = text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 6 && /^\d+$/.test(f[0]!))
    .map((f) => ({ start: Number(f[1]), rc: Number(f[2]), code: Number(f[3]), connect: Number(f[4]), total: Number(f[5]) }));
  if (!rows.length) throw new ParseError('reuse_load logged no attempt');
  // One pass (a spread of ~100,000 rows into Math.min would overflow the stack).
  let first = Infinity;
  let last = -Infinity;
  let lastStart = -Infinity;
  for (const r of rows) {
    first = Math.min(first, r.start);
    last = Math.max(last, r.start + r.total);
    lastStart = Math.max(lastStart, r.start);
  }
  const done = rows.filter((r) => r.rc === 0);
  const ms = done.map((r) => r.total * 1000).sort((a, b) => a - b);
  const q = (p: number) => (ms.length ? ms[Math.min(ms.length - 1, Math.ceil((p / 100) * ms.length) - 1)]! : 0);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const after = rolloutAt !== undefined ? rows.filter((r) => r.start >= rolloutAt) : [];
  const seconds = Math.max(last - first, 0.001);
  return {
    requests: done.length,
    attempts: rows.length,
    errors: rows.length - done.length,
    non2xx: done.filter((r) => r.code < 200 || r.code > 299).length,
    reqPerSec: round(done.length / seconds),
    bytesPerResponse: null,
    latencyMs: {
      mean: round(ms.reduce((a, b) => a + b, 0) / (ms.length || 1)),
      p50: round(q(50)),
      p90: round(q(90)),
      p99: round(q(99)),
      p999: round(q(99.9)),
      max: round(ms[ms.length - 1] ?? 0),
    },
    toolSeconds: round(seconds),
    detail: {
      // A SYN dropped to a reused port is retransmitted after 1 s: connects of 0.9 s or more.
      connectStalls: rows.filter((r) => r.connect >= 0.9).length,
      lastAttemptSeconds: round(lastStart - first),
      ...(rolloutAt !== undefined
        ? {
            rolloutAtSeconds: round(rolloutAt - first),
            attemptsAfterRollout: after.length,
            failuresAfterRollout: after.filter((r) => r.rc !== 0 || r.code < 200 || r.code > 299).length,
          }
        : {}),
    },
  };
}

/** How often the spot watcher asks the instance metadata for an interruption notice, in seconds. */
export const SPOT_POLL_SECONDS = 5;
/** The instance metadata service (IMDSv2: a session token first). */
export const IMDS = 'http://169.254.169.254';

/**
 * The spot watcher of the run script. EC2 announces that it will reclaim a spot instance about two
 * minutes ahead at the metadata path `spot/instance-action` (404 until then). `spot_watch <pid>`
 * asks every SPOT_POLL s (a fresh IMDSv2 token each time) while the run's process lives, and at
 * most until the host's time-to-live; on a notice it writes interrupted.tsv (the notice and when it
 * was seen) and sends the run USR1. `spot_stop`, the run's USR1 trap, adds the point it was in,
 * stops the point's tool and exits 75; the exit trap then writes the tarball as usual, without a
 * failure.tsv.
 */
export function spotWatchFn(ttlMinutes: number): string {
  return `IMDS=${IMDS}
SPOT_POLL=${SPOT_POLL_SECONDS}
SPOT_WATCH=''
TOOL=''
spot_watch() {
  local run_pid=$1 i token notice
  for ((i = 0; i < ${Math.ceil((ttlMinutes * 60) / SPOT_POLL_SECONDS)}; i++)); do
    kill -0 "$run_pid" 2> /dev/null || return 0
    if token=$(curl -fsS -m 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$IMDS/latest/api/token" 2> /dev/null) \\
      && notice=$(curl -fsS -m 2 -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/meta-data/spot/instance-action" 2> /dev/null) \\
      && [ -n "$notice" ]; then
      printf 'notice\\t%s\\nseen\\t%s\\n' "$(printf '%s' "$notice" | tr -d '\\n\\t')" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$RUN/interrupted.tsv"
      kill -USR1 "$run_pid"
      return 0
    fi
    sleep "$SPOT_POLL"
  done
}
spot_stop() {
  trap '' USR1
  printf 'point\\t%s\\n' "$ID" >> "$RUN/interrupted.tsv"
  [ -z "$TOOL" ] || kill -TERM "$TOOL" 2> /dev/null || true
  echo "netlab: spot interruption notice ($(sed -n 's/^notice\\t//p' "$RUN/interrupted.tsv")); stopped measuring\${ID:+ during point $ID}" >&2
  exit 75
}
`;
}

/** Every measured point of the stack, in run order (Service counts ascending: the fleet only grows). */
export function awsPoints(spec: RemoteSpec): AwsPoint[] {
  const w = spec.workload;
  const p = spec.proxy;
  const grid = gridPoints(p ? { ...spec, proxy: { ...p, services: [...p.services].sort((a, b) => a - b) } } : spec, {
    connReuseWorkers: CONN_REUSE_CONCURRENCY,
  });
  return grid.map((g): AwsPoint => {
    const { responseBytes, keepalive } = g.params;
    if (w.tool === 'tcpkali') {
      const perConn = Math.round((g.params.rate! / w.connections) * 1000) / 1000;
      // 0: one worker per CPU the client may use (the seed: 18 threads on 18 pinned cores).
      const threads = w.threads ? `--workers ${w.threads} ` : '--workers "$NCPUS" ';
      return {
        ...g,
        tool: 'tcpkali',
        command: `taskset -ac "$CPUS" tcpkali ${threads}--connections ${w.connections} --connect-rate 10000 --message-rate ${perConn} --duration ${w.durationSeconds}s -e --message 'GET /${responseBytes} HTTP/1.1\\r\\nHost: netlab\\r\\n\\r\\n' --latency-marker 'HTTP/1.1 200' --latency-percentiles ${PERCENTILES} "$HOSTPORT"`,
      };
    }
    if (w.tool === 'ab')
      return {
        ...g,
        tool: 'ab',
        command: `ab -q -r -n ${w.requests} -c ${g.params.concurrency} -s ${w.timeoutSeconds}${keepalive ? ' -k' : ''} -e "$RAW/$ID.csv" "$URL"`,
      };
    if (w.tool === 'wrk')
      return {
        ...g,
        tool: 'wrk',
        command: `taskset -ac "$CPUS" wrk --threads ${w.threads} --connections ${g.params.connections} --duration ${w.durationSeconds}s --timeout ${w.timeoutSeconds}s --latency --script "$RUN/wrk-report.lua"${keepalive ? '' : " --header 'Connection: close'"} "$URL"`,
      };
    // Not ab: with -t it stops after 50,000 requests, and it exits on a poll timeout or after 10 connect failures.
    if (w.tool === 'conn-reuse') return { ...g, tool: 'conn-reuse', command: `reuse_load ${CONN_REUSE_CONCURRENCY} ${w.durationSeconds} ${w.timeoutSeconds}` };
    throw new Error(`${w.tool} does not run on target aws`); // refused at validation
  });
}

/**
 * The measuring loop, run on the client host (root, kubectl with the admin kubeconfig). Per point:
 * grow the Service fleet to the point's count (generated and applied in bulk, not one Pulumi
 * resource each) and wait until the target Service answers, set the point's sysctls, run the tool
 * under `timeout`, record the outcome in points.tsv. Ends with env.json and a tarball, and prints
 * `netlab-run: <dir>` for `netlab collect`. On spot hosts (`aws.spot`) a background loop watches
 * for EC2's interruption notice (SPOT_WATCH_FN); on one the run stops measuring and the tarball
 * carries interrupted.tsv, which collect turns into an `interrupted` result.
 */
export function runScript(
  spec: RemoteSpec,
  points: AwsPoint[],
  o: {
    clientCpus: string;
    /** No Deployment to ask: the server's address (ssh.cluster none: the host's; processes: the pod's). */
    serverAddress?: string;
    /**
     * ssh.cluster processes: no controllers, so each Service of the fleet is selectorless with an
     * EndpointSlice naming serverAddress (what the EndpointSlice controller would write); kubectl
     * and the admin kubeconfig come from netlab's folder.
     */
    processes?: { prologue: string };
  },
): string {
  const spot = spec.target === 'aws' && spec.aws.spot;
  const p = spec.proxy;
  const w = spec.workload;
  const conn = w.tool === 'conn-reuse' ? w : null;
  const pointLines = points.map((pt) =>
    [
      `ID=${shq(pt.id)}; BYTES=${pt.params.responseBytes}`,
      pt.params.services !== undefined ? `fleet ${pt.params.services}` : 'direct',
      pt.params.connReuseMode !== undefined ? `sysctl -qw net.ipv4.vs.conn_reuse_mode=${pt.params.connReuseMode}` : '',
      conn ? `rollout_at ${conn.drainAtSeconds}` : '',
      `point ${shq(pt.tool)} ${pt.repetition} ${shq(JSON.stringify(pt.params))} ${pt.timeoutSeconds} ${shq(pt.command)}`,
    ]
      .filter(Boolean)
      .join('\n'),
  );
  const target = p?.target === 'fixed' ? 'first' : 'last';
  return `${HEAD}${o.processes?.prologue ?? ''}${RETRY_FN}${conn ? REUSE_LOAD_FN : ''}RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
RUN=${HOST_DIR}/runs/$RUN_ID
RAW=$RUN/raw
CPUS=${shq(o.clientCpus)}
NCPUS=$(taskset -c "$CPUS" nproc)
mkdir -p "$RAW"
FAIL_LINE=''
FAIL_CMD=''
ID=''
${spot && spec.target === 'aws' ? spotWatchFn(spec.aws.ttlMinutes) : ''}write_env() {
  jq -n --arg hostname "$(hostname)" --arg kernel "$(uname -r)" --arg os "$(. /etc/os-release && echo "$PRETTY_NAME")" \\
    --arg arch "$(uname -m)" --arg cpuModel "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" --argjson cpus "$(nproc)" \\
    --argjson memoryBytes "$(awk '/MemTotal/ {print $2 * 1024}' /proc/meminfo)" \\
    --arg tcpkali "$(tcpkali --version 2>&1 | head -1 || true)" --arg ab "$(ab -V 2>&1 | head -1 || true)" --arg wrk "$(wrk --version 2>&1 | head -1 || true)" \\
    --arg kubectl "$(kubectl version --client -o json 2> /dev/null | jq -r .clientVersion.gitVersion || true)" \\
    '{hostname: $hostname, kernel: $kernel, os: $os, arch: $arch, cpuModel: $cpuModel, cpus: $cpus, memoryBytes: $memoryBytes, tools: {tcpkali: $tcpkali, ab: $ab, wrk: $wrk, kubectl: $kubectl}}' > "$RUN/env.json"
}
# Whatever happens, the tarball is written with what exists; a failure is recorded in failure.tsv
# and the step still hands the tarball to collect (which marks the result failed), so nothing measured is lost.
finish() {
  local code=$?
  trap - EXIT ERR
  set +e
${spot ? '  trap \'\' USR1\n  [ -z "$SPOT_WATCH" ] || kill "$SPOT_WATCH" 2> /dev/null\n' : ''}  if [ "$code" -ne 0 ]${spot ? ' && [ ! -s "$RUN/interrupted.tsv" ]' : ''}; then
    printf 'exit\\t%s\\nline\\t%s\\ncommand\\t%s\\npoint\\t%s\\n' "$code" "$FAIL_LINE" "$FAIL_CMD" "$ID" > "$RUN/failure.tsv"
    echo "netlab: the run failed (exit $code at line $FAIL_LINE: $FAIL_CMD)\${ID:+ during point $ID}; keeping what was measured" >&2
  fi
${p?.mode === 'iptables' ? '  iptables-save -t nat | gzip > "$RAW/iptables-nat.txt.gz"\n' : ''}${p?.mode === 'ipvs' ? '  ipvsadm -Ln | gzip > "$RAW/ipvs.txt.gz"\n' : ''}${p?.mode === 'nftables' ? '  nft list table ip kube-proxy | gzip > "$RAW/nft.txt.gz"\n' : ''}  cp ${HOST_DIR}/tuning.tsv "$RUN/" 2> /dev/null
  write_env
  tar -czf "$RUN.tgz" -C "$RUN" . || exit 1
  echo "netlab-run: $RUN.tgz"
  exit 0
}
set -E
trap 'FAIL_LINE=$LINENO; FAIL_CMD=$BASH_COMMAND' ERR
trap 'exit 143' TERM HUP INT
trap finish EXIT
${spot ? 'trap spot_stop USR1\nspot_watch $$ &\nSPOT_WATCH=$!\n' : ''}cat > "$RUN/wrk-report.lua" <<'LUA'
${WRK_REPORT_LUA}LUA
printf 'id\\ttool\\trepetition\\tparams\\texit\\twall_seconds\\tservices_seconds\\n' > "$RUN/points.tsv"
${conn ? `sysctl -qw net.ipv4.ip_local_port_range="${conn.localPortRange[0]} ${conn.localPortRange[1]}" net.ipv4.tcp_tw_reuse=1\n` : ''}SERVICES=0
PROGRAM_SECONDS=0
HOSTPORT=''
URL=''

since() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.3f", a - b }'; }

${
  o.serverAddress
    ? o.processes
      ? `# The server's pod (ssh.cluster processes: a namespace wired by cnitool, no kubelet).\npod_ip() { echo ${shq(o.serverAddress)}; }`
      : `# No cluster (ssh.cluster none): nginx runs on the server host itself.\npod_ip() { echo ${shq(o.serverAddress)}; }`
    : `# The server pod's address (hostNetwork: the server host's).\npod_ip() { kubectl -n netlab get pods -l app=nginx -o jsonpath='{.items[0].status.podIP}'; }`
}

direct() {
  HOSTPORT="$(pod_ip):80"
  URL="http://$HOSTPORT/$BYTES"
}

# Grow the fleet to $1 Services, all selecting the nginx pods; wait for the target to answer.
fleet() {
  local want=$1 t0 i vip name
  t0=$(date +%s.%N)
  if [ "$want" -gt "$SERVICES" ]; then
    for ((i = SERVICES + 1; i <= want; i++)); do
${
  o.processes
    ? `      printf -- '---\\napiVersion: v1\\nkind: Service\\nmetadata:\\n  name: svc-%05d\\n  namespace: netlab\\n  labels:\\n    netlab-fleet: "1"\\nspec:\\n  ports:\\n    - port: 80\\n      targetPort: 80\\n' "$i"
      printf -- '---\\napiVersion: discovery.k8s.io/v1\\nkind: EndpointSlice\\nmetadata:\\n  name: svc-%05d-netlab\\n  namespace: netlab\\n  labels:\\n    netlab-fleet: "1"\\n    kubernetes.io/service-name: svc-%05d\\n    endpointslice.kubernetes.io/managed-by: netlab.io\\naddressType: IPv4\\nports:\\n  - port: 80\\n    protocol: TCP\\nendpoints:\\n  - addresses: ["%s"]\\n    conditions: {ready: true, serving: true, terminating: false}\\n' "$i" "$i" "$(pod_ip)"`
    : `      printf -- '---\\napiVersion: v1\\nkind: Service\\nmetadata:\\n  name: svc-%05d\\n  namespace: netlab\\n  labels:\\n    netlab-fleet: "1"\\nspec:\\n  selector:\\n    app: nginx\\n  ports:\\n    - port: 80\\n      targetPort: 80\\n' "$i"`
}
    done | kubectl apply --server-side -f - > /dev/null
    SERVICES=$want
  fi
  name=$(printf 'svc-%05d' ${target === 'first' ? '1' : '"$want"'})
  vip=$(kubectl -n netlab get svc "$name" -o jsonpath='{.spec.clusterIP}')
  HOSTPORT="$vip:80"
  URL="http://$HOSTPORT/$BYTES"
  retry 1200 0.5 curl -fsS -o /dev/null -m 2 "$URL"
  PROGRAM_SECONDS=$(since "$t0")
}

# E3 on aws: restart the nginx pods (a rolling update) this many seconds into the next point.
ROLLOUT_AT=''
rollout_at() { ROLLOUT_AT=$1; }

point() {
  local tool=$1 rep=$2 params=$3 limit=$4 command=$5 t0 code=0 wall roll=''
  export ID BYTES HOSTPORT URL
  echo "netlab: point $ID" >&2
  if [ -n "$ROLLOUT_AT" ]; then
    # The rollout time is recorded only once the restart was accepted: a failed restart records none.
    (sleep "$ROLLOUT_AT"; t=$(date -u +%s.%N); kubectl -n netlab rollout restart deployment/nginx > /dev/null && echo "$t" > "$RAW/$ID.rollout") &
    roll=$!
  fi
  t0=$(date +%s.%N)
${
  spot
    ? `  # In the background, so that a spot notice (USR1) stops the run at once, not after the tool.
  timeout --kill-after=10 "$limit" bash -c "$command" > "$RAW/$ID.txt" 2> "$RAW/$ID.err" &
  TOOL=$!
  wait "$TOOL" || code=$?
  TOOL=''
`
    : `  timeout --kill-after=10 "$limit" bash -c "$command" > "$RAW/$ID.txt" 2> "$RAW/$ID.err" || code=$?
`
}  wall=$(since "$t0")
  if [ -n "$roll" ]; then wait "$roll" || { echo "netlab: the rolling update of point $ID failed" >&2; return 1; }; kubectl -n netlab rollout status deployment/nginx --timeout=5m > /dev/null; fi
  printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$ID" "$tool" "$rep" "$params" "$code" "$wall" "$PROGRAM_SECONDS" >> "$RUN/points.tsv"
}
export RUN RAW CPUS NCPUS

${pointLines.join('\n')}

`;
}
