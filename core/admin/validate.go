package admin

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/core/handlers"
	"github.com/switchyard/switchyard/hotreload"
)

// validateView is the answer of POST {prefix}/api/config/validate: what a
// reload to the posted configuration would do, or why it would be
// rejected. Nothing is applied.
type validateView struct {
	// Valid reports whether a reload would accept the configuration.
	Valid bool `json:"valid"`
	// Version is the candidate's version when valid.
	Version string `json:"version,omitempty"`
	// Serving is the version the host serves now.
	Serving string `json:"serving"`
	// Changes are the routes and plugin instances the reload would add,
	// remove, change, create, keep and retire.
	Changes hotreload.Changes `json:"changes"`
	// PluginsRebuilt are instances whose name stays but whose settings
	// changed: created anew, the old one retired.
	PluginsRebuilt []string `json:"plugins_rebuilt"`
	// Server lists the server.* settings that differ, such as
	// server.addr or server.read_timeout.
	Server []string `json:"server"`
	// NewListener reports whether the reload opens a new listener (a
	// changed server.addr) and drains the old one.
	NewListener bool `json:"new_listener"`
	// Errors are the reasons for a rejection, each with file, line and key.
	Errors []validateError `json:"errors,omitempty"`
}

// validateError is one config.Error in the admin API.
type validateError struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Key     string `json:"key,omitempty"`
	Message string `json:"message"`
}

// apiValidate answers POST {prefix}/api/config/validate: the body is a
// candidate configuration (YAML unless ?name= ends in .toml or .json; the
// name also appears in errors), checked as a reload would check it, with
// includes resolved next to the serving file. 200 with the preview when
// valid, 422 with the errors otherwise; nothing serving changes.
func (a *api) apiValidate(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, config.MaxFileSize+1))
	if err != nil {
		handlers.JSONError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if len(data) > config.MaxFileSize {
		handlers.JSONError(w, http.StatusRequestEntityTooLarge, "the configuration is too large")
		return
	}
	name := filepath.Base(r.URL.Query().Get("name"))
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".toml", ".json":
	default:
		name = "candidate.yaml"
	}
	dir := "."
	v := validateView{PluginsRebuilt: []string{}, Server: []string{}}
	cur := a.h.Snapshot()
	if cur != nil {
		v.Serving = cur.Version
		if len(cur.Loaded.Files) > 0 {
			dir = filepath.Dir(cur.Loaded.Files[0])
		}
	}
	changes, err := a.h.Check(name, data, dir)
	if err != nil {
		var errs config.Errors
		if !errors.As(err, &errs) {
			errs = config.Errors{{Msg: err.Error()}}
		}
		for _, e := range errs {
			v.Errors = append(v.Errors, validateError{File: e.File, Line: e.Line, Key: e.Key, Message: e.Msg})
		}
		writeJSON(w, http.StatusUnprocessableEntity, v)
		return
	}
	v.Valid = true
	v.Changes = changes
	for _, n := range changes.PluginsCreated {
		if slices.Contains(changes.PluginsRetired, n) {
			v.PluginsRebuilt = append(v.PluginsRebuilt, n)
		}
	}
	// The candidate's version and server block come from the same load
	// that Check did; it cannot fail where Check passed.
	if l, err := config.LoadBytes(name, data, dir, os.Environ()); err == nil {
		v.Version = l.Version
		if cur != nil {
			v.Server = serverChanges(cur.Config().Server, l.Config.Server)
			v.NewListener = slices.Contains(v.Server, "server.addr")
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// serverChanges names the server.* keys (admin apart) whose values differ.
func serverChanges(old, cur config.Server) []string {
	out := []string{}
	ov, nv := reflect.ValueOf(old), reflect.ValueOf(cur)
	t := ov.Type()
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("koanf"), ",")
		if key == "" || key == "admin" {
			continue
		}
		if !reflect.DeepEqual(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			out = append(out, "server."+key)
		}
	}
	return out
}
