package sse

import (
	"bytes"
	"io"
	"os"
	"reflect"
	"testing"
	"testing/iotest"
)

// FuzzReader checks that no input makes the reader panic or hang, that the
// way bytes are chunked never changes the result, that dispatched events
// never contain line breaks where the format forbids them, and that writing
// the events back out with Writer and reading them again is lossless.
func FuzzReader(f *testing.F) {
	seeds := []string{
		"",
		"event: a\r\ndata: {\"x\":1}\r\n\r\n",
		"event: a\ndata: 1\n\n\r\n\r\n",
		"event: a\rdata: 1\r\r",
		": comment\r\ndata: a\r\ndata: b\r\n\r\n",
		"\xEF\xBB\xBFdata\n\n",
		"data: 1\n\ndata: 2",
		"event: x\r\n\r\nretry: 5\r\nid: 1\r\ndata:\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	if raw, err := os.ReadFile("../../../../shared/fixtures/marathon/v2-events-sse-docs.txt"); err == nil {
		f.Add(raw)
		f.Add(bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n")))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		whole, err := readAll(NewReader(bytes.NewReader(in)))
		if err != io.EOF {
			t.Fatalf("end error %v", err)
		}
		oneByte, err := readAll(NewReader(iotest.OneByteReader(bytes.NewReader(in))))
		if err != io.EOF {
			t.Fatalf("one-byte end error %v", err)
		}
		if !reflect.DeepEqual(whole, oneByte) {
			t.Fatalf("chunking changed the result:\n%q\n%q", whole, oneByte)
		}
		var out bytes.Buffer
		w := NewWriter(&out)
		for _, e := range whole {
			if bytes.ContainsAny([]byte(e.Type), "\r\n") || bytes.ContainsRune(e.Data, '\r') {
				t.Fatalf("line break inside a field: %q", e)
			}
			if err := w.WriteEvent(e.Type, e.Data); err != nil {
				t.Fatal(err)
			}
		}
		again, err := readAll(NewReader(&out))
		if err != io.EOF {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(whole, again) {
			t.Fatalf("write/read changed events:\n%q\n%q", whole, again)
		}
	})
}
