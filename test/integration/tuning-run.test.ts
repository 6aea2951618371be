// Host tuning applied for real in the embedded lab (root only): every write read back and recorded,
// machine-wide values put back after a run, after a failed one and by `netlab down` after --keep,
// and a second stack refused while the first has not put its values back.
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { upLocal } from '../../lib/local/run.ts';
import type { Spec } from '../../lib/spec/schema.ts';
import { downStack } from '../../lib/local/state.ts';
import { placement } from '../../lib/tuning/plan.ts';
import { formatCpuList, parseLscpuP } from '../../lib/tuning/topology.ts';
import { rootState } from '../helpers/root-namespace.ts';
import { assertNothingLeft } from '../helpers/nothing-left.ts';
import { stateDir } from '../../lib/core/names.ts';
import { specFromStackDoc } from '../../lib/spec/document.ts';

const root = process.getuid?.() === 0;
const tmp = mkdtempSync(join(tmpdir(), 'netlab-tune-'));
test.after.always(() => rmSync(tmp, { recursive: true, force: true }));
const WIDE = ['/proc/sys/fs/file-max', '/proc/sys/net/core/rps_sock_flow_entries', '/proc/sys/net/ipv4/tcp_low_latency'];
const machine = () => Object.fromEntries(WIDE.map((p) => [p, readFileSync(p, 'utf8').trim()]));
const cpus = root ? placement(parseLscpuP(execFileSync('lscpu', ['-p=CPU,CORE,SOCKET,NODE'], { encoding: 'utf8' })), true) : null;

function spec(name: string, tuning: Record<string, unknown>): Spec {
  return specFromStackDoc(name, {
    config: {
      'netlab:datapath': 'hostgw',
      'netlab:workload': { tool: 'wrk', durationSeconds: 1, connections: 2, threads: cpus?.client.length ?? 1 },
      'netlab:warmupSeconds': 0,
      'netlab:tuning': tuning,
    },
  });
}

const serial = root ? test.serial : test.skip;

serial('study tuning: applied, read back, recorded, and the machine put back as it was', async (t) => {
  const before = rootState();
  const wide = machine();
  const { result } = await upLocal(spec('it-tuned', { profile: 'study' }), { resultsRoot: tmp });
  t.is(result.status, 'ok', result.error);
  t.is(result.points[0]!.status, 'ok', result.points[0]!.reason);
  const steps = result.tuning!.steps;
  const rps = steps.filter((s) => s.setting === 'rps');
  t.is(rps.length, 2);
  for (const s of rps) t.is(s.status, 'applied', s.why);
  t.is(steps.find((s) => s.setting === 'net.ipv4.tcp_tw_recycle')!.status, 'skipped');
  t.is(steps.find((s) => s.setting === 'irqAffinity')!.status, 'skipped');
  t.is(steps.find((s) => s.setting === 'tuned')!.status, 'skipped');
  const fileMax = steps.find((s) => s.setting === 'fs.file-max')!;
  t.is(fileMax.got, '1024000');
  t.is(fileMax.previous, wide['/proc/sys/fs/file-max'] ?? null);
  t.true(steps.filter((s) => s.setting === 'notrack').every((s) => s.got === 'rule present'));
  for (const s of steps) if (s.status === 'failed') t.true(s.optional, `${s.setting} failed but is not optional: ${s.why}`);
  const pl = result.tuning!.placement!;
  t.is(pl.client, formatCpuList(cpus!.client));
  t.is(pl.clientReadBack, pl.client);
  t.true(
    pl.serverReadBack.some((l) => l === `nginx: worker process: ${pl.server}`),
    JSON.stringify(pl.serverReadBack),
  );
  t.deepEqual(result.tuning!.restored.sort(), [...WIDE].sort());
  t.deepEqual(machine(), wide, 'machine-wide values not put back');
  t.false(existsSync(join(stateDir(), 'it-tuned.tuning.json')));
  await assertNothingLeft(t, 'it-tuned');
  t.deepEqual(rootState(), before, 'root namespace changed');
});

serial('a failing setting stops the run with its name and the way out, and the machine is put back', async (t) => {
  const wide = machine();
  const bogus = 'net.ipv4.netlab_no_such_setting';
  const { result } = await upLocal(spec('it-tunefail', { profile: 'study', sysctls: { [bogus]: 1 } }), { resultsRoot: tmp });
  t.is(result.status, 'failed');
  t.regex(
    result.error!,
    new RegExp(`tuning step failed: .*${bogus.replace(/\./g, '\\.')}[\\s\\S]*netlab:tuning\\.optional: \\[${bogus.replace(/\./g, '\\.')}\\]`),
  );
  t.is(result.points.length, 0);
  t.deepEqual(machine(), wide);
  await assertNothingLeft(t, 'it-tunefail');
  // Marked optional, the same setting is recorded as failed and the run goes on.
  const ok = await upLocal(spec('it-tuneopt', { profile: 'study', sysctls: { [bogus]: 1 }, optional: [bogus, 'kernel.sched_migration_cost_ns'] }), {
    resultsRoot: tmp,
  });
  t.is(ok.result.status, 'ok', ok.result.error);
  t.true(ok.result.tuning!.steps.filter((s) => s.setting === bogus).every((s) => s.status === 'failed'));
  t.deepEqual(machine(), wide);
  await assertNothingLeft(t, 'it-tuneopt');
});

serial('kept up, the values stay changed; a second stack touching them is refused; netlab down puts them back', async (t) => {
  const wide = machine();
  const kept = await upLocal(spec('it-tunekeep', { rfs: true, sysctls: { 'fs.file-max': 1234567 } }), { resultsRoot: tmp, keep: true });
  t.is(kept.result.status, 'ok', kept.result.error);
  t.is(readFileSync('/proc/sys/fs/file-max', 'utf8').trim(), '1234567');
  t.is(readFileSync('/proc/sys/net/core/rps_sock_flow_entries', 'utf8').trim(), '65536');
  const other = await upLocal(spec('it-tuneclash', { sysctls: { 'fs.file-max': 2000000 } }), { resultsRoot: tmp });
  t.is(other.result.status, 'failed');
  t.regex(other.result.error!, /stack it-tunekeep has changed \/proc\/sys\/fs\/file-max and not put it back; run netlab down it-tunekeep first/);
  t.is(readFileSync('/proc/sys/fs/file-max', 'utf8').trim(), '1234567', 'the refused stack changed a value');
  await assertNothingLeft(t, 'it-tuneclash');
  const down = await downStack('it-tunekeep');
  t.deepEqual(down.restored.sort(), ['/proc/sys/fs/file-max', '/proc/sys/net/core/rps_sock_flow_entries']);
  t.deepEqual(machine(), wide);
  await assertNothingLeft(t, 'it-tunekeep');
});
