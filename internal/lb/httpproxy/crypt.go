package httpproxy

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Password hashes of HAPROXY_{n}_AUTH labels.
//
// HAProxy checks a userlist "password" entry with the system's crypt(3)
// (libxcrypt on Debian): it computes crypt(pass, stored) and grants access
// when the result equals the stored string byte for byte. verifyCrypt keeps
// that exact rule — every scheme below recomputes the whole hash string and
// compares it with the stored one in constant time — so that a label grants
// access through Signpost exactly when it would through HAProxy, and any
// string libxcrypt would refuse or rewrite (a salt too long or with a bad
// character, rounds out of range, a non-canonical bcrypt salt) never
// matches here either.
//
// Verified: SHA-crypt ("$5$", "$6$", with "rounds=N$"), MD5-crypt ("$1$"),
// bcrypt ("$2a$", "$2b$", "$2y$"; "$2x$" for 7-bit passwords) and
// traditional 13-character DES crypt. Refused (never match): yescrypt
// ("$y$", Debian's default for new system passwords), scrypt ("$7$"),
// gost-yescrypt, BSDi extended DES ("_"), SunMD5, NetBSD SHA-1 and NT hashes,
// which libxcrypt would verify. CheckCryptHash says which, so that the
// configuration can be warned about once instead of every request failing
// silently.
//
// Costs are capped: a label is written by whoever deploys the app, and the
// hash is computed on every request that presents credentials, so an
// absurd cost would let one app burn the proxy's CPU; and the password
// comes from the client, so its length is bounded too (as libxcrypt does)
// and counted in SHA-crypt's cost. See maxVerifyRounds, maxBcryptCost,
// maxPassLen and shaWork.

const (
	// maxVerifyRounds caps SHA-crypt's rounds=N. libxcrypt accepts up to
	// 999,999,999 rounds (minutes of CPU per check). The default is 5,000
	// and the highest defaults in common tools (Python passlib: 535,000
	// for "$5$", 656,000 for "$6$") stay far below the cap. Measured on
	// this project's 2-core test machine: 5,000,000 SHA-512 rounds take
	// about 1.1 s, SHA-256 about 0.45 s — the same order as bcrypt at
	// maxBcryptCost, and the most one check may cost.
	maxVerifyRounds = 5_000_000

	// maxBcryptCost caps bcrypt's cost (2^cost key expansions). Common
	// defaults are 5 (htpasswd -B), 10 (Go), 12 (Python bcrypt, PHP);
	// guides recommend up to 14. Measured as above: cost 12 takes 0.25 s,
	// 14 about 1 s, and each step doubles it.
	maxBcryptCost = 14
)

// Errors reported by CheckCryptHash (wrapped with the detail).
var (
	// ErrCryptUnsupported: a scheme HAProxy's crypt(3) may verify but
	// Signpost does not; such users are always refused.
	ErrCryptUnsupported = errors.New("unsupported password hash scheme")
	// ErrCryptCost: the hash asks for more work than the verification caps
	// allow; such users are always refused.
	ErrCryptCost = errors.New("password hash cost above the verification cap")
	// ErrCryptMalformed: not a hash crypt(3) could ever produce, so no
	// password matches it (in HAProxy either).
	ErrCryptMalformed = errors.New("malformed password hash")
)

// maxPassLen is libxcrypt's CRYPT_MAX_PASSPHRASE_SIZE: crypt(3) fails for
// a password of this many bytes or more. Besides parity with HAProxy, it
// bounds the part of the work the client controls: SHA-crypt hashes the
// password twice per round (and len² bytes once).
const maxPassLen = 512

// shaWork is the cost of SHA-crypt in rounds of a short password: each
// round hashes about 2·len(pass) + 80 bytes, one more 128-byte SHA-512
// block (two 64-byte SHA-256 blocks, which are cheaper) per 64 password
// bytes. So a client sending a long password to a user whose hash has many
// rounds cannot multiply the cost beyond the cap: at most
// maxVerifyRounds/9 rounds are verified for a 511-byte password.
func shaWork(rounds, passLen int) int { return rounds * (1 + passLen/64) }

