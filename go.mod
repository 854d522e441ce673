module github.com/signpost-dns/signpost

go 1.26

require github.com/go-zookeeper/zk v1.0.4
