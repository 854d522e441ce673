package records

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
	"bytes"

	"github.com/signpost-dns/signpost/internal/wire/mesosstate"
)

func TestZZTime(t *testing.T) {
	dir := os.Getenv("CORPUS")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		lines := bytes.SplitN(raw, []byte("\n"), 2)
		s2 := string(bytes.TrimSpace(lines[1]))
		s2 = s2[len("[]byte(") : len(s2)-1]
		s, err := strconv.Unquote(s2)
		if err != nil {
			t.Log(f, err)
			continue
		}
		t0 := time.Now()
		st, _, err := mesosstate.Decode([]byte(s))
		d1 := time.Since(t0)
		if err != nil { continue }
		t0 = time.Now()
		Build(st, fixtureConfig(false))
		d2 := time.Since(t0)
		t0 = time.Now()
		tb, _ := Build(st, fixtureConfig(false))
		checkTable(t, st, tb)
		d3 := time.Since(t0)
		if d1+d2+d3 > 50*time.Millisecond { t.Logf("%s decode %v build %v check %v ports %d", filepath.Base(f), d1, d2, d3, ports(st)) }
	}
}
