// netlab sweep without Pulumi or AWS: the scheduler (which stacks start when under --parallel and
// --max-hourly-usd, with fake durations), the refusals of impossible limits, the order of each
// stack's operations on a fake engine (refresh → up → destroy, destroy after a failure and after
// Ctrl-C), the per-stack progress lines, and a spot stack's failure recorded as an interruption.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { awsPlan } from '../../../lib/aws/plan.ts';
import {
  checkSchedule,
  nextToStart,
  type PrereqEnv,
  type Scheduled,
  simulateSchedule,
  spotInterruption,
  type SweepEngine,
  type SweepRow,
  type SweepStack,
  sweep,
} from '../../../lib/aws/sweep.ts';
import type { AwsSpec, Spec } from '../../../lib/spec/schema.ts';
import { loadStack, PROJECT_DIR } from '../../../lib/spec/stackfile.ts';
import { tempDir } from '../../helpers/tmp.ts';

const NETLAB = join(PROJECT_DIR, 'bin', 'netlab.js');
const awsSpec = (name: string, aws: Partial<AwsSpec['aws']> = {}): AwsSpec => {
  const s = loadStack(name) as AwsSpec;
  return { ...s, aws: { ...s.aws, sshCidr: '198.18.0.0/24', ...aws } };
};
/** Prerequisites all present, so that sweep reaches the (fake) engine. */
const PREREQS: PrereqEnv = {
  env: { AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 'x', PULUMI_CONFIG_PASSPHRASE: '' },
  pulumiVersion: () => 'v3.245.0',
  exists: () => false,
  home: '/nonexistent',
  isRoot: () => true,
  engineMissing: () => null,
};

const s = (name: string, usdPerHour: number, duration: number, local = false) => ({ name, usdPerHour, duration, local });
const starts = (events: ReturnType<typeof simulateSchedule>) => events.map((e) => `${e.start}: ${e.name} (${e.runningUsdPerHour} USD/h running)`);

test('scheduler: one at a time by default, in the order given', (t) => {
  t.deepEqual(starts(simulateSchedule([s('a', 3.1986, 40), s('b', 3.1986, 20), s('c', 1, 5)], { parallel: 1 })), [
    '0: a (3.1986 USD/h running)',
    '40: b (3.1986 USD/h running)',
    '60: c (1 USD/h running)',
  ]);
});

test('scheduler: --parallel 3 without a cap starts three at once, the fourth when the first ends', (t) => {
  t.deepEqual(starts(simulateSchedule([s('a', 3.1986, 40), s('b', 3.1986, 20), s('c', 3.1986, 30), s('d', 3.1986, 10)], { parallel: 3 })), [
    '0: a (3.1986 USD/h running)',
    '0: b (6.3972 USD/h running)',
    '0: c (9.5958 USD/h running)',
    '20: d (9.5958 USD/h running)',
  ]);
});

test('scheduler: the cap holds two 3.1986 stacks but not three; a cheaper later stack fills the gap; waiting stacks start in order; the sum never passes the cap', (t) => {
  const stacks = [s('e1-iptables', 3.1986, 40), s('e1-ipvs', 3.1986, 30), s('e1-nftables', 3.1986, 30), s('small', 0.2, 10), s('e2-host', 3.1986, 10)];
  const events = simulateSchedule(stacks, { parallel: 4, maxHourlyUsd: 6.6 });
  t.deepEqual(starts(events), [
    '0: e1-iptables (3.1986 USD/h running)',
    '0: e1-ipvs (6.3972 USD/h running)',
    '0: small (6.5972 USD/h running)',
    '30: e1-nftables (6.3972 USD/h running)',
    '40: e2-host (6.3972 USD/h running)',
  ]);
  t.deepEqual(
    events.map((e) => [e.name, e.end]),
    [
      ['e1-iptables', 40],
      ['e1-ipvs', 30],
      ['small', 10],
      ['e1-nftables', 60],
      ['e2-host', 50],
    ],
  );
  // At every start, the stacks running (started, not ended) sum to at most the cap.
  for (const e of events) {
    const sum = events.filter((x) => x.start <= e.start && x.end > e.start).reduce((a, x) => a + stacks.find((y) => y.name === x.name)!.usdPerHour, 0);
    t.true(sum <= 6.6 + 1e-9, `${e.name} at ${e.start}: ${sum}`);
  }
});

