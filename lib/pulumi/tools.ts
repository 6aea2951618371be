// The Pulumi tools of this project, for TypeScript: where scripts/install-tools.sh put the CLI and
// plugins, the environment every Pulumi call of netlab runs with (the same as scripts/pulumi.sh
// sets for the shell), and where each tool came from. Used by `netlab doctor`, `netlab sweep`,
// `netlab bench-pulumi` and the real-engine tests.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { readEnvFile, toolsCache } from '../core/project.ts';
import { PROJECT_DIR } from '../spec/stackfile.ts';

/** tools/versions.env: KEY=value pins (the install script sources the same file). */
export function toolPins(projectDir = PROJECT_DIR): Record<string, string> {
  return readEnvFile(join(projectDir, 'tools', 'versions.env'));
}

export { toolsCache };

/** The project's own PULUMI_HOME (plugins, workspace settings), git-ignored. */
export const projectPulumiHome = (projectDir = PROJECT_DIR) => join(projectDir, '.pulumi');

/** The project's file backend for `pulumi` in the project directory, git-ignored. */
export const projectBackend = (projectDir = PROJECT_DIR) => `file://${join(projectDir, '.pulumi-state')}`;

export interface PulumiEnvOptions {
  projectDir?: string;
  /** The environment to start from (default process.env); its own PULUMI_BACKEND_URL and passphrase win. */
  env?: NodeJS.ProcessEnv;
  /** The backend when env has no PULUMI_BACKEND_URL (default: the project's .pulumi-state). */
  backend?: string;
}

/**
 * The variables netlab sets for every Pulumi call, as scripts/pulumi.sh does: the tools cache's
 * bin first on PATH, the project's PULUMI_HOME, the backend (the user's PULUMI_BACKEND_URL if
 * set), no update check, no plugin downloads (aws and tls cannot be had here; local stacks need
 * neither), and an empty passphrase when none is set (local stacks hold no secrets).
 */
export function pulumiEnv(o: PulumiEnvOptions = {}): Record<string, string> {
  const env = o.env ?? process.env;
  const projectDir = o.projectDir ?? PROJECT_DIR;
  const out: Record<string, string> = {
    PATH: [join(toolsCache(env), 'bin'), ...(env.PATH ?? '').split(delimiter).filter(Boolean)].join(delimiter),
    PULUMI_HOME: projectPulumiHome(projectDir),
    PULUMI_BACKEND_URL: env.PULUMI_BACKEND_URL || o.backend || projectBackend(projectDir),
    PULUMI_SKIP_UPDATE_CHECK: 'true',
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: env.PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION ?? 'true',
  };
  if (env.PULUMI_CONFIG_PASSPHRASE === undefined && !env.PULUMI_CONFIG_PASSPHRASE_FILE) out.PULUMI_CONFIG_PASSPHRASE = '';
  return out;
}

/** First executable `name` on a PATH, or null. */
export function onPath(name: string, path: string | undefined): string | null {
  for (const d of (path ?? '').split(delimiter)) if (d && existsSync(join(d, name))) return join(d, name);
  return null;
}

/** The `pulumi` that netlab runs (the tools cache's, else PATH's), or null. */
export function pulumiBinary(env: NodeJS.ProcessEnv = process.env): string | null {
  return onPath('pulumi', pulumiEnv({ env }).PATH);
}

/** `pulumi version` of a binary ("v3.245.0"), or null. */
export function versionOf(bin: string): string | null {
  try {
    return (
      execFileSync(bin, ['version'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 20_000,
        env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: 'true' },
      })
        .trim()
        .split('\n')[0] || null
    );
  } catch {
    return null;
  }
}

export type ToolSource = 'PATH' | 'download' | 'Go build' | 'stand-in' | 'missing';

export interface ToolInfo {
  tool: string;
  version: string | null;
  source: ToolSource;
  /** The file that runs. */
  path: string | null;
  /** Where it came from in words; for a stand-in, why it is one; for a missing tool, what to do. */
  detail: string;
}

const realpath = (p: string) => {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
};

const standinWhy = (dir: string, fallback: string) =>
  existsSync(join(dir, 'netlab-standin.why')) ? readFileSync(join(dir, 'netlab-standin.why'), 'utf8').trim() : fallback;

/**
 * The Pulumi CLI, the Node.js language host and the command provider netlab runs: version and
 * where each came from, read from what scripts/install-tools.sh left (its cache layout, the
 * stand-in markers in PULUMI_HOME). Runs `pulumi version` once.
 */
