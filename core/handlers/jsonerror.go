package handlers

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Shared header values. They are assigned into response headers, never
// modified: Header.Set, Add and Del replace or copy them (len == cap).
var (
	jsonContentType = []string{"application/json"}
	nosniff         = []string{"nosniff"}
)

// errorBody is a precomputed {"error": msg} body and its Content-Length.
type errorBody struct {
	body   []byte
	length []string
}

// errorBodies memoizes the bodies of the messages used so far, which in
// practice are a handful of constants; it stops growing at maxErrorBodies.
var (
	errorBodies    sync.Map // string -> *errorBody
	errorBodyCount atomic.Int32
	maxErrorBodies int32 = 256
)

// JSONError answers status with the body {"error": msg}, Content-Type
// application/json, X-Content-Type-Options nosniff and a Content-Length.
// Bodies are memoized per message, so answering a known message allocates
// nothing. Headers already set on w (Allow, Retry-After, ...) are kept.
func JSONError(w http.ResponseWriter, status int, msg string) {
	var e *errorBody
	if v, ok := errorBodies.Load(msg); ok {
		e = v.(*errorBody)
	} else {
		e = newErrorBody(msg)
		if errorBodyCount.Load() < maxErrorBodies {
			if _, loaded := errorBodies.LoadOrStore(msg, e); !loaded {
				errorBodyCount.Add(1)
			}
		}
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = nosniff
	h["Content-Length"] = e.length
	w.WriteHeader(status)
	_, _ = w.Write(e.body)
}

func newErrorBody(msg string) *errorBody {
	b := make([]byte, 0, len(msg)+16)
	b = append(b, `{"error":`...)
	b = appendJSONString(b, msg)
	b = append(b, "}\n"...)
	return &errorBody{body: b, length: []string{strconv.Itoa(len(b))}}
}

// appendJSONString appends s as a JSON string, escaping quotes, backslashes,
// control characters, <, >, & and U+2028/U+2029 as encoding/json does, and
// replacing invalid UTF-8 with U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
