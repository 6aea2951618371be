// Wrapper module: scripts/install-k8s.sh builds the upstream programs it requires (see tools/k8s/README.md).
module netlab.invalid/tools/k8s/flanneld

go 1.26.0

require (
	github.com/flannel-io/flannel v0.28.10
	github.com/tencentcloud/tencentcloud-sdk-go v1.0.162
)

// The split-out tencentcloud vpc module that flannel's tencentvpc backend needs is not
// served by the proxy (403); make the old monolithic SDK module provide both packages.
replace (
	github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common => ./empty-common
	github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc => ./empty-vpc
)