test('scheduler: a cap exactly the sum of two stacks holds both (compared in ten-thousandths, no float drift)', (t) => {
  t.deepEqual(starts(simulateSchedule([s('a', 0.1, 1), s('b', 0.2, 1), s('c', 0.3, 1)], { parallel: 3, maxHourlyUsd: 0.3 })), [
    '0: a (0.1 USD/h running)',
    '0: b (0.3 USD/h running)',
    '1: c (0.3 USD/h running)',
  ]);
});

test('scheduler: local stacks cost 0 but never run two at once; they run beside aws stacks', (t) => {
  t.deepEqual(starts(simulateSchedule([s('local-host', 0, 5, true), s('local-hostgw', 0, 5, true), s('aws', 3.1986, 30)], { parallel: 3, maxHourlyUsd: 4 })), [
    '0: local-host (0 USD/h running)',
    '0: aws (3.1986 USD/h running)',
    '5: local-hostgw (3.1986 USD/h running)',
  ]);
});

test('nextToStart: slots, cap, held cost (kept stacks or failed destroys still bill), same name twice', (t) => {
  const a: Scheduled = { name: 'a', usdPerHour: 3, local: false };
  const b: Scheduled = { name: 'b', usdPerHour: 3, local: false };
  const c: Scheduled = { name: 'c', usdPerHour: 1, local: false };
  t.is(nextToStart([a, b, c], [], { parallel: 2, maxHourlyUsd: 5 }), 0);
  t.is(nextToStart([b, c], [a], { parallel: 2, maxHourlyUsd: 5 }), 1);
  t.is(nextToStart([b], [a, c], { parallel: 2 }), null);
  t.is(nextToStart([b, c], [a], { parallel: 3, maxHourlyUsd: 5 }, 1.5), null);
  t.is(nextToStart([b, c], [a], { parallel: 3, maxHourlyUsd: 5 }, 1), 1);
  t.is(nextToStart([a], [a], { parallel: 3 }), null);
  t.is(nextToStart([], [], { parallel: 1 }), null);
});

test('checkSchedule: --parallel and --max-hourly-usd refusals name the flag, the value, what is allowed and the stack that cannot fit', (t) => {
  const st: Scheduled[] = [
    { name: 'aws-e1-iptables', usdPerHour: 3.1986, local: false },
    { name: 'local-host', usdPerHour: 0, local: true },
  ];
  t.is(t.throws(() => checkSchedule(st, { parallel: 0 }))!.message, '--parallel 0: expected a whole number from 1 to 32');
  t.is(t.throws(() => checkSchedule(st, { parallel: 1.5 }))!.message, '--parallel 1.5: expected a whole number from 1 to 32');
  t.is(
    t.throws(() => checkSchedule(st, { parallel: 2, maxHourlyUsd: 3 }))!.message,
    '--max-hourly-usd 3: below the cost of aws-e1-iptables (3.1986 USD/hour), which could never start; the cap must hold the dearest stack on its own (local stacks cost 0). Raise it, or leave those stacks out',
  );
  t.notThrows(() => checkSchedule(st, { parallel: 2, maxHourlyUsd: 3.1986 }));
  t.notThrows(() => checkSchedule([{ name: 'local-host', usdPerHour: 0, local: true }], { parallel: 1, maxHourlyUsd: 0.01 }));
});

test('spotInterruption: EC2 reasons and the notice are an interruption; a host that merely went away is not', (t) => {
  t.is(
    spotInterruption('error: ... State transition reason: Server.SpotInstanceTermination: Spot instance termination'),
    'EC2 reclaimed a spot host (Server.SpotInstanceTermination)',
  );
  t.is(spotInterruption('spot request sir-123 status instance-terminated-no-capacity'), 'EC2 reclaimed a spot host (instance-terminated-no-capacity)');
  t.is(spotInterruption('status marked-for-termination'), 'EC2 reclaimed a spot host (marked-for-termination)');
  t.is(
    spotInterruption(
      'result.json says interrupted: spot interruption: EC2 gave notice to terminate at 2026-11-21T10:31:02Z ({"action": "terminate", "time": "2026-11-21T10:31:02Z"}), seen ...',
    ),
    'spot interruption notice: terminate at 2026-11-21T10:31:02Z',
  );
  t.is(spotInterruption('netlab: spot interruption notice (x); stopped measuring during point p'), 'spot interruption notice');
  t.is(spotInterruption('ssh: handshake failed: dial tcp 198.51.100.10:22: i/o timeout'), null);
  t.is(spotInterruption('InsufficientInstanceCapacity: no c4.8xlarge capacity in us-east-1a'), null);
  t.is(spotInterruption(''), null);
});

