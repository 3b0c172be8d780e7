// Package etcd is a Switchyard configuration source that reads one etcd key
// and watches it, so that a fleet of hosts follows one write.
//
// A host reads the key with [Source.Load] and follows it with
// [Source.Watch]: every change goes through the host's usual validate,
// build, swap and drain path. When etcd cannot be reached the host keeps
// serving its last good configuration, and the watch reconnects with
// backoff and catches up from the key's revision, so that no change is
// missed. A host that starts while etcd is down starts from the local copy
// of the last good configuration (Options.CacheFile), or refuses to start.
//
// # Use
//
//	src, err := etcd.Open("etcd://127.0.0.1:2379/switchyard/config.yaml", etcd.Options{Logger: log})
//	if err != nil { ... }
//	defer src.Close()
//	if err := host.LoadSource(src); err != nil { ... }
//	host.Watch()
package etcd

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/core/config"
)

// Scheme starts a configuration URL that names an etcd key.
const Scheme = "etcd://"

// Options configure a Source.
type Options struct {
	// Endpoints are the etcd client URLs (http://host:port, or https://
	// with TLS).
	Endpoints []string
	// Key is the key holding the configuration document.
	Key string
	// Format is yaml, toml or json; empty takes it from the key's suffix
	// (.yaml, .yml, .toml, .json), else yaml.
	Format string
	// Dir is where the document's includes (local files) resolve; empty
	// is the working directory.
	Dir string
	// TLS, when set, is used to reach etcd.
	TLS *tls.Config
	// Username and Password authenticate to etcd when Username is set.
	Username, Password string
	// CacheFile is the local copy of the last good configuration: written
	// after every configuration applied from etcd, read when the host
	// starts while etcd is down. Empty uses DefaultCacheFile.
	CacheFile string
	// DialTimeout bounds a connection attempt; 0 means 2s.
	DialTimeout time.Duration
	// RequestTimeout bounds a read or write; 0 means 2s.
	RequestTimeout time.Duration
	// CheckInterval is how often a watching source checks that etcd still
	// answers (the watch stream alone does not tell); 0 means 500ms.
	CheckInterval time.Duration
	// Logger receives the source's logs; nil uses slog.Default().
	Logger *slog.Logger
}

// IsURL reports whether s is an etcd:// configuration URL.
func IsURL(s string) bool { return strings.HasPrefix(s, Scheme) }

// Parse reads etcd://HOST:PORT[,HOST:PORT...]/KEY[?format=yaml&cache_file=PATH&tls=1]
// into Options. The key is the path after the first slash, with its leading
// slash kept ("/switchyard/config.yaml").
func Parse(raw string) (Options, error) {
	var o Options
	rest, ok := strings.CutPrefix(raw, Scheme)
	if !ok {
		return o, fmt.Errorf("etcd: %q: not an %s URL", raw, Scheme)
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	hosts, key, ok := strings.Cut(rest, "/")
	if !ok || key == "" {
		return o, fmt.Errorf("etcd: %q: no key: use %sHOST:PORT/KEY", raw, Scheme)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return o, fmt.Errorf("etcd: %q: %v", raw, err)
	}
	scheme := "http://"
	for k, v := range q {
		switch k {
		case "format":
			o.Format = v[0]
		case "cache_file":
			o.CacheFile = v[0]
		case "tls":
			if v[0] == "1" || v[0] == "true" {
				scheme = "https://"
				o.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
			}
		default:
			return o, fmt.Errorf("etcd: %q: unknown parameter %q (known: format, cache_file, tls)", raw, k)
		}
	}
	for h := range strings.SplitSeq(hosts, ",") {
		if h == "" {
			return o, fmt.Errorf("etcd: %q: empty host in the endpoint list", raw)
		}
		o.Endpoints = append(o.Endpoints, scheme+h)
	}
	o.Key = "/" + key
	return o, nil
}

// Open parses raw (see Parse) and returns a Source for it; opts gives what
// a URL cannot carry (TLS, credentials, logger, timeouts), and its non-empty
// Format and CacheFile win over the URL's.
func Open(raw string, opts Options) (*Source, error) {
	u, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	opts.Endpoints, opts.Key = u.Endpoints, u.Key
	if opts.Format == "" {
		opts.Format = u.Format
	}
	if opts.CacheFile == "" {
		opts.CacheFile = u.CacheFile
	}
	if opts.TLS == nil {
		opts.TLS = u.TLS
	}
	return New(opts)
}

// DefaultCacheFile is where a source keeps its copy of the last good
// configuration when Options.CacheFile is empty: in the user's state
// directory ($XDG_STATE_HOME, else ~/.local/state), named by a hash of the
// endpoints and key.
func DefaultCacheFile(endpoints []string, key string) string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, ".local", "state")
		} else {
			dir = os.TempDir()
		}
	}
	sum := sha256.Sum256([]byte(strings.Join(endpoints, ",") + "\x00" + key))
	return filepath.Join(dir, "switchyard", "etcd-"+hex.EncodeToString(sum[:6])+".conf")
}

