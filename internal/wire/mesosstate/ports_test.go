package mesosstate

import (
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/internal/cluster"
)

func TestParsePortRanges(t *testing.T) {
	r := func(b, e int) cluster.PortRange { return cluster.PortRange{Begin: b, End: e} }
	tests := []struct {
		in      string
		want    []cluster.PortRange
		format  string // FormatPortRanges(want); "" means in
		wantErr string
	}{
		{in: "[31000-31005]", want: []cluster.PortRange{r(31000, 31005)}},
		{in: "[31354-31354, 31355-31355]", want: []cluster.PortRange{r(31354, 31354), r(31355, 31355)}},
		{in: "[1025-2180, 2182-3887, 3889-5049, 5052-8079, 8082-8180, 8182-32000]",
			want: []cluster.PortRange{r(1025, 2180), r(2182, 3887), r(3889, 5049), r(5052, 8079), r(8082, 8180), r(8182, 32000)}},
		{in: "[0-65535]", want: []cluster.PortRange{r(0, 65535)}},
		{in: "[]", want: nil},
		{in: "", want: nil, format: "[]"},
		{in: " [ ] ", want: nil, format: "[]"},
		{in: " [ 1-2 ,3 - 4 ] ", want: []cluster.PortRange{r(1, 2), r(3, 4)}, format: "[1-2, 3-4]"},
		{in: "[8080]", want: []cluster.PortRange{r(8080, 8080)}, format: "[8080-8080]"},
		{in: "31000-31005", wantErr: `invalid port ranges "31000-31005": want "[begin-end, …]"`},
		{in: "[31000-31005", wantErr: "want"},
		{in: "[31000-]", wantErr: `invalid port ranges "[31000-]": "31000-" is not a port range`},
		{in: "[-5]", wantErr: "is not a port range"},
		{in: "[1-2,]", wantErr: `"" is not a port range`},
		{in: "[,1-2]", wantErr: "is not a port range"},
		{in: "[1-2 3-4]", wantErr: `"1-2 3-4" is not a port range`},
		{in: "[a-b]", wantErr: "is not a port range"},
		{in: "[1-2-3]", wantErr: "is not a port range"},
		{in: "[5-3]", wantErr: "range 5-3 ends before it begins"},
		{in: "[65536-65536]", wantErr: "out of range"},
		{in: "[1-99999999999999999999]", wantErr: "out of range"},
		{in: "[+1-2]", wantErr: "is not a port range"},
	}
	for _, tc := range tests {
		got, err := ParsePortRanges(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePortRanges(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePortRanges(%q): %v", tc.in, err)
			continue
		}
		eq(t, "ParsePortRanges("+tc.in+")", got, tc.want)
		want := tc.format
		if want == "" {
			want = tc.in
		}
		if f := FormatPortRanges(got); f != want {
			t.Errorf("FormatPortRanges(%v) = %q, want %q", got, f, want)
		}
		// The byte form Decode uses agrees with the string form.
		gotB, errB := parsePortRanges([]byte(tc.in))
		eq(t, "parsePortRanges([]byte)", gotB, got)
		eq(t, "parsePortRanges([]byte) error", errB, error(nil))
	}
}

func FuzzParsePortRanges(f *testing.F) {
	for _, s := range []string{"[31000-31005]", "[31354-31354, 31355-31355]", "[]", "", "[1-2,]", "[65535]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePortRanges(s)
		if err != nil {
			return
		}
		for _, pr := range r {
			if pr.Begin < 0 || pr.End > 65535 || pr.End < pr.Begin {
				t.Fatalf("ParsePortRanges(%q) accepted %v", s, pr)
			}
		}
		back, err := ParsePortRanges(FormatPortRanges(r))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", FormatPortRanges(r), err)
		}
		eq(t, "re-parsed", back, r)
	})
}
