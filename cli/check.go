package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/switchyard/switchyard/core/config"
)

// check validates the config the way serving it would (plugins built,
// conditions compiled, routes checked) without binding any listener.
// -check prints OK or every error; -print-config writes the effective
// config as YAML to stdout; both together do both (the YAML on stdout,
// the verdict on stderr). -diff then asks the running server what a
// reload to the config would change.
func check(ctx context.Context, o Options, f flags, src *Source) int {
	h := newHost(o, slog.New(slog.DiscardHandler), o.EnableAdmin, nil)
	defer h.Close()
	if err := src.load(h); err != nil {
		printErrors(o.Stderr, err)
		fmt.Fprintf(o.Stderr, "%s: invalid\n", src.Describe)
		return ExitFailure
	}
	s := h.Snapshot()
	verdict := o.Stdout
	if f.print {
		out, err := s.Loaded.MarshalEffective()
		if err != nil {
			fmt.Fprintf(o.Stderr, "%s: %v\n", o.Name, err)
			return ExitFailure
		}
		_, _ = o.Stdout.Write(out)
		verdict = o.Stderr
	}
	if !f.check {
		return ExitOK
	}
	fmt.Fprintf(verdict, "%s: OK (version %s)\n", src.Describe, s.Version)
	for _, w := range s.Loaded.Warnings() {
		fmt.Fprintf(verdict, "warning: %s\n", w)
	}
	if !f.diff {
		return ExitOK
	}
	addr := f.Addr
	if addr == "" {
		addr = s.Config().Server.Addr
	}
	return diff(ctx, o, src, verdict, addr, s.Config().Server.Admin.Prefix)
}

// preview is the answer of POST {prefix}/api/config/validate.
type preview struct {
	Valid   bool   `json:"valid"`
	Version string `json:"version"`
	Serving string `json:"serving"`
	Changes struct {
		RoutesAdded    []string `json:"routes_added"`
		RoutesRemoved  []string `json:"routes_removed"`
		RoutesChanged  []string `json:"routes_changed"`
		PluginsCreated []string `json:"plugins_created"`
		PluginsKept    []string `json:"plugins_kept"`
		PluginsRetired []string `json:"plugins_retired"`
	} `json:"changes"`
	PluginsRebuilt []string `json:"plugins_rebuilt"`
	Server         []string `json:"server"`
	NewListener    bool     `json:"new_listener"`
	Errors         []struct {
		File    string `json:"file"`
		Line    int    `json:"line"`
		Key     string `json:"key"`
		Message string `json:"message"`
	} `json:"errors"`
	Error string `json:"error"`
}

// diff posts the candidate to the admin API of the server at addr and
// prints what a reload would do: one line per route added (+), removed
// (-) or changed (~), per plugin instance created (+), rebuilt (~), kept
// (=) or retired (-), and per server setting that changes (! when it
// needs a new listener).
func diff(ctx context.Context, o Options, src *Source, w io.Writer, addr, prefix string) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(o.Stderr, "%s: -diff: %s\n", o.Name, fmt.Sprintf(format, a...))
		return ExitFailure
	}
	data, err := src.bytes()
	if err != nil {
		return fail("%v", err)
	}
	base, err := adminURL(addr, prefix)
	if err != nil {
		return fail("%v", err)
	}
	target := base + "/api/config/validate?name=" + url.QueryEscape(filepath.Base(src.Name))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(data))
	if err != nil {
		return fail("%v", err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	client := &http.Client{}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return fail("no running server answers at %s (give its address with -addr): %v", base, err)
	}
	defer resp.Body.Close()
	var p preview
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&p); err != nil {
		return fail("%s answered %s, not a preview: %v", target, resp.Status, err)
	}
	if p.Error != "" {
		return fail("%s answered %s: %s", target, resp.Status, p.Error)
	}
	if !p.Valid {
		fmt.Fprintf(w, "the server at %s would reject it:\n", base)
		for _, e := range p.Errors {
			fmt.Fprintln(w, (&config.Error{File: e.File, Line: e.Line, Key: e.Key, Msg: e.Message}).Error())
		}
		return ExitFailure
	}
	fmt.Fprintf(w, "compared with the server at %s: version %s -> %s\n", base, p.Serving, p.Version)
	c := p.Changes
	rebuilt := map[string]bool{}
	for _, n := range p.PluginsRebuilt {
		rebuilt[n] = true
	}
	lines := 0
	list := func(mark, what string, names []string, skip map[string]bool) {
		for _, n := range names {
			if !skip[n] {
				fmt.Fprintf(w, "  %s %s %s\n", mark, what, n)
				lines++
			}
		}
	}
	list("+", "route", c.RoutesAdded, nil)
	list("-", "route", c.RoutesRemoved, nil)
	list("~", "route", c.RoutesChanged, nil)
	list("+", "plugin", c.PluginsCreated, rebuilt)
	list("~", "plugin", p.PluginsRebuilt, nil)
	list("-", "plugin", c.PluginsRetired, rebuilt)
	list("=", "plugin", c.PluginsKept, nil)
	for _, k := range p.Server {
		mark, note := "~", ""
		if k == "server.addr" {
			mark, note = "!", " (a new listener opens; the old one drains)"
		}
		fmt.Fprintf(w, "  %s %s%s\n", mark, k, note)
		lines++
	}
	if lines == len(c.PluginsKept) && p.Serving == p.Version {
		fmt.Fprintln(w, "  no changes: the server serves this configuration")
	}
	return ExitOK
}

// adminURL is the admin API's base URL for a server listening on addr.
func adminURL(addr, prefix string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("server address %q: %v", addr, err)
	}
	if port == "0" {
		return "", fmt.Errorf("server address %q has port 0: give the running server's address with -addr", addr)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::", "[::]":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + strings.TrimRight(prefix, "/"), nil
}
