package config

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"time"
)

// hash computes Loaded.Hash: the scheme of hotreload.Hash over the files
// (the in-memory main file of LoadBytes first, under its name), then the
// environment overrides.
func (ld *loader) hash(mainName string, mainData []byte, onDisk bool) string {
	outer := sha256.New()
	var buf [8]byte
	writeStr := func(s string) {
		binary.BigEndian.PutUint64(buf[:], uint64(len(s)))
		outer.Write(buf[:])
		io.WriteString(outer, s)
	}
	writeFile := func(name string, data []byte, err error) {
		writeStr(name)
		switch {
		case err != nil && errors.Is(err, fs.ErrNotExist):
			outer.Write([]byte{'M'})
		case err != nil:
			outer.Write([]byte{'U'})
		default:
			sum := sha256.Sum256(data)
			outer.Write([]byte{'P'})
			outer.Write(sum[:])
		}
	}
	if !onDisk {
		writeFile(mainName, mainData, nil)
	}
	for _, f := range ld.files {
		writeFile(f, ld.fileData[f], ld.fileErr[f])
	}
	for _, ov := range ld.env {
		writeStr("env " + ov.name + "=" + ov.raw)
	}
	return hex.EncodeToString(outer.Sum(nil))
}

// normalizeValue makes parsed values uniform across formats: keys set to
// null are dropped (null means "not set"), map keys are strings, integers are int (a float with an integral value too, as JSON
// gives every number as a float), and timestamps, TOML dates and other
// exotic scalars become strings. So the same config in YAML, TOML and JSON
// decodes to the same Config.
func normalizeValue(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("values nested more than %d levels deep", maxDepth)
	}
	switch x := v.(type) {
	case nil, string, bool, int:
		return v, nil
	case map[string]any:
		for k, e := range x {
			if e == nil {
				// A key set to null, or left empty (`server:`), is not set:
				// it must not wipe out a default or an earlier file's value.
				delete(x, k)
				continue
			}
			n, err := normalizeValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
		return x, nil
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			if e == nil {
				continue
			}
			n, err := normalizeValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = n
		}
		return m, nil
	case []any:
		for i, e := range x {
			n, err := normalizeValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
		return x, nil
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalizeValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case int8:
		return int(x), nil
	case int16:
		return int(x), nil
	case int32:
		return int(x), nil
	case int64:
		return int(x), nil
	case uint8:
		return int(x), nil
	case uint16:
		return int(x), nil
	case uint32:
		return int(x), nil
	case uint:
		if x <= math.MaxInt {
			return int(x), nil
		}
		return x, nil
	case uint64:
		if x <= math.MaxInt {
			return int(x), nil
		}
		return x, nil
	case float32:
		return normalizeFloat(float64(x)), nil
	case float64:
		return normalizeFloat(x), nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case encoding.TextMarshaler:
		b, err := x.MarshalText()
		if err != nil {
			return fmt.Sprint(v), nil
		}
		return string(b), nil
	case fmt.Stringer:
		return x.String(), nil
	}
	return fmt.Sprint(v), nil
}

func normalizeFloat(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case f == math.Trunc(f) && math.Abs(f) <= 1<<53:
		return int(f)
	}
	return f
}

// typeName describes a parsed value's type for error messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nothing (null)"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, uint:
		return "an integer"
	case float64, float32:
		return "a number"
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// version hashes the canonical JSON of the config (Include left out: what
// counts is the merged result, not how it was split into files). Defaults
// written out count as left out (see effectiveForVersion), so that what
// MarshalEffective prints has the version of the config it came from.
func version(c *Config, sections map[string]map[string]any) (string, error) {
	cc := effectiveForVersion(c, sections)
	b, err := json.Marshal(&cc)
	if err != nil {
		return "", fmt.Errorf("config cannot be hashed: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6]), nil
}
