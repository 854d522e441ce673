module github.com/signpost-dns/signpost

go 1.26.0

require github.com/go-zookeeper/zk v1.0.4

require (
	github.com/miekg/dns v1.1.73 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	golang.org/x/net v0.59.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)
