package core

import (
	"time"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/hotreload"
)

// reloadEmpty handles a file or poll trigger that read an empty main config
// file: an in-place save (truncate, then write) caught between its two
// steps. It waits one reload.debounce of the serving configuration and
// loads once more; only an empty second read counts as a failure.
func reloadEmpty(cur *Snapshot, src Source, env []string, doc Document, err error) (Document, error) {
	if _, file := src.(*fileSource); cur == nil || !file || !config.EmptyFile(err) {
		return doc, err
	}
	d := cur.Loaded.Config.Reload.Debounce
	if d <= 0 {
		d = hotreload.DefaultDebounce
	}
	emptyWait(d)
	return src.Load(env)
}

// emptyWait pauses the reloader before it reads an empty file again; tests
// replace it to finish the save during the pause.
var emptyWait = time.Sleep
