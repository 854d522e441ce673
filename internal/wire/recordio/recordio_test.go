package recordio

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll drains r and returns the records and the error that ended it.
func readAll(r *Reader) ([][]byte, error) {
	var recs [][]byte
	for {
		rec, err := r.Next()
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
	}
}

// wrappers are the ways a stream can be re-chunked on its way to us.
var wrappers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"one-byte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"data-err", iotest.DataErrReader},
}

func TestReader(t *testing.T) {
	big := strings.Repeat("x", 200<<10) // larger than the bufio buffer and first chunk
	tests := []struct {
		name    string
		in      string
		max     int
		want    []string
		wantErr error  // checked with errors.Is; nil means clean io.EOF
		errText string // substring of the error message
	}{
		{name: "empty stream", in: "", want: nil},
		{name: "doc example", in: "20\n{\"type\":\"HEARTBEAT\"}", want: []string{`{"type":"HEARTBEAT"}`}},
		{name: "two records", in: "3\nabc5\nhello", want: []string{"abc", "hello"}},
		{name: "zero length record", in: "0\n3\nabc", want: []string{"", "abc"}},
		{name: "data with newlines", in: "5\na\nb\nc", want: []string{"a\nb\nc"}},
		{name: "leading zeros", in: "003\nabc", want: []string{"abc"}},
		{name: "big record", in: "204800\n" + big, want: []string{big}},
		{name: "exactly max", in: "4\nabcd", max: 4, want: []string{"abcd"}},
		{name: "over max", in: "5\nabcde", max: 4, wantErr: ErrTooLarge, errText: "length 5 over the limit of 4"},
		{name: "overflowing length", in: "99999999999999999999\n", wantErr: ErrTooLarge, errText: "overflows"},
		{name: "too many digits", in: "000000000000000000001\nx", wantErr: ErrBadLength, errText: "more than 20 digits"},
		{name: "non-digit", in: "1x\nab", wantErr: ErrBadLength, errText: `non-digit byte 'x' at position 1`},
		{name: "negative", in: "-1\n", wantErr: ErrBadLength, errText: `non-digit byte '-'`},
		{name: "CRLF", in: "3\r\nabc", wantErr: ErrBadLength, errText: `'\r'`},
		{name: "space", in: " 3\nabc", wantErr: ErrBadLength},
		{name: "empty length", in: "\nabc", wantErr: ErrBadLength, errText: "empty length"},
		{name: "bad after good", in: "3\nabcjunk", want: []string{"abc"}, wantErr: ErrBadLength},
		{name: "EOF in length", in: "3\nabc12", want: []string{"abc"}, wantErr: io.ErrUnexpectedEOF, errText: "inside a record length after 2 digits"},
		{name: "EOF before data", in: "3\n", wantErr: io.ErrUnexpectedEOF, errText: "after 0 of 3"},
		{name: "EOF in data", in: "10\nabc", wantErr: io.ErrUnexpectedEOF, errText: "after 3 of 10"},
		{name: "EOF in big data", in: "300000\n" + big, wantErr: io.ErrUnexpectedEOF, errText: "after 204800 of 300000"},
		{name: "lying header on short stream", in: "1000000000\nabc", wantErr: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		for _, w := range wrappers {
			t.Run(tt.name+"/"+w.name, func(t *testing.T) {
				r := NewReader(w.wrap(strings.NewReader(tt.in)), tt.max)
				got, err := readAll(r)
				if len(got) != len(tt.want) {
					t.Fatalf("got %d records, want %d (err %v)", len(got), len(tt.want), err)
				}
				for i := range got {
					if string(got[i]) != tt.want[i] {
						t.Errorf("record %d = %.40q, want %.40q", i, got[i], tt.want[i])
					}
				}
				want := tt.wantErr
				if want == nil {
					want = io.EOF
				}
				if !errors.Is(err, want) {
					t.Fatalf("error = %v, want %v", err, want)
				}
				if want == io.EOF && err != io.EOF {
					t.Fatalf("clean end must be io.EOF itself, got %#v", err)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("error %q does not mention %q", err, tt.errText)
				}
				// Errors are sticky.
				if _, err2 := r.Next(); err2 != err {
					t.Errorf("second Next = %v, want the same %v", err2, err)
				}
			})
		}
	}
}

func TestReaderOtherError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader("5\nab"), iotest.ErrReader(boom)), 0)
	_, err := r.Next()
	if !errors.Is(err, boom) || errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want wrapped boom", err)
	}
	r = NewReader(iotest.ErrReader(boom), 0)
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want wrapped boom", err)
	}
}

func TestReaderRecordsAreIndependent(t *testing.T) {
	r := NewReader(strings.NewReader("3\nabc3\ndef"), 0)
	a, _ := r.Next()
	b, _ := r.Next()
	if string(a) != "abc" || string(b) != "def" {
		t.Fatalf("records %q %q: an earlier record was overwritten", a, b)
	}
}

