package records

import (
	"bytes"
	"strings"
	"testing"
	"testing/quick"
)

// Label cases: the spec's examples (§3) and the ones Mesos-DNS's own tests
// pin down, so that names clients know keep resolving.
func TestLabel(t *testing.T) {
	common := map[string]string{
		"":                   "",
		"a":                  "a",
		"-":                  "",
		"a---":               "a",
		"---a---":            "a",
		"---a---b":           "a---b",
		"a.b.c.d.e":          "a-b-c-d-e",
		"a.c.d_de.":          "a-c-d-de",
		"abc123":             "abc123",
		"-abc123":            "abc123",
		"abc123-":            "abc123",
		"abc-123":            "abc-123",
		"abc--123":           "abc--123",
		"r29f.dev.angrypigs": "r29f-dev-angrypigs",
		"liquor.store":       "liquor-store",
		"app.group":          "app-group",
		"UPPER_case":         "upper-case",
		"sp ace/sl$ash":      "spaceslash",
		"ünï©ødé":            "nd",
		"\xff\xfeab\x00c":    "abc",
		// hello + 58 dashes + f: the cut at 63 leaves "hello", and the
		// refill from after the cut brings back the "f".
		"hello" + strings.Repeat("-", 58) + "f": "hellof",
	}
	rfc1123 := map[string]string{
		"4abc123":                         "4abc123",
		"-4abc123":                        "4abc123",
		"89fdgsf---gs7-fgs--d7fddg-123":   "89fdgsf---gs7-fgs--d7fddg-123",
		"89fdgsf---gs7-fgs--d7fddg---123": "89fdgsf---gs7-fgs--d7fddg---123",
		"89fdgsf---gs7-fgs--d7fddg-":      "89fdgsf---gs7-fgs--d7fddg",
		"fd%gsf---gs7-f$gs--d7fddg-123":   "fdgsf---gs7-fgs--d7fddg-123",
		"fd%gsf---gs7-f$gs--d7fddg123456789012345678901234567890123456789-123":   "fdgsf---gs7-fgs--d7fddg1234567890123456789012345678901234567891",
		"$$fdgsf---gs7-fgs--d7fddg123456789012345678901234567890123456789-123":   "fdgsf---gs7-fgs--d7fddg1234567890123456789012345678901234567891",
		"%%fdgsf---gs7-fgs--d7fddg123456789012345678901234567890123456789---123": "fdgsf---gs7-fgs--d7fddg1234567890123456789012345678901234567891",
		"##fdgsf---gs7-fgs--d7fddg123456789012345678901234567890123456789-":      "fdgsf---gs7-fgs--d7fddg123456789012345678901234567890123456789",
		"hello" + strings.Repeat("-", 56) + "f":                                  "hello" + strings.Repeat("-", 56) + "f",
		"chronos with a space AND MIXED CASE-2.0.1":                              "chronoswithaspaceandmixedcase-2-0-1",
		// The refill can end in a dash, and Mesos-DNS keeps it.
		strings.Repeat("a", 62) + "--b-c": strings.Repeat("a", 62) + "b",
		strings.Repeat("a", 61) + "--b-c": strings.Repeat("a", 61) + "b-",
	}
	rfc952 := map[string]string{
		"4abc123":                                   "abc123",
		"-4abc123":                                  "abc123",
		"fd%gsf---gs7-f$gs--d7fddg-123":             "fdgsf---gs7-fgs--d7fddg1",
		"89fdgsf---gs7-fgs--d7fddg-123":             "fdgsf---gs7-fgs--d7fddg1",
		"89fdgsf---gs7-fgs--d7fddg---123":           "fdgsf---gs7-fgs--d7fddg1",
		"89fdgsf---gs7-fgs--d7fddg-":                "fdgsf---gs7-fgs--d7fddg",
		"chronos with a space AND MIXED CASE-2.0.1": "chronoswithaspaceandmixe",
		"chronos with a space AND----------MIXED--": "chronoswithaspaceandmixe",
		"123":                        "",
		"0":                          "",
		"1-2-3-a":                    "a",
		"toy-store":                  "toy-store",
		"some-box":                   "some-box",
		"abcdefghijklmnopqrstuvwxyz": "abcdefghijklmnopqrstuvwx",
	}
	for _, tc := range []struct {
		rule   string
		rfc952 bool
		cases  []map[string]string
	}{
		{"RFC1123", false, []map[string]string{common, rfc1123}},
		{"RFC952", true, []map[string]string{common, rfc952}},
	} {
		for _, cases := range tc.cases {
			for in, want := range cases {
				if got := Label(in, tc.rfc952); got != want {
					t.Errorf("%s Label(%q) = %q, want %q", tc.rule, in, got, want)
				}
			}
		}
	}
}

