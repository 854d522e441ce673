package httpproxy

import (
	"bufio"
	"crypto/des"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/testutil/haproxytest"
	"github.com/signpost-dns/signpost/internal/testutil/leakcheck"
)

// libxcrypt is how most vectors below were made: crypt(3) of the
// libxcrypt 4.4.33 on this Debian 12 machine — the library HAProxy links —
// called through ctypes so that passwords can be arbitrary bytes:
//
//	python3 -c 'import ctypes; l = ctypes.CDLL("libcrypt.so.1");
//	    l.crypt.restype = ctypes.c_char_p; print(l.crypt(PASS, SETTING))'
//
// with the setting given in each row ("crypt ab" means SETTING=b"ab").
// The others name the OpenSSL 3.0 command.
var cryptVectors = []struct{ src, hash, pass string }{
	// MD5-crypt.
	{"openssl passwd -1 -salt saltsalt password", "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/", "password"},
	{"openssl passwd -1 -salt ab 'a password longer than sixteen bytes'", "$1$ab$bbCjtt8PZJDpVrzXMe5aF1", "a password longer than sixteen bytes"},
	{"crypt $1$", "$1$$ObZkFeusGD7Pq0bDVWvPA/", "empty salt"},
	{"crypt $1$12345678", "$1$12345678$aCCt.l8PFOZrSlL22Exm0.", "\xc3\xa9\xc3\xa8"},
	{"crypt $1$a.b/c", "$1$a.b/c$Px4dibvEJ60I0bCZzUgoV/", strings.Repeat("x", 100)},
	// SHA-crypt.
	{"openssl passwd -5 -salt saltstring 'Hello world!'", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", "Hello world!"},
	{"openssl passwd -6 -salt abcdefghijklmnop 'correct horse battery staple'", "$6$abcdefghijklmnop$UY4jc6.rVibJ9tqDqiG0GMdZRHkv1j4sPRRH2eUSo3Kszltzbk30CmYcWPNRTD/KsYFHF7WTtNkAxF3dZ3zPE.", "correct horse battery staple"},
	{"crypt $5$", "$5$$qu3REWa/3sl1BuquQ3B23Cna49jUWzQNbVo5saPx3d1", "empty salt"},
	{"crypt $5$rounds=1000$short", "$5$rounds=1000$short$q9NJiKqyWA7PCyuf5Lc1Kfs3tBEmd3YMAJThsP/G7a/", "pw"},
	{"crypt $5$rounds=12345$0123456789abcdef", "$5$rounds=12345$0123456789abcdef$amA3zDzcv.K4G0S/grDRv307HvL6LoLSOCB1K3xWMC2", "\xff\xfe"},
	{"crypt $5$x", "$5$x$aODJmjgbbmJ9voMLXqoSJHzIIlMgIuWHJgOAagOx5AD", strings.Repeat("y", 200)},
	{"crypt $6$rounds=1000$", "$6$rounds=1000$$NPMepfN3/Cv.LPoa7suAzCVH3BhfhhB2wHuwY51WjZgqg.e601K6RWCJ7AHYXHZcp4ilHQ0xlpG1yRxSYX3TP/", ""},
	{"crypt $6$rounds=5000$s", "$6$rounds=5000$s$Z9dhhOJXeqzeFo4mPfzrjypJtRkTeUaHXSnSLE7CGXBGi08PE7.dqPM.nxtLfQQZQ7OcNS5diLQeYNCjhtRNr1", "explicit default rounds"},
	{"crypt $6$/./", "$6$/./$cK3KejkONrpHubQh1pXhr/Kq9ivGOv9Ne0KeLx6mPlBJYRS0Ae.NQQ22fHpBvfLsGEOKV6h2kLsInZqHhIONY/", strings.Repeat("a", 64)},
	{"crypt $6$rounds=20000$ZZ", "$6$rounds=20000$ZZ$/KQFOfvEcvNVnTjtY.a3otG6eEnZJRsrNUaF/AVLNedfzyGNy3VGxsYYGnyn2qQ3VjLhiguBfH/rJKhq0VJi91", "custom rounds"},
	// Traditional DES: eight 7-bit characters count.
	{"crypt ab", "abJnggxhB/yWI", "password"},
	{"crypt ./", "./Una9Fi.seRo", ""},
	{"crypt zz", "zzRtj6pNdfpLE", "12345678"},
	{"crypt Xy", "XyI8/B3TjQqJg", "12345678ignored"},
	{"crypt 9.", "9.UAZ0d0plNpo", "\xe9t\xe9"},
	{"crypt Q/", "Q/.Waxu6.1m2E", "\xff\x80\x01~"},
	// bcrypt: 72 bytes count.
	{"crypt $2b$04$abcdefghijklmnopqrstuu", "$2b$04$abcdefghijklmnopqrstuubyCG3zY1GIXMyxfivm.ClDiInHzxjiq", ""},
	{"crypt $2b$05$......................", "$2b$05$......................YgIDy4hFBdVlc/6LHnD9mX488r9cLd2", strings.Repeat("x", 72)},
	{"crypt $2b$05$......................", "$2b$05$......................YgIDy4hFBdVlc/6LHnD9mX488r9cLd2", strings.Repeat("x", 72) + "ignored after 72"},
	{"crypt $2y$06$ABCDEFGHIJKLMNOPQRSTUu", "$2y$06$ABCDEFGHIJKLMNOPQRSTUuH3pfqyGARE6dLmV4QdRT62/HOJrglQq", "\xe9t\xe9"},
	{"crypt $2a$05$abcdefghijklmnopqrstuu", "$2a$05$abcdefghijklmnopqrstuu8sI5Jj0rVvFyJlEbpEQKlr/5Z5.hs1.", "ascii only"},
	{"crypt $2a$05$abcdefghijklmnopqrstuu", "$2a$05$abcdefghijklmnopqrstuuiTEgDUPm6NDm2laaQqTjVK3JOgWrNAe", "\xe9t\xe9"},
	{"crypt $2x$05$abcdefghijklmnopqrstuu", "$2x$05$abcdefghijklmnopqrstuu8sI5Jj0rVvFyJlEbpEQKlr/5Z5.hs1.", "ascii only"},
	{"crypt $2b$08$zyxwvutsrqponmlkjihgfe", "$2b$08$zyxwvutsrqponmlkjihgfeZVCxt0AwIbgHumInIAhvs9ljxdWbAi.", "cost eight"},
}

// wrongPassword differs from pass in its first byte, which every scheme
// uses (DES ignores bytes past the eighth, bcrypt past the 72nd).
func wrongPassword(pass string) string { return "!" + pass }

func TestVerifyCryptVectors(t *testing.T) {
	for _, v := range cryptVectors {
		t.Run(v.src, func(t *testing.T) {
			if err := CheckCryptHash(v.hash); err != nil {
				t.Fatalf("CheckCryptHash(%q) = %v", v.hash, err)
			}
			if ok, err := checkCrypt(v.hash, v.pass, defaultCryptLimits()); !ok || err != nil {
				t.Errorf("checkCrypt(%q, %q) = %v, %v; want true", v.hash, v.pass, ok, err)
			}
			if ok, err := checkCrypt(v.hash, wrongPassword(v.pass), defaultCryptLimits()); ok || err != nil {
				t.Errorf("checkCrypt(%q, wrong password) = %v, %v; want false, nil", v.hash, ok, err)
			}
			if !verifyCrypt(v.hash, v.pass) {
				t.Errorf("verifyCrypt(%q, %q) = false", v.hash, v.pass)
			}
		})
	}
}

// libxcryptVerdicts are stored strings that a lax implementation could
// get wrong, with libxcrypt's verdict: crypt(pass, hash) == hash, computed
// as for cryptVectors. Most are valid hashes altered the way a lax parser
// would still accept (the hash part is the one Go's bcrypt or a clamping
// SHA-crypt would compute). want differs from libxcrypt only where
// Signpost refuses a scheme it does not implement (never the other way
// round: that is checked).
var libxcryptVerdicts = []struct {
	why, hash, pass string
	libxcrypt, want bool
	err             error
}{
	{"$2a$ countermeasure: libxcrypt's own hash", "$2a$04$abcdefghijklmnopqrstuuFqHjb/rDLNN/ZBWitRnJrogHVUGKnN.", strings.Repeat("\xff", 72), true, false, ErrCryptUnsupported},
	{"$2a$ countermeasure: the $2b$ (Go, OpenBSD) hash relabelled", "$2a$04$abcdefghijklmnopqrstuuJjey955Nv64O8Kva4YV/3hJowaKUXkS", strings.Repeat("\xff", 72), false, false, ErrCryptUnsupported},
	{"$2x$: libxcrypt's own hash of an 8-bit password", "$2x$04$abcdefghijklmnopqrstuuTK1X4nGg.aXsXLnUUyd5HSO2n7nnHee", "\xff\xa3", true, false, ErrCryptUnsupported},
	{"$2x$: the correct hash relabelled", "$2x$04$abcdefghijklmnopqrstuuwZzT7uVn3RvV3HTk9K63vPWlEi0o43a", "\xff\xa3", false, false, ErrCryptUnsupported},
	{"$2x$ with a 7-bit password", "$2x$04$abcdefghijklmnopqrstuuruZGaAtMc7jnr6nmeNRglF4gzpWIu72", "plain", true, true, nil},
	{"bcrypt salt with a non-canonical last character", "$2b$04$abcdefghijklmnopqrstuvyvPXIbu7xe6/CED2DzX8z6Si09MlzlW", "pw", false, false, ErrCryptMalformed},
	{"bcrypt without minor version", "$2$04$abcdefghijklmnopqrstuuyvPXIbu7xe6/CED2DzX8z6Si09MlzlW", "pw", false, false, ErrCryptUnsupported},
	{"bcrypt cost 03", "$2b$03$abcdefghijklmnopqrstuuyvPXIbu7xe6/CED2DzX8z6Si09MlzlW", "pw", false, false, ErrCryptMalformed},
	{"bcrypt cost written +4", "$2b$+4$abcdefghijklmnopqrstuuyvPXIbu7xe6/CED2DzX8z6Si09MlzlW", "pw", false, false, ErrCryptMalformed},
	{"bcrypt hash truncated", "$2b$04$abcdefghijklmnopqrstuuyvPXIbu7xe6/CED2DzX8z6Si09Mlzl", "pw", false, false, ErrCryptMalformed},
	{"bcrypt hash with a trailing character", "$2b$04$abcdefghijklmnopqrstuuyvPXIbu7xe6/CED2DzX8z6Si09MlzlWx", "pw", false, false, ErrCryptMalformed},
	{"SHA-crypt rounds below 1000 (glibc clamps, libxcrypt refuses)", "$5$rounds=999$ab$pvoBecalA78StTh86CqG8MsZcI1O/fpecpCjMGNmZ.A", "pw", false, false, ErrCryptMalformed},
	{"SHA-crypt rounds with a leading zero", "$5$rounds=01000$ab$pvoBecalA78StTh86CqG8MsZcI1O/fpecpCjMGNmZ.A", "pw", false, false, ErrCryptMalformed},
	{"SHA-crypt rounds=N without $", "$5$rounds=1000", "pw", false, false, ErrCryptMalformed},
	{"SHA-crypt salt longer than 16 (libxcrypt truncates it)", "$6$abcdefghijklmnopq$GRSTFj3H0pZ9BY1uhdqITG.qORbXkTk40qgaa1roNICfs/axSgdNnbKEYghuyLnrmnFXvSE09GdxJbCDOnxdc1", "pw", false, false, ErrCryptMalformed},
	{"SHA-crypt salt with ':'", "$5$a:b$QC5GKcE5kgMGJf0sNCzrqT/sGcwXhEWAp4Sxjx2lFJA", "pw", false, false, ErrCryptMalformed},
	{"SHA-crypt with a trailing $", "$5$ab$QC5GKcE5kgMGJf0sNCzrqT/sGcwXhEWAp4Sxjx2lFJA$", "pw", false, false, ErrCryptMalformed},
	{"SHA-crypt hash part missing", "$6$ab$", "pw", false, false, ErrCryptMalformed},
	{"MD5 salt longer than 8", "$1$abcdefghi$IQtUouv7y7Q9dRWkQEPCc.", "pw", false, false, ErrCryptMalformed},
	{"MD5 salt with '!'", "$1$a!$IQtUouv7y7Q9dRWkQEPCc.", "pw", false, false, ErrCryptMalformed},
	{"DES salt with '!'", "!!zlUXK5ed5rs", "pw", false, false, ErrCryptMalformed},
	{"DES with 14 characters", "abzlUXK5ed5rsx", "pw", false, false, ErrCryptMalformed},
	{"DES with 12 characters", "abzlUXK5ed5r", "pw", false, false, ErrCryptMalformed},
	{"DES hash with a non-canonical last character", "abzlUXK5ed5rz", "pw", false, false, nil},
	{"empty hash", "", "", false, false, ErrCryptMalformed},
	{"libxcrypt's failure token *0", "*0", "", false, false, ErrCryptMalformed},
	{"SHA-crypt password cut at NUL (HAProxy passes a C string)", "$5$ab$QC5GKcE5kgMGJf0sNCzrqT/sGcwXhEWAp4Sxjx2lFJA", "pw\x00tail", true, true, nil},
	{"DES password cut at NUL", "abzlUXK5ed5rs", "pw\x00tail", true, true, nil},
	{"bcrypt password cut at NUL", "$2b$04$abcdefghijklmnopqrstuuyvPXIbu7xe6/CED2DzX8z6Si09MlzlW", "pw\x00tail", true, true, nil},
	// libxcrypt refuses passwords of 512 bytes or more; DES and bcrypt
	// would otherwise match, as they ignore bytes past the 8th or 72nd.
	{"SHA-crypt with a 511-byte password", "$5$ab$pYOGs1f/nzmGECiPL7BVAA0TL7PFN5ZR6sY9mHFi9a5", strings.Repeat("p", 511), true, true, nil},
	{"MD5-crypt with a 511-byte password", "$1$ab$ArK9mjMUKNuccCHdQtayh1", strings.Repeat("p", 511), true, true, nil},
	{"DES with a 511-byte password", "abgAOrlY2VEck", strings.Repeat("p", 511), true, true, nil},
	{"DES with a 512-byte password", "abgAOrlY2VEck", strings.Repeat("p", 512), false, false, nil},
	{"bcrypt with a 512-byte password", "$2b$04$abcdefghijklmnopqrstuuNt.0ah97gHY3F7JC1Z6EXmQc0bQBhIO", strings.Repeat("p", 512), false, false, nil},
	{"bcrypt with 512 bytes cut at NUL to 72", "$2b$04$abcdefghijklmnopqrstuuNt.0ah97gHY3F7JC1Z6EXmQc0bQBhIO", strings.Repeat("p", 72) + "\x00" + strings.Repeat("p", 439), true, true, nil},
	// Schemes libxcrypt verifies and Signpost does not (hashes from
	// crypt(3) with a setting from crypt_gensalt(prefix, 0, NULL, 0)).
	{"yescrypt", "$y$j9T$buetzIPeIi7587p9Dcl4n.$0bDPJazG72G/QPUJgtHCLogMfoPne8OOQpnAOK5.VH7", "secret", true, false, ErrCryptUnsupported},
	{"gost-yescrypt", "$gy$j9T$f31NuYufJcMxYiHIDDdNy/$hUWwaTQz8gdURSSZPycdt3s5RhTPTzJWrRSunScZsp.", "secret", true, false, ErrCryptUnsupported},
	{"scrypt", "$7$CU..../....5wJeV7aCMnz9k/YBrbuoU/$uT1fve8MEyv2V492yghoVp9nbtFlTYxYPzLpc1HM6aC", "secret", true, false, ErrCryptUnsupported},
	{"BSDi extended DES", "_J9..nCw8NHWLcy6aN/s", "secret", true, false, ErrCryptUnsupported},
	{"SunMD5", "$md5,rounds=48261$RDvH0ZKG$$xVfQ7Y5t5tXViIOPv2i6e.", "secret", true, false, ErrCryptUnsupported},
	{"NetBSD SHA-1", "$sha1$203688$nDLmfe52yQZd3/UXFNDT$8aA0WwQb386w3YJU.qaNrRs96YhW", "secret", true, false, ErrCryptUnsupported},
	{"NT hash", "$3$$878d8014606cda29677a44efa1353fc7", "secret", true, false, ErrCryptUnsupported},
}

func TestVerifyCryptLibxcryptVerdicts(t *testing.T) {
	for _, c := range libxcryptVerdicts {
		t.Run(c.why, func(t *testing.T) {
			if c.want && !c.libxcrypt {
				t.Fatal("table error: Signpost must never accept what HAProxy refuses")
			}
			if c.want != c.libxcrypt && !errors.Is(c.err, ErrCryptUnsupported) {
				t.Fatal("table error: the only allowed difference is an unsupported scheme")
			}
			ok, err := checkCrypt(c.hash, c.pass, defaultCryptLimits())
			if ok != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
				t.Errorf("checkCrypt(%q, %q) = %v, %v; want %v, %v", c.hash, c.pass, ok, err, c.want, c.err)
			}
			if got := verifyCrypt(c.hash, c.pass); got != c.want {
				t.Errorf("verifyCrypt = %v, want %v", got, c.want)
			}
		})
	}
}

