package mesosstate

import (
	"errors"
	"fmt"
)

// FieldError is a value of the wrong type, or one that does not parse, such
// as a ports string that is not a range list.
type FieldError struct {
	// Field is the path of the value, relative to the skipped agent,
	// framework or task ("statuses[0].timestamp"), or to the document for a
	// top-level error ("slaves"). It is empty when the element itself has the
	// wrong type.
	Field string
	// Msg says what was wrong ("expected number, got string").
	Msg string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return fmt.Sprintf("field %q: %s", e.Field, e.Msg)
}

// SkipError reports one agent, framework or task that Decode left out of the
// model because it was malformed. The rest of the document is unaffected.
type SkipError struct {
	// Path locates the element in the document ("frameworks[1].tasks[3]");
	// indices are those of the JSON arrays.
	Path string
	// ID is the element's id when it had one.
	ID string
	// Err is a *FieldError or ErrMissingID.
	Err error
}

func (e *SkipError) Error() string {
	if e.ID != "" {
		return fmt.Sprintf("%s (id %q): %v", e.Path, e.ID, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *SkipError) Unwrap() error { return e.Err }

// ErrMissingID is why an agent, framework or task without an id is skipped:
// every consumer keys on ids, so such an element is unusable.
var ErrMissingID = errors.New(`missing field "id"`)

// SyntaxError reports input that is not JSON; Offset is the byte offset at
// which the scanner gave up.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.Offset, e.Msg)
}
