package zkmasters

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/signpost-dns/signpost/internal/cluster"
)

// masterInfoJSON is MasterInfo as a Mesos master writes it into ZooKeeper
// (JSON::protobuf of mesos.MasterInfo). The fields are in the order Mesos
// writes them, alphabetical, so the bytes match a real master's.
//
// This is a private copy on purpose: internal/wire/mesosstate owns the wire
// format for the rest of Signpost, but the simulator only needs to write this
// one small message and must not wait on that package.
type masterInfoJSON struct {
	Address  addressJSON `json:"address"`
	Hostname string      `json:"hostname"`
	ID       string      `json:"id"`
	IP       uint32      `json:"ip"`
	PID      string      `json:"pid"`
	Port     uint32      `json:"port"`
	Version  string      `json:"version,omitempty"`
}

type addressJSON struct {
	Hostname string `json:"hostname"`
	IP       string `json:"ip"`
	Port     uint32 `json:"port"`
}

// defaultMasterPort is the Mesos master's default libprocess port.
const defaultMasterPort = 5050

// encodeMasterInfo renders m as the JSON a Mesos master stores in its
// json.info_ node, filling what m leaves empty the way a master would.
func encodeMasterInfo(m cluster.MasterInfo) ([]byte, error) {
	var pidAddr netip.AddrPort
	if m.PID != "" {
		_, hostPort, ok := strings.Cut(m.PID, "@")
		if !ok {
			return nil, fmt.Errorf("PID %q is not name@ip:port", m.PID)
		}
		ap, err := netip.ParseAddrPort(hostPort)
		if err != nil {
			return nil, fmt.Errorf("PID %q: %v", m.PID, err)
		}
		pidAddr = ap
	}

	ipText := m.IP
	if ipText == "" && pidAddr.IsValid() {
		ipText = pidAddr.Addr().String()
	}
	if ipText == "" {
		return nil, errors.New("no IP address (IP and PID are empty)")
	}
	ip4 := net.ParseIP(ipText).To4()
	if ip4 == nil {
		// MasterInfo.ip is a required uint32: masters register IPv4.
		return nil, fmt.Errorf("IP %q is not an IPv4 address", ipText)
	}

	port := m.Port
	if port == 0 && pidAddr.IsValid() {
		port = int(pidAddr.Port())
	}
	if port == 0 {
		port = defaultMasterPort
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("port %d out of range", port)
	}

	hostname := m.Hostname
	if hostname == "" {
		// A master whose hostname does not resolve (or that runs with
		// --hostname_lookup=false) uses its IP.
		hostname = ip4.String()
	}
	pid := m.PID
	if pid == "" {
		pid = "master@" + net.JoinHostPort(ip4.String(), strconv.Itoa(port))
	}

	return json.Marshal(masterInfoJSON{
		Address:  addressJSON{Hostname: hostname, IP: ip4.String(), Port: uint32(port)},
		Hostname: hostname,
		ID:       m.ID,
		// The IPv4 address in network byte order, read as a little-endian
		// (x86 host order) uint32: 127.0.0.1 is 16777343 (MESOS-1201).
		IP:      binary.LittleEndian.Uint32(ip4),
		PID:     pid,
		Port:    uint32(port),
		Version: m.Version,
	})
}
