// Pulumi config → Spec: the same validation as `netlab` itself, from the engine's config map.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Spec } from './schema.ts';
import { specFromStackDoc } from './document.ts';

/**
 * `allConfig` is what pulumi.runtime.allConfig() returns: 'netlab:key' → value, where structured
 * values arrive JSON-encoded and plain strings arrive as they are.
 */
export function specFromPulumiConfig(stack: string, allConfig: Record<string, string>): Spec {
  const config: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(allConfig)) {
    let value: unknown = v;
    try {
      value = JSON.parse(v);
    } catch {
      /* a plain string */
    }
    config[k] = value;
  }
  return specFromStackDoc(stack, { config }, `Pulumi stack ${stack}`);
}

/**
 * The provider plugins that the given Pulumi SDK packages declare (package.json "pulumi" block)
 * and that the engine could not find: neither `pulumi-resource-<name>` on PATH nor a plugin of the
 * same major version, at least as new, in PULUMI_HOME's plugin cache. As "name version" strings.
 */
export function missingProviderPlugins(projectDir: string, sdks: string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.PULUMI_HOME || join(homedir(), '.pulumi');
  const cached = existsSync(join(home, 'plugins')) ? readdirSync(join(home, 'plugins')) : [];
  const onPath = (exe: string) => (env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, exe)));
  const semver = (v: string) => v.split(/[.+-]/).slice(0, 3).map(Number);
  const out: string[] = [];
  for (const sdk of sdks) {
    const f = join(projectDir, 'node_modules', sdk, 'package.json');
    if (!existsSync(f)) continue;
    const decl = (JSON.parse(readFileSync(f, 'utf8')) as { pulumi?: { name?: string; version?: string } }).pulumi;
    if (!decl?.name || !decl.version) continue;
    const [maj, min, pat] = semver(decl.version);
    const have = cached.some((d) => {
      const m = d.match(/^resource-(.+)-v(\d+\.\d+\.\d+)$/);
      if (!m || m[1] !== decl.name || existsSync(join(home, 'plugins', `${d}.partial`))) return false;
      const [a, b, c] = semver(m[2]!);
      return a === maj && (b! > min! || (b === min && c! >= pat!));
    });
    if (!have && !onPath(`pulumi-resource-${decl.name}`)) out.push(`${decl.name} ${decl.version}`);
  }
  return out;
}

/** The result directory in `netlab up --json` output (a local stack's `summary`), or '' when there is none. */
export function localResultDir(summary: string): string {
  try {
    const dir = (JSON.parse(summary) as { runs?: { dir?: unknown }[] }).runs?.[0]?.dir;
    return typeof dir === 'string' ? dir : '';
  } catch {
    return '';
  }
}
