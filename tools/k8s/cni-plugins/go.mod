// Wrapper module: scripts/install-k8s.sh builds the upstream programs it requires (see tools/k8s/README.md).
module netlab.invalid/tools/k8s/cni-plugins

go 1.26.8

require github.com/containernetworking/plugins v1.10.0
