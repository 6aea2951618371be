// Fault injection (issue 19): in one loop, Ctrl-C (SIGINT to the process group, as a terminal sends
// it) and SIGTERM at build, load, programming and teardown; kill -9 followed by `netlab down`; a
// namespace deleted and nginx killed mid-run; SIGTERM to the npx wrapper alone and through
// `timeout`. After each one: nothing of the stack is left, the root namespace is unchanged, the exit
// code says the run did not succeed (unless it had finished), and result.json tells the truth.
// Also: a full results folder, a full state folder, leftovers refused before `up`, and the lock
// under concurrent takeover. Needs root; skipped with the reason otherwise.
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunResult } from '../../lib/results/result.ts';
import { cgroupRoot, listNamespaces } from '../../lib/local/state.ts';
import { rootState, sh } from '../helpers/root-namespace.ts';
import { assertNothingLeft } from '../helpers/nothing-left.ts';
import { PROJECT, BIN } from '../helpers/paths.ts';
import { stateDir } from '../../lib/core/names.ts';

const root = process.getuid?.() === 0;
const serial = (title: string, fn: (t: ExecutionContext) => unknown) =>
  root ? test.serial(title, fn) : test.skip(`${title} — skipped: needs root (network namespaces)`, fn);
const tmp = mkdtempSync(join(tmpdir(), 'netlab-faults-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const WRK = `  netlab:datapath: hostgw\n  netlab:workload:\n    tool: wrk\n    durationSeconds: 2\n    connections: [1, 2]\n    threads: 1\n  netlab:warmupSeconds: 0\n`;
const PROXY = `  netlab:datapath: hostgw\n  netlab:proxy:\n    mode: iptables\n    iptablesLayout: current\n    services: [3000]\n  netlab:workload:\n    tool: rps\n    rate: 200\n    durationSeconds: 2\n    floorSeconds: 1\n  netlab:warmupSeconds: 0\n`;

function stackFile(name: string, body: string): string {
  const path = join(tmp, `Pulumi.${name}.yaml`);
  writeFileSync(path, `config:\n${body}`);
  return path;
}

interface Started {
  pid: number;
  exited: Promise<number | null>;
  output: () => string;
  /** Wait (bounded) until the output matches; false on timeout or exit. */
  waitFor: (re: RegExp, ms?: number) => Promise<boolean>;
}

/** Start a command in its own process group, as a shell starts a foreground job. */
function start(argv: string[], env: NodeJS.ProcessEnv = {}): Started {
  const child = spawn(argv[0]!, argv.slice(1), { cwd: PROJECT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let done = false;
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) =>
    child.on('exit', (code) => {
      done = true;
      r(code);
    }),
  );
  const waitFor = async (re: RegExp, ms = 60_000) => {
    for (const end = Date.now() + ms; Date.now() < end && !done; await sleep(20)) if (re.test(out)) return true;
    return re.test(out);
  };
  return { pid: child.pid!, exited, output: () => out, waitFor };
}

const up = (name: string, body: string) => start([process.execPath, BIN, 'up', '--results', tmp, stackFile(name, body)]);

function resultOf(name: string): RunResult & { teardown: { seconds: number; by?: string; left?: string[] } | null } {
  const dir = join(tmp, name);
  const runs = readdirSync(dir);
  if (runs.length !== 1) throw new Error(`expected one run of ${name}, found ${runs.length}`);
  const text = readFileSync(join(dir, runs[0]!, 'result.json'), 'utf8');
  return RunResult.parse(JSON.parse(text)) as never;
}

/** What every result must say after the run ended: never `ok` unless everything was measured and removed. */
function truthful(r: ReturnType<typeof resultOf>, planned: number): string | null {
  if (r.status === 'running') return 'still says running after the run ended';
  if (r.finishedAt === null) return 'no finishedAt';
  if (r.status === 'ok') {
    if (r.points.length !== planned) return `ok with ${r.points.length} of ${planned} points`;
    if (!r.points.some((p) => p.status === 'ok')) return 'ok without a valid point';
    if (!r.teardown || r.teardown.left?.length) return 'ok without a complete teardown';
    return null;
  }
  if (!r.error) return `${r.status} without a reason`;
  if (!r.teardown) return `${r.status} without a teardown record`;
  return null;
}

type Fault = {
  name: string;
  body: string;
  /** Output that marks the moment to inject. */
  at: RegExp;
  inject: (s: Started, name: string) => Promise<void> | void;
  /** Statuses the result may honestly have. */
  expect: RunResult['status'][];
  /** kill -9: the run cannot clean up; `netlab down` must, and mark the result failed. */
  down?: boolean;
};

const pgrp =
  (sig: NodeJS.Signals, times = 1) =>
  async (s: Started) => {
    for (let i = 0; i < times; i++) {
      try {
        process.kill(-s.pid, sig);
      } catch {
        return;
      }
      await sleep(30);
    }
  };
const direct = (sig: NodeJS.Signals) => (s: Started) => void process.kill(s.pid, sig);

const BUILD = /building hostgw datapath/;
const LOAD = /\[1\/2\] /;
const PROGRAMMING = /programming 3000 Services/;
const TEARDOWN = /removing namespaces/;

const FAULTS: Fault[] = [
  { name: 'fi-int-build', body: WRK, at: BUILD, inject: pgrp('SIGINT'), expect: ['interrupted'] },
  { name: 'fi-term-build', body: WRK, at: BUILD, inject: direct('SIGTERM'), expect: ['interrupted'] },
  { name: 'fi-int-load', body: WRK, at: LOAD, inject: pgrp('SIGINT'), expect: ['interrupted'] },
  { name: 'fi-term-load', body: WRK, at: LOAD, inject: direct('SIGTERM'), expect: ['interrupted'] },
  { name: 'fi-int-prog', body: PROXY, at: PROGRAMMING, inject: pgrp('SIGINT'), expect: ['interrupted'] },
  { name: 'fi-term-prog', body: PROXY, at: PROGRAMMING, inject: direct('SIGTERM'), expect: ['interrupted'] },
  // During teardown every point has been measured: the run may end ok, but only if the teardown, run
  // in its own process groups, removed everything despite the repeated Ctrl-C.
  { name: 'fi-int-down', body: WRK, at: TEARDOWN, inject: pgrp('SIGINT', 5), expect: ['ok', 'interrupted'] },
  { name: 'fi-term-down', body: WRK, at: TEARDOWN, inject: pgrp('SIGTERM', 3), expect: ['ok', 'interrupted'] },
  { name: 'fi-kill9', body: WRK, at: LOAD, inject: direct('SIGKILL'), expect: ['failed'], down: true },
  { name: 'fi-ns-gone', body: WRK, at: LOAD, inject: (_s, n) => void sh(`ip netns del netlab.${n}.client.pod0`), expect: ['failed'] },
  { name: 'fi-nginx-gone', body: WRK, at: LOAD, inject: (_s, n) => void sh(`echo 1 > ${cgroupRoot()}/netlab.${n}/server/cgroup.kill`), expect: ['failed'] },
];

for (const f of FAULTS) {
  serial(`fault ${f.name}: nothing left, exit code and result.json tell the truth`, async (t) => {
    const before = rootState();
    const s = up(f.name, f.body);
    t.true(await s.waitFor(f.at), `never reached ${f.at}: ${s.output()}`);
    await f.inject(s, f.name);
    const code = await s.exited;
    if (f.down) {
      t.is(resultOf(f.name).status, 'running', 'a run killed with -9 cannot finish its result');
      const d = spawnSync(process.execPath, [BIN, 'down', f.name], { encoding: 'utf8' });
      t.is(d.status, 0, d.stderr);
      t.regex(d.stdout, /marked the unfinished run failed/);
    }
    const r = resultOf(f.name);
    t.true(f.expect.includes(r.status), `status ${r.status} (${r.error ?? ''}), expected ${f.expect.join(' or ')}; output:\n${s.output()}`);
    t.is(truthful(r, 2), null);
    if (r.status !== 'ok') t.not(code, 0, 'a run that did not succeed must not exit 0');
    // A Ctrl-C burst during teardown may outlast the run: once the run is finished and its handlers
    // are gone, a late SIGINT ends the process (code null) as it would end any program.
    else t.true(code === 0 || (code === null && f.at === TEARDOWN), `exit ${code}`);
    if (f.down) t.regex(r.error!, /ended before the run finished/);
    if (f.name === 'fi-ns-gone' || f.name === 'fi-nginx-gone') t.regex(r.points.at(-1)?.reason ?? '', /the lab broke during this point/);
    await assertNothingLeft(t, f.name);
    t.deepEqual(rootState(), before, 'the root namespace changed');
  });
}

/** The npm process of a command started through npx (its title is `npm exec …`). */
function npmPidOf(name: string): number | null {
  const pid = Number(sh(`pgrep -f '^npm exec netlab up .*Pulumi.${name}.yaml' || true`).trim().split('\n')[0]);
  return pid > 0 ? pid : null;
}

serial('SIGTERM to the npx wrapper alone stops netlab and cleans up (npm does not pass it on)', async (t) => {
  const name = 'fi-npx-term';
  const s = start(['npx', 'netlab', 'up', '--results', tmp, stackFile(name, WRK)]);
  t.true(await s.waitFor(LOAD), s.output());
  const npm = npmPidOf(name);
  t.truthy(npm, 'npx process not found');
  process.kill(npm!, 'SIGTERM');
  // The wrapper is gone at once; netlab notices (it watches its ancestors) and tears down.
  for (let i = 0; i < 300 && sh(`pgrep -f '[n]etlab.js up .*Pulumi.${name}.yaml|[n]etlab up .*Pulumi.${name}.yaml' || true`).trim(); i++) await sleep(100);
  const r = resultOf(name);
  t.is(r.status, 'interrupted', r.error);
  t.regex(s.output() + (r.error ?? ''), /npm process that started netlab .* is gone|interrupted/);
  await assertNothingLeft(t, name);
});

serial('timeout 8 npx netlab up: the run is stopped, torn down and recorded as interrupted', async (t) => {
  const name = 'fi-timeout';
  const s = start(['timeout', '8', 'npx', 'netlab', 'up', '--results', tmp, stackFile(name, WRK.replace('durationSeconds: 2', 'durationSeconds: 10'))]);
  const code = await s.exited;
  t.is(code, 124, s.output());
  // timeout ends npx; netlab notices its parent is gone, tears down, then writes result.json: wait
  // (bounded) for netlab itself to end, not for the namespaces, which go before the result is written.
  for (let i = 0; i < 300 && sh(`pgrep -f '[n]etlab.js up .*Pulumi.${name}.yaml|[n]etlab up .*Pulumi.${name}.yaml' || true`).trim(); i++) await sleep(100);
  const r = resultOf(name);
  t.is(r.status, 'interrupted', r.error);
  await assertNothingLeft(t, name);
});

/** A tmpfs of `kb` KiB at a fresh folder, filled to the last byte; unmounted by the test's teardown. */
function fullTmpfs(t: { teardown: (fn: () => void) => void }, kb: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'netlab-full-'));
  sh(`mount -t tmpfs -o size=${kb}k netlab-test ${dir}`);
  t.teardown(() => {
    sh(`umount ${dir} && rmdir ${dir}`);
  });
  sh(`dd if=/dev/zero of=${dir}/filler bs=4k 2>/dev/null || true`);
  return dir;
}

