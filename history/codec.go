package history

import (
	"encoding/json"
	"errors"
	"fmt"

	gojson "github.com/goccy/go-json"
)

// ErrSchema means a line is valid JSON but not a valid event.
var ErrSchema = errors.New("not a history event")

// Encode returns e as one JSON line without the trailing newline.
func Encode(e *Event) ([]byte, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %d: %w", e.Seq, err)
	}
	return data, nil
}

// Decode parses and validates one line (without its newline).
//
// A line is parsed by github.com/goccy/go-json, several times faster than
// encoding/json and decoding every line to the same Event (FuzzDecodersAgree checks
// it). A line that it rejects is parsed again by encoding/json, so that what Decode
// accepts, and the errors of what it does not, are encoding/json's as before.
func Decode(line []byte) (Event, error) {
	var e Event
	if err := gojson.Unmarshal(line, &e); err != nil {
		e = Event{}
		if err := json.Unmarshal(line, &e); err != nil {
			return Event{}, fmt.Errorf("decode: %w", err)
		}
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// Validate checks the envelope: a known version, a sequence number, a time, and
// exactly the payload that the type names.
func (e *Event) Validate() error {
	switch {
	case e.V < 1 || e.V > SchemaVersion:
		return fmt.Errorf("%w: schema version %d, want 1..%d", ErrSchema, e.V, SchemaVersion)
	case e.Seq == 0:
		return fmt.Errorf("%w: no seq", ErrSchema)
	case e.Time.IsZero():
		return fmt.Errorf("%w: no time", ErrSchema)
	}
	want, n := e.payload()
	if n != 1 {
		return fmt.Errorf("%w: %d payloads, want exactly one", ErrSchema, n)
	}
	if want != e.Type {
		return fmt.Errorf("%w: type %q with a %s payload", ErrSchema, e.Type, want)
	}
	return nil
}

// payload returns the type of the payload set and how many are set.
func (e *Event) payload() (Type, int) {
	var t Type
	n := 0
	set := func(ok bool, typ Type) {
		if ok {
			t = typ
			n++
		}
	}
	set(e.Meta != nil, TypeMeta)
	set(e.Op != nil, TypeOp)
	set(e.Watch != nil, TypeWatch)
	set(e.Fault != nil, TypeFault)
	set(e.Docker != nil, TypeDocker)
	set(e.Probe != nil, TypeProbe)
	return t, n
}