// cryptLimits are the work caps of one verification; tests and the fuzz
// target use lower ones.
type cryptLimits struct {
	shaRounds  int // SHA-crypt rounds=N
	bcryptCost int // bcrypt log2 rounds
}

func defaultCryptLimits() cryptLimits {
	return cryptLimits{shaRounds: maxVerifyRounds, bcryptCost: maxBcryptCost}
}

// verifyCrypt reports whether pass matches the crypt(3) hash hashed. A hash
// that cannot be verified (see CheckCryptHash) never matches.
func verifyCrypt(hashed, pass string) bool {
	ok, _ := checkCrypt(hashed, pass, defaultCryptLimits())
	return ok
}

// CheckCryptHash reports why a userlist password hash can never match in
// Signpost, without hashing anything: nil for a hash verifyCrypt checks,
// else an error wrapping ErrCryptUnsupported, ErrCryptCost or
// ErrCryptMalformed and naming the problem. Meant for a warning when the
// configuration is loaded. A hash it accepts can still be refused for some
// passwords: 512 bytes or longer (as in libxcrypt), long enough to push
// SHA-crypt's work over the cap (shaWork), or with bytes ≥ 0x80 for the
// "$2x$" and, rarely, "$2a$" bcrypt variants (checkBcrypt).
func CheckCryptHash(hashed string) error {
	_, err := parseCrypt(hashed, defaultCryptLimits())
	return err
}

// cryptKind is a supported scheme.
type cryptKind int

const (
	kindDES cryptKind = iota
	kindMD5
	kindSHA256
	kindSHA512
	kindBcrypt
)

// cryptParams is a parsed hash: what to compute to reproduce it.
type cryptParams struct {
	kind   cryptKind
	magic  string // "$1$", "$5$", "$6$", "$2b$"…; "" for DES
	rounds int    // SHA-crypt rounds; bcrypt cost
	custom bool   // SHA-crypt: "rounds=N$" present
	salt   string
}

// checkCrypt is verifyCrypt with the reason for a refusal and explicit caps.
// A wrong password is (false, nil).
func checkCrypt(hashed, pass string, lim cryptLimits) (bool, error) {
	p, err := parseCrypt(hashed, lim)
	if err != nil {
		return false, err
	}
	// HAProxy hands crypt(3) a C string: the password ends at its first NUL.
	if i := strings.IndexByte(pass, 0); i >= 0 {
		pass = pass[:i]
	}
	if len(pass) >= maxPassLen {
		return false, nil // libxcrypt fails: no match in HAProxy either
	}
	if p.kind == kindSHA256 || p.kind == kindSHA512 {
		if w := shaWork(p.rounds, len(pass)); w > lim.shaRounds {
			return false, fmt.Errorf("%w: %s rounds=%d with a %d-byte password is %d round-equivalents, at most %d are verified",
				ErrCryptCost, p.magic, p.rounds, len(pass), w, lim.shaRounds)
		}
	}
	var got string
	switch p.kind {
	case kindBcrypt:
		return checkBcrypt(p, hashed, pass)
	case kindSHA256:
		got = shaCrypt(sha256.New, sha256Perm, p, pass)
	case kindSHA512:
		got = shaCrypt(sha512.New, sha512Perm, p, pass)
	case kindMD5:
		got = md5Crypt(p, pass)
	case kindDES:
		got = desCrypt(p.salt, pass)
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(hashed)) == 1, nil
}

const (
	cryptB64      = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	bcryptB64     = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	roundsPrefix  = "rounds="
	defaultRounds = 5000
	minRounds     = 1000
	maxRounds     = 999999999
)

// otherSchemes names the crypt(3) prefixes libxcrypt knows and Signpost
// does not verify, for the error message.
var otherSchemes = []struct{ prefix, name string }{
	{"$y$", "yescrypt"},
	{"$gy$", "gost-yescrypt"},
	{"$7$", "scrypt"},
	{"$md5", "SunMD5"},
	{"$sha1$", "NetBSD SHA-1 crypt"},
	{"$3$", "NT hash"},
	{"_", "BSDi extended DES"},
	{"$2$", "bcrypt without minor version"},
}