// Source is one etcd key as a host's configuration source. It is a
// core.WatchSource, a core.WritableSource (compare-and-swap on the key's
// mod revision) and a core.AppliedSource (it keeps the local copy).
type Source struct {
	opts   Options
	name   string
	cli    *clientv3.Client
	log    *slog.Logger
	target string // for messages: etcd://endpoints/key

	mu        sync.Mutex
	rev       int64 // mod revision of the key at the last read from etcd (0: absent)
	revKnown  bool  // a read from etcd succeeded
	fromCache bool  // the last Load came from the cache file
}

// New returns a Source for opts.Key at opts.Endpoints. It does not wait for
// etcd: an unreachable etcd shows at the first Load.
func New(opts Options) (*Source, error) {
	if len(opts.Endpoints) == 0 || opts.Key == "" {
		return nil, errors.New("etcd: Options need Endpoints and Key")
	}
	if opts.Format == "" {
		switch ext := strings.ToLower(filepath.Ext(opts.Key)); ext {
		case ".yaml", ".yml", ".toml", ".json":
			opts.Format = ext[1:]
		default:
			opts.Format = "yaml"
		}
	}
	switch opts.Format {
	case "yaml", "yml", "toml", "json":
	default:
		return nil, fmt.Errorf("etcd: format %q: use yaml, toml or json", opts.Format)
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 2 * time.Second
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 2 * time.Second
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = 500 * time.Millisecond
	}
	if opts.CacheFile == "" {
		opts.CacheFile = DefaultCacheFile(opts.Endpoints, opts.Key)
	}
	if opts.Dir == "" {
		opts.Dir = "."
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	hosts := make([]string, len(opts.Endpoints))
	for i, e := range opts.Endpoints {
		hosts[i] = strings.TrimPrefix(strings.TrimPrefix(e, "http://"), "https://")
	}
	s := &Source{opts: opts, log: opts.Logger, target: Scheme + strings.Join(hosts, ",") + opts.Key}
	// The document's name gives its format to the loader and names it in
	// errors: the URL, with the format's extension when the key lacks it.
	s.name = s.target
	if !strings.EqualFold(strings.TrimPrefix(filepath.Ext(opts.Key), "."), opts.Format) {
		s.name += "." + opts.Format
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   opts.Endpoints,
		DialTimeout: opts.DialTimeout,
		TLS:         opts.TLS,
		Username:    opts.Username,
		Password:    opts.Password,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: %s: %w", s.target, err)
	}
	s.cli = cli
	return s, nil
}

// Close closes the connection to etcd. Stop the host's watch (Host.Close)
// first.
func (s *Source) Close() error { return s.cli.Close() }

// Kind is "etcd".
func (s *Source) Kind() string { return "etcd" }

// String is the source's URL.
func (s *Source) String() string { return s.target }

// CacheFile is the path of the local copy of the last good configuration.
func (s *Source) CacheFile() string { return s.opts.CacheFile }

// Load reads the key. When etcd cannot be reached and no read has
// succeeded yet (the host is starting), it loads the cache file instead
// and says so loudly; with no cache file the error names both.
func (s *Source) Load(env []string) (core.Document, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.RequestTimeout)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.opts.Key)
	if err != nil {
		s.mu.Lock()
		known := s.revKnown
		s.mu.Unlock()
		if !known {
			return s.loadCache(env, err)
		}
		return core.Document{Name: s.name, Dir: s.opts.Dir}, unreachable(s.target + ": unreachable: " + err.Error())
	}
	var data []byte
	var rev int64
	if len(resp.Kvs) > 0 {
		data, rev = resp.Kvs[0].Value, resp.Kvs[0].ModRevision
	}
	s.mu.Lock()
	s.rev, s.revKnown, s.fromCache = rev, true, false
	s.mu.Unlock()
	d := core.Document{Name: s.name, Dir: s.opts.Dir, Data: data, Revision: strconv.FormatInt(rev, 10)}
	if len(resp.Kvs) == 0 {
		return d, config.Errors{{File: s.name, Msg: "the key does not exist in etcd"}}
	}
	d.Loaded, err = config.LoadBytes(s.name, data, s.opts.Dir, env)
	return d, err
}