/** A fake engine: each operation is logged as `<stack> <op>` and ends when the test says so (or at once, by default). */
function fakeEngine(o: { fail?: Record<string, Error>; resultDir?: string; hold?: boolean } = {}) {
  const events: string[] = [];
  const pending = new Map<string, () => void>();
  const op = (name: string, what: string, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      events.push(`${name} ${what}`);
      const end = () => {
        const e = o.fail?.[`${name} ${what}`];
        if (e) reject(e);
        else resolve();
      };
      if (!o.hold || what === 'destroy' || what === 'refresh') return end();
      pending.set(name, end);
      signal?.addEventListener('abort', () => {
        pending.delete(name);
        reject(new Error('operation aborted'));
      });
    });
  const engine: SweepEngine = {
    backend: 'file:///tmp/fake-backend',
    async open(name): Promise<SweepStack> {
      events.push(`${name} open`);
      return {
        refresh: async (x) => {
          x.onOutput('Refreshing (x):\n@ refreshing....\n');
          await op(name, 'refresh', x.signal);
        },
        up: async (x) => {
          x.onOutput('Updating (x):\n + aws:ec2:Instance created\n');
          await op(name, 'up', x.signal);
          return { outputs: o.resultDir ? { resultDir: { value: o.resultDir } } : {} };
        },
        destroy: async (x) => {
          x.onOutput(' - aws:ec2:Instance deleted\n');
          await op(name, 'destroy');
        },
        remove: async () => void events.push(`${name} remove`),
      };
    },
  };
  return { engine, events, pending };
}

const okResultDir = () => {
  const dir = tempDir('netlab-sweep-fake-');
  writeFileSync(join(dir, 'result.json'), JSON.stringify({ status: 'ok' }));
  return dir;
};
const tick = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

test('one stack: refresh, then up, then destroy; progress lines carry the phase; the row says ok and destroyed', async (t) => {
  const { engine, events } = fakeEngine({ resultDir: okResultDir() });
  const lines: string[] = [];
  const rows = await sweep([awsSpec('aws-e1-iptables')], {
    projectDir: tempDir('netlab-sweep-'),
    signal: new AbortController().signal,
    log: (stack, line) => lines.push(`[${stack}] ${line}`),
    prereqs: PREREQS,
    engine,
  });
  t.deepEqual(events, ['aws-e1-iptables open', 'aws-e1-iptables refresh', 'aws-e1-iptables up', 'aws-e1-iptables destroy']);
  t.deepEqual(lines, [
    "[aws-e1-iptables] refresh: reading the stack's resources back from AWS (a host ended by its time-to-live leaves the state, and up recreates it)",
    '[aws-e1-iptables] refresh: Refreshing (x):',
    '[aws-e1-iptables] up: 3.20 USD/hour while it exists; hosts end themselves after 180 min',
    '[aws-e1-iptables] up: Updating (x):',
    '[aws-e1-iptables] up:  + aws:ec2:Instance created',
    '[aws-e1-iptables] destroy: removing everything the stack created',
    '[aws-e1-iptables] destroy:  - aws:ec2:Instance deleted',
  ]);
  t.like(rows[0], { stack: 'aws-e1-iptables', target: 'aws', status: 'ok', usdPerHour: 3.1986, destroyed: true });
});

test('a failing up still destroys; a failing refresh still destroys (and never reaches up)', async (t) => {
  const run = async (fail: string) => {
    const { engine, events } = fakeEngine({ fail: { [fail]: new Error(`error: ${fail} went wrong`) } });
    const rows = await sweep([awsSpec('aws-e1-ipvs')], {
      projectDir: tempDir('netlab-sweep-'),
      signal: new AbortController().signal,
      log: () => {},
      prereqs: PREREQS,
      engine,
    });
    return { events, row: rows[0]! };
  };
  const up = await run('aws-e1-ipvs up');
  t.deepEqual(up.events, ['aws-e1-ipvs open', 'aws-e1-ipvs refresh', 'aws-e1-ipvs up', 'aws-e1-ipvs destroy']);
  t.like(up.row, { status: 'failed', destroyed: true, error: 'error: aws-e1-ipvs up went wrong' });
  const refresh = await run('aws-e1-ipvs refresh');
  t.deepEqual(refresh.events, ['aws-e1-ipvs open', 'aws-e1-ipvs refresh', 'aws-e1-ipvs destroy']);
  t.like(refresh.row, { status: 'failed', destroyed: true });
});

