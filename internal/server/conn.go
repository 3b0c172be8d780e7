package server

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
)

// connInfo counts the requests of one connection.
type connInfo struct{ n atomic.Int64 }

type connKeyType struct{ name string }

var connKey = &connKeyType{"conn"}

func connContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey, &connInfo{})
}

// CountRequest counts r on its connection and returns how many requests the
// connection has carried, r included; 0 when r did not come through a
// Server.
func CountRequest(r *http.Request) int64 {
	ci, ok := r.Context().Value(connKey).(*connInfo)
	if !ok {
		return 0
	}
	return ci.n.Add(1)
}