func (s *Source) loadCache(env []string, cause error) (core.Document, error) {
	data, rerr := os.ReadFile(s.opts.CacheFile)
	if rerr != nil {
		return core.Document{Name: s.name, Dir: s.opts.Dir}, unreachable(fmt.Sprintf(
			"%s: unreachable (%v) and no cached config at %s", s.target, cause, s.opts.CacheFile))
	}
	s.log.Warn("ETCD UNREACHABLE: STARTING FROM THE CACHED CONFIG; it will follow etcd once it answers",
		"source", s.target, "cache_file", s.opts.CacheFile, "err", cause)
	s.mu.Lock()
	s.fromCache = true
	s.mu.Unlock()
	name := s.opts.CacheFile
	if !strings.EqualFold(strings.TrimPrefix(filepath.Ext(name), "."), s.opts.Format) {
		name += "." + s.opts.Format
	}
	l, err := config.LoadBytes(name, data, s.opts.Dir, env)
	return core.Document{Loaded: l, Name: s.name, Dir: s.opts.Dir, Data: data, Revision: "cache", Cached: true}, err
}

// Write puts data in the key if its mod revision is still rev (a
// Document.Revision of Load), in one transaction: otherwise the error wraps
// core.ErrStale.
func (s *Source) Write(ctx context.Context, data []byte, revision string) error {
	rev, err := strconv.ParseInt(revision, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s has not been read from etcd yet", core.ErrStale, s.target)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(s.opts.Key), "=", rev)).
		Then(clientv3.OpPut(s.opts.Key, string(data))).
		Commit()
	if err != nil {
		return unreachable(s.target + ": unreachable: " + err.Error())
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: %s was written by another client after revision %d", core.ErrStale, s.target, rev)
	}
	return nil
}

// Applied keeps a copy of a configuration applied from etcd in the cache
// file, and in reload.cache_file when that names another path.
func (s *Source) Applied(d core.Document, c *config.Config) {
	if d.Cached || d.Data == nil {
		return
	}
	paths := []string{s.opts.CacheFile}
	if c != nil && c.Reload.CacheFile != "" && c.Reload.CacheFile != s.opts.CacheFile {
		paths = append(paths, c.Reload.CacheFile)
	}
	for _, p := range paths {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			s.log.Warn("cannot keep the cached config", "cache_file", p, "err", err)
			continue
		}
		if err := core.WriteFileAtomic(p, d.Data); err != nil {
			s.log.Warn("cannot keep the cached config", "cache_file", p, "err", err)
		}
	}
}

// Watch follows the key until ctx ends: every change calls changed. It
// checks every CheckInterval that etcd answers; when it does not, it calls
// up(false), and retries with backoff (100ms doubling to 5s). Once etcd
// answers again it calls up(true), calls changed when the key moved while
// it could not see it, and watches again from the revision it read, so
// that no write is missed.
func (s *Source) Watch(ctx context.Context, changed func(), up func(bool)) {
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	down := false
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
		resp, err := s.cli.Get(pctx, s.opts.Key)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !down {
				s.log.Warn("etcd unreachable: serving the last good config, retrying", "source", s.target, "err", err)
				down = true
			}
			up(false)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = minBackoff
		if down {
			s.log.Info("etcd reachable again: following it", "source", s.target)
			down = false
		}
		up(true)
		var rev int64
		if len(resp.Kvs) > 0 {
			rev = resp.Kvs[0].ModRevision
		}
		s.mu.Lock()
		moved := !s.revKnown || s.fromCache || s.rev != rev
		s.mu.Unlock()
		if moved {
			changed()
		}
		if !s.follow(ctx, resp.Header.Revision+1, changed) {
			if ctx.Err() == nil {
				up(false)
				s.log.Warn("etcd watch broken: serving the last good config, reconnecting", "source", s.target)
				down = true
			}
		}
	}
}

// follow watches the key from revision from until the watch breaks or etcd
// stops answering (false), or ctx ends (true). A checker beside it asks etcd
// every CheckInterval whether it answers, since a watch stream alone may wait
// silently for a dead server (even while it is being set up); when etcd
// does not answer, the checker cancels the watch.
func (s *Source) follow(ctx context.Context, from int64, changed func()) bool {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		tick := time.NewTicker(s.opts.CheckInterval)
		defer tick.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-tick.C:
			}
			cctx, ccancel := context.WithTimeout(wctx, s.opts.RequestTimeout)
			_, err := s.cli.Get(cctx, s.opts.Key, clientv3.WithCountOnly())
			ccancel()
			if err != nil {
				cancel()
				return
			}
		}
	})
	wch := s.cli.Watch(wctx, s.opts.Key, clientv3.WithRev(from))
	for {
		select {
		case <-wctx.Done():
			return ctx.Err() != nil
		case wr, ok := <-wch:
			if !ok || wr.Canceled || wr.Err() != nil {
				return ctx.Err() != nil
			}
			if len(wr.Events) > 0 {
				changed()
			}
		}
	}
}

// unreachable is an error that is core.ErrSourceUnavailable, with a
// message of its own.
type unreachable string

func (e unreachable) Error() string        { return string(e) }
func (e unreachable) Is(target error) bool { return target == core.ErrSourceUnavailable }

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

var (
	_ core.WatchSource    = (*Source)(nil)
	_ core.WritableSource = (*Source)(nil)
	_ core.AppliedSource  = (*Source)(nil)
)
