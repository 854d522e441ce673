package records

import "net/netip"

const hexDigits = "0123456789abcdef"

// reverseName returns the PTR owner name of ip in the standard form:
// "4.3.2.1.in-addr.arpa." for 1.2.3.4, and 32 nibbles under "ip6.arpa." for
// IPv6 (RFC 3596).
func reverseName(ip netip.Addr) string {
	return string(appendReverse(make([]byte, 0, maxReverse), ip))
}

// maxReverse is the length of an IPv6 reverse name, the longest there is.
const maxReverse = 32*2 + len("ip6.arpa.")

func appendReverse(buf []byte, ip netip.Addr) []byte {
	ip = ip.Unmap()
	if ip.Is4() {
		a := ip.As4()
		for i := 3; i >= 0; i-- {
			buf = appendUint8(buf, a[i])
			buf = append(buf, '.')
		}
		return append(buf, "in-addr.arpa."...)
	}
	a := ip.As16()
	for i := 15; i >= 0; i-- {
		buf = append(buf, hexDigits[a[i]&0xf], '.', hexDigits[a[i]>>4], '.')
	}
	return append(buf, "ip6.arpa."...)
}

func appendUint8(b []byte, v byte) []byte {
	switch {
	case v >= 100:
		return append(b, '0'+v/100, '0'+v/10%10, '0'+v%10)
	case v >= 10:
		return append(b, '0'+v/10, '0'+v%10)
	}
	return append(b, '0'+v)
}
