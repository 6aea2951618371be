// The Kubernetes part of an aws stack as pure text: kubeadm configuration (kube-proxy mode
// included), init/join, and the pod network (CNI) manifests or install commands.
import { shq } from '../core/shell.ts';
import type { AwsDatapath, ProxyMode } from '../spec/schema.ts';
import { HEAD, RETRY_FN } from './scripts.ts';

export const FLANNEL_VERSION = 'v0.26.1';
export const CALICO_VERSION = 'v3.29.1';
export const CILIUM_VERSION = '1.16.5';
export const HELM_VERSION = 'v3.16.3';
export const NGINX_IMAGE = 'nginx:1.27.3';

export interface ClusterInput {
  serverIp: string;
  clientIp: string;
  kubernetesVersion: string;
  podCidr: string;
  serviceCidr: string;
  proxyMode: ProxyMode;
  ipvsScheduler: string;
  datapath: AwsDatapath;
}

/** kube-proxy's mode for a spec proxy mode; null = no kube-proxy at all (Cilium replaces it). */
export function kubeProxyMode(c: Pick<ClusterInput, 'proxyMode' | 'datapath'>): 'iptables' | 'ipvs' | 'nftables' | null {
  if (c.proxyMode === 'ebpf') return null;
  // Without a Service fleet the client calls pod addresses; kube-proxy still runs, in its default mode.
  if (c.proxyMode === 'none') return 'iptables';
  return c.proxyMode;
}

