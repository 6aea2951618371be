// aws.spot without AWS: its price and rule, the run script's spot watcher (exactly, and run for real
// with a stand-in instance metadata service that gives notice during the second point), and
// collect of the interrupted run's tarball: status interrupted, no point presented as a result.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hourlyCost } from '../../../lib/aws/catalogue.ts';
import { readRunDir, runInterruption } from '../../../lib/aws/collect.ts';
import { awsPlan, renderAwsPlan } from '../../../lib/aws/plan.ts';
import { runScript, SPOT_POLL_SECONDS } from '../../../lib/aws/workload.ts';
import { specFromStackDoc } from '../../../lib/spec/document.ts';
import { SpecError } from '../../../lib/spec/errors.ts';
import type { AwsSpec } from '../../../lib/spec/schema.ts';
import { loadStack, PROJECT_DIR } from '../../../lib/spec/stackfile.ts';
import { assertGolden } from '../../helpers/golden.ts';
import { tempDir } from '../../helpers/tmp.ts';

const FIX = join(PROJECT_DIR, 'test', 'fixtures');
const spotSpec = (aws: Partial<AwsSpec['aws']> = {}): AwsSpec => {
  const s = loadStack('aws-e2-vxlan') as AwsSpec;
  return { ...s, aws: { ...s.aws, sshCidr: '198.18.0.0/24', spot: true, ...aws } };
};
const problems = (aws: Record<string, unknown>) => {
  try {
    specFromStackDoc('t', { config: { 'netlab:target': 'aws', 'netlab:datapath': 'vxlan', 'netlab:aws': { sshCidr: '198.18.0.0/24', ...aws } } });
    return [];
  } catch (e) {
    if (!(e instanceof SpecError)) throw e;
    return e.problems;
  }
};

test('hourlyCost: spot at aws.spotPriceUsd, else at the on-demand price as the upper bound, saying so; on-demand unchanged', (t) => {
  const base = { instanceType: 'c4.8xlarge', region: 'us-east-1', rootVolumeGb: 30, hosts: 2 };
  t.deepEqual(hourlyCost({ ...base, spot: true, spotPriceUsd: 0.5 }), {
    usdPerHour: 1.0166,
    lines: [
      { item: 'c4.8xlarge spot instance', count: 2, usdPerHour: 0.5 },
      { item: '30 GB gp3 root volume', count: 2, usdPerHour: (30 * 0.08) / 730 },
      { item: 'public IPv4 address', count: 2, usdPerHour: 0.005 },
    ],
    source: 'spot: aws.spotPriceUsd from the stack',
    market: 'spot',
  });
  t.like(hourlyCost({ ...base, spot: true }), {
    usdPerHour: 3.1986,
    source:
      'spot, priced at the on-demand price as the upper bound (on-demand Linux price table (lib/aws/catalogue.ts), us-east-1); set aws.spotPriceUsd for the spot price',
    market: 'spot',
  });
  t.like(hourlyCost({ ...base, spot: true, overrideUsdPerHour: 2 }), {
    usdPerHour: 4.0166,
    source: 'spot, priced at the on-demand price as the upper bound (aws.hourlyPriceUsd from the stack); set aws.spotPriceUsd for the spot price',
  });
  // An unpriced type or region needs no on-demand price when the spot price is given.
  t.like(hourlyCost({ ...base, instanceType: 'z9.huge', spot: true, spotPriceUsd: 1 }), { usdPerHour: 2.0166 });
  t.like(hourlyCost(base), { usdPerHour: 3.1986, source: 'on-demand Linux price table (lib/aws/catalogue.ts), us-east-1', market: 'on-demand' });
});

test('rules: aws.spotPriceUsd without aws.spot is refused naming the key; the cap uses the spot price when given', (t) => {
  t.deepEqual(problems({ spotPriceUsd: 0.5 }), [
    'netlab:aws.spotPriceUsd = 0.5: prices spot instances: only with aws.spot: true (on-demand hosts are priced from the table or aws.hourlyPriceUsd)',
  ]);
  t.deepEqual(problems({ spot: true, spotPriceUsd: 0.5, maxHourlyUsd: 2 }), []);
  t.deepEqual(problems({ spot: true, maxHourlyUsd: 2 }), [
    'netlab:aws.maxHourlyUsd = 2: the stack would cost about 3.20 USD per hour (spot, priced at the on-demand price as the upper bound (on-demand Linux price table (lib/aws/catalogue.ts), us-east-1); set aws.spotPriceUsd for the spot price); raise aws.maxHourlyUsd or pick a smaller type',
  ]);
});

