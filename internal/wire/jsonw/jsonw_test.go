package jsonw

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// stdString is what encoding/json writes for s with HTML escaping off, the
// configuration every encoder in this module matches.
func stdString(t testing.TB, s string) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestAppendString(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", `""`},
		{"plain", "plain", `"plain"`},
		{"quote backslash slash", `q"b\s/`, `"q\"b\\s/"`},
		{"named escapes", "\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"other controls", "\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"DEL is not escaped", "\x7f", "\"\x7f\""},
		{"HTML is not escaped", `<a href="x">&amp;</a>`, `"<a href=\"x\">&amp;</a>"`},
		{"multibyte", "é日本😀 𝄞", `"é日本😀 𝄞"`},
		{"line separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"U+2027 and U+202A are not escaped", "\u2027\u202a", "\"\u2027\u202a\""},
		{"invalid byte", "a\xffb", `"a\ufffdb"`},
		{"two invalid bytes", "\xff\xfe", `"\ufffd\ufffd"`},
		{"lone continuation byte", "\x80", `"\ufffd"`},
		{"truncated 3-byte sequence: one per byte", "\xe6\x97", `"\ufffd\ufffd"`},
		{"truncated 4-byte sequence at the end", "x\xf0\x9f\x98", `"x\ufffd\ufffd\ufffd"`},
		{"UTF-8-encoded surrogate", "\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
		{"overlong NUL", "\xc0\x80", `"\ufffd\ufffd"`},
		{"beyond U+10FFFF", "\xf4\x90\x80\x80", `"\ufffd\ufffd\ufffd\ufffd"`},
		{"valid U+FFFD stays as is", "\uFFFD", "\"\uFFFD\""},
		{"escapes between plain runs", "ab\"cd\ne\xfff\u2028g", `"ab\"cd\ne\ufffdf\u2028g"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendString(nil, tt.in))
			if got != tt.want {
				t.Errorf("AppendString(%q) = %s, want %s", tt.in, got, tt.want)
			}
			if std := stdString(t, tt.in); got != std {
				t.Errorf("AppendString(%q) = %s, encoding/json writes %s", tt.in, got, std)
			}
		})
	}
}

// TestAppendStringEveryByte compares every byte value alone and inside
// text, and every pair of bytes, against encoding/json.
func TestAppendStringEveryByte(t *testing.T) {
	for c := range 256 {
		for _, s := range []string{string(rune(c)), string([]byte{byte(c)}), "x" + string([]byte{byte(c)}) + "y"} {
			if got, want := string(AppendString(nil, s)), stdString(t, s); got != want {
				t.Errorf("AppendString(%q) = %s, encoding/json writes %s", s, got, want)
			}
		}
	}
	if testing.Short() {
		return
	}
	for c := range 256 {
		for d := range 256 {
			s := string([]byte{byte(c), byte(d)})
			if got, want := string(AppendString(nil, s)), stdString(t, s); got != want {
				t.Fatalf("AppendString(%q) = %s, encoding/json writes %s", s, got, want)
			}
		}
	}
}

func TestAppendStringAppends(t *testing.T) {
	b := []byte("prefix:")
	if got := string(AppendString(b, "v")); got != `prefix:"v"` {
		t.Errorf("got %s", got)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "\x00\"\\\u2028\xff", "é\xe6\x97"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendString(nil, s)
		if want := stdString(t, s); string(got) != want {
			t.Fatalf("AppendString(%q) = %s, encoding/json writes %s", s, got, want)
		}
	})
}

func TestAppendFloat(t *testing.T) {
	values := []float64{
		0, math.Copysign(0, -1), 1, -1, 15, 64, 128, 0.1, -2.5, -3.5, 604800000,
		1471134069.16307, 1471132669, 1520884850.64141, 1566970625.9117131,
		1e-6, 9.99999e-7, 1e-7, 1.5e-9, 123456789e-20, 1e20, 1e21, 1.5e300,
		math.SmallestNonzeroFloat64, math.MaxFloat64, -math.MaxFloat64,
		float64(1 << 53), 1<<53 + 1,
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		values = append(values, math.Float64frombits(r.Uint64()))
	}
	for _, f := range values {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		got, err := AppendFloat(nil, f)
		if err != nil {
			t.Fatalf("AppendFloat(%v): %v", f, err)
		}
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("AppendFloat(%v) = %s, encoding/json writes %s", f, got, want)
		}
	}
}

func TestAppendFloatRejectsNonFinite(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		b := []byte("x:")
		got, err := AppendFloat(b, f)
		if !errors.Is(err, ErrNonFinite) {
			t.Errorf("AppendFloat(%v) error = %v, want ErrNonFinite", f, err)
		}
		if string(got) != "x:" {
			t.Errorf("AppendFloat(%v) appended %q", f, got[2:])
		}
		if _, err := json.Marshal(f); err == nil {
			t.Errorf("encoding/json accepts %v; the two disagree", f)
		}
	}
}

func BenchmarkAppendString(b *testing.B) {
	for _, bc := range []struct{ name, s string }{
		{"ascii", "app-1234.instance-8c0d8e5a-1001234._app.1"},
		{"escapes", "line one\nline \"two\"\t\\ end"},
		{"unicode", "ünïcödé ✓ 𝄞 \u2028 text"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 256)
			b.SetBytes(int64(len(bc.s)))
			for b.Loop() {
				buf = AppendString(buf[:0], bc.s)
			}
		})
	}
}

func BenchmarkAppendFloat(b *testing.B) {
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf, _ = AppendFloat(buf[:0], 1471134069.16307)
	}
}
