package etcdtest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	healthy := func() bool {
		resp, err := http.Get(s.Endpoint() + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `"true"`)
	}
	if !healthy() {
		t.Fatal("not healthy after Start")
	}
	s.Stop()
	if healthy() {
		t.Fatal("healthy after Stop")
	}
	s.Restart()
	if !healthy() {
		t.Fatal("not healthy after Restart")
	}
	s.Stop()
	s.Stop()
}
