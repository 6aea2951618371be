// Wrapper module: scripts/install-k8s.sh builds the upstream programs it requires (see tools/k8s/README.md).
module netlab.invalid/tools/k8s/cnitool

go 1.26.0

require github.com/containernetworking/cni v1.3.1