// flushRecorder counts flushes of the three kinds Writer detects.
type flushRecorder struct {
	bytes.Buffer
	flushes int
}

type plainFlusher struct{ *flushRecorder }

func (f plainFlusher) Flush() { f.flushes++ }

type errFlusher struct {
	*flushRecorder
	err error
}

func (f errFlusher) FlushError() error { f.flushes++; return f.err }

func TestWriter(t *testing.T) {
	big := bytes.Repeat([]byte("y"), 10<<10)
	records := [][]byte{[]byte(`{"type":"HEARTBEAT"}`), {}, []byte("a\nb"), big}

	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, rec := range records {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.HasPrefix(buf.String(), "20\n{\"type\":\"HEARTBEAT\"}0\n3\na\nb10240\nyyy") {
		t.Fatalf("framing = %.60q", buf.String())
	}
	got, err := readAll(NewReader(iotest.HalfReader(&buf), 0))
	if err != io.EOF || len(got) != len(records) {
		t.Fatalf("read back %d records, err %v", len(got), err)
	}
	for i := range got {
		if !bytes.Equal(got[i], records[i]) {
			t.Errorf("record %d differs after round trip", i)
		}
	}
}

func TestWriterFlushes(t *testing.T) {
	rec := &flushRecorder{}
	w := NewWriter(plainFlusher{rec})
	_ = w.Write([]byte("a"))
	_ = w.Write([]byte("b"))
	if rec.flushes != 2 {
		t.Errorf("Flush() called %d times, want 2", rec.flushes)
	}

	rec = &flushRecorder{}
	boom := errors.New("client gone")
	w = NewWriter(errFlusher{rec, boom})
	if err := w.Write([]byte("a")); !errors.Is(err, boom) || rec.flushes != 1 {
		t.Errorf("FlushError: err %v, flushes %d", err, rec.flushes)
	}

	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	w = NewWriter(bw)
	_ = w.Write([]byte("abc"))
	if out.String() != "3\nabc" {
		t.Errorf("bufio.Writer not flushed: %q", out.String())
	}
}

func TestWriterError(t *testing.T) {
	boom := errors.New("closed")
	w := NewWriter(errWriter{boom})
	if err := w.Write([]byte("x")); !errors.Is(err, boom) {
		t.Errorf("small: %v", err)
	}
	if err := w.Write(make([]byte, 8<<10)); !errors.Is(err, boom) {
		t.Errorf("large: %v", err)
	}
}

type errWriter struct{ err error }

func (e errWriter) Write([]byte) (int, error) { return 0, e.err }

// FuzzReader checks that no input makes the reader panic, return a record
// over the limit, or disagree with the writer: whatever records it reads,
// framing them again and reading them back gives the same records.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"", "20\n{\"type\":\"HEARTBEAT\"}", "3\nabc5\nhello", "0\n", "1x\n", "99999999999999999999\n",
		"10\nabc", "\n", "003\nabc2\n", "3\r\nabc",
	} {
		f.Add([]byte(s), uint16(64))
	}
	f.Fuzz(func(t *testing.T, in []byte, max uint16) {
		limit := int(max) + 1
		recs, err := readAll(NewReader(iotest.OneByteReader(bytes.NewReader(in)), limit))
		if err == nil {
			t.Fatal("readAll ended without error")
		}
		if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrBadLength) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, rec := range recs {
			if len(rec) > limit {
				t.Fatalf("record of %d bytes over limit %d", len(rec), limit)
			}
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
		}
		again, err := readAll(NewReader(&buf, limit))
		if err != io.EOF || len(again) != len(recs) {
			t.Fatalf("re-read %d of %d records, err %v", len(again), len(recs), err)
		}
		for i := range recs {
			if !bytes.Equal(recs[i], again[i]) {
				t.Fatalf("record %d differs after re-framing", i)
			}
		}
	})
}

// BenchmarkReaderBigRecord reads a SUBSCRIBED-sized record (200 MiB)
// arriving in 32 KiB chunks, as a chunked HTTP body delivers it.
func BenchmarkReaderBigRecord(b *testing.B) {
	rec := bytes.Repeat([]byte("x"), 200<<20)
	var buf bytes.Buffer
	_ = NewWriter(&buf).Write(rec)
	stream := buf.Bytes()
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(&chunkReader{data: stream, chunk: 32 << 10}, 0)
		if got, err := r.Next(); err != nil || len(got) != len(rec) {
			b.Fatal(err)
		}
	}
}

type chunkReader struct {
	data  []byte
	chunk int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.chunk)], c.data)
	c.data = c.data[n:]
	return n, nil
}