// TestBcryptSafetyFlip checks the $2a$ countermeasure condition against
// libxcrypt: flip is whether crypt(pass, "$2a$04$abcdefghijklmnopqrstuu")
// and crypt(pass, "$2b$04$abcdefghijklmnopqrstuu") differ after the prefix.
func TestBcryptSafetyFlip(t *testing.T) {
	ff := func(n int) string { return strings.Repeat("\xff", n) }
	for _, c := range []struct {
		pass string
		flip bool
	}{
		{"", false},
		{"ascii", false},
		{"\xa3", false},
		{"\xff\xa3", false},
		{"\xe9t\xe9", false},
		{ff(4), false},
		{ff(70), false},
		{ff(71), true},
		{ff(72), true},
		{ff(80), true},
		{strings.Repeat("\xff\xff\xff\xa3", 18), true},
		{strings.Repeat("\xff\xff\x80A", 18), true},
		{strings.Repeat("\xffA\x80A", 18), false},
		{ff(69) + "AAA", true},
	} {
		if got := bcryptSafetyFlip(c.pass); got != c.flip {
			t.Errorf("bcryptSafetyFlip(%q) = %v, want %v", c.pass, got, c.flip)
		}
	}
}

// TestDESMatchesCryptoDES checks the DES core with a zero salt (no E
// perturbation) against crypto/des, which validates every table; the salt
// is covered by the crypt vectors.
func TestDESMatchesCryptoDES(t *testing.T) {
	// FIPS 81 / the classic worked example.
	ks := desKeys(0x133457799BBCDFF1)
	if got := desEncrypt(&ks, 0x0123456789ABCDEF, 0); got != 0x85E813540F0AB405 {
		t.Fatalf("DES(133457799BBCDFF1, 0123456789ABCDEF) = %016X, want 85E813540F0AB405", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		key, block := rng.Uint64(), rng.Uint64()
		var kb, in, want [8]byte
		binary.BigEndian.PutUint64(kb[:], key)
		binary.BigEndian.PutUint64(in[:], block)
		c, err := des.NewCipher(kb[:])
		if err != nil {
			t.Fatal(err)
		}
		c.Encrypt(want[:], in[:])
		ks := desKeys(key)
		if got := desEncrypt(&ks, block, 0); got != binary.BigEndian.Uint64(want[:]) {
			t.Fatalf("DES(%016X, %016X) = %016X, crypto/des says %X", key, block, got, want)
		}
	}
}

func TestCryptCaps(t *testing.T) {
	sha512Tail := "$ab$" + strings.Repeat("a", 86)
	bcryptTail := "$abcdefghijklmnopqrstuu" + strings.Repeat("a", 31)
	for _, c := range []struct {
		hash string
		lim  cryptLimits
		err  error
	}{
		{"$6$rounds=" + strconv.Itoa(maxVerifyRounds) + sha512Tail, defaultCryptLimits(), nil},
		{"$6$rounds=" + strconv.Itoa(maxVerifyRounds+1) + sha512Tail, defaultCryptLimits(), ErrCryptCost},
		{"$6$rounds=999999999" + sha512Tail, defaultCryptLimits(), ErrCryptCost},
		{"$6$rounds=1000000000" + sha512Tail, defaultCryptLimits(), ErrCryptMalformed},
		{"$6$rounds=99999999999999999999999" + sha512Tail, defaultCryptLimits(), ErrCryptMalformed},
		{"$6$rounds=2000" + sha512Tail, cryptLimits{shaRounds: 1999}, ErrCryptCost},
		{"$2b$" + strconv.Itoa(maxBcryptCost) + bcryptTail, defaultCryptLimits(), nil},
		{"$2b$" + strconv.Itoa(maxBcryptCost+1) + bcryptTail, defaultCryptLimits(), ErrCryptCost},
		{"$2y$31" + bcryptTail, defaultCryptLimits(), ErrCryptCost},
		{"$2y$32" + bcryptTail, defaultCryptLimits(), ErrCryptMalformed},
		{"$2a$06" + bcryptTail, cryptLimits{bcryptCost: 5}, ErrCryptCost},
	} {
		_, err := parseCrypt(c.hash, c.lim)
		if !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("parseCrypt(%.30q…, %+v) = %v, want %v", c.hash, c.lim, err, c.err)
		}
		if c.err != nil {
			// Refused before any hashing: this returns at once.
			if ok, err := checkCrypt(c.hash, "pw", c.lim); ok || err == nil {
				t.Errorf("checkCrypt(%.30q…) = %v, %v; want a refusal", c.hash, ok, err)
			}
		}
	}
}

