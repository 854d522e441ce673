package mesosstate

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"

	"github.com/signpost-dns/signpost/internal/cluster"
	"github.com/signpost-dns/signpost/internal/wire/jsonw"
)

// DecodeMasterInfo decodes the JSON MasterInfo a Mesos master stores in its
// ZooKeeper json.info_<seq> node.
//
// The address comes from address.ip/address.port (Mesos ≥0.24) when present,
// otherwise from the legacy uint32 "ip" (IPv4 in network byte order read as a
// little-endian integer: 127.0.0.1 is 16777343) and "port". A missing port
// means 5050, the protobuf default. Without any address the MasterInfo is
// useless for finding the leader, so that is an error.
func DecodeMasterInfo(data []byte) (cluster.MasterInfo, error) {
	d := decoder{scanner: scanner{data: data}}
	var w masterInfoWire
	if err := d.root(func(key []byte) { d.masterInfoMember(&w, key) }); err != nil {
		return cluster.MasterInfo{}, fmt.Errorf("master info: %w", err)
	}
	m := w.resolve()
	if m.IP == "" {
		return cluster.MasterInfo{}, errors.New(`master info: no address: neither field "address.ip" nor field "ip" is set`)
	}
	return m, nil
}

// EncodeMasterInfo writes m as a Mesos master writes its ZooKeeper
// json.info_<seq> node, including the legacy uint32 "ip" that detectors
// older than Mesos 0.24 read (0 for an IPv6 address, which it cannot hold).
// m.IP must be an IP address: a MasterInfo without one cannot be found.
func EncodeMasterInfo(m cluster.MasterInfo) ([]byte, error) {
	ip, err := netip.ParseAddr(m.IP)
	if err != nil {
		return nil, fmt.Errorf("master info: IP %q is not an IP address", m.IP)
	}
	var legacy uint32
	if ip.Is4() || ip.Is4In6() {
		a := ip.Unmap().As4()
		legacy = uint32(a[0]) | uint32(a[1])<<8 | uint32(a[2])<<16 | uint32(a[3])<<24
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"address":{"hostname":`...)
	b = jsonw.AppendString(b, m.Hostname)
	b = append(b, `,"ip":`...)
	b = jsonw.AppendString(b, m.IP)
	b = append(b, `,"port":`...)
	b = strconv.AppendInt(b, int64(m.Port), 10)
	b = append(b, `},"hostname":`...)
	b = jsonw.AppendString(b, m.Hostname)
	b = append(b, `,"id":`...)
	b = jsonw.AppendString(b, m.ID)
	b = append(b, `,"ip":`...)
	b = strconv.AppendUint(b, uint64(legacy), 10)
	b = append(b, `,"pid":`...)
	b = jsonw.AppendString(b, m.PID)
	b = append(b, `,"port":`...)
	b = strconv.AppendInt(b, int64(m.Port), 10)
	if m.Version != "" {
		b = append(b, `,"version":`...)
		b = jsonw.AppendString(b, m.Version)
	}
	return append(b, '}'), nil
}

// masterInfoWire collects a MasterInfo's fields before resolve decides which
// of the redundant address fields to believe.
type masterInfoWire struct {
	m                    cluster.MasterInfo
	port, addrPort       int
	hasPort, hasAddrPort bool
	ip                   uint32
	addrIP, addrHost     string
}

func (d *decoder) masterInfoMember(w *masterInfoWire, key []byte) {
	switch string(key) {
	case "id":
		w.m.ID = d.str("id")
	case "pid":
		w.m.PID = d.str("pid")
	case "hostname":
		w.m.Hostname = d.str("hostname")
	case "version":
		w.m.Version = d.str("version")
	case "port":
		w.port, w.hasPort = d.optInteger("port")
	case "ip":
		w.ip = 0
		if v, ok := d.optInteger("ip"); ok {
			if v < 0 || int64(v) > math.MaxUint32 {
				d.fieldErr("ip", "number "+strconv.Itoa(v)+" out of range for uint32")
			} else {
				w.ip = uint32(v)
			}
		}
	case "address":
		w.addrIP, w.addrHost, w.hasAddrPort = "", "", false
		d.object("address", func(key []byte) {
			switch string(key) {
			case "ip":
				w.addrIP = d.str("ip")
			case "hostname":
				w.addrHost = d.str("hostname")
			case "port":
				w.addrPort, w.hasAddrPort = d.optInteger("port")
			default:
				d.skipValue()
			}
		})
	default:
		d.skipValue()
	}
}

// resolve prefers the textual address, falls back to the legacy uint32, and
// defaults the port to 5050 as the protobuf does.
func (w *masterInfoWire) resolve() cluster.MasterInfo {
	m := w.m
	switch {
	case w.addrIP != "":
		m.IP = w.addrIP
	case w.ip != 0:
		m.IP = ipv4FromUint32(w.ip).String()
	}
	switch {
	case w.hasAddrPort:
		m.Port = w.addrPort
	case w.hasPort:
		m.Port = w.port
	default:
		m.Port = 5050
	}
	if m.Hostname == "" {
		m.Hostname = w.addrHost
	}
	return m
}

// ipv4FromUint32 undoes Mesos' encoding of MasterInfo.ip: the address bytes
// in network order, stored in a uint32 on a little-endian host.
func ipv4FromUint32(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)})
}
