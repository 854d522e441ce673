package sse

import (
	"github.com/signpost-dns/signpost/internal/testutil/fixtures"

	"bytes"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

// readAll drains r and returns the events and the terminating error.
func readAll(r *Reader) ([]Event, error) {
	var evs []Event
	for {
		ev, err := r.Next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func ev(typ, data string) Event { return Event{Type: typ, Data: []byte(data)} }

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Event
	}{
		{"empty", "", nil},
		{"jetty CRLF", "event: a\r\ndata: {\"x\":1}\r\n\r\n", []Event{ev("a", `{"x":1}`)}},
		{"LF", "event: a\ndata: 1\n\nevent: b\ndata: 2\n\n", []Event{ev("a", "1"), ev("b", "2")}},
		{"CR", "event: a\rdata: 1\r\r", []Event{ev("a", "1")}},
		{"mixed line ends", "event: a\r\ndata: 1\n\revent: b\rdata: 2\r\n\n", []Event{ev("a", "1"), ev("b", "2")}},
		{"heartbeats before, between and after", "\r\n\r\n\r\nevent: a\r\ndata: 1\r\n\r\n\r\n\r\nevent: b\r\ndata: 2\r\n\r\n\r\n", []Event{ev("a", "1"), ev("b", "2")}},
		{"comments ignored", ": hello\r\nevent: a\r\n:another\r\ndata: 1\r\n\r\n", []Event{ev("a", "1")}},
		{"multi-line data joined by LF", "data: one\r\ndata: two\r\ndata:\r\ndata: four\r\n\r\n", []Event{ev("", "one\ntwo\n\nfour")}},
		{"no space after colon", "event:a\ndata:1\n\n", []Event{ev("a", "1")}},
		{"only one leading space stripped", "event: a\ndata:  two spaces\n\n", []Event{ev("a", " two spaces")}},
		{"colons in value kept", "data: {\"a\":\"b:c\"}\n\n", []Event{ev("", `{"a":"b:c"}`)}},
		{"field without colon", "data\n\n", []Event{ev("", "")}},
		{"empty data field dispatches empty data", "event: x\ndata:\n\n", []Event{ev("x", "")}},
		{"event without data is not dispatched", "event: lonely\n\nevent: a\ndata: 1\n\n", []Event{ev("a", "1")}},
		{"type does not leak into next event", "event: a\ndata: 1\n\ndata: 2\n\n", []Event{ev("a", "1"), ev("", "2")}},
		{"last event field wins", "event: a\nevent: b\ndata: 1\n\n", []Event{ev("b", "1")}},
		{"id and retry ignored", "id: 7\nretry: 100\nevent: a\ndata: 1\n\n", []Event{ev("a", "1")}},
		{"unknown field ignored", "foo: bar\nevent: a\ndata: 1\n\n", []Event{ev("a", "1")}},
		{"unterminated event discarded", "event: a\ndata: 1\n\nevent: b\ndata: 2\n", []Event{ev("a", "1")}},
		{"unterminated line discarded", "event: a\ndata: 1\n\ndata: 2", []Event{ev("a", "1")}},
		{"leading BOM stripped", "\xEF\xBB\xBFevent: a\ndata: 1\n\n", []Event{ev("a", "1")}},
		{"BOM only at start", "event: a\ndata: \xEF\xBB\xBF1\n\n", []Event{ev("a", "\xEF\xBB\xBF1")}},
		{"partial BOM is part of the field name", "\xEFevent: a\ndata: 1\n\n", []Event{ev("", "1")}},
		{"field names are case sensitive", "Event: a\nData: 1\ndata: 2\n\n", []Event{ev("", "2")}},
		{"NUL and UTF-8 pass through", "data: \x00é\n\n", []Event{ev("", "\x00é")}},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one-byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data-err", iotest.DataErrReader},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				got, err := readAll(NewReader(rd.wrap(strings.NewReader(tt.in))))
				if err != io.EOF {
					t.Fatalf("end error = %v, want io.EOF", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("events:\n got %q\nwant %q", got, tt.want)
				}
			})
		}
	}
}

func TestReaderEOFIsSticky(t *testing.T) {
	r := NewReader(strings.NewReader("data: 1\n\n"))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("call %d: err = %v, want io.EOF", i, err)
		}
	}
}

