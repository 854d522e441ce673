package freeport

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
)

// listenOK fails the test unless network can listen on ip:port.
func listenOK(t *testing.T, network, ip string, port int) {
	t.Helper()
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	if network == "udp" {
		pc, err := net.ListenPacket(network, addr)
		if err != nil {
			t.Fatalf("port %d not free for %s: %v", port, network, err)
		}
		pc.Close()
		return
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatalf("port %d not free for %s: %v", port, network, err)
	}
	ln.Close()
}

func inRange(t *testing.T, p int) {
	t.Helper()
	if p < Min || p >= Max {
		t.Fatalf("port %d outside %d-%d", p, Min, Max-1)
	}
}

func TestPortsAreFreeAndInRange(t *testing.T) {
	cases := []struct {
		name string
		ips  []string
	}{
		{"wildcard", nil},
		{"one ip", []string{"127.0.0.1"}},
		{"two ips", []string{"127.0.0.1", "127.0.9.2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := TCP(t, c.ips...)
			inRange(t, p)
			if len(c.ips) == 0 {
				listenOK(t, "tcp", "", p)
			}
			for _, ip := range c.ips {
				listenOK(t, "tcp", ip, p)
			}
		})
	}
	t.Run("udp and tcp", func(t *testing.T) {
		p := UDPAndTCP(t, "127.0.0.1")
		inRange(t, p)
		listenOK(t, "udp", "127.0.0.1", p)
		listenOK(t, "tcp", "127.0.0.1", p)
	})
	t.Run("pick", func(t *testing.T) {
		p, err := Pick("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		inRange(t, p)
		listenOK(t, "tcp", "127.0.0.1", p)
	})
}

// TestNeverTheSamePortTwice: ports handed out are remembered, whoever asks
// and however concurrently.
func TestNeverTheSamePortTwice(t *testing.T) {
	seen := map[int]string{}
	var mu sync.Mutex
	note := func(p int, who string) {
		mu.Lock()
		defer mu.Unlock()
		if prev, dup := seen[p]; dup {
			t.Errorf("port %d handed out to %s and to %s", p, prev, who)
		}
		seen[p] = who
	}
	for i, p := range TCPs(t, "127.0.0.1", 20) {
		note(p, "TCPs #"+strconv.Itoa(i))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				who := "goroutine " + strconv.Itoa(g) + " #" + strconv.Itoa(i)
				var p int
				var err error
				switch i % 3 {
				case 0:
					p, err = Pick("127.0.0.1")
				case 1:
					p, err = Pick()
				default:
					p, err = udpAndTCP("127.0.0.1")
				}
				if err != nil {
					t.Error(err)
					continue
				}
				note(p, who)
			}
		})
	}
	wg.Wait()
	if len(seen) != 20+8*10 {
		t.Errorf("%d ports, want %d", len(seen), 20+8*10)
	}
}

// TestTakenPortsAreRefused: a port something listens on at one of the
// addresses, or at any address for the wildcard, does not count as free.
func TestTakenPortsAreRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.9.3:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	pc, err := net.ListenPacket("udp", "127.0.9.4:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	udpPort := pc.LocalAddr().(*net.UDPAddr).Port
	cases := []struct {
		name  string
		port  int
		ips   []string
		check func(int, []string) error
		free  bool
	}{
		{"held at the ip", port, []string{"127.0.9.3"}, freeTCP, false},
		{"held at the second ip", port, []string{"127.0.9.5", "127.0.9.3"}, freeTCP, false},
		{"held at another ip", port, []string{"127.0.9.5"}, freeTCP, true},
		{"held somewhere, wildcard asked", port, nil, freeTCP, false},
		{"udp held, udp and tcp asked", udpPort, []string{"127.0.9.4"}, freeUDPAndTCP, false},
		{"tcp held, udp and tcp asked", port, []string{"127.0.9.3"}, freeUDPAndTCP, false},
		{"udp held at another ip", udpPort, []string{"127.0.9.5"}, freeUDPAndTCP, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.check(c.port, c.ips)
			if free := err == nil; free != c.free {
				t.Errorf("free = %v (%v), want %v", free, err, c.free)
			}
		})
	}
}

// TestPickSkipsRefusedAndGivenPorts drives pick with a stand-in check: a
// port refused once is never offered again, and when nothing is free the
// error says where it looked.
func TestPickSkipsRefusedAndGivenPorts(t *testing.T) {
	refused := map[int]bool{}
	p, err := pick(func(port int) error {
		if len(refused) < 5 {
			refused[port] = true
			return errors.New("taken")
		}
		if refused[port] {
			t.Errorf("port %d offered again after it was refused", port)
		}
		return nil
	}, []string{"test"})
	if err != nil {
		t.Fatal(err)
	}
	if refused[p] {
		t.Errorf("returned refused port %d", p)
	}
	if _, err := pick(func(int) error { return errors.New("taken") }, []string{"203.0.113.1"}); err == nil {
		t.Error("pick found a port where every one is taken")
	}
}