// TestCryptCapCountsPasswordLength: the client chooses the password, whose
// length multiplies SHA-crypt's per-round work, so it counts against the
// cap (and nothing is hashed when it is exceeded).
func TestCryptCapCountsPasswordLength(t *testing.T) {
	const h = "$5$rounds=1000$short$q9NJiKqyWA7PCyuf5Lc1Kfs3tBEmd3YMAJThsP/G7a/" // crypt $5$rounds=1000$short, "pw"
	lim := cryptLimits{shaRounds: 1999}
	if ok, err := checkCrypt(h, "pw", lim); !ok || err != nil {
		t.Fatalf("short password under the cap: %v, %v", ok, err)
	}
	if ok, err := checkCrypt(h, strings.Repeat("p", 63), lim); ok || err != nil {
		t.Errorf("63-byte password (1000 round-equivalents): %v, %v; want false, nil", ok, err)
	}
	if ok, err := checkCrypt(h, strings.Repeat("p", 64), lim); ok || !errors.Is(err, ErrCryptCost) {
		t.Errorf("64-byte password (2000 round-equivalents): %v, %v; want %v", ok, err, ErrCryptCost)
	}
	big := "$6$rounds=" + strconv.Itoa(maxVerifyRounds) + "$ab$" + strings.Repeat("a", 86)
	if ok, err := checkCrypt(big, strings.Repeat("p", 511), defaultCryptLimits()); ok || !errors.Is(err, ErrCryptCost) {
		t.Errorf("rounds at the cap with a 511-byte password: %v, %v; want %v", ok, err, ErrCryptCost)
	}
	// Longer than libxcrypt allows: refused before anything else.
	if ok, err := checkCrypt(big, strings.Repeat("p", 512), defaultCryptLimits()); ok || err != nil {
		t.Errorf("512-byte password: %v, %v; want false, nil", ok, err)
	}
}

