package mesosstate

import (
	"fmt"
	"strconv"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// ParsePortRanges parses the string form Mesos gives a ranges resource in v0
// JSON: "[31000-31005]", "[31354-31354, 31355-31355]", "[]". An empty string
// also means no ports. White space around the brackets, numbers and commas
// is allowed and a lone port "31354" counts as "31354-31354", but every
// port must be 0–65535 and no range may end before it begins: a range that
// does not make sense would put wrong ports into DNS SRV records.
func ParsePortRanges(s string) ([]cluster.PortRange, error) {
	return parsePortRanges(s)
}

// FormatPortRanges writes ranges the way Mesos does: "[b-e, b-e]", "[]" for
// none, a single port as "p-p".
func FormatPortRanges(r []cluster.PortRange) string {
	return string(appendPortRanges(make([]byte, 0, 2+len(r)*13), r))
}

func appendPortRanges(b []byte, r []cluster.PortRange) []byte {
	b = append(b, '[')
	for i, pr := range r {
		if i > 0 {
			b = append(b, ',', ' ')
		}
		b = strconv.AppendInt(b, int64(pr.Begin), 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(pr.End), 10)
	}
	return append(b, ']')
}

// parsePortRanges is generic so that Decode can parse straight from the
// input bytes without first copying them into a string.
func parsePortRanges[T string | []byte](s T) ([]cluster.PortRange, error) {
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	if i == j {
		return nil, nil
	}
	if j-i < 2 || s[i] != '[' || s[j-1] != ']' {
		return nil, fmt.Errorf(`invalid port ranges %q: want "[begin-end, …]"`, string(s))
	}
	i++
	j--
	n := 1
	empty := true
	for k := i; k < j; k++ {
		switch {
		case s[k] == ',':
			n++
		case !isSpace(s[k]):
			empty = false
		}
	}
	if empty {
		return nil, nil
	}
	out := make([]cluster.PortRange, 0, n)
	for i <= j {
		k := i
		for k < j && s[k] != ',' {
			k++
		}
		r, err := parsePortRange(s[i:k])
		if err != nil {
			return nil, fmt.Errorf("invalid port ranges %q: %w", string(s), err)
		}
		out = append(out, r)
		i = k + 1
	}
	return out, nil
}

func parsePortRange[T string | []byte](s T) (cluster.PortRange, error) {
	i := 0
	begin, i, err := parsePort(s, i)
	if err != nil {
		return cluster.PortRange{}, err
	}
	end := begin
	if i < len(s) && s[i] == '-' {
		if end, i, err = parsePort(s, i+1); err != nil {
			return cluster.PortRange{}, err
		}
	}
	if i != len(s) {
		return cluster.PortRange{}, fmt.Errorf("%q is not a port range", string(s))
	}
	if end < begin {
		return cluster.PortRange{}, fmt.Errorf("range %d-%d ends before it begins", begin, end)
	}
	return cluster.PortRange{Begin: begin, End: end}, nil
}

// parsePort reads a port number at s[i:], with white space around it, and
// returns it and the index after the trailing white space.
func parsePort[T string | []byte](s T, i int) (int, int, error) {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	start := i
	v := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		v = v*10 + int(s[i]-'0')
		if v > 65535 {
			return 0, 0, fmt.Errorf("port %s… is out of range", string(s[start:i+1]))
		}
		i++
	}
	if i == start {
		return 0, 0, fmt.Errorf("%q is not a port range", string(s))
	}
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return v, i, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
