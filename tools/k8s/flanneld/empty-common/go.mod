module github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common
