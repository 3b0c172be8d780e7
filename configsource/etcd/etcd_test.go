package etcd

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, url string
		want      Options
		err       string
	}{
		{"one endpoint", "etcd://127.0.0.1:2379/switchyard/config.yaml",
			Options{Endpoints: []string{"http://127.0.0.1:2379"}, Key: "/switchyard/config.yaml"}, ""},
		{"several endpoints and parameters", "etcd://a:1,b:2,c:3/k?format=json&cache_file=/var/lib/sy.json",
			Options{Endpoints: []string{"http://a:1", "http://b:2", "http://c:3"}, Key: "/k", Format: "json", CacheFile: "/var/lib/sy.json"}, ""},
		{"not etcd", "file:///x", Options{}, "not an etcd:// URL"},
		{"no key", "etcd://a:1", Options{}, "no key"},
		{"empty key", "etcd://a:1/", Options{}, "no key"},
		{"empty host", "etcd://a:1,,b:2/k", Options{}, "empty host"},
		{"unknown parameter", "etcd://a:1/k?user=x", Options{}, `unknown parameter "user"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.url)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	o, err := Parse("etcd://h:1/k?tls=1")
	if err != nil || o.TLS == nil || o.Endpoints[0] != "https://h:1" {
		t.Errorf("tls=1: %+v, %v", o, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"etcd://127.0.0.1:2379/a.yaml", "etcd://a:1,b:2/k?format=toml", "etcd://", "etcd:///k?%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := Parse(s)
		if err != nil {
			return
		}
		if len(o.Endpoints) == 0 || !strings.HasPrefix(o.Key, "/") || len(o.Key) < 2 {
			t.Fatalf("Parse(%q) = %+v without an error", s, o)
		}
	})
}

func TestNewFormat(t *testing.T) {
	tests := []struct{ key, format, wantName, err string }{
		{"/c.yaml", "", "etcd://h:1/c.yaml", ""},
		{"/c.toml", "", "etcd://h:1/c.toml", ""},
		{"/c", "", "etcd://h:1/c.yaml", ""},
		{"/c", "json", "etcd://h:1/c.json", ""},
		{"/c", "ini", "", "format"},
	}
	for _, tt := range tests {
		s, err := New(Options{Endpoints: []string{"http://h:1"}, Key: tt.key, Format: tt.format, CacheFile: "x"})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s %s: error %v", tt.key, tt.format, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if s.name != tt.wantName {
			t.Errorf("%s %s: name %q, want %q", tt.key, tt.format, s.name, tt.wantName)
		}
		s.Close()
	}
}