// parseCrypt splits hashed into what is needed to recompute it, refusing
// (with the reason) any string libxcrypt could never output and any cost
// above lim.
func parseCrypt(hashed string, lim cryptLimits) (cryptParams, error) {
	switch {
	case strings.HasPrefix(hashed, "$1$"):
		return parseSaltHash(hashed, "$1$", kindMD5, 8, 22)
	case strings.HasPrefix(hashed, "$5$"):
		return parseSHA(hashed, kindSHA256, 43, lim)
	case strings.HasPrefix(hashed, "$6$"):
		return parseSHA(hashed, kindSHA512, 86, lim)
	case len(hashed) >= 4 && hashed[:2] == "$2" && hashed[3] == '$' && strings.IndexByte("abxy", hashed[2]) >= 0:
		return parseBcrypt(hashed, lim)
	}
	for _, s := range otherSchemes {
		if strings.HasPrefix(hashed, s.prefix) {
			return cryptParams{}, fmt.Errorf("%w: %s (%q…)", ErrCryptUnsupported, s.name, s.prefix)
		}
	}
	if strings.HasPrefix(hashed, "$") {
		id, _, _ := strings.Cut(hashed[1:], "$")
		return cryptParams{}, fmt.Errorf("%w: unknown scheme %q", ErrCryptUnsupported, "$"+id[:min(len(id), 8)]+"$")
	}
	if len(hashed) != 13 || !allIn(hashed, cryptB64) {
		return cryptParams{}, fmt.Errorf("%w: not a crypt(3) hash (a DES hash is 13 characters of [./0-9A-Za-z], others start with $id$)", ErrCryptMalformed)
	}
	return cryptParams{kind: kindDES, salt: hashed[:2]}, nil
}

// parseSaltHash parses magic + salt (at most maxSalt characters) + "$" +
// a hash of hashLen characters.
func parseSaltHash(hashed, magic string, kind cryptKind, maxSalt, hashLen int) (cryptParams, error) {
	salt, sum, ok := strings.Cut(hashed[len(magic):], "$")
	switch {
	case !ok:
		return cryptParams{}, fmt.Errorf("%w: %s hash has no '$' after the salt", ErrCryptMalformed, magic)
	case len(salt) > maxSalt:
		return cryptParams{}, fmt.Errorf("%w: %s salt is %d characters, at most %d are used", ErrCryptMalformed, magic, len(salt), maxSalt)
	case !allIn(salt, cryptB64):
		return cryptParams{}, fmt.Errorf("%w: %s salt has a character outside [./0-9A-Za-z]", ErrCryptMalformed, magic)
	case len(sum) != hashLen || !allIn(sum, cryptB64):
		return cryptParams{}, fmt.Errorf("%w: %s hash part must be %d characters of [./0-9A-Za-z]", ErrCryptMalformed, magic, hashLen)
	}
	return cryptParams{kind: kind, magic: magic, salt: salt}, nil
}

// parseSHA parses SHA-crypt with libxcrypt's rules for rounds=N: no leading
// zero, 1000 ≤ N ≤ 999999999 (glibc clamps instead; libxcrypt, which
// Debian's HAProxy uses, refuses).
func parseSHA(hashed string, kind cryptKind, hashLen int, lim cryptLimits) (cryptParams, error) {
	magic := hashed[:3]
	rest := hashed[3:]
	rounds, custom := defaultRounds, false
	if r, ok := strings.CutPrefix(rest, roundsPrefix); ok {
		n, tail, ok := strings.Cut(r, "$")
		v, err := strconv.Atoi(n)
		switch {
		case !ok || err != nil || !allIn(n, "0123456789") || n[0] == '0':
			return cryptParams{}, fmt.Errorf("%w: %s rounds=%q is not a number followed by '$'", ErrCryptMalformed, magic, n[:min(len(n), 12)])
		case v < minRounds || v > maxRounds:
			return cryptParams{}, fmt.Errorf("%w: %s rounds=%d outside [%d, %d]", ErrCryptMalformed, magic, v, minRounds, maxRounds)
		case v > lim.shaRounds:
			return cryptParams{}, fmt.Errorf("%w: %s rounds=%d, at most %d are verified", ErrCryptCost, magic, v, lim.shaRounds)
		}
		rounds, custom, rest = v, true, tail
	}
	p, err := parseSaltHash(magic+rest, magic, kind, 16, hashLen)
	p.rounds, p.custom = rounds, custom
	return p, err
}

