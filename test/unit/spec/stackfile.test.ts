// Reading stack files from disk (issue 19 "Reliability", items 11, 12 and 13): what is read at all,
// how much, in which encoding, and what the CLI reports when several stacks are named.
import test from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadStack, loadStacks, MAX_STACK_BYTES, PROJECT_DIR, stackListing } from '../../../lib/spec/stackfile.ts';
import { SpecError } from '../../../lib/spec/errors.ts';
import { tempDir } from '../../helpers/tmp.ts';

const dir = tempDir('netlab-stackfile-');
chmodSync(dir, 0o755); // the command runs as nobody when the tests run as root
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, content: string | Buffer, under = dir) => {
  const path = join(under, name);
  writeFileSync(path, content);
  return path;
};
const refused = (ref: string) => {
  try {
    loadStack(ref);
  } catch (e) {
    if (e instanceof SpecError) return e;
    throw e;
  }
  throw new Error(`expected ${ref} to be refused`);
};
/** The `netlab` command, as nobody when the tests run as root: it must never be able to build a lab. */
const nobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
const netlab = (...args: string[]) =>
  promisify(execFile)(process.execPath, [join(PROJECT_DIR, 'bin/netlab.js'), ...args], { cwd: dir, ...nobody }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );

test('a file over 1 MB is refused unread, stating the limit', (t) => {
  // The audit's file: 10 MB, 150,000 keys (6 min 38 s to validate with the quadratic check).
  const keys = Array.from({ length: 150_000 }, (_, i) => `    key-${String(i).padStart(60, '0')}: 0\n`).join('');
  const text = `config:\n  aws:x:\n${keys}`;
  t.true(text.length > 10_000_000);
  t.deepEqual(refused(file('Pulumi.huge.yaml', text)).problems, [
    `the file holds ${text.length} bytes; a stack file may hold at most 1 MB (${MAX_STACK_BYTES} bytes)`,
  ]);
});

test('duplicate keys are found in one pass: 100,000 keys just under 1 MB validate within the test timeout', async (t) => {
  // yaml's own uniqueKeys check compares each key with every earlier one: this file took about
  // 2 minutes that way here, against about 2 s in one pass. The run is a separate process so that
  // ava's timer, not the blocked event loop, decides.
  t.timeout(60_000);
  const keys = Array.from({ length: 100_000 }, (_, i) => `k${i.toString(36)}: 0`).join(', ');
  const text = `config:\n  netlab:datapath: hostgw\n  aws:x: {${keys}}\n`;
  t.true(text.length < MAX_STACK_BYTES);
  const path = file('Pulumi.many-keys.yaml', text);
  const r = await netlab('validate', path);
  t.is(r.code, 0, r.stderr);
  t.is(JSON.parse(r.stdout).datapath, 'hostgw');
});

test('only regular files are read: a symlink to /dev/zero, a directory and a named pipe are refused, named', (t) => {
  const zero = join(dir, 'Pulumi.zero.yaml');
  symlinkSync('/dev/zero', zero);
  t.deepEqual(refused(zero).problems, ['a character device (→ /dev/zero): a stack file must be a regular file, or a symlink to one (the file was not read)']);
  const sub = join(dir, 'Pulumi.dir.yaml');
  mkdirSync(sub);
  t.deepEqual(refused(sub).problems, ['a directory: a stack file must be a regular file, or a symlink to one (the file was not read)']);
  const fifo = join(dir, 'Pulumi.fifo.yaml');
  if (spawnSync('mkfifo', [fifo]).status === 0)
    t.deepEqual(refused(fifo).problems, ['a named pipe: a stack file must be a regular file, or a symlink to one (the file was not read)']);
  // A symlink to a regular stack file is fine; the stack is named after the link.
  symlinkSync(file('Pulumi.real.yaml', 'config:\n  netlab:datapath: vxlan\n'), join(dir, 'Pulumi.link.yaml'));
  t.like(loadStack(join(dir, 'Pulumi.link.yaml')), { name: 'link', datapath: 'vxlan' });
});

test('a file that is not UTF-8 is refused, naming the offset of the first bad byte', (t) => {
  // A valid U+FFFD before the bad byte must not be mistaken for it.
  const head = Buffer.from('config:\n  netlab:description: "caf\uFFFD ');
  const path = file('Pulumi.latin1.yaml', Buffer.concat([head, Buffer.from([0xe9]), Buffer.from('"\n')]));
  t.deepEqual(refused(path).problems, [`not UTF-8: the byte at offset ${head.length} starts no valid UTF-8 character; save the file as UTF-8`]);
});

