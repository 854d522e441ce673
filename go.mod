module github.com/signpost-dns/signpost

go 1.26

require github.com/go-zookeeper/zk v1.0.4

require (
	github.com/miekg/dns v1.1.73 // indirect
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
