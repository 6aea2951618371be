// Wrapper module: scripts/install-k8s.sh builds the upstream programs it requires (see tools/k8s/README.md).
module netlab.invalid/tools/k8s/flannel-cni

go 1.26.0

require github.com/containernetworking/plugins v0.9.1
