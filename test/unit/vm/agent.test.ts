// The two-VM agent (lib/vm/agent.ts) over a real TCP connection on loopback: commands, files, the
// clock, errors, and what the client sees when the agent goes away. In the VMs it runs on the
// control link (test/integration/vm.test.ts).
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { AgentClient, serveAgent } from '../../../lib/vm/agent.ts';
import { tempDir } from '../../helpers/tmp.ts';

async function pair() {
  const server = await serveAgent('127.0.0.1', 0);
  const sockets: Socket[] = [];
  server.on('connection', (s) => sockets.push(s));
  const { port } = server.address() as AddressInfo;
  const client = await AgentClient.connect('127.0.0.1', port, 5000);
  return { server, client, sockets };
}

test('the agent runs commands, reads and writes files and tells its clock', async (t) => {
  const { server, client } = await pair();
  t.teardown(() => {
    client.close();
    server.close();
  });
  const ok = await client.run(['sh', '-c', 'echo out; echo err >&2; exit 3']);
  t.like(ok, { code: 3, stdout: 'out\n', stderr: 'err\n', timedOut: false });
  // Bounded in time as any command of the runner.
  t.like(await client.run(['sleep', '5'], { timeoutMs: 200 }), { timedOut: true });
  // Requests in flight at once are matched to their answers.
  const many = await Promise.all([1, 2, 3].map((i) => client.run(['echo', String(i)])));
  t.deepEqual(
    many.map((r) => r.stdout),
    ['1\n', '2\n', '3\n'],
  );
  const dir = tempDir('netlab-agent-');
  await client.call({
    op: 'write',
    files: [
      { path: join(dir, 'a/conf'), content: 'x=1\n' },
      { path: join(dir, 'body'), fill: 5 },
    ],
  });
  t.is(readFileSync(join(dir, 'a/conf'), 'utf8'), 'x=1\n');
  t.is(readFileSync(join(dir, 'body'), 'utf8'), 'xxxxx');
  t.is(await client.call({ op: 'read', path: join(dir, 'a/conf') }), 'x=1\n');
  t.is(await client.call({ op: 'read', path: join(dir, 'missing') }), null);
  t.false(existsSync(join(dir, 'missing')));
  const clock = await client.clockOffsetMs();
  t.true(Math.abs(clock.offsetMs) <= clock.rttMs, JSON.stringify(clock));
  // A command that cannot start is the agent's error, named as the server host's.
  await t.throwsAsync(client.run(['/nonexistent/netlab-no-such-program']), { message: /^on the server host: .*command not found/ });
  await t.throwsAsync(client.call({ op: 'nope' } as never), { message: 'on the server host: unknown request "nope"' });
});

test('when the agent goes away, waiting and later requests fail and say so', async (t) => {
  const { server, client, sockets } = await pair();
  const pending = client.run(['sleep', '3']);
  server.close();
  for (const s of sockets) s.destroy();
  await t.throwsAsync(pending, { message: /^the server host's agent is gone/ });
  await t.throwsAsync(client.run(['true']), { message: /^the server host's agent is gone/ });
});

test('connecting gives up after its limit and names the address', async (t) => {
  const server = await serveAgent('127.0.0.1', 0);
  const { port } = server.address() as AddressInfo;
  server.close();
  await t.throwsAsync(AgentClient.connect('127.0.0.1', port, 600), { message: new RegExp(`agent at 127\\.0\\.0\\.1:${port} did not answer within 1 s`) });
});
