// The real Kubernetes components (issue 16): their pinned versions (tools/k8s/versions.env) and
// where scripts/install-k8s.sh linked them (<tools cache>/k8s/bin). Nothing here runs them.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_DIR, readEnvFile, toolsCache } from '../core/project.ts';

export const K8S_PROGRAMS = [
  'kube-apiserver',
  'kube-proxy',
  'kubectl',
  'etcd',
  'etcdctl',
  'flanneld',
  'flannel',
  'cnitool',
  'bridge',
  'host-local',
  'loopback',
  'portmap',
] as const;
export type K8sProgram = (typeof K8S_PROGRAMS)[number];

export interface K8sVersions {
  kubernetes: string;
  etcd: string;
  flannel: string;
  flannelCni: string;
  cni: string;
  cniPlugins: string;
}

/** tools/k8s/versions.env, every pin present. */
export function k8sVersions(projectDir = PROJECT_DIR): K8sVersions {
  const e = readEnvFile(join(projectDir, 'tools', 'k8s', 'versions.env'));
  const get = (k: string) => {
    const v = e[k];
    if (!v) throw new Error(`tools/k8s/versions.env has no ${k}`);
    return v;
  };
  return {
    kubernetes: get('KUBERNETES_VERSION'),
    etcd: get('ETCD_VERSION'),
    flannel: get('FLANNEL_VERSION'),
    flannelCni: get('FLANNEL_CNI_VERSION'),
    cni: get('CNI_VERSION'),
    cniPlugins: get('CNI_PLUGINS_VERSION'),
  };
}

/** Where install-k8s.sh links the programs. */
export const k8sBinDir = (env: NodeJS.ProcessEnv = process.env) => join(toolsCache(env), 'k8s', 'bin');

/** The path of one program (whether or not it is installed). */
export const k8sBin = (name: K8sProgram, env: NodeJS.ProcessEnv = process.env) => join(k8sBinDir(env), name);

/** The programs of `names` that are not installed. */
export const k8sMissing = (names: readonly K8sProgram[], env: NodeJS.ProcessEnv = process.env) => names.filter((n) => !existsSync(k8sBin(n, env)));

/** The one-line reason a run cannot start without them, with the command that installs them. */
export const k8sMissingText = (missing: readonly string[]) =>
  `the real Kubernetes components are not installed (${missing.join(', ')} missing from ${k8sBinDir()}): run bash scripts/install-k8s.sh (Go builds, about 15 min the first time)`;