// TestCheckCryptHashMessages checks that the reasons name the problem, as
// an operator reading the warning needs.
func TestCheckCryptHashMessages(t *testing.T) {
	for _, c := range []struct{ hash, want string }{
		{"$y$j9T$buetzIPeIi7587p9Dcl4n.$0bDPJazG72G/QPUJgtHCLogMfoPne8OOQpnAOK5.VH7", "yescrypt"},
		{"$9$abc$def", `unknown scheme "$9$"`},
		{"$6$rounds=6000000$ab$" + strings.Repeat("a", 86), "rounds=6000000, at most 5000000"},
		{"$2b$15$abcdefghijklmnopqrstuu" + strings.Repeat("a", 31), "bcrypt cost 15, at most 14"},
		{"$5$rounds=500$ab$" + strings.Repeat("a", 43), "rounds=500 outside [1000, 999999999]"},
		{"$6$abcdefghijklmnopq$" + strings.Repeat("a", 86), "salt is 17 characters, at most 16"},
		{"$1$ab$short", "hash part must be 22 characters"},
		{"secret", "not a crypt(3) hash"},
	} {
		err := CheckCryptHash(c.hash)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckCryptHash(%.40q) = %v, want it to mention %q", c.hash, err, c.want)
		}
	}
}

// TestVerifyCryptAgainstHAProxy is the oracle: a real HAProxy with one
// userlist per hash and "http-request auth" in front of "return 200"
// judges every vector with its right and a wrong password and every
// libxcryptVerdicts case; verifyCrypt must agree, except that it refuses
// the schemes it does not implement.
func TestVerifyCryptAgainstHAProxy(t *testing.T) {
	haproxytest.Binary(t)
	leakcheck.Verify(t)

	type oracleCase struct {
		name, hash, pass string
		want, haproxy    bool // Signpost's and HAProxy's expected verdicts
	}
	var cases []oracleCase
	for _, v := range cryptVectors {
		cases = append(cases,
			oracleCase{v.src, v.hash, v.pass, true, true},
			oracleCase{v.src + " (wrong password)", v.hash, wrongPassword(v.pass), false, false})
	}
	for _, c := range libxcryptVerdicts {
		if c.hash == "" || strings.ContainsAny(c.hash, "' \\#") {
			continue // cannot be written as one HAProxy config word
		}
		cases = append(cases, oracleCase{c.why, c.hash, c.pass, c.want, c.libxcrypt})
	}

	var cfg strings.Builder
	cfg.WriteString("global\n  nbthread 1\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n")
	for i, c := range cases {
		// Single quotes: no environment variable expansion of "$".
		fmt.Fprintf(&cfg, "userlist u%d\n  user u password '%s'\n", i, c.hash)
	}
	cfg.WriteString("frontend f\n  bind fd@3\n")
	for i := range cases {
		fmt.Fprintf(&cfg, "  http-request auth realm r if { path /%d } !{ http_auth(u%d) }\n", i, i)
	}
	cfg.WriteString("  http-request return status 200\n")
	addr := haproxytest.Start(t, cfg.String())

	for i, c := range cases {
		code, err := basicAuthGet(addr, "/"+strconv.Itoa(i), "u", c.pass)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if code != http.StatusOK && code != http.StatusUnauthorized {
			t.Fatalf("%s: HAProxy answered %d", c.name, code)
		}
		if got := code == http.StatusOK; got != c.haproxy {
			t.Errorf("%s: HAProxy says %v, the table says libxcrypt says %v (hash %q, password %q)", c.name, got, c.haproxy, c.hash, c.pass)
		}
		if got := verifyCrypt(c.hash, c.pass); got != c.want {
			t.Errorf("%s: verifyCrypt = %v, want %v (HAProxy: %d)", c.name, got, c.want, code)
		}
	}
}

