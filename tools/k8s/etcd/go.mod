// Wrapper module: scripts/install-k8s.sh builds the upstream programs it requires (see tools/k8s/README.md).
module netlab.invalid/tools/k8s/etcd

go 1.26.0

require (
	go.etcd.io/etcd/server/v3 v3.7.3
	go.etcd.io/etcd/etcdctl/v3 v3.7.3
)
