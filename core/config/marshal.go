package config

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

var sizeType = reflect.TypeFor[Size]()

// Marshal renders a configuration as YAML that Load reads back to the same
// Config (and so the same Version): durations as Go durations (60s, 100ms),
// sizes with units (1MB, 64KiB), a handler registered in code in its short
// form (handler: NAME). Include is left out: the configuration is already
// the merge of every file. Keys come in the order of the reference, free-form
// maps (plugins, conditions) in key order.
func Marshal(c *Config) ([]byte, error) {
	if c == nil {
		return nil, fmt.Errorf("config: Marshal of a nil config")
	}
	cc := *c
	cc.Include = nil
	n, err := toNode(reflect.ValueOf(cc))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func scalar(v any) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	return &n, nil
}

func toNode(v reflect.Value) (*yaml.Node, error) {
	switch v.Type() {
	case durationType:
		return scalar(FormatDuration(time.Duration(v.Int())))
	case sizeType:
		s := FormatSize(Size(v.Int()))
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return scalar(n)
		}
		return scalar(s)
	case reflect.TypeFor[Handler]():
		h := v.Interface().(Handler)
		if h.Name != "" && h.Respond == nil && h.Static == nil && h.Proxy == nil {
			return scalar(h.Name)
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return scalar(nil)
		}
		return toNode(v.Elem())
	case reflect.Interface:
		if v.IsNil() {
			return scalar(nil)
		}
		return scalar(v.Interface())
	case reflect.Struct:
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			tag := koanfTag(f)
			if tag == "" || !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if strings.Contains(f.Tag.Get("json"), ",omitempty") && fv.IsZero() {
				continue
			}
			if fv.Kind() == reflect.Map && fv.Len() == 0 && strings.Contains(f.Tag.Get("json"), ",omitempty") {
				continue
			}
			vn, err := toNode(fv)
			if err != nil {
				return nil, err
			}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: tag}, vn)
		}
		return m, nil
	case reflect.Slice:
		s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if v.Len() == 0 || v.Type().Elem().Kind() == reflect.String {
			s.Style = yaml.FlowStyle
		}
		for i := range v.Len() {
			en, err := toNode(v.Index(i))
			if err != nil {
				return nil, err
			}
			s.Content = append(s.Content, en)
		}
		return s, nil
	case reflect.Map:
		m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			vn, err := toNode(v.MapIndex(k))
			if err != nil {
				return nil, err
			}
			kn, err := scalar(k.String())
			if err != nil {
				return nil, err
			}
			m.Content = append(m.Content, kn, vn)
		}
		return m, nil
	}
	return scalar(v.Interface())
}

// FormatDuration renders d in the largest unit that divides it exactly
// (90s stays 90s, 2m is 2m, 1500ms stays 1500ms), which time.ParseDuration
// reads back.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	units := []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "us"}}
	for _, u := range units {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

// FormatSize renders s in the largest unit, binary or decimal, that divides
// it exactly (1MB, 64KiB, 1536), which the size parser reads back.
func FormatSize(s Size) string {
	units := []struct {
		n    Size
		name string
	}{{1 << 30, "GiB"}, {1e9, "GB"}, {1 << 20, "MiB"}, {1e6, "MB"}, {1 << 10, "KiB"}, {1e3, "KB"}}
	if s > 0 {
		for _, u := range units {
			if s%u.n == 0 {
				return strconv.FormatInt(int64(s/u.n), 10) + u.name
			}
		}
	}
	return strconv.FormatInt(int64(s), 10)
}
