package httpfetch

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
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

// TestBodyReader: known and unknown lengths, short bodies, limits, the
// buffer kept between documents, and Yield called between reads.
func TestBodyReader(t *testing.T) {
	doc := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct {
		name  string
		body  string
		n     int64
		limit int64
		err   string
	}{
		{name: "known length", body: doc(1 << 20), n: 1 << 20, limit: 2 << 20},
		{name: "unknown length", body: doc(1<<20 + 7), n: -1, limit: 2 << 20},
		{name: "empty", body: "", n: 0, limit: 10},
		{name: "empty unknown", body: "", n: -1, limit: 10},
		{name: "declared too long", body: doc(11), n: 11, limit: 10, err: "state is 11 bytes, more than the 10 allowed (MaxBodyBytes)"},
		{name: "too long", body: doc(11), n: -1, limit: 10, err: "state is more than the 10 bytes allowed (MaxBodyBytes)"},
		{name: "cut short", body: doc(5), n: 10, limit: 10, err: "reading state: unexpected EOF"},
		{name: "read error", body: "", n: -1, limit: 10, err: "reading state: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yields := 0
			br := BodyReader{Limit: tc.limit, Yield: func() { yields++ }}
			var r io.Reader = iotest.HalfReader(strings.NewReader(tc.body))
			if tc.name == "read error" {
				r = iotest.ErrReader(errors.New("boom"))
			}
			got, err := br.Read(r, tc.n, "state", "state")
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.body {
				t.Fatalf("read %d bytes, %v; want the %d of the body", len(got), err, len(tc.body))
			}
			if len(tc.body) > readChunk && yields < len(tc.body)/readChunk {
				t.Errorf("Yield called %d times for %d bytes, want at least one per %d", yields, len(tc.body), readChunk)
			}
			// The next document reuses the buffer.
			again, err := br.Read(strings.NewReader(tc.body), tc.n, "state", "state")
			if err != nil || string(again) != tc.body {
				t.Fatalf("second read: %d bytes, %v", len(again), err)
			}
			if len(got) > 0 && &again[0] != &got[0] {
				t.Error("the second document got a new buffer")
			}
		})
	}
}
