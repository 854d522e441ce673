package httpproxy

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"hash"
	"strconv"
	"strings"
)

// verifyCrypt checks pass against a crypt(3) hash. Only SHA-crypt ("$5$",
// "$6$", Drepper's specification, with optional "rounds=N$") is verified;
// every other scheme reports false.
func verifyCrypt(hashed, pass string) bool {
	var newHash func() hash.Hash
	var perm [][3]int
	switch {
	case strings.HasPrefix(hashed, "$5$"):
		newHash, perm = sha256.New, sha256Perm
	case strings.HasPrefix(hashed, "$6$"):
		newHash, perm = sha512.New, sha512Perm
	default:
		return false
	}
	got, ok := shaCrypt(newHash, perm, hashed[:3], hashed[3:], pass)
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(hashed)) == 1
}

const (
	cryptB64        = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	roundsPrefix    = "rounds="
	defaultRounds   = 5000
	minRounds       = 1000
	maxRounds       = 999999999
	maxSaltLen      = 16
	maxVerifyRounds = 1000000 // refuse absurd costs instead of burning CPU
)

// Byte order of the final encoding, in groups of three digest bytes; a
// negative first entry marks the short final group.
var sha256Perm = [][3]int{{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
	{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29}, {-1, 31, 30}}

var sha512Perm = [][3]int{{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4},
	{47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51}, {31, 52, 10},
	{53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35}, {15, 36, 57}, {37, 58, 16},
	{59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41}, {-1, -1, 63}}

func shaCrypt(newHash func() hash.Hash, perm [][3]int, magic, rest, pass string) (string, bool) {
	rounds, custom := defaultRounds, false
	if r, ok := strings.CutPrefix(rest, roundsPrefix); ok {
		n, tail, ok := strings.Cut(r, "$")
		v, err := strconv.Atoi(n)
		if !ok || err != nil || v > maxVerifyRounds {
			return "", false
		}
		rounds, custom, rest = min(max(v, minRounds), maxRounds), true, tail
	}
	salt, _, _ := strings.Cut(rest, "$")
	salt = salt[:min(len(salt), maxSaltLen)]
	p, s := []byte(pass), []byte(salt)

	h := newHash()
	h.Write(p)
	h.Write(s)
	h.Write(p)
	b := h.Sum(nil)
	n := len(b)

	h.Reset()
	h.Write(p)
	h.Write(s)
	for cnt := len(p); cnt > 0; cnt -= n {
		h.Write(b[:min(cnt, n)])
	}
	for i := len(p); i > 0; i >>= 1 {
		if i&1 != 0 {
			h.Write(b)
		} else {
			h.Write(p)
		}
	}
	a := h.Sum(nil)

	h.Reset()
	for range len(p) {
		h.Write(p)
	}
	dp := h.Sum(nil)
	pSeq := make([]byte, 0, len(p))
	for cnt := len(p); cnt > 0; cnt -= n {
		pSeq = append(pSeq, dp[:min(cnt, n)]...)
	}

	h.Reset()
	for range 16 + int(a[0]) {
		h.Write(s)
	}
	ds := h.Sum(nil)
	sSeq := ds[:len(s)]

	c := a
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(pSeq)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sSeq)
		}
		if i%7 != 0 {
			h.Write(pSeq)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(pSeq)
		}
		c = h.Sum(c[:0])
	}

	var out strings.Builder
	out.WriteString(magic)
	if custom {
		out.WriteString(roundsPrefix + strconv.Itoa(rounds) + "$")
	}
	out.WriteString(salt)
	out.WriteByte('$')
	for _, g := range perm {
		var w uint
		chars := 4
		switch {
		case g[0] >= 0:
			w = uint(c[g[0]])<<16 | uint(c[g[1]])<<8 | uint(c[g[2]])
		case g[1] >= 0: // sha256 tail: 0, c[31], c[30] → 3 chars
			w = uint(c[g[1]])<<8 | uint(c[g[2]])
			chars = 3
		default: // sha512 tail: 0, 0, c[63] → 2 chars
			w = uint(c[g[2]])
			chars = 2
		}
		for range chars {
			out.WriteByte(cryptB64[w&0x3f])
			w >>= 6
		}
	}
	return out.String(), true
}
