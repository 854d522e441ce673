package marathon

import "fmt"

// Info is the part of GET /v2/info a discovery tool uses: who leads, which
// Mesos and ZooKeeper this Marathon talks to, and the service-port range
// Marathon assigns from (servicePort 0 ⇒ a port in [LocalPortMin,
// LocalPortMax]).
type Info struct {
	Name     string
	Version  string
	Buildref string
	Elected  bool
	// Leader is "host:port" of the leading Marathon; empty when unknown.
	Leader      string
	FrameworkID string
	// Master is marathon_config.master, e.g. "zk://zk1:2181/mesos".
	Master           string
	MesosLeaderUIURL string
	LocalPortMin     int
	LocalPortMax     int
	// ZooKeeper is zookeeper_config.zk, Marathon's own state ZooKeeper URL.
	ZooKeeper string
	HTTPPort  int
	HTTPSPort int
}

// DecodeInfo decodes the body of GET /v2/info.
func DecodeInfo(data []byte) (Info, error) {
	var in Info
	o, err := parseTop(data)
	if err == nil {
		err = readStrings(o, opt("name", &in.Name), opt("version", &in.Version), opt("buildref", &in.Buildref),
			opt("leader", &in.Leader), opt("frameworkId", &in.FrameworkID))
	}
	if err == nil {
		in.Elected, err = o.boolean("elected")
	}
	var mc, zc, hc object
	var ok bool
	if err == nil {
		if mc, ok, err = o.child("marathon_config"); ok {
			err = readStrings(mc, opt("master", &in.Master), opt("mesos_leader_ui_url", &in.MesosLeaderUIURL))
			if err == nil {
				in.LocalPortMin, err = mc.intOr("local_port_min", 0)
			}
			if err == nil {
				in.LocalPortMax, err = mc.intOr("local_port_max", 0)
			}
		}
	}
	if err == nil {
		if zc, ok, err = o.child("zookeeper_config"); ok {
			err = readStrings(zc, opt("zk", &in.ZooKeeper))
		}
	}
	if err == nil {
		if hc, ok, err = o.child("http_config"); ok {
			in.HTTPPort, err = hc.intOr("http_port", 0)
			if err == nil {
				in.HTTPSPort, err = hc.intOr("https_port", 0)
			}
		}
	}
	if err != nil {
		return Info{}, fmt.Errorf("marathon info: %w", err)
	}
	return in, nil
}

type infoJSON struct {
	Name           string  `json:"name"`
	Version        string  `json:"version"`
	Buildref       string  `json:"buildref"`
	Elected        bool    `json:"elected"`
	Leader         *string `json:"leader"`
	FrameworkID    *string `json:"frameworkId"`
	MarathonConfig struct {
		LocalPortMax     int    `json:"local_port_max"`
		LocalPortMin     int    `json:"local_port_min"`
		Master           string `json:"master"`
		MesosLeaderUIURL string `json:"mesos_leader_ui_url,omitempty"`
	} `json:"marathon_config"`
	ZooKeeperConfig struct {
		ZK string `json:"zk"`
	} `json:"zookeeper_config"`
	HTTPConfig struct {
		HTTPPort  int `json:"http_port"`
		HTTPSPort int `json:"https_port"`
	} `json:"http_config"`
}

// EncodeInfo writes in as GET /v2/info; a missing leader or framework id is
// null, as Marathon writes it before an election.
func EncodeInfo(in Info) ([]byte, error) {
	j := infoJSON{Name: in.Name, Version: in.Version, Buildref: in.Buildref, Elected: in.Elected,
		Leader: nullable(in.Leader), FrameworkID: nullable(in.FrameworkID)}
	j.MarathonConfig.LocalPortMax = in.LocalPortMax
	j.MarathonConfig.LocalPortMin = in.LocalPortMin
	j.MarathonConfig.Master = in.Master
	j.MarathonConfig.MesosLeaderUIURL = in.MesosLeaderUIURL
	j.ZooKeeperConfig.ZK = in.ZooKeeper
	j.HTTPConfig.HTTPPort = in.HTTPPort
	j.HTTPConfig.HTTPSPort = in.HTTPSPort
	return marshal(j)
}
