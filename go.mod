module github.com/signpost-dns/signpost

go 1.26