// parseBcrypt parses "$2?$NN$" + 22 salt + 31 hash characters. Go's bcrypt
// is laxer than libxcrypt (any minor letter, "+5" as a cost, trailing salt
// bits), so the form is checked here.
func parseBcrypt(hashed string, lim cryptLimits) (cryptParams, error) {
	magic := hashed[:4]
	if len(hashed) != 60 || hashed[6] != '$' || !allIn(hashed[4:6], "0123456789") || !allIn(hashed[7:], bcryptB64) {
		return cryptParams{}, fmt.Errorf("%w: %s hash must be %sNN$ and 53 characters of [./A-Za-z0-9]", ErrCryptMalformed, magic, magic)
	}
	cost := int(hashed[4]-'0')*10 + int(hashed[5]-'0')
	switch {
	case cost < bcrypt.MinCost || cost > bcrypt.MaxCost:
		return cryptParams{}, fmt.Errorf("%w: bcrypt cost %d outside [%d, %d]", ErrCryptMalformed, cost, bcrypt.MinCost, bcrypt.MaxCost)
	case cost > lim.bcryptCost:
		return cryptParams{}, fmt.Errorf("%w: bcrypt cost %d, at most %d is verified", ErrCryptCost, cost, lim.bcryptCost)
	case strings.IndexByte(bcryptB64, hashed[28])&0x0f != 0:
		// 22 characters carry 132 bits for a 128-bit salt; libxcrypt
		// clears the last 4 and outputs a different string.
		return cryptParams{}, fmt.Errorf("%w: bcrypt salt's last character %q is not canonical", ErrCryptMalformed, hashed[28])
	}
	return cryptParams{kind: kindBcrypt, magic: magic, rounds: cost, salt: hashed[7:29]}, nil
}

// checkBcrypt verifies a parsed bcrypt hash with x/crypto/bcrypt, which
// implements the correct (OpenBSD, "$2b$") algorithm. libxcrypt's variants
// differ from it only for passwords with bytes ≥ 0x80: "$2x$" reproduces
// the old sign-extension bug, and "$2a$" flips a bit for the few such
// passwords the bug made collide. Those cases are refused rather than
// guessed.
func checkBcrypt(p cryptParams, hashed, pass string) (bool, error) {
	switch p.magic {
	case "$2x$":
		for i := range len(pass) {
			if pass[i] >= 0x80 {
				return false, fmt.Errorf("%w: $2x$ (buggy bcrypt) with a password byte ≥ 0x80", ErrCryptUnsupported)
			}
		}
	case "$2a$":
		if bcryptSafetyFlip(pass) {
			return false, fmt.Errorf("%w: $2a$ with a password libxcrypt treats with its sign-extension countermeasure", ErrCryptUnsupported)
		}
	}
	// CompareHashAndPassword compares the whole re-encoded hash in
	// constant time; parseBcrypt has made that equal to hashed.
	switch err := bcrypt.CompareHashAndPassword([]byte(hashed), []byte(pass)); {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	default:
		return false, fmt.Errorf("%w: %v", ErrCryptMalformed, err)
	}
}

