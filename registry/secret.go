package registry

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Redacted replaces the value of a secret wherever configuration is shown.
const Redacted = "REDACTED"

// minScrubLen is the shortest secret value that is scrubbed out of error
// messages: replacing every "a" of a message would make it unreadable, and
// a secret that short protects nothing.
const minScrubLen = 4

// secretTag is the struct tag that marks a config field secret:
//
//	Password string `koanf:"password" secret:"true"`
const secretTag = "secret"

// IsSecret reports whether a struct field is tagged secret:"true".
func IsSecret(f reflect.StructField) bool {
	return f.Tag.Get(secretTag) == "true"
}

// SecretKeys returns the key paths of the config fields of t tagged
// secret:"true", sorted, as dot-separated koanf names ("redis.password").
// A secret inside a list of structs is written with [] ("upstreams[].token"),
// inside a map with * ("tenants.*.key").
func (t *Type) SecretKeys() []string {
	var out []string
	var walk func(n *secretNode, prefix string)
	walk = func(n *secretNode, prefix string) {
		if n.secret {
			out = append(out, prefix)
			return
		}
		for _, k := range sortedNodeKeys(n.fields) {
			walk(n.fields[k], joinKey(prefix, k))
		}
		if n.elem != nil {
			walk(n.elem, prefix+"[]")
		}
		if n.value != nil {
			walk(n.value, joinKey(prefix, "*"))
		}
	}
	walk(secretsOf(t.cfgType), "")
	return out
}

// Redact returns a copy of an instance's keys (as written in the
// configuration, `type` included) in which the value of every field that the
// type tags secret:"true" is replaced by [Redacted]. keys is not changed;
// keys without a secret are shared with it.
func (t *Type) Redact(keys map[string]any) map[string]any {
	n := secretsOf(t.cfgType)
	if n.empty() || keys == nil {
		return keys
	}
	out, _ := redactWith(n, keys).(map[string]any)
	return out
}

// secretNode is the tree of a config type's secret fields.
type secretNode struct {
	secret bool
	fields map[string]*secretNode // struct fields by koanf name
	elem   *secretNode            // slice or array elements
	value  *secretNode            // map values
}

func (n *secretNode) empty() bool {
	return n == nil || !n.secret && len(n.fields) == 0 && n.elem == nil && n.value == nil
}

var secretCache sync.Map // reflect.Type -> *secretNode

// secretsOf returns the secret tree of a config type (nil when it has no
// secret field).
func secretsOf(t reflect.Type) *secretNode {
	if v, ok := secretCache.Load(t); ok {
		return v.(*secretNode)
	}
	n := buildSecrets(t, map[reflect.Type]bool{})
	secretCache.Store(t, n)
	return n
}

func buildSecrets(t reflect.Type, seen map[reflect.Type]bool) *secretNode {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if e := buildSecrets(t.Elem(), seen); !e.empty() {
			return &secretNode{elem: e}
		}
		return nil
	case reflect.Map:
		if e := buildSecrets(t.Elem(), seen); !e.empty() {
			return &secretNode{value: e}
		}
		return nil
	case reflect.Struct:
	default:
		return nil
	}
	if seen[t] {
		return nil
	}
	seen[t] = true
	defer delete(seen, t)
	n := &secretNode{fields: map[string]*secretNode{}}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && (name == "" || strings.Contains(opts, "squash")) || strings.Contains(opts, "squash") {
			if sub := buildSecrets(f.Type, seen); sub != nil {
				for k, v := range sub.fields {
					n.fields[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		if IsSecret(f) {
			n.fields[name] = &secretNode{secret: true}
			continue
		}
		if sub := buildSecrets(f.Type, seen); !sub.empty() {
			n.fields[name] = sub
		}
	}
	if n.empty() {
		return nil
	}
	return n
}

func sortedNodeKeys(m map[string]*secretNode) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// redactWith copies v (as parsed from a config file), replacing the values
// that n marks secret.
func redactWith(n *secretNode, v any) any {
	if n.empty() {
		return v
	}
	if n.secret {
		if v == nil || v == "" {
			return v
		}
		return Redacted
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			switch {
			case n.fields[k] != nil:
				out[k] = redactWith(n.fields[k], e)
			case n.value != nil:
				out[k] = redactWith(n.value, e)
			default:
				out[k] = e
			}
		}
		return out
	case []any:
		if n.elem == nil {
			return v
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactWith(n.elem, e)
		}
		return out
	}
	return v
}

// secretStrings collects the string values of v (a config as written, or a
// decoded config struct) that n marks secret.
func secretStrings(n *secretNode, v reflect.Value, out []string) []string {
	if n.empty() || !v.IsValid() {
		return out
	}
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return out
		}
		v = v.Elem()
	}
	if n.secret {
		return allStrings(v, out, 0)
	}
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("koanf"), ",")
			if f.Anonymous && name == "" || strings.Contains(opts, "squash") {
				out = secretStrings(n, v.Field(i), out)
				continue
			}
			if name == "" {
				name = f.Name
			}
			if c := n.fields[name]; c != nil {
				out = secretStrings(c, v.Field(i), out)
			}
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return out
		}
		iter := v.MapRange()
		for iter.Next() {
			if c := n.fields[iter.Key().String()]; c != nil {
				out = secretStrings(c, iter.Value(), out)
			} else if n.value != nil {
				out = secretStrings(n.value, iter.Value(), out)
			}
		}
	case reflect.Slice, reflect.Array:
		if n.elem != nil {
			for i := range v.Len() {
				out = secretStrings(n.elem, v.Index(i), out)
			}
		}
	}
	return out
}

