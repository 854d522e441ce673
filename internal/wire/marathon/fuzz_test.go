package marathon

import (
	"bytes"
	"io"
	"reflect"
	"testing"

	"github.com/signpost-dns/signpost/internal/wire/sse"
)

// FuzzDecodeApps feeds arbitrary documents to DecodeApps, DecodeApp and
// DecodeTasks. None may panic; whatever decodes must encode and decode back
// to the same model with nothing skipped, which is the contract the
// simulator and the sources rely on.
func FuzzDecodeApps(f *testing.F) {
	for _, b := range appsFixtures(f) {
		f.Add(b)
	}
	for _, b := range appFixtures(f) {
		f.Add(b)
	}
	for _, s := range []string{
		`{"apps":[]}`, `{"apps":{}}`, `{"apps":[1,{"id":"a"}]}`, `{"app":{"id":"/a"}}`,
		`{"apps":[{"id":"/a","labels":{"A":null,"B":1}}]}`,
		`{"apps":[{"id":"/a","container":{"portMappings":[{"hostPort":0},{}]},"tasks":[{"id":"t","ports":[]}]}]}`,
		`{"tasks":[{"id":"t","servicePorts":[1.0]}]}`,
		`{"apps":[{"id":"/a","ipAddress":{"discovery":{"ports":[{"number":1e3}]}},"healthChecks":[{"command":"x"}]}]}`,
	} {
		f.Add([]byte(s))
	}
	if b, err := EncodeApps(goldenState(), true); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if st, _, err := DecodeApps(data); err == nil {
			if st == nil {
				t.Fatal("nil state without error")
			}
			out, err := EncodeApps(st, true)
			if err != nil {
				t.Fatal(err)
			}
			again, skipped, err := DecodeApps(out)
			if err != nil || len(skipped) > 0 {
				t.Fatalf("re-decoding %s: %v %v", out, err, skipped)
			}
			if !reflect.DeepEqual(again, st) {
				t.Fatalf("apps round trip:\n got %#v\nwant %#v", again, st)
			}
		}
		if a, err := DecodeApp(data); err == nil {
			out, err := EncodeApp(a)
			if err != nil {
				t.Fatal(err)
			}
			again, err := DecodeApp(out)
			if err != nil {
				t.Fatalf("re-decoding %s: %v", out, err)
			}
			if !reflect.DeepEqual(again, a) {
				t.Fatalf("app round trip:\n got %#v\nwant %#v", again, a)
			}
		}
		if tasks, _, err := DecodeTasks(data); err == nil {
			out, err := EncodeTasks(tasks)
			if err != nil {
				t.Fatal(err)
			}
			again, skipped, err := DecodeTasks(out)
			if err != nil || len(skipped) > 0 {
				t.Fatalf("re-decoding %s: %v %v", out, err, skipped)
			}
			if !reflect.DeepEqual(again, tasks) {
				t.Fatalf("tasks round trip:\n got %#v\nwant %#v", again, tasks)
			}
		}
		if in, err := DecodeInfo(data); err == nil {
			out, err := EncodeInfo(in)
			if err != nil {
				t.Fatal(err)
			}
			if again, err := DecodeInfo(out); err != nil || again != in {
				t.Fatalf("info round trip: %+v %v", again, err)
			}
		}
	})
}

// FuzzDecodeEvent checks that no payload panics DecodeEvent and that every
// decoded event encodes and decodes back to itself.
func FuzzDecodeEvent(f *testing.F) {
	for _, c := range canonicalEvents {
		f.Add(c.want.Type, []byte(c.json))
		f.Add("", []byte(c.json))
	}
	r := sse.NewReader(bytes.NewReader(readFixture(f, "marathon/v2-events-sse-docs.txt")))
	for {
		e, err := r.Next()
		if err == io.EOF || err != nil {
			break
		}
		f.Add(e.Type, e.Data)
	}
	f.Add("deployment_info", []byte(`{"plan":{"steps":[{"action":"ScaleApplication","app":"/a"},[{"type":"X","app":"/b"}]]},"currentStep":{"actions":[]}}`))
	f.Add("", []byte(`{"eventType":"deployment_failed","id":"x","reason":"r","currentStep":{}}`))
	f.Add("api_post_event", []byte(`{"appDefinition":{"id":"a","tasks":[{"id":"t"}]}}`))
	f.Fuzz(func(t *testing.T, eventType string, data []byte) {
		e, err := DecodeEvent(eventType, data)
		if err != nil {
			return
		}
		out, err := EncodeEvent(e)
		if err != nil {
			t.Fatalf("encoding %#v: %v", e, err)
		}
		again, err := DecodeEvent(e.Type, out)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", out, err)
		}
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("event round trip:\n got %#v\nwant %#v\njson %s", again, e, out)
		}
	})
}
