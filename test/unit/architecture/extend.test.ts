// README.md "Add a datapath" and "Add a proxy mode", tried: in a copy of lib/, one new file plus
// its registration line, and a stack naming it validates and plans with its commands.
import test from 'ava';
import { execFile } from 'node:child_process';
import { cpSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT } from '../../helpers/paths.ts';
import { tempDir } from '../../helpers/tmp.ts';

function copyOfLib(): string {
  const dir = tempDir('netlab-extend-');
  cpSync(join(PROJECT, 'lib'), join(dir, 'lib'), { recursive: true });
  symlinkSync(join(PROJECT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  return dir;
}

/** Register `name` from `./<file>` in a registry file: one import line, one key. */
function register(file: string, objectStart: string, name: string, from: string): void {
  const src = readFileSync(file, 'utf8');
  const at = src.indexOf(objectStart);
  if (at < 0) throw new Error(`${objectStart} not found in ${file}`);
  const withKey = src.slice(0, at + objectStart.length) + `${name}, ` + src.slice(at + objectStart.length);
  writeFileSync(file, `import { ${name} } from '${from}';\n${withKey}`);
}

async function plan(dir: string, config: Record<string, unknown>): Promise<string> {
  const script = `
    import { specFromStackDoc } from './lib/spec/document.ts';
    import { buildPlan, renderPlan } from './lib/local/plan.ts';
    const spec = specFromStackDoc('x', ${JSON.stringify({ config })});
    const plan = buildPlan(spec, { runDir: '/run/netlab/x', rawDir: '/r' });
    console.log(renderPlan(plan));`;
  const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: dir });
  return r.stdout;
}

test('a throwaway datapath: one file and its registration make it a valid, planned datapath', async (t) => {
  const dir = copyOfLib();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'lib/datapath/throwaway.ts'),
    `import { ipn } from '../core/netns.ts';
import { host } from './host.ts';
import type { DatapathBackend } from './types.ts';
export const throwaway: DatapathBackend = {
  ...host,
  name: 'throwaway',
  summary: 'the host network plus a marker route',
  build(b) {
    b.add('client', ipn(b.hosts[0].netns, 'route', 'add', '192.0.2.0/24', 'dev', 'eth0'));
    return host.build(b);
  },
};
`,
  );
  register(join(dir, 'lib/datapath/index.ts'), 'DATAPATH_BACKENDS = { ', 'throwaway', './throwaway.ts');
  const out = await plan(dir, { 'netlab:datapath': 'throwaway' });
  t.true(out.includes('ip -n netlab.x.client route add 192.0.2.0/24 dev eth0'), out);
  // The unregistered original refuses the name, listing what there is.
  const e = await t.throwsAsync(plan(PROJECT, { 'netlab:datapath': 'throwaway' }));
  t.regex(e!.message, /netlab:datapath = "throwaway": expected one of: host, hostgw, vxlan, macvlan, ipvlan/);
});

test('a throwaway proxy mode: one folder and its registration make it a valid, planned mode', async (t) => {
  const dir = copyOfLib();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'lib/proxy/throwaway.ts'),
    `import { inNs } from '../core/netns.ts';
import { none } from './none/index.ts';
import type { ProxyProvider } from './provider.ts';
export const throwaway: ProxyProvider = {
  ...none,
  name: 'throwaway',
  callsBackends: false,
  program: (ctx, fleet) => ({ ...none.program(ctx, fleet), steps: [inNs(ctx.hostNs, 'true', 'throwaway-' + fleet.length)] }),
};
`,
  );
  register(join(dir, 'lib/proxy/index.ts'), 'PROXY_PROVIDERS = { ', 'throwaway', './throwaway.ts');
  const out = await plan(dir, { 'netlab:proxy': { mode: 'throwaway', services: [3] }, 'netlab:workload': { tool: 'rps', rate: 10, durationSeconds: 1 } });
  t.true(out.includes('ip netns exec netlab.x.client true throwaway-3'), out);
});