serial('a full results folder: clear error naming the file, nothing changed, no empty result.json', (t) => {
  const results = fullTmpfs(t, 64);
  const before = rootState();
  const r = spawnSync(process.execPath, [BIN, 'up', '--results', results, stackFile('fi-full-results', WRK)], { encoding: 'utf8' });
  t.is(r.status, 2, r.stderr);
  t.regex(r.stderr, /cannot write .*fi-full-results.*: no space left on the device/);
  t.notRegex(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
  t.deepEqual(rootState(), before);
  t.false(existsSync(join(stateDir(), 'fi-full-results.state.json')));
  t.false(existsSync(join(stateDir(), 'fi-full-results.lock')));
  const zeroByte = sh(`find ${results} -name '*.json' -size 0 -o -name plan.txt -size 0`).trim();
  t.is(zeroByte, '', 'a 0-byte file was left');
});

serial('a results folder that fills up mid-run: teardown still runs, the error names the file, no file is left half-written', async (t) => {
  const results = fullTmpfs(t, 512);
  sh(`rm ${results}/filler`);
  const name = 'fi-fills';
  const s = start([process.execPath, BIN, 'up', '--results', results, stackFile(name, WRK)]);
  t.true(await s.waitFor(LOAD), s.output());
  sh(`dd if=/dev/zero of=${results}/filler bs=4k 2>/dev/null || true`);
  const code = await s.exited;
  t.not(code, 0, s.output());
  t.regex(s.output(), /cannot write .*: no space left on the device/);
  await assertNothingLeft(t, name);
  const file = sh(`ls ${results}/${name}/*/result.json`).trim();
  const r = RunResult.parse(JSON.parse(readFileSync(file, 'utf8')));
  t.not(r.status, 'ok', 'a run whose results could not be written is not ok');
});

serial('a full state folder: clear error, nothing changed, no empty lock file', (t) => {
  const state = fullTmpfs(t, 16);
  const before = rootState();
  const r = spawnSync(process.execPath, [BIN, 'up', '--results', tmp, stackFile('fi-full-state', WRK)], {
    encoding: 'utf8',
    env: { ...process.env, NETLAB_STATE_DIR: state },
  });
  t.is(r.status, 2, r.stderr);
  t.regex(r.stderr, /cannot write .*fi-full-state.*: no space left on the device/);
  t.deepEqual(readdirSync(state), ['filler']);
  t.deepEqual(rootState(), before);
});

serial('up refuses a stack that a crash left behind (a cgroup alone), names it and says netlab down', async (t) => {
  const name = 'fi-left';
  const cg = join(cgroupRoot()!, `netlab.${name}`);
  mkdirSync(cg);
  t.teardown(() => {
    if (existsSync(cg)) rmdirSync(cg);
  });
  const r = spawnSync(process.execPath, [BIN, 'up', '--results', tmp, stackFile(name, WRK)], { encoding: 'utf8' });
  t.is(r.status, 2, r.stderr);
  t.regex(r.stderr, new RegExp(`cgroup ${cg}.*netlab down ${name}`));
  t.deepEqual(await listNamespaces(`netlab.${name}.`), []);
  const d = spawnSync(process.execPath, [BIN, 'down', name], { encoding: 'utf8' });
  t.is(d.status, 0, d.stderr);
  t.false(existsSync(cg));
});

serial('the stack lock: of 8 processes racing for a stale lock, exactly one wins, 10 times over', async (t) => {
  const state = mkdtempSync(join(tmpdir(), 'netlab-lock-'));
  // Each winner holds the lock until every racer has answered; then all are stopped.
  const script = `import { acquireLock } from ${JSON.stringify(join(PROJECT, 'lib', 'local', 'state.ts'))};
    try { acquireLock('race'); process.stdout.write('won'); setTimeout(() => {}, 60000); } catch { process.stdout.write('lost'); }`;
  for (let round = 0; round < 10; round++) {
    writeFileSync(join(state, 'race.lock'), '999999999\n'); // a dead holder's pid
    const kids = Array.from({ length: 8 }, () => start([process.execPath, '--import=tsx', '--input-type=module', '-e', script], { NETLAB_STATE_DIR: state }));
    for (let i = 0; i < 600 && kids.some((k) => !k.output()); i++) await sleep(100);
    const answers = kids.map((k) => k.output());
    for (const k of kids)
      try {
        process.kill(k.pid, 'SIGKILL');
      } catch {
        /* a loser has exited already */
      }
    await Promise.all(kids.map((k) => k.exited));
    t.is(answers.filter((a) => a === 'won').length, 1, `round ${round}: ${answers.join(',')}`);
  }
  rmSync(state, { recursive: true, force: true });
});