export function pulumiTools(o: { projectDir?: string; env?: NodeJS.ProcessEnv } = {}): ToolInfo[] {
  const projectDir = o.projectDir ?? PROJECT_DIR;
  const env = o.env ?? process.env;
  const pins = toolPins(projectDir);
  const cache = toolsCache(env);
  const home = projectPulumiHome(projectDir);
  const install = 'run scripts/install-tools.sh (npm run tools)';
  const out: ToolInfo[] = [];

  const bin = onPath('pulumi', pulumiEnv({ env, projectDir }).PATH);
  const real = bin ? realpath(bin) : null;
  const version = bin ? versionOf(bin) : null;
  if (!bin || !real)
    out.push({ tool: 'pulumi', version: null, source: 'missing', path: null, detail: `no pulumi CLI in ${join(cache, 'bin')} or on PATH: ${install}` });
  else {
    const source: ToolSource = real.startsWith(join(cache, `pulumi-${pins.PULUMI_VERSION}`, 'bin') + '/')
      ? 'Go build'
      : real.startsWith(join(cache, `pulumi-${pins.PULUMI_VERSION}-release`) + '/')
        ? 'download'
        : 'PATH';
    const words = {
      'Go build': `built from ${pins.PULUMI_GO_PACKAGE}@v${pins.PULUMI_VERSION} with Go`,
      download: 'official release archive',
      PATH: 'found on PATH',
      'stand-in': '',
      missing: '',
    }[source];
    const pinned = version === `v${pins.PULUMI_VERSION}` ? '' : `; NOT the pinned v${pins.PULUMI_VERSION}: ${install}`;
    out.push({ tool: 'pulumi', version, source, path: real, detail: `${words} (${real})${pinned}` });
  }

  // The language host: the engine takes one next to the CLI, else on PATH, else PULUMI_HOME's.
  const bundled = real ? join(dirname(real), 'pulumi-language-nodejs') : null;
  const langDir = join(home, 'plugins', `language-nodejs-v${pins.PULUMI_VERSION}`);
  const langBuilt = join(cache, 'bin', 'pulumi-language-nodejs');
  const sdkVersion = (JSON.parse(readFileSync(join(projectDir, 'node_modules', '@pulumi', 'pulumi', 'package.json'), 'utf8')) as { version: string }).version;
  if (bundled && existsSync(bundled))
    out.push({
      tool: 'pulumi-language-nodejs',
      version: `v${pins.PULUMI_VERSION}`,
      source: 'download',
      path: bundled,
      detail: `bundled with the CLI (${bundled})`,
    });
  else if (existsSync(langBuilt))
    out.push({
      tool: 'pulumi-language-nodejs',
      version: `v${pins.PULUMI_VERSION}`,
      source: 'Go build',
      path: realpath(langBuilt),
      detail: `built from ${pins.LANGUAGE_NODEJS_GO_MODULE}@${pins.LANGUAGE_NODEJS_GO_VERSION}`,
    });
  else if (existsSync(join(langDir, 'netlab-standin')))
    out.push({
      tool: 'pulumi-language-nodejs',
      version: `v${sdkVersion} (SDK)`,
      source: 'stand-in',
      path: join(langDir, 'pulumi-language-nodejs'),
      detail: `netlab's own, tools/plugins/language-host.ts (runs @pulumi/pulumi's cmd/run): ${standinWhy(langDir, `${pins.LANGUAGE_NODEJS_GO_MODULE} is not served by the Go module proxy`)}`,
    });
  else {
    const p = onPath('pulumi-language-nodejs', env.PATH);
    out.push(
      p
        ? { tool: 'pulumi-language-nodejs', version: null, source: 'PATH', path: p, detail: `found on PATH (${p})` }
        : { tool: 'pulumi-language-nodejs', version: null, source: 'missing', path: null, detail: `no Node.js language host: ${install}` },
    );
  }

  const cmdDir = join(home, 'plugins', `resource-command-v${pins.COMMAND_VERSION}`);
  const cmdBuilt = join(cache, `pulumi-resource-command-${pins.COMMAND_VERSION}`, 'bin', 'pulumi-resource-command');
  if (existsSync(join(cmdDir, 'netlab-standin')))
    out.push({
      tool: 'pulumi-resource-command',
      version: `v${pins.COMMAND_VERSION}`,
      source: 'stand-in',
      path: join(cmdDir, 'pulumi-resource-command'),
      detail: `netlab's own, tools/plugins/command-provider.ts (command:local:Command only): ${standinWhy(cmdDir, `${pins.COMMAND_GO_MODULE} is not served by the Go module proxy`)}`,
    });
  else if (existsSync(join(cmdDir, 'pulumi-resource-command')))
    out.push(
      existsSync(cmdBuilt)
        ? {
            tool: 'pulumi-resource-command',
            version: `v${pins.COMMAND_VERSION}`,
            source: 'Go build',
            path: join(cmdDir, 'pulumi-resource-command'),
            detail: `built from ${pins.COMMAND_GO_MODULE}@${pins.COMMAND_GO_VERSION}`,
          }
        : {
            tool: 'pulumi-resource-command',
            version: `v${pins.COMMAND_VERSION}`,
            source: 'download',
            path: join(cmdDir, 'pulumi-resource-command'),
            detail: `pulumi plugin install (${cmdDir})`,
          },
    );
  else {
    const p = onPath('pulumi-resource-command', env.PATH);
    out.push(
      p
        ? { tool: 'pulumi-resource-command', version: null, source: 'PATH', path: p, detail: `found on PATH (${p})` }
        : { tool: 'pulumi-resource-command', version: null, source: 'missing', path: null, detail: `no command provider in ${cmdDir}: ${install}` },
    );
  }

  // The kubernetes provider: only the real kube-proxy's Pulumi fleet writer needs it.
  const k8sDir = join(home, 'plugins', `resource-kubernetes-v${pins.KUBERNETES_PROVIDER_VERSION}`);
  const k8sBuilt = join(cache, `pulumi-resource-kubernetes-${pins.KUBERNETES_PROVIDER_VERSION}`, 'bin', 'pulumi-resource-kubernetes');
  const k8sPlugin = join(k8sDir, 'pulumi-resource-kubernetes');
  out.push(
    !existsSync(k8sPlugin)
      ? {
          tool: 'pulumi-resource-kubernetes',
          version: null,
          source: 'missing',
          path: null,
          detail: `no kubernetes provider in ${k8sDir} (only proxy.writer pulumi needs it): ${install}`,
        }
      : existsSync(k8sBuilt)
        ? {
            tool: 'pulumi-resource-kubernetes',
            version: `v${pins.KUBERNETES_PROVIDER_VERSION}`,
            source: 'Go build',
            path: k8sPlugin,
            detail: `built from ${pins.KUBERNETES_PROVIDER_GO_MODULE}@${pins.KUBERNETES_PROVIDER_GO_VERSION}`,
          }
        : {
            tool: 'pulumi-resource-kubernetes',
            version: `v${pins.KUBERNETES_PROVIDER_VERSION}`,
            source: 'download',
            path: k8sPlugin,
            detail: `pulumi plugin install (${k8sDir})`,
          },
  );
  return out;
}