test('a spot stack whose up fails with a reclaimed host is interrupted, not failed; an on-demand one with the same text stays failed', async (t) => {
  const text = 'error: remote command workload-run: Process exited with status 255: instance i-0abc state-reason Server.SpotInstanceTermination';
  const run = async (spec: AwsSpec) => {
    const { engine } = fakeEngine({ fail: { [`${spec.name} up`]: new Error(text) } });
    return (
      await sweep([spec], {
        projectDir: tempDir('netlab-sweep-'),
        signal: new AbortController().signal,
        log: () => {},
        prereqs: PREREQS,
        engine,
      })
    )[0]!;
  };
  const spot = await run(awsSpec('aws-e2-vxlan', { spot: true, spotPriceUsd: 0.5 }));
  t.like(spot, { status: 'interrupted', destroyed: true, usdPerHour: 1.0166 });
  t.is(spot.error, `EC2 reclaimed a spot host (Server.SpotInstanceTermination); ${text}`);
  t.like(await run(awsSpec('aws-e2-vxlan')), { status: 'failed', error: text });
});

test('--parallel 3 under a 7 USD/hour cap: two 3.1986 stacks run at once, the third starts only when one has been destroyed; rows in the order given', async (t) => {
  const { engine, events, pending } = fakeEngine({ resultDir: okResultDir(), hold: true });
  const specs = [awsSpec('aws-e1-iptables'), awsSpec('aws-e1-ipvs'), awsSpec('aws-e1-nftables')];
  const lines: string[] = [];
  const done = sweep(specs, {
    projectDir: tempDir('netlab-sweep-'),
    signal: new AbortController().signal,
    log: (stack, line) => lines.push(`[${stack}] ${line}`),
    parallel: 3,
    maxHourlyUsd: 7,
    prereqs: PREREQS,
    engine,
  });
  await tick();
  t.deepEqual(events, ['aws-e1-iptables open', 'aws-e1-ipvs open', 'aws-e1-iptables refresh', 'aws-e1-ipvs refresh', 'aws-e1-iptables up', 'aws-e1-ipvs up']);
  t.true(lines.includes('[aws-e1-nftables] waiting: its 3.20 USD/hour on top of the 6.40 running would pass --max-hourly-usd 7'));
  pending.get('aws-e1-ipvs')!();
  await tick();
  t.deepEqual(events.slice(6), ['aws-e1-ipvs destroy', 'aws-e1-nftables open', 'aws-e1-nftables refresh', 'aws-e1-nftables up']);
  pending.get('aws-e1-nftables')!();
  await tick();
  pending.get('aws-e1-iptables')!();
  const rows = await done;
  t.deepEqual(
    rows.map((r) => [r.stack, r.status, r.destroyed]),
    [
      ['aws-e1-iptables', 'ok', true],
      ['aws-e1-ipvs', 'ok', true],
      ['aws-e1-nftables', 'ok', true],
    ],
  );
});

test('Ctrl-C during a parallel sweep: every running stack is aborted and destroyed, the waiting one never starts and is reported', async (t) => {
  const { engine, events } = fakeEngine({ hold: true });
  const ac = new AbortController();
  const done = sweep([awsSpec('aws-e1-iptables'), awsSpec('aws-e1-ipvs'), awsSpec('aws-e1-nftables')], {
    projectDir: tempDir('netlab-sweep-'),
    signal: ac.signal,
    log: () => {},
    parallel: 2,
    prereqs: PREREQS,
    engine,
  });
  await tick();
  ac.abort();
  const rows: SweepRow[] = await done;
  t.deepEqual(events.filter((e) => e.endsWith('destroy')).sort(), ['aws-e1-iptables destroy', 'aws-e1-ipvs destroy']);
  t.false(events.some((e) => e.startsWith('aws-e1-nftables')));
  t.deepEqual(
    rows.map((r) => [r.stack, r.status, r.destroyed]),
    [
      ['aws-e1-iptables', 'interrupted', true],
      ['aws-e1-ipvs', 'interrupted', true],
      ['aws-e1-nftables', 'interrupted', null],
    ],
  );
  t.is(rows[2]!.error, 'not started: the sweep was interrupted (Ctrl-C) before its turn');
});

