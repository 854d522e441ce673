package httpfetch

import (
	"strings"
	"testing"
)

// TestReadBodyUnknownLength covers the chunked (or gzip) path, where the
// length is only known at the end.
func TestReadBodyUnknownLength(t *testing.T) {
	if _, err := ReadBody(strings.NewReader(strings.Repeat("x", 101)), -1, 100, "state", "state"); err == nil || !strings.Contains(err.Error(), "MaxBodyBytes") {
		t.Errorf("101 bytes, limit 100: %v", err)
	}
	if b, err := ReadBody(strings.NewReader(strings.Repeat("x", 100)), -1, 100, "state", "state"); err != nil || len(b) != 100 {
		t.Errorf("100 bytes, limit 100: %d, %v", len(b), err)
	}
}

func TestQuote(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"  \n ", ""},
		{"No leader\r\n  elected", `: "No leader elected"`},
		{strings.Repeat("é", 201), `: "` + strings.Repeat("é", 200) + `…"`},
	} {
		if got := Quote([]byte(c.in)); got != c.want {
			t.Errorf("Quote(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
