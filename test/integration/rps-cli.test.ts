// `netlab rps`, the compiled load client behind the command line, run as a child process (as
// nobody when the tests run as root) against servers on 127.0.0.1. Needs the client built
// (scripts/build-rps.sh, run by npm test's pretest).
import test from 'ava';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rpsClient, rpsSourceHash } from '../../lib/workload/rps.ts';
import { netlab } from '../helpers/cli.ts';

const scratchDirs: string[] = [];
test.after.always(() => scratchDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

// The load client lives in root's tools cache, which nobody cannot read: the rps verbs here get a
// copy in a scratch cache (NETLAB_TOOLS_CACHE, the same <cache>/rps-<source hash>/ layout).
test.before(() => {
  const cache = mkdtempSync(join(tmpdir(), 'netlab-tools-'));
  scratchDirs.push(cache);
  const dir = join(cache, `rps-${rpsSourceHash()}`);
  mkdirSync(dir);
  copyFileSync(rpsClient(), join(dir, 'netlab-rps'));
  for (const d of [cache, dir]) chmodSync(d, 0o755);
  chmodSync(join(dir, 'netlab-rps'), 0o755);
  process.env.NETLAB_TOOLS_CACHE = cache;
});

type Report = { ok: number; sent: number; errors: Record<string, number>; connectErrors: Record<string, number>; firstError: string };
const reportOf = (stdout: string) => JSON.parse(stdout) as Report;

test('rps to a name that does not resolve (.invalid): DNS failures, exit 1', async (t) => {
  const r = await netlab('rps', 'http://nosuch.invalid/', '--rate', '5', '--duration', '1', '--timeout', '4000');
  t.is(r.code, 1, r.stderr);
  const rep = reportOf(r.stdout);
  t.is(rep.ok, 0);
  t.deepEqual(rep.errors, { connect: rep.sent, timeout: 0, reset: 0, http: 0, size: 0 });
  t.deepEqual(rep.connectErrors, { dns: rep.sent, refused: 0, unreachable: 0, other: 0 });
  t.regex(rep.firstError, /^nosuch\.invalid:80: the name does not resolve \((ENOTFOUND|EAI_AGAIN)\)$/);
  t.regex(r.stderr, /^rps: no request succeeded: all 5 failed/);
});

test('rps to a closed port on 127.0.0.1: refused connects, exit 1', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const s = createTcpServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
  const r = await netlab('rps', `http://127.0.0.1:${port}/`, '--rate', '5', '--duration', '1');
  t.is(r.code, 1, r.stderr);
  const rep = reportOf(r.stdout);
  t.deepEqual(rep.connectErrors, { dns: 0, refused: rep.sent, unreachable: 0, other: 0 });
  t.is(rep.errors.reset, 0);
});

test('rps to a server on 127.0.0.1: every request answered, exit 0', async (t) => {
  const server = createServer((_req, res) => res.end('hello'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const r = await netlab('rps', `http://127.0.0.1:${port}/`, '--rate', '20', '--duration', '1', '--expect-body', '5');
  t.is(r.code, 0, r.stderr);
  const rep = reportOf(r.stdout);
  t.is(rep.ok, 20);
  t.is(rep.sent, 20);
});
