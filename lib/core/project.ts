// Where the project is (the folder holding Pulumi.yaml, stacks/ and results/), where its tools are
// cached, and the KEY=value pin files under tools/.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const inModules = here.indexOf(`${sep}node_modules${sep}`);
/** Two folders up from lib/core; from a vm guest's bundle (lib/vm/bundle.ts, kept under
 * node_modules/.cache), the folder that holds node_modules. */
export const PROJECT_DIR = inModules >= 0 ? here.slice(0, inModules) : resolve(here, '..', '..');

/** Where the install scripts cache their tools: $NETLAB_TOOLS_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/netlab/tools. */
export function toolsCache(env: NodeJS.ProcessEnv = process.env): string {
  return env.NETLAB_TOOLS_CACHE || join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'netlab', 'tools');
}

/** A pin file of plain KEY=value lines (tools/versions.env, tools/k8s/versions.env); comments and blank lines skipped. */
export function readEnvFile(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(l);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}
