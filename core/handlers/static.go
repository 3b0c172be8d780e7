package handlers

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// StaticHandler serves the files under one directory. It is returned by
// [Static]; Close releases the directory handle once no request uses the
// handler any more.
type StaticHandler struct {
	root *os.Root
}

// Static returns a handler serving the files under root.
//
// The file served is the route's wildcard part (chi.URLParam(r, "*")) or,
// when the route has no wildcard, the request path, relative to root:
//
//   - GET and HEAD only (else 405 with Allow: GET, HEAD).
//   - A path with a ".." segment (also percent-encoded), a backslash or a NUL
//     byte gets 400. Lookups go through [os.Root], so no request reads a file
//     outside root: a symlink that leads out of it gives 404.
//   - A directory serves its index.html (a request without the trailing
//     slash is redirected to it, so relative links work) or 404: never a
//     listing. Files other than regular files and directories give 404.
//   - Every file under root is served, dotfiles included: keep what must
//     stay private out of it.
//   - Content-Type, Last-Modified, conditional requests and Range come from
//     [http.ServeContent]; the ETag is weak, from size and modification time
//     (so If-Range falls back to the date, as RFC 9110 requires).
//
// Its own refusals (400, 403, 404, 405) are answered with [JSONError]. The
// handler holds root open: Close it once retired (the host does when the
// snapshot that built it is released). Static fails when root does not exist
// or is not a directory.
func Static(root string) (*StaticHandler, error) {
	if root == "" {
		return nil, errors.New("empty directory")
	}
	info, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("directory %q: %w", root, errors.Unwrap(err))
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%q is not a directory", root)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("directory %q: %w", root, err)
	}
	return &StaticHandler{root: r}, nil
}

// Close releases the directory handle. Requests served after Close answer 404.
func (s *StaticHandler) Close() error { return s.root.Close() }

var allowGetHead = []string{"GET, HEAD"}

// ServeHTTP implements [http.Handler].
func (s *StaticHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header()["Allow"] = allowGetHead
		JSONError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	name, ok := staticName(r)
	if !ok {
		JSONError(w, http.StatusBadRequest, "invalid path")
		return
	}
	info, err := s.root.Stat(name)
	if err != nil {
		s.statError(w, err)
		return
	}
	if info.IsDir() {
		index := path.Join(name, "index.html")
		if info, err = s.root.Stat(index); err != nil {
			s.statError(w, err)
			return
		}
		if !strings.HasSuffix(r.URL.Path, "/") {
			localRedirect(w, r, path.Base(r.URL.Path)+"/")
			return
		}
		name = index
	}
	if !info.Mode().IsRegular() {
		JSONError(w, http.StatusNotFound, "not found")
		return
	}
	f, err := s.root.Open(name)
	if err != nil {
		s.statError(w, err)
		return
	}
	defer f.Close()
	// Stat the open file: it may have been replaced since the lookup.
	if info, err = f.Stat(); err != nil || !info.Mode().IsRegular() {
		JSONError(w, http.StatusNotFound, "not found")
		return
	}
	w.Header()["Etag"] = []string{weakETag(info.Size(), info.ModTime().UnixNano())}
	http.ServeContent(w, r, info.Name(), info.ModTime(), f)
}

func (s *StaticHandler) statError(w http.ResponseWriter, err error) {
	if errors.Is(err, fs.ErrPermission) {
		JSONError(w, http.StatusForbidden, "forbidden")
		return
	}
	// Not found, a path escaping the root, a file used as a directory, a
	// symlink loop or a closed root all read as "no such file" to the client.
	JSONError(w, http.StatusNotFound, "not found")
}

// staticName returns the slash-separated name relative to the root that r
// asks for, or false when the path is not acceptable.
func staticName(r *http.Request) (string, bool) {
	p := r.URL.Path
	if rctx := chi.RouteContext(r.Context()); rctx != nil && hasWildcard(rctx) {
		p = rctx.URLParam("*")
		// chi routes on the escaped path when it differs from the decoded
		// one (an encoded slash, for instance); decode the part it gave us.
		if r.URL.RawPath != "" {
			dec, err := url.PathUnescape(p)
			if err != nil {
				return "", false
			}
			p = dec
		}
	}
	if strings.ContainsAny(p, "\\\x00") {
		return "", false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == ".." {
			return "", false
		}
	}
	name := path.Clean("/" + p)[1:]
	if name == "" {
		name = "."
	}
	return name, true
}

func hasWildcard(rctx *chi.Context) bool {
	for _, k := range rctx.URLParams.Keys {
		if k == "*" {
			return true
		}
	}
	return false
}

// localRedirect answers 301 to a path relative to the current one, keeping
// the query, as http.FileServer does for directories.
func localRedirect(w http.ResponseWriter, r *http.Request, target string) {
	if q := r.URL.RawQuery; q != "" {
		target += "?" + q
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusMovedPermanently)
}

// weakETag is W/"<size>-<modtime>" in hex.
func weakETag(size, modtime int64) string {
	var buf [64]byte
	b := append(buf[:0], `W/"`...)
	b = strconv.AppendInt(b, size, 16)
	b = append(b, '-')
	b = strconv.AppendInt(b, modtime, 16)
	b = append(b, '"')
	return string(b)
}