test('a file not named Pulumi.<name>.yaml is refused unread, so nothing of it is echoed', async (t) => {
  const path = file('shadow', 'root:$6$hunter2-SECRET:19000:0:99999:7:::\n');
  t.deepEqual(refused(path).problems, ['not a stack file: its name must be Pulumi.<name>.yaml (the file was not read)']);
  const r = await netlab('validate', path);
  t.is(r.code, 2);
  t.false(r.stderr.includes('hunter2'), r.stderr);
});

test('validate and up report every bad stack before doing anything', async (t) => {
  // Only refused stacks are given to `up`, so that it can never start a run here.
  const a = file('Pulumi.bad-a.yaml', 'config:\n  netlab:datapath: nope\n');
  const b = file('Pulumi.bad-b.yaml', '');
  const e = t.throws(() => loadStacks([a, 'local-host', b, 'no-such-stack']), { instanceOf: SpecError });
  t.deepEqual(e!.problems, [
    `${a}: netlab:datapath = "nope": expected one of: host, hostgw, vxlan, macvlan, ipvlan (local); host, hostgw, vxlan, aws-vpc, ipvlan, calico-ipip, calico-vxlan, calico-direct, cilium (aws)`,
    `${b}: the file is empty; a stack file holds a "config:" mapping of "netlab:<key>": value (config: {} for every default)`,
    `no-such-stack: ${e!.problems[2]!.replace(/^no-such-stack: /, '')}`,
  ]);
  t.regex(e!.problems[2]!, /^no-such-stack: no stack file .*Pulumi\.no-such-stack\.yaml; known stacks: /);
  const results = join(dir, 'results');
  mkdirSync(results);
  chmodSync(results, 0o777);
  for (const [verb, ...refs] of [
    ['validate', a, 'local-host', b],
    ['up', a, b, '--results', results],
  ]) {
    const r = await netlab(verb!, ...refs);
    t.is(r.code, 2, verb);
    t.is(r.stdout, '', verb);
    t.regex(
      r.stderr,
      new RegExp(`^netlab: ${a}: invalid experiment spec\\n  - netlab:datapath = "nope": .*\\n${b}: invalid experiment spec\\n  - the file is empty; .*\\n$`),
      verb,
    );
  }
});

test('list escapes every control character, whatever file it comes from, and refuses hostile files quickly', (t) => {
  const stacks = join(dir, 'stacks');
  mkdirSync(stacks);
  file('Pulumi.ok.yaml', 'config:\n  netlab:datapath: vxlan\n  netlab:description: "fine – café"\n', stacks);
  file('Pulumi.red\x1b[31m.yaml', 'config: {}\n', stacks);
  file('Pulumi.desc.yaml', 'config:\n  netlab:description: "\\e[2J\\e[31mgotcha\\u009b"\n', stacks);
  file('Pulumi.key.yaml', 'config:\n  "netlab:\\e]0;title\\a": 1\n', stacks);
  symlinkSync('/dev/zero', join(stacks, 'Pulumi.zero.yaml'));
  file('Pulumi.big.yaml', `config: {}\n#${'x'.repeat(MAX_STACK_BYTES)}\n`, stacks);
  const lines = stackListing(stacks);
  t.is(lines.length, 6);
  for (const line of lines) t.false(/[\p{C}\u2028\u2029]/u.test(line), line);
  t.true(lines.includes(`${'ok'.padEnd(28)} local vxlan         fine – café`));
  t.true(
    lines.some((l) => l.startsWith('red\\u001b[31m') && l.includes('INVALID: stack name "red\\u001b[31m": expected 1-40 characters')),
    lines.join('\n'),
  );
  t.true(
    lines.some(
      (l) => l.startsWith('desc') && l.includes('INVALID: netlab:description = "\\u001b[2J\\u001b[31mgotcha\\u009b": expected one line of printable text'),
    ),
    lines.join('\n'),
  );
  t.true(
    lines.some((l) => l.startsWith('key') && l.includes('INVALID: config: unknown key "\\u001b]0;title\\u0007"')),
    lines.join('\n'),
  );
  t.true(
    lines.some((l) => l.startsWith('zero') && l.includes('INVALID: a character device (→ /dev/zero)')),
    lines.join('\n'),
  );
  t.true(
    lines.some((l) => l.startsWith('big') && l.includes('INVALID: the file holds')),
    lines.join('\n'),
  );
});
