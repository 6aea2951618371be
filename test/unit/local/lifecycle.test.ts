// What a run may claim (issue 19): points judged against attempts, a run's final status from what
// happened, unfinished runs never counted by the report. Pure: no root needed.
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { finalStatus, judge, MAX_ERROR_SHARE } from '../../../lib/local/run.ts';
import type { Measured } from '../../../lib/workload/parsers.ts';
import type { PointResult } from '../../../lib/results/result.ts';
import { parseResult } from '../../../lib/results/report/data.ts';
import { runStatus } from '../../../lib/aws/sweep.ts';
import { FIXTURES } from '../../helpers/paths.ts';
import { tempDir } from '../../helpers/tmp.ts';

const m = (o: Partial<Measured>): Measured => ({
  requests: 1000,
  attempts: 1000,
  errors: 0,
  non2xx: 0,
  reqPerSec: 1,
  bytesPerResponse: 350,
  latencyMs: { mean: 1, p50: 1, p90: 1, p99: 1, p999: 1, max: 1 },
  toolSeconds: 1,
  detail: {},
  ...o,
});

test('errors are counted against attempts, never against completed requests alone', (t) => {
  // wrk: 6,723 completed and 38,284 socket errors = 45,007 attempts (the audit saw "38284 of 6723").
  const v = judge(m({ requests: 6723, attempts: 6723 + 38284, errors: 38284 }));
  t.is(v.status, 'invalid');
  t.regex(v.reason!, /^38284 of 45007 attempts failed \(38284 socket errors, 0 non-2xx\)/);
});

test('the 1 % boundary: exactly 1 % of attempts failing is valid, one more is not', (t) => {
  t.is(MAX_ERROR_SHARE, 0.01);
  t.is(judge(m({ requests: 990, attempts: 1000, errors: 10 })).status, 'ok');
  t.is(judge(m({ requests: 989, attempts: 1000, errors: 11 })).status, 'invalid');
  t.is(judge(m({ requests: 1000, attempts: 1000, non2xx: 11 })).status, 'invalid');
  const none = judge(m({ requests: 0, attempts: 40, errors: 40 }));
  t.is(none.status, 'invalid');
  t.regex(none.reason!, /no request completed \(40 attempted, 40 socket errors\)/);
});

const pt = (status: PointResult['status']) => ({ status }) as PointResult;

test('a run is ok only with a valid point; no point or only invalid/failed ones is failed; an end already decided stays', (t) => {
  t.deepEqual(finalStatus({ status: 'running', points: [] }), { status: 'failed', error: 'no point was measured' });
  t.deepEqual(finalStatus({ status: 'running', points: [pt('invalid'), pt('failed')] }), {
    status: 'failed',
    error: 'no point gave a valid measurement (1 invalid, 1 failed of 2)',
  });
  t.deepEqual(finalStatus({ status: 'running', points: [pt('invalid'), pt('ok')] }), { status: 'ok' });
  t.deepEqual(finalStatus({ status: 'interrupted', error: 'x', points: [pt('ok')] }), { status: 'interrupted', error: 'x' });
  t.deepEqual(finalStatus({ status: 'failed', error: 'broke', points: [pt('ok')] }), { status: 'failed', error: 'broke' });
});

test('the report never counts a run still marked running', (t) => {
  const file = join(FIXTURES, 'report', 'local-host', '20261121T194543Z-48d9', 'result.json');
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  t.true('result' in parseResult(file, JSON.stringify(doc)));
  const r = parseResult(file, JSON.stringify({ ...doc, status: 'running', finishedAt: null }));
  t.false('result' in r);
  t.regex((r as { why: string }).why, /unfinished run \(status running\).*netlab down local-host/);
});

test('the report skips interrupted runs too: their points are a prefix of what was asked', (t) => {
  const file = join(FIXTURES, 'report', 'local-host', '20261121T194543Z-48d9', 'result.json');
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  const r = parseResult(file, JSON.stringify({ ...doc, status: 'interrupted', error: 'SIGINT' }));
  t.false('result' in r);
  t.regex((r as { why: string }).why, /^interrupted run/);
});

test("a sweep row is ok only when the run's own result.json says ok, not merely because pulumi up succeeded", (t) => {
  const dir = tempDir('netlab-sweep-row-');
  const write = (doc: object) => writeFileSync(join(dir, 'result.json'), JSON.stringify(doc));
  write({ status: 'ok' });
  t.deepEqual(runStatus(dir), { status: 'ok' });
  write({ status: 'failed', error: 'point 3: tcpkali exited 1' });
  t.deepEqual(runStatus(dir), { status: 'failed', error: 'result.json says failed: point 3: tcpkali exited 1' });
  write({ status: 'interrupted' });
  t.is(runStatus(dir).status, 'interrupted');
  t.is(runStatus(null).status, 'failed');
  t.regex(runStatus(join(dir, 'nope')).error!, /cannot read/);
});