func TestReaderPassesOnReadErrors(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader("data: 1\n\ndata: 2\n"), iotest.ErrReader(boom)))
	if e, err := r.Next(); err != nil || string(e.Data) != "1" {
		t.Fatalf("first = %q, %v", e.Data, err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
}

// A CR that ends an event must dispatch it without waiting for the next
// byte: a stream that uses bare CRs would otherwise deliver each event one
// heartbeat late.
func TestReaderDoesNotWaitAfterCR(t *testing.T) {
	pr, pw := io.Pipe()
	r := NewReader(pr)
	done := make(chan Event)
	go func() {
		e, err := r.Next()
		if err != nil {
			t.Error(err)
		}
		done <- e
	}()
	if _, err := pw.Write([]byte("event: a\rdata: 1\r\r")); err != nil {
		t.Fatal(err)
	}
	e := <-done
	if e.Type != "a" || string(e.Data) != "1" {
		t.Fatalf("got %q", e)
	}
	// The LF of a CRLF split across writes still belongs to the CR.
	go func() { pw.Write([]byte("\nevent: b\r")); pw.Write([]byte("\ndata: 2\r\n\r\n")); pw.Close() }()
	got, err := readAll(r)
	if err != io.EOF || !reflect.DeepEqual(got, []Event{ev("b", "2")}) {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestReaderLineTooLong(t *testing.T) {
	long := strings.Repeat("x", MaxLineLength+1)
	tests := []struct{ name, in string }{
		{"one line", "data: " + long + "\n\n"},
		{"one event of many lines", strings.Repeat("data: "+strings.Repeat("y", 1<<20)+"\n", 17) + "\n"},
		{"a comment", ":" + long + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in + "data: after\n\n"))
			_, err := r.Next()
			if !errors.Is(err, ErrLineTooLong) {
				t.Fatalf("err = %v, want ErrLineTooLong", err)
			}
			if _, again := r.Next(); again != err {
				t.Errorf("error not sticky: %v", again)
			}
			if !strings.Contains(err.Error(), "16 MiB") {
				t.Errorf("error %q does not name the limit", err)
			}
		})
	}
	// Exactly at the limit is fine.
	in := "data:" + strings.Repeat("z", MaxLineLength-5) + "\n\n"
	e, err := NewReader(strings.NewReader(in)).Next()
	if err != nil || len(e.Data) != MaxLineLength-5 {
		t.Fatalf("at limit: len %d, err %v", len(e.Data), err)
	}
}

func TestReaderDataIsOwnedByCaller(t *testing.T) {
	r := NewReader(strings.NewReader("data: first\n\ndata: second\n\n"))
	a, _ := r.Next()
	b, _ := r.Next()
	if string(a.Data) != "first" || string(b.Data) != "second" {
		t.Fatalf("got %q %q", a.Data, b.Data)
	}
}

func TestReaderMarathonDocsFixture(t *testing.T) {
	raw, err := os.ReadFile(fixtures.Path(t, "marathon/v2-events-sse-docs.txt"))
	if err != nil {
		t.Fatal(err)
	}
	crlf := bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))
	for name, in := range map[string][]byte{"LF as captured": raw, "CRLF as Jetty sends": crlf} {
		t.Run(name, func(t *testing.T) {
			got, err := readAll(NewReader(iotest.OneByteReader(bytes.NewReader(in))))
			if err != io.EOF {
				t.Fatal(err)
			}
			wantTypes := []string{"event_stream_attached", "status_update_event", "status_update_event"}
			if len(got) != len(wantTypes) {
				t.Fatalf("got %d events, want 3", len(got))
			}
			for i, e := range got {
				if e.Type != wantTypes[i] {
					t.Errorf("event %d type %q, want %q", i, e.Type, wantTypes[i])
				}
				if !bytes.HasPrefix(e.Data, []byte("{")) || !bytes.HasSuffix(e.Data, []byte("}")) {
					t.Errorf("event %d data %q is not one JSON object", i, e.Data)
				}
			}
			if !bytes.Contains(got[2].Data, []byte(`"taskId":"test-app.5dd78972-6771-11e5-94e1-be5b2935a987"`)) {
				t.Errorf("last event data %s", got[2].Data)
			}
		})
	}
}

