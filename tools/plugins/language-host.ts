// netlab's Node.js language host for the Pulumi engine: a stand-in for `pulumi-language-nodejs`
// where the upstream one cannot be had (it ships only in Pulumi's release archives and its Go
// module is not served by the module proxies this project can reach). It implements the part
// of the LanguageRuntime gRPC service that `pulumi preview/up/destroy` use, and runs the program
// the way the upstream host does: node with the project's nodeargs, the SDK's own `cmd/run`
// entry point, the engine's addresses as flags and the config in PULUMI_CONFIG.
//
// Started by the engine as `pulumi-language-nodejs [flags] <engine address>`; prints its port.
// scripts/install-tools.sh installs it (through tools/bin/pulumi-language-nodejs) only when no
// upstream host is found.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const sdkRequire = createRequire(createRequire(import.meta.url).resolve('@pulumi/pulumi/package.json'));
/* The SDK's generated gRPC stubs are CommonJS without usable types for this use: typed loosely here. */
const grpc = sdkRequire('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
const langrpc = sdkRequire('./proto/language_grpc_pb.js') as any;
const langproto = sdkRequire('./proto/language_pb.js') as any;
const plugproto = sdkRequire('./proto/plugin_pb.js') as any;
const emptyproto = sdkRequire('google-protobuf/google/protobuf/empty_pb.js') as any;
const SDK_VERSION: string = (sdkRequire('./package.json') as { version: string }).version;

/** The exit code with which the SDK says it has already reported the error to the engine. */
const EXIT_ERROR_REPORTED = 32;

type Callback = (err: unknown, value?: unknown) => void;
interface Call {
  request: any;
}

interface ProgramInfo {
  rootDirectory: string;
  programDirectory: string;
  entryPoint: string;
  options: Record<string, unknown>;
}

function programInfo(info: any, fallbackDir: string): ProgramInfo {
  if (!info) return { rootDirectory: fallbackDir, programDirectory: fallbackDir, entryPoint: '.', options: {} };
  const options = info.getOptions?.()?.toJavaScript?.() ?? {};
  return {
    rootDirectory: info.getRootDirectory() || fallbackDir,
    programDirectory: info.getProgramDirectory() || fallbackDir,
    entryPoint: info.getEntryPoint() || '.',
    options,
  };
}

/** Runtime options from Pulumi.yaml's `runtime.options`, as the upstream host reads them. */
export function nodeArgsOf(options: Record<string, unknown>): string[] {
  const raw = options.nodeargs;
  return typeof raw === 'string' ? raw.split(/\s+/).filter(Boolean) : [];
}

export interface PackageDecl {
  name: string;
  version: string;
  server?: string;
}

/**
 * The resource plugins declared by the program's direct dependencies (a package.json `pulumi`
 * block with `resource: true`), which is what the engine may pre-install before a run.
 */
export function declaredPackages(programDir: string): PackageDecl[] {
  const pkgFile = join(programDir, 'package.json');
  if (!existsSync(pkgFile)) return [];
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { dependencies?: Record<string, string> };
  const out: PackageDecl[] = [];
  for (const dep of Object.keys(pkg.dependencies ?? {})) {
    const f = join(programDir, 'node_modules', dep, 'package.json');
    if (!existsSync(f)) continue;
    const p = (JSON.parse(readFileSync(f, 'utf8')) as { pulumi?: { resource?: boolean; name?: string; version?: string; server?: string } }).pulumi;
    if (!p?.resource || !p.name) continue;
    out.push({ name: p.name, version: p.version ?? '', ...(p.server ? { server: p.server } : {}) });
  }
  return out;
}

/** The SDK's `cmd/run` as installed for the program (its own copy of @pulumi/pulumi). */
function runEntry(programDir: string): string {
  const req = createRequire(join(programDir, 'package.json'));
  return dirname(req.resolve('@pulumi/pulumi/cmd/run/index.js'));
}

class LanguageHost {
  private readonly running = new Set<ChildProcess>();

  constructor(private readonly engineAddress: string) {}

  handshake(_call: Call, cb: Callback) {
    cb(null, new langproto.LanguageHandshakeResponse());
  }

  getPluginInfo(_call: Call, cb: Callback) {
    const r = new plugproto.PluginInfo();
    r.setVersion(SDK_VERSION);
    cb(null, r);
  }

  getRequiredPlugins(call: Call, cb: Callback) {
    try {
      const info = programInfo(call.request.getInfo(), process.cwd());
      const list = declaredPackages(info.programDirectory).map((p) => {
        const d = new plugproto.PluginDependency();
        d.setName(p.name);
        d.setKind('resource');
        d.setVersion(p.version);
        if (p.server) d.setServer(p.server);
        return d;
      });
      const r = new langproto.GetRequiredPluginsResponse();
      r.setPluginsList(list);
      cb(null, r);
    } catch (e) {
      cb(e);
    }
  }

  getRequiredPackages(call: Call, cb: Callback) {
    try {
      const info = programInfo(call.request.getInfo(), process.cwd());
      const list = declaredPackages(info.programDirectory).map((p) => {
        const d = new plugproto.PackageDependency();
        d.setName(p.name);
        d.setKind('resource');
        d.setVersion(p.version);
        if (p.server) d.setServer(p.server);
        return d;
      });
      const r = new langproto.GetRequiredPackagesResponse();
      r.setPackagesList(list);
      cb(null, r);
    } catch (e) {
      cb(e);
    }
  }

  getProgramDependencies(call: Call, cb: Callback) {
    try {
      const info = programInfo(call.request.getInfo(), process.cwd());
      const pkgFile = join(info.programDirectory, 'package.json');
      const deps = existsSync(pkgFile) ? ((JSON.parse(readFileSync(pkgFile, 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {}) : {};
      const list = Object.entries(deps).map(([name, version]) => {
        const d = new langproto.DependencyInfo();
        d.setName(name);
        d.setVersion(version);
        return d;
      });
      const r = new langproto.GetProgramDependenciesResponse();
      r.setDependenciesList(list);
      cb(null, r);
    } catch (e) {
      cb(e);
    }
  }

  about(_call: Call, cb: Callback) {
    const r = new langproto.AboutResponse();
    r.setExecutable(process.execPath);
    r.setVersion(process.version);
    r.getMetadataMap().set('host', 'netlab tools/plugins/language-host.ts');
    cb(null, r);
  }

  /** Dependencies are npm's business here (`npm ci`); nothing to stream. */
  installDependencies(call: any) {
    call.end();
  }

  runtimeOptionsPrompts(_call: Call, cb: Callback) {
    cb(null, new langproto.RuntimeOptionsResponse());
  }

  cancel(_call: Call, cb: Callback) {
    for (const c of this.running) c.kill('SIGINT');
    cb(null, new emptyproto.Empty());
  }

  run(call: Call, cb: Callback) {
    const req = call.request;
    const pwd: string = req.getPwd() || process.cwd();
    const info = programInfo(req.getInfo(), pwd);
    const config: Record<string, string> = {};
    req.getConfigMap().forEach((v: string, k: string) => (config[k] = v));
    const args = [
      ...nodeArgsOf(info.options),
      runEntry(info.programDirectory),
      `--monitor=${req.getMonitorAddress()}`,
      `--engine=${this.engineAddress}`,
      `--project=${req.getProject()}`,
      `--stack=${req.getStack()}`,
      `--pwd=${pwd}`,
      `--root-directory=${info.rootDirectory}`,
    ];
    if (req.getOrganization()) args.push(`--organization=${req.getOrganization()}`);
    if (req.getDryrun()) args.push('--dry-run');
    if (req.getParallel() > 0) args.push(`--parallel=${req.getParallel()}`);
    const entry = info.entryPoint && info.entryPoint !== '.' ? info.entryPoint : '.';
    args.push(isAbsolute(entry) || entry === '.' ? entry : resolve(info.programDirectory, entry), ...req.getArgsList());
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PULUMI_CONFIG: JSON.stringify(config),
      PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(req.getConfigsecretkeysList()),
      // The upstream host's TypeScript support is ts-node; netlab's nodeargs load tsx instead.
      PULUMI_NODEJS_TYPESCRIPT: info.options.typescript === true ? 'true' : 'false',
    };
    if (typeof info.options.tsconfig === 'string') env.PULUMI_NODEJS_TSCONFIG_PATH = info.options.tsconfig;
    // The engine shows what the language host writes (program output, errors) as the update's output.
    const child = spawn(process.execPath, args, { cwd: pwd, env, stdio: ['ignore', 'inherit', 'inherit'] });
    this.running.add(child);
    const resp = new langproto.RunResponse();
    child.on('error', (e) => {
      this.running.delete(child);
      resp.setError(`could not start node: ${e.message}`);
      cb(null, resp);
    });
    child.on('exit', (code, signal) => {
      this.running.delete(child);
      if (code === 0) return cb(null, resp);
      if (code === EXIT_ERROR_REPORTED) resp.setBail(true);
      else resp.setError(signal ? `program ended by ${signal}` : `program exited with code ${code}`);
      cb(null, resp);
    });
  }
}

function unimplemented(name: string) {
  return (_call: unknown, cb: Callback) => cb({ code: grpc.status.UNIMPLEMENTED, details: `netlab's language host does not implement ${name}` });
}

async function main(argv: string[]) {
  const engineAddress = argv.filter((a) => !a.startsWith('-')).pop() ?? '';
  const host = new LanguageHost(engineAddress);
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 400 * 1024 * 1024 });
  const impl: Record<string, unknown> = {
    handshake: host.handshake.bind(host),
    getRequiredPlugins: host.getRequiredPlugins.bind(host),
    getRequiredPackages: host.getRequiredPackages.bind(host),
    run: host.run.bind(host),
    getPluginInfo: host.getPluginInfo.bind(host),
    installDependencies: host.installDependencies.bind(host),
    runtimeOptionsPrompts: host.runtimeOptionsPrompts.bind(host),
    about: host.about.bind(host),
    getProgramDependencies: host.getProgramDependencies.bind(host),
    cancel: host.cancel.bind(host),
  };
  for (const m of ['template', 'runPlugin', 'generateProgram', 'generateProject', 'generatePackage', 'pack', 'link']) impl[m] = unimplemented(m);
  server.addService(langrpc.LanguageRuntimeService, impl as never);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  process.stdout.write(`${port}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((e: Error) => {
    process.stderr.write(`netlab language host: ${e.stack ?? e.message}\n`);
    process.exit(1);
  });
}
