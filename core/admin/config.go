package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/core/handlers"
)

// The configuration write routes:
//
//	PUT  {prefix}/api/config       write a complete config to the source (If-Match required)
//	POST {prefix}/api/rollback     write a kept generation back ({"version": "..."})
//	GET  {prefix}/api/generations  the kept generations, newest first

// writeTimeout bounds a write to the source and the reload after it.
const writeTimeout = 30 * time.Second

// writeResult is the answer of a successful PUT config or rollback.
type writeResult struct {
	// Version is the configuration version serving after the write.
	Version string       `json:"version"`
	Reload  reloadRecord `json:"reload"`
}

// writeError is the answer of a refused write.
type writeError struct {
	Error string `json:"error"`
	// Version is the version serving, for a 412.
	Version string `json:"version,omitempty"`
	// Errors are the validation errors of a 422, each with its file, line
	// and key.
	Errors config.Errors `json:"errors,omitempty"`
}

// apiPutConfig answers PUT {prefix}/api/config: the body is a complete
// configuration in the source's format. It needs If-Match: "<version>" of
// the configuration it replaces: 428 without it, 412 when another write
// came first. The document is validated as a reload would validate it (422
// with the errors, nothing written), then written to the source (the file
// by rename, or the etcd key by compare-and-swap) and applied.
func (a *api) apiPutConfig(w http.ResponseWriter, r *http.Request) {
	if err := csrf.Check(r); err != nil {
		handlers.JSONError(w, http.StatusForbidden, "forbidden: cross-origin request")
		return
	}
	ifMatch := strings.TrimSpace(r.Header.Get("If-Match"))
	if ifMatch == "" {
		handlers.JSONError(w, http.StatusPreconditionRequired,
			`If-Match: "<version>" is required: the version the new config replaces (GET api/config shows it)`)
		return
	}
	version := strings.Trim(strings.TrimPrefix(ifMatch, "W/"), `"`)
	body, err := io.ReadAll(io.LimitReader(r.Body, config.MaxFileSize+1))
	if err != nil {
		handlers.JSONError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if len(body) > config.MaxFileSize {
		handlers.JSONError(w, http.StatusRequestEntityTooLarge, "the config is larger than 16 MiB")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	res, err := a.h.ConfigStore().Put(ctx, version, body)
	a.answerWrite(w, res.Version, reloadJSON(res), err)
}

// rollbackRequest is the body of POST {prefix}/api/rollback.
type rollbackRequest struct {
	// Version is the version of a kept generation.
	Version string `json:"version"`
}

// apiRollback answers POST {prefix}/api/rollback with {"version": "..."}:
// the generation of that version is written back to the source, so that
// every host reading it follows, and applied as a new generation.
func (a *api) apiRollback(w http.ResponseWriter, r *http.Request) {
	var req rollbackRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Version == "" {
		handlers.JSONError(w, http.StatusBadRequest, `body must be {"version": "..."}, a version of GET api/generations`)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), writeTimeout)
	defer cancel()
	res, err := a.h.ConfigStore().Rollback(ctx, req.Version)
	a.answerWrite(w, res.Version, reloadJSON(res), err)
}

// answerWrite maps the outcome of a write to its status code.
func (a *api) answerWrite(w http.ResponseWriter, version string, rec reloadRecord, err error) {
	var errs config.Errors
	switch {
	case err == nil:
		w.Header().Set("ETag", `"`+version+`"`)
		writeJSON(w, http.StatusOK, writeResult{Version: version, Reload: rec})
	case errors.Is(err, core.ErrStale):
		serving := ""
		if s := a.h.Snapshot(); s != nil {
			serving = s.Version
			w.Header().Set("ETag", `"`+serving+`"`)
		}
		writeJSON(w, http.StatusPreconditionFailed, writeError{Error: err.Error(), Version: serving})
	case errors.As(err, &errs):
		writeJSON(w, http.StatusUnprocessableEntity, writeError{Error: err.Error(), Errors: errs})
	case errors.Is(err, core.ErrUnknownGeneration):
		handlers.JSONError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, core.ErrNotWritable):
		handlers.JSONError(w, http.StatusConflict, err.Error())
	case errors.Is(err, core.ErrSourceUnavailable), errors.Is(err, context.DeadlineExceeded):
		handlers.JSONError(w, http.StatusServiceUnavailable, err.Error())
	default:
		handlers.JSONError(w, http.StatusInternalServerError, err.Error())
	}
}

// generationRecord is one generation in the admin API.
type generationRecord struct {
	Number   uint64 `json:"number"`
	Version  string `json:"version"`
	Source   string `json:"source"`
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time"`
	Trigger  string `json:"trigger"`
	// Serving is true for the generation serving now.
	Serving bool `json:"serving"`
	Changes any  `json:"changes"`
}

// generationsView is GET {prefix}/api/generations.
type generationsView struct {
	Version     string             `json:"version"`
	Generations []generationRecord `json:"generations"`
}

func (a *api) apiGenerations() generationsView {
	v := generationsView{Generations: []generationRecord{}}
	if s := a.h.Snapshot(); s != nil {
		v.Version = s.Version
	}
	for i, g := range a.h.ConfigStore().Generations() {
		v.Generations = append(v.Generations, generationRecord{Number: g.Number, Version: g.Version,
			Source: g.Source, Revision: g.Revision, Time: g.Time.UTC().Format(adminTimeFormat),
			Trigger: string(g.Trigger), Serving: i == 0 && g.Version == v.Version, Changes: g.Changes})
	}
	return v
}
