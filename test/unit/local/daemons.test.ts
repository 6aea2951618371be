// daemonsGone: which of a cgroup's expected daemons no longer has a process there; namedWait: a failed step's message.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { CommandError } from '../../../lib/core/exec.ts';
import { daemonsGone, namedWait } from '../../../lib/local/run.ts';
import { tempDir } from '../../helpers/tmp.ts';

test('daemonsGone names the expected processes a cgroup no longer holds', (t) => {
  const cg = tempDir('netlab-cg-');
  const me = readFileSync('/proc/self/comm', 'utf8').trim();
  // This process, and a pid that cannot exist.
  writeFileSync(join(cg, 'cgroup.procs'), `${process.pid}\n4194305\n`);
  t.deepEqual(daemonsGone(cg, [me, 'kube-apiserver']), ['kube-apiserver']);
  t.deepEqual(daemonsGone(cg, [me]), []);
  // A name listed twice needs two processes (flanneld on both hosts): one is not enough.
  t.deepEqual(daemonsGone(cg, [me, me]), [me]);
  // A cgroup that is gone holds nothing.
  t.deepEqual(daemonsGone(join(cg, 'nope'), ['etcd', 'kube-apiserver']), ['etcd', 'kube-apiserver']);
});

test("namedWait gives a bounded wait's own message and the log's last lines, not the step's command line", (t) => {
  const result = (stderr: string) => ({ code: 1, signal: null, stdout: '', stderr, seconds: 1, timedOut: false });
  const waited = new CommandError(
    ['sh', '-c', 'a very long script'],
    result('netlab: kube-proxy programming 5 Services did not happen within 10 s; the last lines of /x/kube-proxy.log:\nl1\nl2\nl3\nl4\n'),
  );
  t.is(namedWait(waited), 'kube-proxy programming 5 Services did not happen within 10 s; the last lines of /x/kube-proxy.log: l2 / l3 / l4');
  const other = new CommandError(['false'], result('boom\n'));
  t.is(namedWait(other), 'false: exit 1: boom');
  t.is(namedWait(new Error('plain')), 'plain');
});
