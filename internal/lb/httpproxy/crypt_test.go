package httpproxy

import "testing"

// Vectors produced by `openssl passwd -5/-6` (and Drepper's spec).
func TestVerifyCrypt(t *testing.T) {
	for _, c := range []struct{ hash, pass string }{
		{"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", "Hello world!"},
		{"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", "Hello world!"},
		{"$6$abcdefghijklmnop$jZ8Nc8q0YQDYky7RSMCZZx5bSAN7fEMJ6b1x3k6mItyMDeWaeIzzQv0GNf6K8qEf3AazjvRlSLQm/7uv0SRgp0", "a much longer password with many bytes in it exceeding sixty four bytes for sure yes"},
		{"$5$rounds=10000$xy$NxIFNhUmtHxrTdXyucTwyGoR2WRwKtcum.1TqcaKZE4", "pw"},
	} {
		if !verifyCrypt(c.hash, c.pass) {
			t.Errorf("verifyCrypt(%q, %q) = false", c.hash, c.pass)
		}
		if verifyCrypt(c.hash, c.pass+"x") {
			t.Errorf("verifyCrypt(%q) accepted a wrong password", c.hash)
		}
	}
	if verifyCrypt("$1$abc$xyz", "x") || verifyCrypt("abXYZ", "x") {
		t.Error("unsupported schemes must not match")
	}
}