// basicAuthGet sends one GET with Basic credentials (any bytes) on a fresh
// connection and returns the status code.
func basicAuthGet(addr, path, user, pass string) (int, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	// A deadline only so that a hung HAProxy fails the test instead of
	// hanging it; nothing is asserted about time.
	c.SetDeadline(time.Now().Add(time.Minute))
	cred := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: test\r\nAuthorization: Basic %s\r\nConnection: close\r\n\r\n", path, cred); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Independent readings of the cost fields, for FuzzVerifyCrypt.
var (
	fuzzSHARounds  = regexp.MustCompile(`^\$[56]\$rounds=([0-9]+)\$`)
	fuzzBcryptCost = regexp.MustCompile(`^\$2[abxy]\$([0-9]{2})\$`)
)

// FuzzVerifyCrypt checks that no input panics, that a match never comes
// with an error, and that nothing above the caps is ever computed (with
// low caps, so that fuzzing stays fast). The corpus is in
// testdata/fuzz/FuzzVerifyCrypt.
func FuzzVerifyCrypt(f *testing.F) {
	for _, v := range cryptVectors {
		f.Add(v.hash, v.pass)
	}
	lim := cryptLimits{shaRounds: 20000, bcryptCost: 6}
	f.Fuzz(func(t *testing.T, hashed, pass string) {
		ok, err := checkCrypt(hashed, pass, lim)
		if ok && err != nil {
			t.Fatalf("match with an error: %v", err)
		}
		perr := CheckCryptHash(hashed)
		if ok && perr != nil {
			t.Fatalf("match although CheckCryptHash says %v", perr)
		}
		if m := fuzzSHARounds.FindStringSubmatch(hashed); m != nil && err == nil {
			plen := len(pass)
			if i := strings.IndexByte(pass, 0); i >= 0 {
				plen = i
			}
			n, aerr := strconv.Atoi(m[1])
			if plen < 512 && (aerr != nil || n*(1+plen/64) > lim.shaRounds) {
				t.Fatalf("rounds=%s with a %d-byte password, above the cap %d, was computed", m[1], plen, lim.shaRounds)
			}
		}
		if m := fuzzBcryptCost.FindStringSubmatch(hashed); m != nil {
			if n, _ := strconv.Atoi(m[1]); n > lim.bcryptCost && err == nil {
				t.Fatalf("bcrypt cost %d above the cap %d was computed", n, lim.bcryptCost)
			}
		}
	})
}

// BenchmarkVerifyCrypt times one check per scheme (default costs, bcrypt
// at cost 8), for choosing the caps.
func BenchmarkVerifyCrypt(b *testing.B) {
	for _, v := range cryptVectors {
		if !strings.HasPrefix(v.src, "openssl") && !strings.Contains(v.src, "$08$") && v.src != "crypt ab" {
			continue
		}
		b.Run(v.hash[:min(len(v.hash), 3)], func(b *testing.B) {
			for b.Loop() {
				verifyCrypt(v.hash, v.pass)
			}
		})
	}
}