test('netlab plan of a spot stack: the cost line names the spot source and the spot instance line', (t) => {
  const text = renderAwsPlan(awsPlan(spotSpec({ spotPriceUsd: 0.5 })));
  t.regex(text, /^# cost: 1\.0166 USD\/hour \(spot: aws\.spotPriceUsd from the stack\)\n# {3}2 × c4\.8xlarge spot instance: 0\.5000 USD\/hour$/m);
  t.regex(renderAwsPlan(awsPlan(spotSpec())), /^# cost: 3\.1986 USD\/hour \(spot, priced at the on-demand price as the upper bound \(/m);
});

test('the run script of a spot stack, exactly (golden); the on-demand one has no watcher', (t) => {
  const spec = spotSpec();
  const script = runScript(spec, awsPlan(spec).points, { clientCpus: '0-8,18-26' });
  assertGolden(t, join(FIX, 'aws', 'aws-e2-vxlan.spot-run.txt'), script);
  const onDemand = runScript({ ...spec, aws: { ...spec.aws, spot: false } }, awsPlan(spec).points, { clientCpus: '0-8,18-26' });
  t.notRegex(onDemand, /spot|IMDS|USR1|TOOL/);
  // The spot script is the on-demand one with the watcher added and the tool run in the background: nothing else differs.
  const dropped = onDemand.split('\n').filter((l) => !script.split('\n').includes(l));
  t.deepEqual(dropped, ['  if [ "$code" -ne 0 ]; then', '  timeout --kill-after=10 "$limit" bash -c "$command" > "$RAW/$ID.txt" 2> "$RAW/$ID.err" || code=$?']);
  const f = join(tempDir('netlab-spot-'), 'run.sh');
  writeFileSync(f, script);
  t.is(spawnSync('bash', ['-n', f]).status, 0);
  const sc = spawnSync('shellcheck', ['--shell=bash', '--severity=warning', f], { encoding: 'utf8' });
  t.is(sc.status, 0, sc.stdout);
});

test('a spot notice during a point, run for real: the watcher (IMDSv2 token, then spot/instance-action) stops the run, the tarball records it, collect says interrupted', (t) => {
  const spec = spotSpec();
  const dir = tempDir('netlab-spot-run-');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const notice = '{"action": "terminate", "time": "2026-11-21T10:31:02Z"}';
  const fixture = join(FIX, 'aws', 'tcpkali-q150000.txt');
  writeFileSync(join(bin, 'kubectl'), '#!/bin/bash\ncase "$*" in *jsonpath*) echo 10.244.0.5;; esac\nexit 0\n', { mode: 0o755 });
  // tcpkali: the first point answers at once; the second makes EC2 give notice, then would run 60 s.
  writeFileSync(
    join(bin, 'tcpkali'),
    `#!/bin/bash\n[ "$1" = --version ] && { echo 'tcpkali version 1.1.1'; exit 0; }\nif [ -e ${dir}/first ]; then touch ${dir}/notice; exec sleep 60; fi\ntouch ${dir}/first\ncat ${fixture}\n`,
    { mode: 0o755 },
  );
  writeFileSync(join(bin, 'taskset'), '#!/bin/bash\nshift 2\nexec "$@"\n', { mode: 0o755 });
  // The instance metadata: a token for PUT api/token (with its TTL header); instance-action is 404 (curl -f: exit 22) until the notice exists, and needs the token.
  writeFileSync(
    join(bin, 'curl'),
    `#!/bin/bash\necho "$*" >> ${dir}/imds.log\ncase "$*" in\n  *'-X PUT -H X-aws-ec2-metadata-token-ttl-seconds: 300 http://imds.test/latest/api/token') echo TOKEN;;\n  *'-H X-aws-ec2-metadata-token: TOKEN http://imds.test/latest/meta-data/spot/instance-action') [ -e ${dir}/notice ] || exit 22; printf '%s' '${notice}';;\n  *) exit 22;;\nesac\n`,
    { mode: 0o755 },
  );
  const script = runScript(spec, awsPlan(spec).points, { clientCpus: '0' })
    .replaceAll('/var/lib/netlab', join(dir, 'host'))
    .replace('IMDS=http://169.254.169.254', 'IMDS=http://imds.test')
    .replace(`SPOT_POLL=${SPOT_POLL_SECONDS}`, 'SPOT_POLL=0.2');
  const r = spawnSync('bash', ['--norc', '-c', script], {
    encoding: 'utf8',
    env: { PATH: `${bin}:${process.env.PATH}` },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 50_000,
  });
  t.is(r.status, 0, r.stderr);
  t.regex(
    r.stderr,
    /^netlab: spot interruption notice \(\{"action": "terminate", "time": "2026-11-21T10:31:02Z"\}\); stopped measuring during point tcpkali-b350-q150000-r1$/m,
  );
  t.notRegex(r.stderr, /the run failed/);
  const tgz = /^netlab-run: (.*\.tgz)$/m.exec(r.stdout)?.[1];
  t.truthy(tgz, r.stdout);
  const out = join(dir, 'out');
  mkdirSync(out);
  execFileSync('tar', ['-xzf', tgz!, '-C', out]);
  t.false(existsSync(join(out, 'failure.tsv')), 'an interruption is not a failure of the script');
  t.regex(
    readFileSync(join(out, 'interrupted.tsv'), 'utf8'),
    new RegExp(`^notice\\t${notice.replace(/[{}.]/g, '\\$&')}\\nseen\\t\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\npoint\\ttcpkali-b350-q150000-r1\\n$`),
  );
  t.like(runInterruption(out), { notice, action: 'terminate', time: '2026-11-21T10:31:02Z', point: 'tcpkali-b350-q150000-r1' });
  const res = readRunDir(out, spec, { runId: 'x', startedAt: 'a', finishedAt: 'b' });
  t.is(res.status, 'interrupted');
  t.regex(
    res.error!,
    /^spot interruption: EC2 gave notice to terminate at 2026-11-21T10:31:02Z \(\{"action": "terminate", "time": "2026-11-21T10:31:02Z"\}\), seen \S+ during point tcpkali-b350-q150000-r1; the run stopped measuring; 1 of 10 points measured, kept as raw data, none presented as results$/,
  );
  t.deepEqual(
    res.points.slice(0, 3).map((p) => [p.id, p.status, p.reason]),
    [
      ['tcpkali-b350-q50000-r1', 'invalid', 'measured before a spot interruption cut the run short: kept, not a result'],
      ['tcpkali-b350-q150000-r1', 'failed', 'cut short by the spot interruption notice'],
      ['tcpkali-b350-q250000-r1', 'failed', 'not measured: the spot interruption notice stopped the run before this point'],
    ],
  );
  t.is(res.points.length, 10);
  t.false(res.points.some((p) => p.status === 'ok'));
  t.is(res.points[0]!.requests, 9_000_000, 'the measured point is kept with its figures');
  // IMDSv2: every metadata read carried the token.
  const imds = readFileSync(join(dir, 'imds.log'), 'utf8').trim().split('\n');
  t.true(imds.length >= 2);
  t.true(imds.filter((l) => l.includes('instance-action')).every((l) => l.includes('X-aws-ec2-metadata-token: TOKEN')));
});

test('a spot run without a notice ends as usual: no interrupted.tsv, the watcher stops with the run', (t) => {
  const spec = spotSpec({ ttlMinutes: 15 });
  const dir = tempDir('netlab-spot-calm-');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'kubectl'), '#!/bin/bash\ncase "$*" in *jsonpath*) echo 10.244.0.5;; esac\nexit 0\n', { mode: 0o755 });
  writeFileSync(join(bin, 'tcpkali'), `#!/bin/bash\ncat ${join(FIX, 'aws', 'tcpkali-q150000.txt')}\n`, { mode: 0o755 });
  writeFileSync(join(bin, 'taskset'), '#!/bin/bash\nshift 2\nexec "$@"\n', { mode: 0o755 });
  writeFileSync(join(bin, 'curl'), '#!/bin/bash\nexit 22\n', { mode: 0o755 });
  const script = runScript(spec, awsPlan(spec).points, { clientCpus: '0' })
    .replaceAll('/var/lib/netlab', join(dir, 'host'))
    .replace('SPOT_POLL=5', 'SPOT_POLL=0.2');
  t.regex(script, /for \(\(i = 0; i < 180; i\+\+\)\); do/, '15 min time-to-live ÷ 5 s');
  const r = spawnSync('bash', ['--norc', '-c', script], {
    encoding: 'utf8',
    env: { PATH: `${bin}:${process.env.PATH}` },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 50_000,
  });
  t.is(r.status, 0, r.stderr);
  const out = join(dir, 'out');
  mkdirSync(out);
  execFileSync('tar', ['-xzf', /^netlab-run: (.*\.tgz)$/m.exec(r.stdout)![1]!, '-C', out]);
  t.false(existsSync(join(out, 'interrupted.tsv')));
  const res = readRunDir(out, spec, { runId: 'x', startedAt: 'a', finishedAt: 'b' });
  t.is(res.points.length, 10);
  t.not(res.status, 'interrupted');
});

test('collect of an interrupted tarball between points, the notice not JSON: interrupted, the raw notice kept', (t) => {
  const spec = spotSpec();
  const dir = tempDir('netlab-spot-collect-');
  mkdirSync(join(dir, 'raw'));
  writeFileSync(join(dir, 'points.tsv'), 'id\ttool\trepetition\tparams\texit\twall_seconds\tservices_seconds\n');
  writeFileSync(join(dir, 'interrupted.tsv'), 'notice\tgarbled\nseen\t2026-11-21T10:29:05Z\npoint\t\n');
  const res = readRunDir(dir, spec, { runId: 'x', startedAt: 'a', finishedAt: 'b' });
  t.is(res.status, 'interrupted');
  t.is(
    res.error,
    'spot interruption: EC2 gave notice (garbled), seen 2026-11-21T10:29:05Z between points; the run stopped measuring; 0 of 10 points measured, kept as raw data, none presented as results',
  );
  t.true(res.points.every((p) => p.status === 'failed' && p.reason === 'not measured: the spot interruption notice stopped the run before this point'));
});