// bcryptSafetyFlip reports whether libxcrypt's "$2a$" countermeasure
// (crypt_blowfish 1.1, BF_set_key with the safety flag) changes the result
// for key: when the buggy sign-extending key expansion equals the correct
// one although a byte ≥ 0x80 was sign-extended, bit 16 of the first P-box
// word is flipped so that such keys cannot be attacked via the collision.
func bcryptSafetyFlip(key string) bool {
	var sign, diff uint32
	ptr := 0
	for range 18 {
		var good, bug uint32
		for j := range 4 {
			var c byte // the key is cycled with its NUL terminator
			if ptr < len(key) {
				c = key[ptr]
			}
			good = good<<8 | uint32(c)
			bug = bug<<8 | uint32(int32(int8(c)))
			if j > 0 {
				sign |= bug & 0x80
			}
			if c == 0 {
				ptr = 0
			} else {
				ptr++
			}
		}
		diff |= good ^ bug
	}
	return diff == 0 && sign != 0
}

// Byte order of the final encodings, in groups of three digest bytes,
// each written as four characters, least significant six bits first. A
// negative first entry marks the short final group (three characters, or
// two when the second is negative too).
var sha256Perm = [][3]int{{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
	{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29}, {-1, 31, 30}}

var sha512Perm = [][3]int{{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4},
	{47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51}, {31, 52, 10},
	{53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35}, {15, 36, 57}, {37, 58, 16},
	{59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41}, {-1, -1, 63}}

var md5Perm = [][3]int{{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}, {-1, -1, 11}}

func encodeCrypt(out *strings.Builder, c []byte, perm [][3]int) {
	for _, g := range perm {
		var w uint
		chars := 4
		switch {
		case g[0] >= 0:
			w = uint(c[g[0]])<<16 | uint(c[g[1]])<<8 | uint(c[g[2]])
		case g[1] >= 0:
			w = uint(c[g[1]])<<8 | uint(c[g[2]])
			chars = 3
		default:
			w = uint(c[g[2]])
			chars = 2
		}
		for range chars {
			out.WriteByte(cryptB64[w&0x3f])
			w >>= 6
		}
	}
}

// shaCrypt computes SHA-crypt as specified by Ulrich Drepper
// (https://www.akkadia.org/drepper/SHA-crypt.txt).
func shaCrypt(newHash func() hash.Hash, perm [][3]int, prm cryptParams, pass string) string {
	p, s := []byte(pass), []byte(prm.salt)

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
	sSeq := h.Sum(nil)[:len(s)]

	c := a
	for i := range prm.rounds {
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
	out.WriteString(prm.magic)
	if prm.custom {
		out.WriteString(roundsPrefix + strconv.Itoa(prm.rounds) + "$")
	}
	out.WriteString(prm.salt)
	out.WriteByte('$')
	encodeCrypt(&out, c, perm)
	return out.String()
}

// md5Crypt computes Poul-Henning Kamp's MD5-crypt ("$1$", FreeBSD 1994).
func md5Crypt(prm cryptParams, pass string) string {
	p, s := []byte(pass), []byte(prm.salt)

	h := md5.New()
	h.Write(p)
	h.Write(s)
	h.Write(p)
	alt := h.Sum(nil)

	h.Reset()
	h.Write(p)
	h.Write([]byte(prm.magic))
	h.Write(s)
	for cnt := len(p); cnt > 0; cnt -= md5.Size {
		h.Write(alt[:min(cnt, md5.Size)])
	}
	for i := len(p); i > 0; i >>= 1 {
		if i&1 != 0 {
			h.Write([]byte{0})
		} else {
			h.Write(p[:1])
		}
	}
	c := h.Sum(nil)

	for i := range 1000 {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}

	var out strings.Builder
	out.WriteString(prm.magic)
	out.WriteString(prm.salt)
	out.WriteByte('$')
	encodeCrypt(&out, c, md5Perm)
	return out.String()
}

func allIn(s, set string) bool {
	for i := range len(s) {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}

// desCrypt computes traditional Unix crypt(3): the first eight password
// bytes, shifted left one bit (their eighth bit is lost), are a DES key
// that encrypts a zero block 25 times, with the E expansion perturbed by
// the 12-bit salt: salt bit i swaps E's output bits i and i+24. That
// perturbation is why crypto/des cannot be used. Only the cost of 25
// encryptions is fixed, so no cap is needed; this bit-at-a-time version
// takes tens of microseconds.
func desCrypt(salt, pass string) string {
	var key uint64
	for i := range 8 {
		key <<= 8
		if i < len(pass) {
			key |= uint64(pass[i] << 1)
		}
	}
	s := uint32(strings.IndexByte(cryptB64, salt[0])) | uint32(strings.IndexByte(cryptB64, salt[1]))<<6
	ks := desKeys(key)
	var block uint64
	for range 25 {
		block = desEncrypt(&ks, block, s)
	}
	// 64 bits as 11 characters, six bits each, most significant first,
	// padded with two zero bits.
	out := []byte(salt)
	for i := range 10 {
		out = append(out, cryptB64[block>>(58-6*i)&0x3f])
	}
	out = append(out, cryptB64[block<<2&0x3f])
	return string(out)
}

// DES tables as in FIPS 46-3: bit positions numbered from 1, most
// significant first.
var (
	desIP = [64]uint8{58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4,
		62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
		57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
		61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7}
	desFP = [64]uint8{40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31,
		38, 6, 46, 14, 54, 22, 62, 30, 37, 5, 45, 13, 53, 21, 61, 29,
		36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27,
		34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25}
	desE = [48]uint8{32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13,
		12, 13, 14, 15, 16, 17, 16, 17, 18, 19, 20, 21, 20, 21, 22, 23, 24, 25,
		24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1}
	desP = [32]uint8{16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
		2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25}
	desPC1 = [56]uint8{57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18,
		10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
		63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
		14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4}
	desPC2 = [48]uint8{14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10,
		23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
		41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48,
		44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32}
	desShifts = [16]uint8{1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1}
	// desS[i] is S-box i+1, row-major (row = outer bits, column = inner four).
	desS = [8][64]uint8{
		{14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7,
			0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
			4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0,
			15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13},
		{15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10,
			3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
			0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15,
			13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9},
		{10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8,
			13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
			13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7,
			1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12},
		{7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15,
			13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
			10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4,
			3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14},
		{2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9,
			14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
			4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14,
			11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3},
		{12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11,
			10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
			9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6,
			4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13},
		{4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1,
			13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
			1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2,
			6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12},
		{13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7,
			1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
			7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8,
			2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11},
	}
)

// permute returns the bits of in (width bits wide) picked by table.
func permute(in uint64, width uint, table []uint8) uint64 {
	var out uint64
	for _, t := range table {
		out = out<<1 | in>>(width-uint(t))&1
	}
	return out
}

// desKeys computes the 16 48-bit round keys of a 64-bit key (parity bits
// ignored).
func desKeys(key uint64) [16]uint64 {
	var ks [16]uint64
	cd := permute(key, 64, desPC1[:])
	c, d := cd>>28, cd&0xfffffff
	for r, s := range desShifts {
		c = (c<<s | c>>(28-s)) & 0xfffffff
		d = (d<<s | d>>(28-s)) & 0xfffffff
		ks[r] = permute(c<<28|d, 56, desPC2[:])
	}
	return ks
}

// desEncrypt encrypts one block; with salt 0 it is plain DES.
func desEncrypt(ks *[16]uint64, block uint64, salt uint32) uint64 {
	// Salt bit i (least significant first) swaps E bits i and i+24
	// (most significant first): in each 24-bit half that is bit 23-i.
	var swap uint64
	for i := range 12 {
		swap |= uint64(salt>>i&1) << (23 - i)
	}
	b := permute(block, 64, desIP[:])
	l, r := b>>32, b&0xffffffff
	for _, k := range ks {
		e := permute(r, 32, desE[:])
		hi, lo := e>>24, e&0xffffff
		t := (hi ^ lo) & swap
		x := (hi^t)<<24 | (lo ^ t) ^ k
		var f uint64
		for j := range 8 {
			six := x >> (42 - 6*j) & 0x3f
			f = f<<4 | uint64(desS[j][six&0x20|six&1<<4|six>>1&0xf])
		}
		l, r = r, l^permute(f, 32, desP[:])
	}
	return permute(r<<32|l, 64, desFP[:])
}
