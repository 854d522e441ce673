// Package freeport picks ports for tests to listen on.
//
// A port found free can be taken by someone else before the test binds it.
// Two things make that unlikely here. The ports are drawn below the
// kernel's ephemeral range (Linux: 32768–60999), which is where ":0"
// listeners and the outgoing connections of other tests on a busy machine
// get theirs, and below the simulator's agent ports (31000–32000), which
// its tasks bind after a test has picked its ports: from Min up to Max.
// And a port is handed out at most once per process, so that two callers —
// two services of one test, or tests running in parallel — never get the
// same one.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

// The ports handed out are Min ≤ port < Max.
const (
	Min = 20000
	Max = 31000
)

// draws bounds how many random ports one pick tries.
const draws = 2000

// given holds every port handed out (or found taken) in this process.
var given sync.Map

// Pick returns a TCP port that nothing listens on at any of ips right now
// (at any address, the wildcard, when no ip is given), for code that has
// no testing.TB.
func Pick(ips ...string) (int, error) {
	return pick(func(port int) error { return freeTCP(port, ips) }, ips)
}

// TCP returns a TCP port that nothing listens on at any of ips right now
// (at any address when no ip is given), failing the test when there is
// none.
func TCP(t testing.TB, ips ...string) int {
	t.Helper()
	p, err := Pick(ips...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TCPs returns n distinct TCP ports that nothing listens on at ip.
func TCPs(t testing.TB, ip string, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ports[i] = TCP(t, ip)
	}
	return ports
}

// UDPAndTCP returns a port free for both UDP and TCP at ip (a DNS server's
// listeners).
func UDPAndTCP(t testing.TB, ip string) int {
	t.Helper()
	p, err := udpAndTCP(ip)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func udpAndTCP(ip string) (int, error) {
	ips := []string{ip}
	return pick(func(port int) error { return freeUDPAndTCP(port, ips) }, ips)
}

// pick draws ports not handed out before until free accepts one.
func pick(free func(port int) error, ips []string) (int, error) {
	for range draws {
		p := Min + rand.N(Max-Min)
		if _, taken := given.LoadOrStore(p, true); taken {
			continue
		}
		// A port that is taken now stays marked: it is likely
		// held by a long-lived listener.
		if free(p) == nil {
			return p, nil
		}
	}
	return 0, fmt.Errorf("freeport: no free port in %d-%d at %v after %d tries", Min, Max-1, ips, draws)
}

// freeTCP binds port at every ip (the wildcard when there is none) and
// releases it again.
func freeTCP(port int, ips []string) error {
	if len(ips) == 0 {
		ips = []string{""}
	}
	var errs []error
	for _, ip := range ips {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		defer ln.Close()
	}
	return errors.Join(errs...)
}

// freeUDPAndTCP is freeTCP for UDP and TCP both.
func freeUDPAndTCP(port int, ips []string) error {
	if len(ips) == 0 {
		ips = []string{""}
	}
	for _, ip := range ips {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		defer pc.Close()
	}
	return freeTCP(port, ips)
}