/** Why the real engine cannot run here (no CLI at the pinned version, or no command plugin), or null. */
export function engineMissing(o: { projectDir?: string; env?: NodeJS.ProcessEnv } = {}): string | null {
  const pins = toolPins(o.projectDir);
  const tools = pulumiTools(o);
  const cli = tools[0]!;
  if (cli.source === 'missing') return cli.detail;
  if (cli.version !== `v${pins.PULUMI_VERSION}`)
    return `${cli.path} is ${cli.version ?? 'unusable'}, not v${pins.PULUMI_VERSION}: run scripts/install-tools.sh`;
  // The kubernetes provider is only for the real kube-proxy's Pulumi fleet writer, not the engine's local stacks.
  const bad = tools.filter((t) => t.source === 'missing' && t.tool !== 'pulumi-resource-kubernetes');
  return bad.length ? bad.map((t) => t.detail).join('; ') : null;
}

/**
 * A Pulumi error about the stack's passphrase, named: what is wrong and what to do. null when
 * the error is about something else. The CLI checks the passphrase when it reads the stack's
 * config, before any resource is touched.
 */
export function passphraseProblem(message: string, stack: string, backend: string): string | null {
  if (/incorrect passphrase/i.test(message))
    return (
      `the passphrase is wrong for stack ${stack}: its secrets (in ${backend}, salt in stacks/Pulumi.${stack}.yaml "encryptionsalt") were encrypted with another PULUMI_CONFIG_PASSPHRASE. ` +
      `Set the one used at \`pulumi stack init\` (netlab uses an empty one when none is set); or, for a stack holding no secrets and no resources, ` +
      `\`pulumi stack rm ${stack}\` and delete the encryptionsalt line to start again. Nothing was changed.`
    );
  if (/passphrase must be set/i.test(message))
    return `stack ${stack} needs its passphrase: set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE (the one used at \`pulumi stack init\`). Nothing was changed.`;
  return null;
}
