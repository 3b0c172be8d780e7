package registry

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// Size is a number of bytes. In a config it is written as a number (1024) or
// with a unit: 1KB, 1MB, 1GB (powers of 1000) or 1KiB, 1MiB, 1GiB (powers of
// 1024). A bare "K" or "M" is read as the binary unit, as nginx does.
type Size int64

// ParseSize parses a size such as "64MB", "1MiB" or "1024".
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty size")
	}
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.ToUpper(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if !ok || num == "" {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes such as 1024, 512KB or 1MiB", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid size %q: want a non-negative number of bytes such as 1024, 512KB or 1MiB", s)
	}
	v := f * float64(mult)
	if v > float64(1<<62) {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return Size(v), nil
}

var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"KB": 1000, "MB": 1000 * 1000, "GB": 1000 * 1000 * 1000,
	"K": 1 << 10, "M": 1 << 20, "G": 1 << 30,
	"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30,
}

// String renders the size in the largest binary unit that divides it.
func (s Size) String() string {
	switch {
	case s != 0 && s%(1<<30) == 0:
		return strconv.FormatInt(int64(s>>30), 10) + "GiB"
	case s != 0 && s%(1<<20) == 0:
		return strconv.FormatInt(int64(s>>20), 10) + "MiB"
	case s != 0 && s%(1<<10) == 0:
		return strconv.FormatInt(int64(s>>10), 10) + "KiB"
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalText renders the size as String does, so that effective configs
// print as they were written.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a size as ParseSize does.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

var (
	sizeType     = reflect.TypeFor[Size]()
	durationType = reflect.TypeFor[time.Duration]()
)

// decodeHook converts the scalar forms a config file may use: sizes with
// units, Go durations and any encoding.TextUnmarshaler from a string. A bare
// number for a duration is refused (is 60 seconds or nanoseconds?).
func decodeHook(from, to reflect.Type, data any) (any, error) {
	switch to {
	case sizeType:
		switch v := data.(type) {
		case string:
			return ParseSize(v)
		case int, int64, uint64, float64, int32, uint32, uint, float32:
			n := reflect.ValueOf(v).Convert(reflect.TypeFor[float64]()).Float()
			if n < 0 {
				return nil, fmt.Errorf("invalid size %v: must not be negative", v)
			}
			return Size(n), nil
		}
	case durationType:
		switch v := data.(type) {
		case string:
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				return nil, fmt.Errorf("invalid duration %q: want a Go duration such as 250ms, 60s or 5m", v)
			}
			return d, nil
		case int, int64, float64:
			if reflect.ValueOf(v).Convert(reflect.TypeFor[float64]()).Float() == 0 {
				return time.Duration(0), nil
			}
			return nil, fmt.Errorf("invalid duration %v: want a Go duration with a unit, such as 250ms, 60s or 5m", v)
		}
	}
	switch to.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if f, ok := data.(float64); ok && f != float64(int64(f)) {
			return nil, fmt.Errorf("expected a whole number, got %v", f)
		}
	}
	if s, ok := data.(string); ok && from.Kind() == reflect.String {
		if reflect.PointerTo(to).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
			p := reflect.New(to)
			if err := p.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
				return nil, err
			}
			return p.Elem().Interface(), nil
		}
	}
	return data, nil
}

// FieldError is one decoding error: the key path below the decoded value and
// what was wrong with it.
type FieldError struct {
	Key string
	Msg string
}

func (e *FieldError) Error() string {
	if e.Key == "" {
		return e.Msg
	}
	return e.Key + ": " + e.Msg
}

// DecodeErrors lists every problem that strict decoding found, sorted by key.
type DecodeErrors []*FieldError

func (e DecodeErrors) Error() string {
	parts := make([]string, len(e))
	for i, fe := range e {
		parts[i] = fe.Error()
	}
	return strings.Join(parts, "; ")
}

// Decode decodes input (as parsed from YAML, TOML or JSON) into out, a pointer
// to a struct with `koanf` tags, strictly: unknown keys and values of the wrong
// type are errors, never silently dropped or coerced. Durations, sizes and
// encoding.TextUnmarshaler types decode from strings. The error, when not nil,
// is a DecodeErrors whose keys are relative to input.
func Decode(input any, out any) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           out,
		TagName:          "koanf",
		ErrorUnused:      true,
		WeaklyTypedInput: false,
		DecodeHook:       decodeHook,
		RootName:         rootName,
		// Keys are case-sensitive: `Rate:` is a typo, not `rate:`.
		MatchName: func(mapKey, fieldName string) bool { return mapKey == fieldName },
	})
	if err != nil {
		panic("registry: decoder: " + err.Error())
	}
	if err := dec.Decode(input); err != nil {
		return toDecodeErrors(err)
	}
	return nil
}

func toDecodeErrors(err error) DecodeErrors {
	var out DecodeErrors
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		de, ok := err.(*mapstructure.DecodeError)
		if !ok {
			if inner := errors.Unwrap(err); inner != nil {
				walk(inner)
				return
			}
		}
		if ok {
			msg := de.Unwrap().Error()
			if keys, ok := strings.CutPrefix(msg, "has invalid keys: "); ok {
				for k := range strings.SplitSeq(keys, ", ") {
					out = append(out, &FieldError{Key: joinKey(stripRoot(de.Name()), k), Msg: "unknown key"})
				}
				return
			}
			out = append(out, &FieldError{Key: stripRoot(de.Name()), Msg: cleanMsg(msg)})
			return
		}
		out = append(out, &FieldError{Msg: cleanMsg(err.Error())})
	}
	walk(err)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// kindWord names a Go kind or type as a config author knows it: list, map,
// or the name itself for scalars.
func kindWord(t string) string {
	switch {
	case strings.HasPrefix(t, "[]") || t == "slice" || t == "array":
		return "list"
	case strings.HasPrefix(t, "map") || t == "struct":
		return "map"
	}
	return t
}

// rootName marks the decoded value's root in mapstructure's key paths.
const rootName = "\x00"

func stripRoot(name string) string {
	if name == rootName {
		return ""
	}
	return strings.TrimPrefix(name, rootName+".")
}

func joinKey(parent, k string) string {
	if parent == "" {
		return k
	}
	return parent + "." + k
}

// cleanMsg turns mapstructure's wording into what a config author expects.
func cleanMsg(msg string) string {
	msg = strings.TrimPrefix(msg, "decoding failed due to the following error(s):\n\n")
	// source data must be an array or slice, got string
	if got, ok := strings.CutPrefix(msg, "source data must be an array or slice, got "); ok {
		return "expected list, got " + kindWord(got)
	}
	// expected a map or struct, got "string"
	if got, ok := strings.CutPrefix(msg, "expected a map or struct, got "); ok {
		return "expected map, got " + kindWord(strings.Trim(got, `"`))
	}

	if strings.Contains(msg, "expected type") {
		// 'rate' expected type 'int', got unconvertible type 'string', value: 'fast'
		if i := strings.Index(msg, "expected type"); i >= 0 {
			msg = msg[i:]
		}
		msg = strings.ReplaceAll(msg, "'", "")
		msg = strings.Replace(msg, "expected type", "expected", 1)
		msg = strings.Replace(msg, "got unconvertible type", "got", 1)
	}
	// expected map[string]string, got []interface {}
	if rest, ok := strings.CutPrefix(msg, "expected map["); ok {
		if _, got, ok := strings.Cut(rest, ", got "); ok {
			return "expected map, got " + kindWord(got)
		}
	}
	return msg
}
