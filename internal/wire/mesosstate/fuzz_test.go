package mesosstate

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecode checks that Decode never panics, agrees with encoding/json on
// what is JSON, and that whatever it produces survives Encode unchanged:
// Decode(Encode(Decode(x))) == Decode(x), with no skips, and Encode is
// deterministic.
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob("testdata/*/*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	full, err := Encode(fullState())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	for _, s := range []string{
		`{}`, `[]`, `null`, ``, `{"slaves":"x"}`,
		`{"leader_info":{"ip":16777343,"address":{"hostname":"h"}}}`,
		`{"frameworks":[{"id":"f","roles":["r"],"tasks":[{"id":"t","statuses":[{"timestamp":"x"}]},{"id":"u","labels":{"labels":[{"key":"\ud800"}]}}]}]}`,
		`{"slaves":[{"id":"s","attributes":{"a":1.50,"b":"x"},"resources":{"ports":"[1-2, 3-4]"}}]}`,
		`{"frameworks":[{"id":"f","tasks":[{"id":"t","statuses":[{"container_status":{"network_infos":[{"ip_address":"1.2.3.4","protocol":"IPv4","ip_addresses":[]}]}}]}]}]}`,
		masterInfoLocal,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkDecode)
}

// checkDecode is FuzzDecode's property, also usable from ordinary tests.
func checkDecode(t *testing.T, data []byte) {
	// DecodeMasterInfo shares the decoder; it must not panic either.
	_, _ = DecodeMasterInfo(data)

	st, skipped, err := Decode(data)
	valid := json.Valid(data)
	var syn *SyntaxError
	switch {
	case !valid && err == nil:
		t.Fatalf("Decode accepted invalid JSON")
	case valid && errors.As(err, &syn):
		t.Fatalf("Decode reports a syntax error in valid JSON: %v", err)
	}
	if err != nil {
		if st != nil || skipped != nil {
			t.Fatalf("error %v with a state or skips", err)
		}
		return
	}
	enc, err := Encode(st)
	if err != nil {
		t.Fatalf("Encode of a decoded state: %v", err)
	}
	if !json.Valid(enc) {
		t.Fatalf("Encode wrote invalid JSON: %s", enc)
	}
	st2, skipped2, err := Decode(enc)
	if err != nil || len(skipped2) > 0 {
		t.Fatalf("Decode(Encode(s)) = %v, %v\n%s", skipped2, err, enc)
	}
	if !reflect.DeepEqual(st, st2) {
		t.Fatalf("Decode(Encode(s)) != s\n%s", enc)
	}
	enc2, err := Encode(st2)
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("Encode unstable: %v\n%s\n%s", err, enc, enc2)
	}
}