// allStrings collects every string under v (a secret value may be a list or
// a map of strings).
func allStrings(v reflect.Value, out []string, depth int) []string {
	if depth > 16 || !v.IsValid() {
		return out
	}
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return out
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); len(s) >= minScrubLen {
			out = append(out, s)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			out = allStrings(v.Index(i), out, depth+1)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			out = allStrings(iter.Value(), out, depth+1)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				out = allStrings(v.Field(i), out, depth+1)
			}
		}
	}
	return out
}

// scrub replaces every secret of secrets in s.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	return s
}

// scrubError returns err with every secret value replaced in its message.
// A *FieldError or DecodeErrors keeps its type and keys; another error that
// holds a secret becomes a *FieldError (keeping the key of a *FieldError it
// wraps) or a plain error with the scrubbed message.
func scrubError(err error, secrets []string) error {
	if err == nil || len(secrets) == 0 || scrub(err.Error(), secrets) == err.Error() {
		return err
	}
	switch e := err.(type) {
	case DecodeErrors:
		out := make(DecodeErrors, len(e))
		for i, fe := range e {
			out[i] = &FieldError{Key: fe.Key, Msg: scrub(fe.Msg, secrets)}
		}
		return out
	case *FieldError:
		return &FieldError{Key: e.Key, Msg: scrub(e.Msg, secrets)}
	}
	msg := scrub(err.Error(), secrets)
	var fe *FieldError
	if errors.As(err, &fe) && fe.Key != "" {
		return &FieldError{Key: fe.Key, Msg: strings.TrimPrefix(msg, fe.Key+": ")}
	}
	return errors.New(msg)
}

// scrubSecretKeys replaces the message of a decoding error about a secret
// key, whose wording may quote the value, by one that does not.
func scrubSecretKeys(n *secretNode, err error) error {
	de, ok := err.(DecodeErrors)
	if !ok || n.empty() {
		return err
	}
	out := make(DecodeErrors, len(de))
	for i, fe := range de {
		out[i] = fe
		if fe.Msg != "unknown key" && underSecret(n, fe.Key) {
			out[i] = &FieldError{Key: fe.Key, Msg: "invalid value (" + Redacted + ")" + typeHint(fe.Msg)}
		}
	}
	return out
}

// typeHint keeps the "expected X, got Y" part of a message, which names
// types and never values.
func typeHint(msg string) string {
	if i := strings.Index(msg, "expected "); i >= 0 {
		hint := msg[i:]
		if j := strings.Index(hint, ", got "); j >= 0 {
			rest := hint[j+len(", got "):]
			if k := strings.IndexAny(rest, ",: "); k >= 0 {
				rest = rest[:k]
			}
			return ": " + hint[:j] + ", got " + rest
		}
	}
	return ""
}

// underSecret reports whether the key path (as FieldError keys spell it,
// with [i] for list elements) lies under a secret field.
func underSecret(n *secretNode, key string) bool {
	for _, seg := range strings.Split(key, ".") {
		if n.empty() {
			return false
		}
		if n.secret {
			return true
		}
		name, idx, _ := strings.Cut(seg, "[")
		next := n.fields[name]
		if next == nil && n.value != nil {
			next = n.value
		}
		n = next
		for ; idx != "" && n != nil; _, idx, _ = strings.Cut(idx, "[") {
			if n.secret {
				return true
			}
			n = n.elem
		}
	}
	return n != nil && n.secret
}

// secretsOfConfig lists the secret strings of a decoded config and of the
// keys it was decoded from.
func (t *Type) secretsOfConfig(cfg any, keys map[string]any) []string {
	n := secretsOf(t.cfgType)
	if n.empty() {
		return nil
	}
	var out []string
	if cfg != nil {
		out = secretStrings(n, reflect.ValueOf(cfg), out)
	}
	if keys != nil {
		out = secretStrings(n, reflect.ValueOf(keys), out)
	}
	return out
}
