package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Loader reads configurations. Its zero value uses the real system:
// /etc/resolv.conf and the host's interface addresses (for the resolvers
// fallback), $HOME (for "~/" in Load) and the clock (for SOASerial). Tests
// set the parts they need, so nothing depends on the machine they run on.
type Loader struct {
	// ResolvConf is read when "resolvers" is explicitly empty and
	// "externalon" is true; default "/etc/resolv.conf".
	ResolvConf string
	// LocalAddrs lists this host's own addresses, which are dropped from the
	// resolv.conf nameservers so that Signpost never forwards to itself;
	// default: every interface address.
	LocalAddrs func() ([]netip.Addr, error)
	// Getenv reads $HOME and $USERPROFILE for "~/"; default os.Getenv.
	Getenv func(string) string
	// Now gives the start-up time used as SOASerial; default time.Now.
	Now func() time.Time
}

// Parse reads a config.json with the real system; see Loader.Parse.
func Parse(data []byte) (Config, []string, error) { return Loader{}.Parse(data) }

// Load reads a config file with the real system; see Loader.Load.
func Load(path string) (Config, []string, error) { return Loader{}.Load(path) }

// Load reads the configuration file at path, as `mesos-dns -config=path`
// does: a leading "~/" is replaced by $HOME (else $USERPROFILE, else "."),
// the path is made absolute and stored in File, then the content goes
// through Parse. Errors name the file.
func (l Loader) Load(path string) (Config, []string, error) {
	abs, err := filepath.Abs(l.expandHome(path))
	if err != nil {
		return Config{}, nil, fmt.Errorf("config file %q: %w", path, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in the message
		}
		return Config{}, nil, fmt.Errorf("config file %q: %w", abs, err)
	}
	c, warnings, err := l.Parse(data)
	for i, w := range warnings {
		warnings[i] = fmt.Sprintf("config file %q: %s", abs, w)
	}
	if err != nil {
		return Config{}, warnings, fmt.Errorf("config file %q: %w", abs, err)
	}
	c.File = abs
	return c, warnings, nil
}

// expandHome replaces a leading "~/" like Mesos-DNS. (Mesos-DNS replaces
// the first "~/" anywhere in the path; only a leading one is meant, and only
// that one is replaced here.)
func (l Loader) expandHome(path string) string {
	rest, ok := strings.CutPrefix(path, "~/")
	if !ok {
		return path
	}
	getenv := l.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	home := "."
	for _, name := range []string{"HOME", "USERPROFILE"} { // *nix, then Windows
		if dir := getenv(name); dir != "" {
			home = dir
			break
		}
	}
	return home + "/" + rest
}

// Parse reads the content of a config.json: the keys it sets override
// Defaults, then the result is normalised and validated like Mesos-DNS does
// at start-up.
//
// Keys are matched case-insensitively, as encoding/json matches them for
// Mesos-DNS ("httpport", "HttpPort" and "HTTPPort" are one key). A key given
// twice keeps its last value, again as encoding/json does. Unknown keys, and
// values Mesos-DNS silently ignores or accepts although they cannot be what
// the operator meant, come back as warnings: they never stop the server.
//
// A value of the wrong JSON type, and every broken validation rule, is an
// error naming the key (as written in the file), e.g.
// `config key "port": expected a number, got string`. All problems found are
// reported together in an Errors value, on one line. On error the returned
// Config is the zero value.
func (l Loader) Parse(data []byte) (Config, []string, error) {
	p := &parser{l: l, c: Defaults(), written: map[string]string{}}
	p.decode(data)
	if len(p.errs) == 0 {
		p.normalise()
		p.validate()
	}
	if len(p.errs) > 0 {
		return Config{}, p.warnings, p.errs
	}
	return p.c, p.warnings, nil
}