type flushRecorder struct {
	bytes.Buffer
	flushes int
}

func (f *flushRecorder) Flush() { f.flushes++ }

func TestWriter(t *testing.T) {
	tests := []struct {
		name, typ, data, want string
	}{
		{"jetty framing", "status_update_event", `{"a":1}`, "event: status_update_event\r\ndata: {\"a\":1}\r\n\r\n"},
		{"empty data", "x", "", "event: x\r\ndata: \r\n\r\n"},
		{"LF split into data lines", "x", "a\nb", "event: x\r\ndata: a\r\ndata: b\r\n\r\n"},
		{"CRLF and CR split", "x", "a\r\nb\rc", "event: x\r\ndata: a\r\ndata: b\r\ndata: c\r\n\r\n"},
		{"trailing break ends with an empty line", "x", "a\n", "event: x\r\ndata: a\r\ndata: \r\n\r\n"},
		{"only a break", "x", "\r\n", "event: x\r\ndata: \r\ndata: \r\n\r\n"},
		{"empty lines kept", "x", "a\n\nb", "event: x\r\ndata: a\r\ndata: \r\ndata: b\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out flushRecorder
			w := NewWriter(&out)
			if err := w.WriteEvent(tt.typ, []byte(tt.data)); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("wrote %q, want %q", out.String(), tt.want)
			}
			if out.flushes != 1 {
				t.Errorf("flushes = %d, want 1", out.flushes)
			}
		})
	}
}

func TestWriterHeartbeat(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewWriter(rec)
	if err := w.WriteHeartbeat(); err != nil {
		t.Fatal(err)
	}
	if got := rec.Body.String(); got != "\r\n" {
		t.Errorf("heartbeat %q", got)
	}
	if !rec.Flushed {
		t.Error("http.ResponseWriter was not flushed")
	}
}

func TestWriterRejectsBreakInType(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	for _, typ := range []string{"a\nb", "a\r", "\r\n"} {
		if err := w.WriteEvent(typ, []byte("{}")); err == nil {
			t.Errorf("type %q accepted", typ)
		}
	}
	if out.Len() != 0 {
		t.Errorf("wrote %q after rejecting", out.String())
	}
}

func TestWriterError(t *testing.T) {
	boom := errors.New("boom")
	w := NewWriter(errWriter{boom})
	if err := w.WriteEvent("a", nil); !errors.Is(err, boom) {
		t.Errorf("WriteEvent err = %v", err)
	}
	if err := w.WriteHeartbeat(); !errors.Is(err, boom) {
		t.Errorf("WriteHeartbeat err = %v", err)
	}
}

type errWriter struct{ err error }

func (e errWriter) Write([]byte) (int, error) { return 0, e.err }

// Events written concurrently with heartbeats must come out whole.
func TestWriterConcurrentRoundTrip(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := w.WriteEvent("status_update_event", []byte(`{"eventType":"status_update_event"}`)); err != nil {
					t.Error(err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := w.WriteHeartbeat(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	got, err := readAll(NewReader(&out))
	if err != io.EOF {
		t.Fatal(err)
	}
	if len(got) != 400 {
		t.Fatalf("read %d events, want 400", len(got))
	}
	for _, e := range got {
		if e.Type != "status_update_event" || string(e.Data) != `{"eventType":"status_update_event"}` {
			t.Fatalf("mangled event %q", e)
		}
	}
}

func TestWriterReaderRoundTrip(t *testing.T) {
	in := []Event{ev("a", "1"), ev("b", ""), ev("c", "x\ny\n\nz"), ev("d", `{"k":"v: w"}`), ev("", "no type"), ev("e", "\n"), ev("f", "g\n\n")}
	var out bytes.Buffer
	w := NewWriter(&out)
	for _, e := range in {
		if err := w.WriteEvent(e.Type, e.Data); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteHeartbeat(); err != nil {
			t.Fatal(err)
		}
	}
	// "event: " with an empty type sets the type to "", as if absent.
	got, err := readAll(NewReader(iotest.OneByteReader(&out)))
	if err != io.EOF {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("got %q\nwant %q", got, in)
	}
}
