package marathon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
)

// FieldError reports a JSON value of the wrong shape, or a missing value that
// is needed. Field is the dotted path inside the document or element being
// decoded ("labels", "container.docker.portMappings[1].hostPort"); it is
// empty when the element itself has the wrong shape.
type FieldError struct {
	Field    string
	Expected string
	Got      string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("expected %s, got %s", e.Expected, e.Got)
	}
	return fmt.Sprintf("field %q: expected %s, got %s", e.Field, e.Expected, e.Got)
}

// ElementError reports one element of a list (an app, or a task) that could
// not be decoded and was skipped. Path locates it ("apps[2]",
// "apps[0].tasks[3]") and ID is its id when that could be read, so that an
// operator can find the offending definition in Marathon.
type ElementError struct {
	Path string
	ID   string
	Err  error
}

func (e *ElementError) Error() string {
	if e.ID != "" {
		return fmt.Sprintf("%s (id %q): %v", e.Path, e.ID, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *ElementError) Unwrap() error { return e.Err }

// kind names the JSON type of a raw value by its first byte. The value has
// already been validated by encoding/json, so the first byte decides.
func kind(raw json.RawMessage) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func isNull(raw json.RawMessage) bool { return kind(raw) == "null" }

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func index(prefix string, i int) string { return fmt.Sprintf("%s[%d]", prefix, i) }

// object is a JSON object whose members are read one by one, each with its
// path for error messages. Reading member by member, rather than into tagged
// structs, is what lets the decoder ignore every field it does not need while
// naming exactly the field that is wrong, treat null like absence (as
// marathon-lb does by stripping nulls), and tell "absent" from "zero" where
// that matters (hostPort, portIndex).
type object struct {
	path string
	m    map[string]json.RawMessage
}

// asObject parses raw as a JSON object located at path.
func asObject(raw json.RawMessage, path string) (object, error) {
	if k := kind(raw); k != "object" {
		return object{}, &FieldError{Field: path, Expected: "object", Got: k}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return object{}, &FieldError{Field: path, Expected: "object", Got: "invalid JSON"}
	}
	return object{path: path, m: m}, nil
}

// get returns a member that is present and not null.
func (o object) get(key string) (json.RawMessage, bool) {
	raw, ok := o.m[key]
	if !ok || isNull(raw) {
		return nil, false
	}
	return raw, true
}

func (o object) has(key string) bool {
	_, ok := o.get(key)
	return ok
}

func (o object) str(key string) (string, error) {
	raw, ok := o.get(key)
	if !ok {
		return "", nil
	}
	return asString(raw, join(o.path, key))
}

// reqStr reads a string that must be present and non-empty.
func (o object) reqStr(key string) (string, error) {
	raw, ok := o.get(key)
	if !ok {
		return "", &FieldError{Field: join(o.path, key), Expected: "non-empty string", Got: "nothing"}
	}
	s, err := asString(raw, join(o.path, key))
	if err == nil && s == "" {
		err = &FieldError{Field: join(o.path, key), Expected: "non-empty string", Got: "empty string"}
	}
	return s, err
}

func asString(raw json.RawMessage, path string) (string, error) {
	if k := kind(raw); k != "string" {
		return "", &FieldError{Field: path, Expected: "string", Got: k}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", &FieldError{Field: path, Expected: "string", Got: "invalid JSON"}
	}
	return s, nil
}

// integer reads an integer member; present is false when it is absent or null.
func (o object) integer(key string) (v int, present bool, err error) {
	raw, ok := o.get(key)
	if !ok {
		return 0, false, nil
	}
	v, err = asInt(raw, join(o.path, key))
	return v, err == nil, err
}

func (o object) intOr(key string, def int) (int, error) {
	v, ok, err := o.integer(key)
	if err != nil || !ok {
		return def, err
	}
	return v, nil
}

func (o object) intPtr(key string) (*int, error) {
	v, ok, err := o.integer(key)
	if err != nil || !ok {
		return nil, err
	}
	return &v, nil
}

// maxExactInt is the largest integer a float64 holds exactly; a number
// written with a fraction or exponent beyond it is no port or count.
const maxExactInt = 1 << 53

func asInt(raw json.RawMessage, path string) (int, error) {
	if k := kind(raw); k != "number" {
		return 0, &FieldError{Field: path, Expected: "integer", Got: k}
	}
	s := string(bytes.TrimSpace(raw))
	if v, err := strconv.ParseInt(s, 10, 0); err == nil {
		return int(v), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > maxExactInt {
		return 0, &FieldError{Field: path, Expected: "integer", Got: "number " + s}
	}
	return int(f), nil
}

func (o object) boolean(key string) (bool, error) {
	raw, ok := o.get(key)
	if !ok {
		return false, nil
	}
	return asBool(raw, join(o.path, key))
}

func (o object) boolPtr(key string) (*bool, error) {
	raw, ok := o.get(key)
	if !ok {
		return nil, nil
	}
	b, err := asBool(raw, join(o.path, key))
	if err != nil {
		return nil, err
	}
	return &b, nil
}

func asBool(raw json.RawMessage, path string) (bool, error) {
	if k := kind(raw); k != "boolean" {
		return false, &FieldError{Field: path, Expected: "boolean", Got: k}
	}
	return bytes.HasPrefix(bytes.TrimSpace(raw), []byte("true")), nil
}

// array reads an array member; present is false when it is absent or null.
func (o object) array(key string) (elems []json.RawMessage, present bool, err error) {
	raw, ok := o.get(key)
	if !ok {
		return nil, false, nil
	}
	elems, err = asArray(raw, join(o.path, key))
	return elems, err == nil, err
}

func asArray(raw json.RawMessage, path string) ([]json.RawMessage, error) {
	if k := kind(raw); k != "array" {
		return nil, &FieldError{Field: path, Expected: "array", Got: k}
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, &FieldError{Field: path, Expected: "array", Got: "invalid JSON"}
	}
	return elems, nil
}

// child reads an object member; present is false when it is absent or null.
func (o object) child(key string) (c object, present bool, err error) {
	raw, ok := o.get(key)
	if !ok {
		return object{}, false, nil
	}
	c, err = asObject(raw, join(o.path, key))
	return c, err == nil, err
}

// ints reads an array of integers; an empty array gives nil so that decoded
// values compare equal whether Marathon wrote [] or nothing.
func (o object) ints(key string) ([]int, error) { return list(o, key, asInt) }

// strs reads an array of strings, as ints does.
func (o object) strs(key string) ([]string, error) { return list(o, key, asString) }

// list reads an array member whose elements as reads, naming each by its
// index on error; an empty or absent array gives nil.
func list[T any](o object, key string, as func(json.RawMessage, string) (T, error)) ([]T, error) {
	elems, _, err := o.array(key)
	if err != nil || len(elems) == 0 {
		return nil, err
	}
	out := make([]T, len(elems))
	for i, e := range elems {
		if out[i], err = as(e, index(join(o.path, key), i)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// labels reads a Marathon label object. Marathon labels are a string map;
// a value of any other type is an error naming the label, because a consumer
// such as the LB would otherwise act on a half-understood app. A null value
// counts as absent, as after marathon-lb's null stripping. An empty object
// gives nil.
func (o object) labels(key string) (map[string]string, error) {
	c, ok, err := o.child(key)
	if err != nil || !ok || len(c.m) == 0 {
		return nil, err
	}
	out := make(map[string]string, len(c.m))
	// Sorted, so that of several bad labels the same one is always reported.
	for _, k := range slices.Sorted(maps.Keys(c.m)) {
		raw := c.m[k]
		if isNull(raw) {
			continue
		}
		if out[k], err = asString(raw, join(c.path, k)); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
