package hotreload_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/switchyard/switchyard/hotreload"
)

func ExampleChanges_String() {
	c := hotreload.Changes{
		RoutesAdded:    []string{"/api/orders"},
		RoutesChanged:  []string{"/hello", "/api/users/{id:uuid}"},
		PluginsCreated: []string{"apicache"},
		PluginsKept:    []string{"gzip", "perip", "auth"},
		PluginsRetired: []string{"oldcache"},
	}
	fmt.Println(c)
	// Output: routes +1 -0 ~2, plugins +1 =3 -1
}

// A host's reload function skips reloads whose content did not change, and
// the Runner serialises them and keeps their history.
func ExampleRunner() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "config.yaml")
	_ = os.WriteFile(file, []byte("routes: []\n"), 0o644)

	var loaded string
	runner := hotreload.NewRunner(func(t hotreload.Trigger) hotreload.Result {
		h := hotreload.Hash([]string{file})
		if h == loaded {
			return hotreload.Result{Success: true, Skipped: true, Version: h[:12]}
		}
		// Parse, validate, build and swap in the new snapshot here.
		loaded = h
		return hotreload.Result{Success: true, Version: h[:12]}
	}, 10)
	defer runner.Close()

	first := runner.Run(hotreload.TriggerStart)
	again := runner.Run(hotreload.TriggerAdmin)
	fmt.Println(first.Trigger, first.Success, first.Skipped)
	fmt.Println(again.Trigger, again.Success, again.Skipped)
	fmt.Println(len(runner.History()), "results")
	// Output:
	// start true false
	// admin true true
	// 2 results
}

// A Watcher calls its callback once per burst of events in the directory of
// a watched file.
func ExampleWatcher() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "config.yaml")
	_ = os.WriteFile(file, []byte("routes: []\n"), 0o644)

	changed := make(chan hotreload.Trigger, 1)
	w, err := hotreload.NewWatcher(hotreload.Options{Debounce: 50 * time.Millisecond}, func(t hotreload.Trigger) {
		changed <- t
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	if err := w.Watch([]string{file}, nil); err != nil {
		fmt.Println(err)
		return
	}

	// An editor's atomic save: write a temporary file, rename it over.
	tmp := filepath.Join(dir, ".config.yaml.swp")
	_ = os.WriteFile(tmp, []byte("routes: [{path: /hello}]\n"), 0o644)
	_ = os.Rename(tmp, file)

	select {
	case t := <-changed:
		fmt.Println("reload triggered by", t)
	case <-time.After(2 * time.Second):
		fmt.Println("no reload")
	}
	// Output: reload triggered by file
}