// Error is one problem with one configuration key.
type Error struct {
	// Key is the key as written in the file ("httpport", "masters"), or its
	// documented spelling when the file does not set it; "" when the problem
	// is the file as a whole.
	Key string
	// Msg says what is wrong.
	Msg string
}

func (e *Error) Error() string {
	if e.Key == "" {
		return "config: " + e.Msg
	}
	return fmt.Sprintf("config key %q: %s", e.Key, e.Msg)
}

// Errors is every problem Parse found, in the order of the file and then of
// the rules. Its message is one line, so that a command can print it as is.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// parser holds one Parse call's state.
type parser struct {
	l        Loader
	c        Config
	warnings []string
	errs     Errors
	// written maps a field name to the key as the file last wrote it, so
	// that messages use the operator's spelling.
	written map[string]string
}

func (p *parser) errorf(key, format string, args ...any) {
	p.errs = append(p.errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) warnf(key, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if key != "" {
		msg = fmt.Sprintf("config key %q: %s", key, msg)
	} else {
		msg = "config: " + msg
	}
	p.warnings = append(p.warnings, msg)
}

// key returns how to name the field in a message.
func (p *parser) key(f *field) string {
	if k, ok := p.written[f.name]; ok {
		return k
	}
	return f.doc
}

// keyOf is key for a field given by name.
func (p *parser) keyOf(name string) string {
	return p.key(fieldByName(name))
}

// member is one "key": value pair of a JSON object, in file order.
type member struct {
	key   string
	value json.RawMessage
}

// decode overlays the file's keys on the defaults.
func (p *parser) decode(data []byte) {
	if len(bytes.TrimSpace(data)) == 0 {
		p.errorf("", "the file is empty; it must hold a JSON object")
		return
	}
	if !json.Valid(data) {
		p.errs = append(p.errs, syntaxError(data))
		return
	}
	switch k := kindOf(data); k {
	case "null": // encoding/json leaves the defaults alone
		p.warnf("", "the file holds null; every key keeps its default")
		return
	case "object":
	default:
		p.errorf("", "the file must hold a JSON object, got %s", k)
		return
	}
	ms, err := members(data)
	if err != nil {
		p.errorf("", "%v", err)
		return
	}
	first := map[string]string{}
	for _, m := range ms {
		f := lookup(m.key)
		if f == nil {
			p.warnf(m.key, "unknown key, ignored%s", suggest(m.key))
			continue
		}
		if prev, dup := first[f.name]; dup {
			if prev == m.key {
				p.warnf(m.key, "given more than once; the last value wins")
			} else {
				p.warnf(m.key, "same key as %q (keys ignore case); the last value wins", prev)
			}
		} else {
			first[f.name] = m.key
		}
		p.written[f.name] = m.key
		f.set(p, m.key, m.value)
	}
}

// syntaxError turns encoding/json's syntax error into a message with a line
// and column, which an operator can find in the file.
func syntaxError(data []byte) *Error {
	err := json.Unmarshal(data, new(any))
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return &Error{Msg: fmt.Sprintf("invalid JSON: %v", err)}
	}
	off := int(se.Offset) - 1 // Offset counts the offending byte
	if off < 0 {
		off = 0
	}
	if off > len(data) {
		off = len(data)
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return &Error{Msg: fmt.Sprintf("invalid JSON at line %d, column %d: %v", line, col, se)}
}

// members lists the pairs of a JSON object (already known to be valid),
// keeping duplicates and order, which a map would lose.
func members(raw []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, err
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("object key %v is not a string", tok)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{key: key, value: v})
	}
	return out, nil
}