func TestDomainFragment(t *testing.T) {
	common := map[string]string{
		"":                "",
		".":               "",
		"..":              "",
		"a":               "a",
		"abc.":            "abc",
		".abc":            "abc",
		"a..c":            "a.c",
		"a.c..e":          "a.c.e",
		"ab.cd.efg":       "ab.cd.efg",
		"marathon.prod":   "marathon.prod",
		"space space.com": "spacespace.com",
		"not$1234.com":    "not1234.com",
		"(@ host . com":   "host.com",
		"MiXeDcase.CoM":   "mixedcase.com",
		"no pid":          "nopid",
	}
	for _, tc := range []struct {
		rfc952 bool
		cases  map[string]string
	}{
		{false, common},
		{true, common},
		{false, map[string]string{
			"pod_123$abc.marathon-0.6.0-dev.mesos":      "pod-123abc.marathon-0.6.0-dev.mesos",
			"chronos with a space AND MIXED CASE-2.0.1": "chronoswithaspaceandmixedcase-2.0.1",
		}},
		{true, map[string]string{
			"pod_123$abc.marathon-0.6.0-dev.mesos": "pod-123abc.marathon-0.dev.mesos",
			// The pieces "0" and "1" become empty and are dropped.
			"chronos with a space AND MIXED CASE-2.0.1": "chronoswithaspaceandmixe",
		}},
	} {
		for in, want := range tc.cases {
			if got := DomainFragment(in, tc.rfc952); got != want {
				t.Errorf("DomainFragment(%q, rfc952=%v) = %q, want %q", in, tc.rfc952, got, want)
			}
		}
	}
}

// refLabel is Label written the way Mesos-DNS writes it (rune mapping with
// bytes.Map, then trim and cut), to check that Label's byte-wise mapping and
// its no-allocation fast path agree with it on arbitrary input.
func refLabel(s string, rfc952 bool) string {
	mapped := bytes.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r == '-' || r == '.' || r == '_':
			return '-'
		}
		return -1
	}, []byte(s))
	max, left := 63, "-"
	if rfc952 {
		max, left = 24, "-0123456789"
	}
	trim := bytes.TrimLeft(mapped, left)
	size := min(len(trim), max)
	head := bytes.TrimRight(trim[:size], "-")
	if len(head) == size {
		return string(head)
	}
	tail := bytes.TrimLeft(trim[size:], "-")
	return string(head) + string(tail[:min(len(tail), size-len(head))])
}

func TestLabelMatchesReference(t *testing.T) {
	for _, rfc952 := range []bool{false, true} {
		f := func(s string) bool { return Label(s, rfc952) == refLabel(s, rfc952) }
		if err := quick.Check(f, &quick.Config{MaxCount: 20000}); err != nil {
			t.Errorf("rfc952=%v: %v", rfc952, err)
		}
		// Strings made of the interesting bytes only.
		g := func(b []byte) bool {
			const alpha = "aZ9-._ 0-"
			for i := range b {
				b[i] = alpha[int(b[i])%len(alpha)]
			}
			s := strings.Repeat(string(b), 1+len(b)%5)
			return Label(s, rfc952) == refLabel(s, rfc952)
		}
		if err := quick.Check(g, &quick.Config{MaxCount: 20000}); err != nil {
			t.Errorf("rfc952=%v: %v", rfc952, err)
		}
	}
}

// Label never allocates for a name that is already a valid label: task
// names of real clusters mostly are, and Build runs Label per task.
func TestLabelNoAllocValid(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { Label("liquor-store", false) }); n != 0 {
		t.Errorf("Label of a valid label allocates %v times", n)
	}
}

func TestHashID(t *testing.T) {
	for in, want := range map[string]string{
		"test": "iffe9",
		"liquor-store.b8db9f73-562f-11e4-a088-c20493233aa5": "4dfjd",
		"liquor-store.b71166c1-562f-11e4-a088-c20493233aa5": "zasmd",
		"car-store.43758382-562f-11e4-a088-c20493233aa5":    "zinaz",
		"chronos.49b91a9a-3dda-11e4-a088-c20493233aa5":      "rx8q6",
	} {
		if got := HashID(in); got != want {
			t.Errorf("HashID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAgentTail(t *testing.T) {
	for in, want := range map[string]string{
		"20140803-125133-3041283216-5050-2410-0":  "0",
		"b2a0a0c2-5d0e-4b3f-9e8a-0e0a3d7c6b1e-S3": "s3",
		"NoDash":    "nodash",
		"":          "",
		"trailing-": "",
	} {
		if got := agentTail(in); got != want {
			t.Errorf("agentTail(%q) = %q, want %q", in, got, want)
		}
	}
}