/** kubeadm's configuration (v1beta4, Kubernetes 1.31+), KubeProxyConfiguration included when kube-proxy runs. */
export function kubeadmConfig(c: ClusterInput): string {
  const mode = kubeProxyMode(c);
  const docs = [
    `apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: ${c.serverIp}
  bindPort: 6443
nodeRegistration:
  name: server
  kubeletExtraArgs:
    - name: node-ip
      value: ${c.serverIp}
${mode ? '' : 'skipPhases:\n  - addon/kube-proxy\n'}`,
    `apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: stable-${c.kubernetesVersion}
controlPlaneEndpoint: ${c.serverIp}:6443
networking:
  podSubnet: ${c.podCidr}
  serviceSubnet: ${c.serviceCidr}
`,
  ];
  if (mode)
    docs.push(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ${mode}
${mode === 'ipvs' ? `ipvs:\n  scheduler: ${c.ipvsScheduler}\n` : ''}`);
  return docs.join('---\n');
}

/**
 * kubeadm init. Its output holds a bootstrap token and the join command, so it goes to a root-only
 * file, never to the step's log; on failure only the tail is shown, tokens and hashes redacted.
 */
export function kubeadmInitScript(c: ClusterInput): string {
  return `${HEAD}${REDACT_FN}if [ ! -f /etc/kubernetes/admin.conf ]; then
  cat > /etc/netlab-kubeadm.yaml <<'KUBEADM'
${kubeadmConfig(c)}KUBEADM
  install -d -m 700 /var/lib/netlab
  if ! (umask 077; kubeadm init --config /etc/netlab-kubeadm.yaml > /var/lib/netlab/kubeadm-init.log 2>&1); then
    echo 'netlab: kubeadm init failed; the end of its output (secrets redacted; whole: /var/lib/netlab/kubeadm-init.log on the server):' >&2
    tail -n 40 /var/lib/netlab/kubeadm-init.log | redact >&2
    exit 1
  fi
  echo 'kubeadm init done (output in /var/lib/netlab/kubeadm-init.log, root only: it holds a join token)'
fi
install -d -m 700 /root/.kube
install -m 600 /etc/kubernetes/admin.conf /root/.kube/config
kubectl get nodes -o wide
`;
}

/** Strips what must never reach a log: bootstrap tokens, CA hashes, certificate keys and key material. */
export const REDACT_FN = `redact() { sed -E -e 's/[a-z0-9]{6}\\.[a-z0-9]{16}/<redacted-token>/g' -e 's/sha256:[0-9a-f]{64}/sha256:<redacted>/g' -e 's/(certificate-key|client-key-data|client-certificate-data|certificate-authority-data|token)([:= ]+)[^ <][^ ]*/\\1\\2<redacted>/g'; }\n`;

/** Printed on the server; its output (secret) is what the client runs. */
export function joinCommandScript(): string {
  return `${HEAD}kubeadm token create --ttl 2h --print-join-command\n`;
}

/** The client joins under a fixed node name and gets the admin kubeconfig (its run script uses kubectl). Nothing secret is echoed. */
export function joinScript(): string {
  return `${HEAD}${REDACT_FN}: "\${NETLAB_JOIN:?the join command from the server}" "\${NETLAB_KUBECONFIG:?the admin kubeconfig}"
if [ ! -f /etc/kubernetes/kubelet.conf ]; then
  install -d -m 700 /var/lib/netlab
  # shellcheck disable=SC2086 # the join command is split into its words on purpose
  if ! (umask 077; $NETLAB_JOIN --node-name client > /var/lib/netlab/kubeadm-join.log 2>&1); then
    echo 'netlab: kubeadm join failed; the end of its output (secrets redacted):' >&2
    tail -n 40 /var/lib/netlab/kubeadm-join.log | redact >&2
    exit 1
  fi
  echo 'kubeadm join done'
fi
install -d -m 700 /root/.kube
(umask 077; printf '%s\\n' "$NETLAB_KUBECONFIG" > /root/.kube/config)
`;
}

/** Prints the admin kubeconfig; the step's stdout is a secret output and is not logged. */
export function kubeconfigScript(): string {
  return `${HEAD}cat /etc/kubernetes/admin.conf\n`;
}

/** flannel's net-conf.json for a backend (flannel removed its aws-vpc backend in v0.20.0; aws-vpc is done by Pulumi routes). */
export function flannelNetConf(podCidr: string, datapath: 'host' | 'hostgw' | 'vxlan'): string {
  const backend = datapath === 'vxlan' ? { Type: 'vxlan', VNI: 1, Port: 8472 } : { Type: 'host-gw' };
  return JSON.stringify({ Network: podCidr, Backend: backend });
}

/**
 * aws-vpc as flannel's removed backend did it: each host owns a /24 of the pod range, the VPC
 * route table sends that /24 to the host's interface (aws.ec2.Route, source/dest check off), and
 * on the host the reference bridge plugin with host-local addresses from that /24 wires the pods.
 * Pod traffic leaving the pod range is masqueraded, as flannel does.
 */
export function awsVpcConflist(nodePodCidr: string): string {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'netlab-aws-vpc',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: nodePodCidr }]], routes: [{ dst: '0.0.0.0/0' }] },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

/** Run on each host for aws-vpc: the conflist and the masquerade rule for traffic leaving the pod range. */
export function awsVpcHostScript(o: { nodePodCidr: string; podCidr: string }): string {
  return `${HEAD}install -d /etc/cni/net.d
cat > /etc/cni/net.d/10-netlab-aws-vpc.conflist <<'CNI'
${awsVpcConflist(o.nodePodCidr)}
CNI
test -x /opt/cni/bin/bridge || { echo 'netlab: /opt/cni/bin/bridge missing (kubernetes-cni package)' >&2; exit 1; }
sysctl -qw net.ipv4.ip_forward=1
iptables -t nat -C POSTROUTING -s ${o.nodePodCidr} ! -d ${o.podCidr} -j MASQUERADE 2> /dev/null || iptables -t nat -A POSTROUTING -s ${o.nodePodCidr} ! -d ${o.podCidr} -j MASQUERADE
iptables -C FORWARD -s ${o.podCidr} -j ACCEPT 2> /dev/null || iptables -I FORWARD -s ${o.podCidr} -j ACCEPT
iptables -C FORWARD -d ${o.podCidr} -j ACCEPT 2> /dev/null || iptables -I FORWARD -d ${o.podCidr} -j ACCEPT
echo "aws-vpc: pods of this host in ${o.nodePodCidr}, routed by the VPC"
`;
}

/** Calico's Installation resource (tigera operator) for an encapsulation. */
export function calicoInstallation(podCidr: string, datapath: 'calico-ipip' | 'calico-vxlan' | 'calico-direct'): string {
  const encapsulation = { 'calico-ipip': 'IPIP', 'calico-vxlan': 'VXLAN', 'calico-direct': 'None' }[datapath];
  return `apiVersion: operator.tigera.io/v1
kind: Installation
metadata:
  name: default
spec:
  calicoNetwork:
    bgp: ${datapath === 'calico-vxlan' ? 'Disabled' : 'Enabled'}
    ipPools:
      - cidr: ${podCidr}
        encapsulation: ${encapsulation}
        natOutgoing: Enabled
        blockSize: 26
        nodeSelector: all()
`;
}

/** The CNI reference ipvlan plugin with host-local addresses from the ENI's secondary IPs. */
export function ipvlanConflist(o: { subnetCidr: string; gateway: string; first: string; last: string }): string {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'netlab-ipvlan',
      plugins: [
        {
          type: 'ipvlan',
          master: '__MASTER__',
          mode: 'l2',
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: o.subnetCidr, rangeStart: o.first, rangeEnd: o.last, gateway: o.gateway }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
      ],
    },
    null,
    2,
  );
}

/** Run on each host for ipvlan: the conflist with the primary interface filled in. */
export function ipvlanHostScript(conflist: string): string {
  return `${HEAD}dev=$(ip -o route show default | awk '{print $5; exit}')
install -d /etc/cni/net.d
cat > /etc/cni/net.d/10-netlab-ipvlan.conflist.in <<'CNI'
${conflist}
CNI
sed "s/__MASTER__/$dev/" /etc/cni/net.d/10-netlab-ipvlan.conflist.in > /etc/cni/net.d/10-netlab-ipvlan.conflist
rm /etc/cni/net.d/10-netlab-ipvlan.conflist.in
test -x /opt/cni/bin/ipvlan || { echo 'netlab: /opt/cni/bin/ipvlan missing (kubernetes-cni package)' >&2; exit 1; }
modprobe ipvlan || { echo 'netlab: this kernel has no ipvlan module' >&2; exit 1; }
`;
}

/** Run on the server once both nodes are in: installs the pod network and waits for both nodes Ready. */
export function cniScript(c: ClusterInput): string {
  let body: string;
  const dp = c.datapath;
  if (dp === 'host' || dp === 'hostgw' || dp === 'vxlan') {
    const conf = flannelNetConf(c.podCidr, dp);
    // The backend goes into the manifest before its first apply: flannel never starts with the default vxlan.
    body = `${dp === 'host' ? '# host: nginx runs with hostNetwork; flannel host-gw only makes the nodes Ready\n' : ''}curl -fsSL --retry 5 -o /tmp/kube-flannel.yml https://github.com/flannel-io/flannel/releases/download/${FLANNEL_VERSION}/kube-flannel.yml
kubectl create --dry-run=client -o json -f /tmp/kube-flannel.yml \\
  | jq --arg c ${shq(conf)} '.items |= map(if .kind == "ConfigMap" and .metadata.name == "kube-flannel-cfg" then .data["net-conf.json"] = $c else . end)' > /tmp/kube-flannel.json
jq -e --arg c ${shq(conf)} 'any(.items[]; .kind == "ConfigMap" and .data["net-conf.json"] == $c)' /tmp/kube-flannel.json > /dev/null || { echo 'netlab: kube-flannel-cfg not found in the flannel manifest' >&2; exit 1; }
kubectl apply -f /tmp/kube-flannel.json
kubectl -n kube-flannel rollout status ds/kube-flannel-ds --timeout=10m
`;
  } else if (dp === 'aws-vpc') {
    body = '# aws-vpc: the bridge conflist was written on each host, the VPC routes were made by Pulumi; no flannel\n';
  } else if (dp === 'calico-ipip' || dp === 'calico-vxlan' || dp === 'calico-direct') {
    body = `kubectl create -f https://raw.githubusercontent.com/projectcalico/calico/${CALICO_VERSION}/manifests/tigera-operator.yaml || kubectl replace -f https://raw.githubusercontent.com/projectcalico/calico/${CALICO_VERSION}/manifests/tigera-operator.yaml
retry 60 5 kubectl get crd installations.operator.tigera.io
kubectl apply -f - <<'CALICO'
${calicoInstallation(c.podCidr, dp)}CALICO
retry 120 5 kubectl wait --for=condition=Available tigerastatus/calico --timeout=10s
`;
  } else if (dp === 'cilium') {
    const replace = c.proxyMode === 'ebpf';
    const sets = [
      `kubeProxyReplacement=${replace}`,
      `k8sServiceHost=${c.serverIp}`,
      'k8sServicePort=6443',
      'ipam.mode=kubernetes',
      'routingMode=native',
      `ipv4NativeRoutingCIDR=${c.podCidr}`,
      'autoDirectNodeRoutes=true',
    ];
    body = `if ! command -v helm > /dev/null; then
  curl -fsSL https://get.helm.sh/helm-${HELM_VERSION}-linux-amd64.tar.gz | tar -xz -C /tmp linux-amd64/helm
  install -m 755 /tmp/linux-amd64/helm /usr/local/bin/helm
fi
helm repo add cilium https://helm.cilium.io --force-update
helm upgrade --install cilium cilium/cilium --version ${CILIUM_VERSION} --namespace kube-system ${sets.map((x) => `--set ${x}`).join(' ')}
kubectl -n kube-system rollout status ds/cilium --timeout=10m
`;
  } else {
    body = '# ipvlan: the conflist was written on each host before this step\n';
  }
  return `${HEAD}${RETRY_FN}${body}retry 120 5 kubectl wait --for=condition=Ready node/server node/client --timeout=10s
kubectl get nodes -o wide
`;
}