test('--keep: a kept stack keeps its cost under the cap, so a stack that no longer fits is not started and says why', async (t) => {
  const { engine, events } = fakeEngine({ resultDir: okResultDir() });
  const rows = await sweep([awsSpec('aws-e1-iptables'), awsSpec('aws-e1-ipvs')], {
    projectDir: tempDir('netlab-sweep-'),
    signal: new AbortController().signal,
    log: () => {},
    keep: true,
    maxHourlyUsd: 5,
    prereqs: PREREQS,
    engine,
  });
  t.deepEqual(events, ['aws-e1-iptables open', 'aws-e1-iptables refresh', 'aws-e1-iptables up']);
  t.like(rows[0], { status: 'ok', destroyed: 'kept' });
  t.like(rows[1], {
    status: 'interrupted',
    destroyed: null,
    error: 'not started: stacks that may still bill (kept, or a failed destroy) hold 3.20 of --max-hourly-usd 5',
  });
});

test('a local stack: refresh, up, destroy, then removed from the backend; cost 0', async (t) => {
  const { engine, events } = fakeEngine({ resultDir: okResultDir() });
  const lines: string[] = [];
  const rows = await sweep([loadStack('local-host') as Spec], {
    projectDir: tempDir('netlab-sweep-'),
    signal: new AbortController().signal,
    log: (stack, line) => lines.push(`[${stack}] ${line}`),
    maxHourlyUsd: 0.01,
    prereqs: PREREQS,
    engine,
  });
  t.deepEqual(events, ['local-host open', 'local-host refresh', 'local-host up', 'local-host destroy', 'local-host remove']);
  t.true(lines.includes('[local-host] up: netlab up on this machine, through the Pulumi engine'));
  t.like(rows[0], { target: 'local', status: 'ok', usdPerHour: 0, destroyed: true });
});

test('the plan prices a spot stack from aws.spotPriceUsd, else at the on-demand price as the upper bound, and says which', (t) => {
  t.is(awsPlan(awsSpec('aws-e2-vxlan', { spot: true, spotPriceUsd: 0.5 })).cost.source, 'spot: aws.spotPriceUsd from the stack');
  t.like(awsPlan(awsSpec('aws-e2-vxlan', { spot: true })).cost, { usdPerHour: 3.1986, market: 'spot' });
  t.is(awsPlan(awsSpec('aws-e2-vxlan')).cost.market, 'on-demand');
});

test('netlab sweep/up: --parallel 0, 1.5 and a bad --max-hourly-usd are refused (exit 2) before any stack is read; a cap below a stack names it', (t) => {
  const run = (...args: string[]) => spawnSync('node', [NETLAB, ...args], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent' } });
  const zero = run('sweep', '--parallel', '0', 'no-such-stack');
  t.is(zero.status, 2);
  t.is(zero.stderr.trim(), 'netlab: sweep: --parallel "0": expected a whole number from 1 to 32');
  const half = run('up', '--parallel', '1.5', 'no-such-stack');
  t.is(half.status, 2);
  t.is(half.stderr.trim(), 'netlab: up: --parallel "1.5": expected a whole number from 1 to 32');
  const usd = run('sweep', '--max-hourly-usd', '-3', 'no-such-stack');
  t.is(usd.status, 2);
  t.regex(usd.stderr, /^netlab: sweep: --max-hourly-usd "-3": expected a positive number of USD per hour/);
  // Before the placeholder SSH range and the prerequisites: nothing would ever start.
  const cap = run('sweep', '--parallel', '2', '--max-hourly-usd', '3', 'aws-e1-iptables');
  t.is(cap.status, 2);
  t.is(
    cap.stderr.trim(),
    'netlab: --max-hourly-usd 3: below the cost of aws-e1-iptables (3.1986 USD/hour), which could never start; the cap must hold the dearest stack on its own (local stacks cost 0). Raise it, or leave those stacks out',
  );
});
