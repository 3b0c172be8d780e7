// Package devstatus carries the state of the devserver's Go dev loop to the
// children it runs, so that a child's dashboard can show a failed build
// while that child keeps serving the last good one. The devserver writes a
// small JSON file and names it in the children's environment; a child reads
// it when it renders its dashboard. Outside the dev loop the variable is
// unset and nothing is read.
package devstatus

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// Env names the status file in a child's environment.
const Env = "SWITCHYARD_DEVLOOP_STATUS"

// Status is the dev loop's state.
type Status struct {
	// Package is the Go package the loop builds.
	Package string `json:"package"`
	// Serving is the number of the build that serves (0 before the first
	// good one).
	Serving int `json:"serving"`
	// Failed is the number of the newest build when it failed, 0 when the
	// newest build succeeded.
	Failed int `json:"failed,omitempty"`
	// Output is the compiler's output of the failed build, with file and
	// line of each error.
	Output string `json:"output,omitempty"`
	// At is when the newest build finished.
	At time.Time `json:"at"`
}

// Write replaces the file at path with s, atomically (a rename), so that a
// reader never sees half of it.
func Write(path string, s Status) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".status-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// Read returns the status the dev loop left for this process; ok is false
// outside the dev loop or when the file cannot be read.
func Read() (s Status, ok bool) {
	path := os.Getenv(Env)
	if path == "" {
		return Status{}, false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Status{}, false
	}
	if json.Unmarshal(data, &s) != nil {
		return Status{}, false
	}
	return s, true
}