// kindOf names the JSON type of a valid value, in the words of the error
// messages.
func kindOf(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// field is one configuration key.
type field struct {
	// name is the name encoding/json matches for Mesos-DNS: the Go field
	// name, or its json tag (HttpPort, DnsOn, HttpOn).
	name string
	// doc is the spelling of the documentation and of the spec's table,
	// used in messages when the file does not set the key.
	doc string
	// set decodes a value into the field, reporting type errors.
	set func(p *parser, key string, raw json.RawMessage)
}

// fields lists every key, in the order of Config.
var fields = []*field{
	intField("RefreshSeconds", "refreshSeconds", func(c *Config) *int { return &c.RefreshSeconds }),
	intField("Port", "port", func(c *Config) *int { return &c.Port }),
	intField("Timeout", "timeout", func(c *Config) *int { return &c.Timeout }),
	intField("StateTimeoutSeconds", "stateTimeoutSeconds", func(c *Config) *int { return &c.StateTimeoutSeconds }),
	intField("ZkDetectionTimeout", "zkDetectionTimeout", func(c *Config) *int { return &c.ZkDetectionTimeout }),
	intField("HttpPort", "httpport", func(c *Config) *int { return &c.HttpPort }),
	intField("TTL", "ttl", func(c *Config) *int32 { return &c.TTL }),
	intField("SRVRecordDefaultWeight", "srvRecordDefaultWeight", func(c *Config) *uint16 { return &c.SRVRecordDefaultWeight }),
	intField("SOASerial", "SOASerial", func(c *Config) *uint32 { return &c.SOASerial }),
	intField("SOARefresh", "SOARefresh", func(c *Config) *uint32 { return &c.SOARefresh }),
	intField("SOARetry", "SOARetry", func(c *Config) *uint32 { return &c.SOARetry }),
	intField("SOAExpire", "SOAExpire", func(c *Config) *uint32 { return &c.SOAExpire }),
	intField("SOAMinttl", "SOAMinttl", func(c *Config) *uint32 { return &c.SOAMinttl }),
	stringField("SOAMname", "SOAMname", func(c *Config) *string { return &c.SOAMname }),
	stringField("SOARname", "SOARname", func(c *Config) *string { return &c.SOARname }),
	stringsField("Masters", "masters", func(c *Config) *[]string { return &c.Masters }),
	{name: "ZoneResolvers", doc: "zoneResolvers", set: setZoneResolvers},
	stringsField("Resolvers", "resolvers", func(c *Config) *[]string { return &c.Resolvers }),
	stringsField("IPSources", "IPSources", func(c *Config) *[]string { return &c.IPSources }),
	stringField("Zk", "zk", func(c *Config) *string { return &c.Zk }),
	stringField("Domain", "domain", func(c *Config) *string { return &c.Domain }),
	stringField("File", "File", func(c *Config) *string { return &c.File }),
	stringField("Listener", "listener", func(c *Config) *string { return &c.Listener }),
	stringField("HTTPListener", "httplistener", func(c *Config) *string { return &c.HTTPListener }),
	boolField("RecurseOn", "recurseon", func(c *Config) *bool { return &c.RecurseOn }),
	boolField("DnsOn", "dnson", func(c *Config) *bool { return &c.DnsOn }),
	boolField("HttpOn", "httpon", func(c *Config) *bool { return &c.HttpOn }),
	boolField("ExternalOn", "externalon", func(c *Config) *bool { return &c.ExternalOn }),
	boolField("EnforceRFC952", "EnforceRFC952", func(c *Config) *bool { return &c.EnforceRFC952 }),
	boolField("SetTruncateBit", "SetTruncateBit", func(c *Config) *bool { return &c.SetTruncateBit }),
	boolField("EnumerationOn", "EnumerationOn", func(c *Config) *bool { return &c.EnumerationOn }),
	boolField("MesosHTTPSOn", "MesosHTTPSOn", func(c *Config) *bool { return &c.MesosHTTPSOn }),
	stringField("CACertFile", "CACertFile", func(c *Config) *string { return &c.CACertFile }),
	stringField("CertFile", "CertFile", func(c *Config) *string { return &c.CertFile }),
	stringField("KeyFile", "KeyFile", func(c *Config) *string { return &c.KeyFile }),
	{name: "MesosCredentials", doc: "MesosCredentials", set: setCredentials},
	stringField("IAMConfigFile", "IAMConfigFile", func(c *Config) *string { return &c.IAMConfigFile }),
	stringField("MesosAuthentication", "MesosAuthentication", func(c *Config) *string { return &c.MesosAuthentication }),
	boolField("HealthFilter", "healthFilter", func(c *Config) *bool { return &c.HealthFilter }),
	boolField("PTROn", "ptrOn", func(c *Config) *bool { return &c.PTROn }),
}

// lookup finds the field a JSON key selects, ignoring case with the same
// folding as encoding/json (bytes.EqualFold).
func lookup(key string) *field {
	for _, f := range fields {
		if strings.EqualFold(key, f.name) {
			return f
		}
	}
	return nil
}

// fieldByName finds a field by its exact name; the names are constants of
// this package, so a miss is a bug.
func fieldByName(name string) *field {
	for _, f := range fields {
		if f.name == name {
			return f
		}
	}
	panic("config: no field " + name)
}

// suggest names the known key closest to an unknown one, for typos such as
// "resolver" or "IPSource".
func suggest(key string) string {
	// At most 2 edits, and fewer than a third of the key, so that short
	// unrelated keys ("ns") get no far-fetched suggestion.
	best, bestD := "", min(3, (len(key)+2)/3)
	for _, f := range fields {
		if d := editDistance(strings.ToLower(key), strings.ToLower(f.doc)); d < bestD {
			best, bestD = f.doc, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// integer is every integer type of Config.
type integer interface {
	~int | ~int32 | ~uint16 | ~uint32
}

// intField decodes a JSON integer into an integer field. Like
// encoding/json, it refuses strings, fractions, exponents and values out of
// the type's range; null leaves the default, which encoding/json does too.
func intField[T integer](name, doc string, get func(*Config) *T) *field {
	lo, hi := rangeOf[T]()
	return &field{name: name, doc: doc, set: func(p *parser, key string, raw json.RawMessage) {
		switch k := kindOf(raw); k {
		case "number":
		case "null":
			p.warnf(key, "null ignored; the default %d is kept", *get(&p.c))
			return
		default:
			p.errorf(key, "expected a number, got %s", k)
			return
		}
		text := strings.TrimSpace(string(raw))
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				p.errorf(key, "%s is out of range (%d to %d)", text, lo, hi)
			} else {
				p.errorf(key, "expected an integer, got %s", text)
			}
			return
		}
		if n < lo || n > hi {
			p.errorf(key, "%d is out of range (%d to %d)", n, lo, hi)
			return
		}
		*get(&p.c) = T(n)
	}}
}

// rangeOf gives the range of an integer type.
func rangeOf[T integer]() (lo, hi int64) {
	var zero T
	switch any(zero).(type) {
	case int32:
		return -1 << 31, 1<<31 - 1
	case uint16:
		return 0, 1<<16 - 1
	case uint32:
		return 0, 1<<32 - 1
	default: // int, 64 bits on every platform Signpost builds for
		return -1 << 63, 1<<63 - 1
	}
}

// stringField decodes a JSON string; null leaves the default.
func stringField(name, doc string, get func(*Config) *string) *field {
	return &field{name: name, doc: doc, set: func(p *parser, key string, raw json.RawMessage) {
		switch k := kindOf(raw); k {
		case "string":
			_ = json.Unmarshal(raw, get(&p.c)) // valid JSON string: cannot fail
		case "null":
			p.warnf(key, "null ignored; the default %q is kept", *get(&p.c))
		default:
			p.errorf(key, "expected a string, got %s", k)
		}
	}}
}

// boolField decodes a JSON boolean (not "true" in quotes, which
// encoding/json refuses too); null leaves the default.
func boolField(name, doc string, get func(*Config) *bool) *field {
	return &field{name: name, doc: doc, set: func(p *parser, key string, raw json.RawMessage) {
		switch k := kindOf(raw); k {
		case "boolean":
			*get(&p.c) = bytes.HasPrefix(bytes.TrimSpace(raw), []byte("true"))
		case "null":
			p.warnf(key, "null ignored; the default %t is kept", *get(&p.c))
		default:
			p.errorf(key, "expected a boolean, got %s", k)
		}
	}}
}

// stringsField decodes an array of strings. null makes the list empty
// (nil), as encoding/json does; a null element becomes "".
func stringsField(name, doc string, get func(*Config) *[]string) *field {
	return &field{name: name, doc: doc, set: func(p *parser, key string, raw json.RawMessage) {
		list, ok := p.decodeStrings(key, raw)
		if ok {
			*get(&p.c) = list
		}
	}}
}

// decodeStrings decodes an array of strings (or null), reporting each bad
// element with its index.
func (p *parser) decodeStrings(key string, raw json.RawMessage) ([]string, bool) {
	switch k := kindOf(raw); k {
	case "array":
	case "null":
		return nil, true
	default:
		p.errorf(key, "expected an array of strings, got %s", k)
		return nil, false
	}
	var elems []json.RawMessage
	_ = json.Unmarshal(raw, &elems) // valid JSON array: cannot fail
	list := make([]string, len(elems))
	ok := true
	for i, e := range elems {
		switch k := kindOf(e); k {
		case "string":
			_ = json.Unmarshal(e, &list[i])
		case "null":
		default:
			p.errorf(key, "element %d: expected a string, got %s", i, k)
			ok = false
		}
	}
	return list, ok
}

// setZoneResolvers decodes {"zone": ["ip[:port]", ...]}. Like
// encoding/json, the entries are added to the map already there, so a key
// given twice merges; null sets no map at all.
func setZoneResolvers(p *parser, key string, raw json.RawMessage) {
	switch k := kindOf(raw); k {
	case "object":
	case "null":
		p.c.ZoneResolvers = nil
		return
	default:
		p.errorf(key, "expected an object mapping zones to arrays of resolvers, got %s", k)
		return
	}
	ms, err := members(raw)
	if err != nil {
		p.errorf(key, "%v", err)
		return
	}
	if p.c.ZoneResolvers == nil {
		p.c.ZoneResolvers = map[string][]string{}
	}
	seen := map[string]bool{}
	for _, m := range ms {
		if seen[m.key] {
			p.warnf(key, "zone %q given more than once; the last value wins", m.key)
		}
		seen[m.key] = true
		list, ok := p.decodeStrings(fmt.Sprintf("%s.%s", key, m.key), m.value)
		if ok {
			p.c.ZoneResolvers[m.key] = list
		}
	}
}

// setCredentials decodes {"principal": ..., "secret": ...} with the same
// case-insensitive matching; a key given twice merges, as encoding/json
// decodes into the struct already there.
func setCredentials(p *parser, key string, raw json.RawMessage) {
	switch k := kindOf(raw); k {
	case "object":
	case "null":
		return
	default:
		p.errorf(key, "expected an object with principal and secret, got %s", k)
		return
	}
	ms, err := members(raw)
	if err != nil {
		p.errorf(key, "%v", err)
		return
	}
	for _, m := range ms {
		var dst *string
		switch {
		case strings.EqualFold(m.key, "Principal"):
			dst = &p.c.MesosCredentials.Principal
		case strings.EqualFold(m.key, "Secret"):
			dst = &p.c.MesosCredentials.Secret
		default:
			p.warnf(key+"."+m.key, "unknown key, ignored (want principal and secret)")
			continue
		}
		switch k := kindOf(m.value); k {
		case "string":
			_ = json.Unmarshal(m.value, dst)
		case "null":
		default:
			p.errorf(key+"."+m.key, "expected a string, got %s", k)
		}
	}
}

// sortedKeys returns a map's keys in order, so that messages do not depend
// on map iteration.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
