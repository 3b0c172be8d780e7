package quota

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// counts are the requests each client made on one day. They are shared by
// the instances of one plugin name across reloads: a new instance built for
// a changed config takes them from ctx.Previous, and the last instance to
// close saves them.
type counts struct {
	mu   sync.Mutex
	day  int64           // the UTC day the counts are for, in days since 1970-01-01
	used map[string]*int // client key -> requests allowed today
	refs int             // instances sharing the counts
	file string          // state file, "" for none
}

// stateFile is the state file's content.
type stateFile struct {
	Day    string         `json:"day"`
	Counts map[string]int `json:"counts"`
}

// loadCounts returns counts with one reference, read from file when it
// exists and is about the current day.
func loadCounts(file string, now time.Time) (*counts, error) {
	c := &counts{day: dayOf(now), used: map[string]*int{}, refs: 1, file: file}
	if file == "" {
		return c, nil
	}
	if fi, err := os.Stat(filepath.Dir(file)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("state_file: directory %s does not exist", filepath.Dir(file))
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state_file: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("state_file: %s is not a quota state file: %w", file, err)
	}
	if st.Day != dateOf(c.day) {
		return c, nil // counts of another day are spent
	}
	for k, n := range st.Counts {
		if n < 0 {
			return nil, fmt.Errorf("state_file: %s has a negative count for %q", file, k)
		}
		c.used[k] = &n
	}
	return c, nil
}

// dayOf numbers t's UTC day: days since 1970-01-01.
func dayOf(t time.Time) int64 {
	s := t.Unix()
	if s < 0 {
		s -= 86399 // round down
	}
	return s / 86400
}

// dateOf writes a day number as a date, 2006-01-02.
func dateOf(day int64) string { return time.Unix(day*86400, 0).UTC().Format(time.DateOnly) }

// take counts one request of key on day against limit. It returns the
// requests left after this one, and whether the request is allowed; full
// means key is a new client and maxClients are counted already. A known
// client costs no allocation: the lookup with string(key) does not copy.
func (c *counts) take(key []byte, day int64, limit, maxClients int) (left int, ok, full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if day != c.day {
		c.day = day
		clear(c.used)
	}
	n := c.used[string(key)]
	switch {
	case n == nil && len(c.used) >= maxClients:
		return 0, false, true
	case n == nil:
		n = new(int)
		c.used[string(key)] = n
	case *n >= limit:
		return 0, false, false
	}
	*n++
	return limit - *n, true, false
}

// acquire adds a sharing instance; file becomes the state file.
func (c *counts) acquire(file string) {
	c.mu.Lock()
	c.refs++
	c.file = file
	c.mu.Unlock()
}

// release drops a sharing instance; the last one saves the counts.
func (c *counts) release() error {
	c.mu.Lock()
	c.refs--
	if c.refs > 0 || c.file == "" {
		c.mu.Unlock()
		return nil
	}
	st := stateFile{Day: dateOf(c.day), Counts: make(map[string]int, len(c.used))}
	for k, n := range c.used {
		st.Counts[k] = *n
	}
	b, err := json.Marshal(st)
	file := c.file
	c.mu.Unlock()
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("saving quota state: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("saving quota state: %w", err)
	}
	return nil
}

// clients returns how many clients are counted today.
func (c *counts) clients() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.used)
}
