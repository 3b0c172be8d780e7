package handlers_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/core/handlers"
)

func ExampleRespond() {
	h, err := handlers.Respond(config.Respond{Status: 200, Body: "Hello, World!"})
	if err != nil {
		panic(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/hello", nil))
	fmt.Println(w.Code, w.Header().Get("Content-Type"), w.Body.String())

	// A client that has the response sends its ETag back and gets 304.
	r := httptest.NewRequest("GET", "/hello", nil)
	r.Header.Set("If-None-Match", w.Header().Get("ETag"))
	w2 := httptest.NewRecorder()
	h.ServeHTTP(w2, r)
	fmt.Println(w2.Code, w2.Body.Len())
	// Output:
	// 200 text/plain; charset=utf-8 Hello, World!
	// 304 0
}

func ExampleMaxBody() {
	upload := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "stored")
	})
	h := handlers.MaxBody(16, upload)
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/upload", nil)
	r.ContentLength = 1 << 20
	h.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Body.String())
	// Output:
	// 413 {"error":"request body too large"}
}

func ExampleJSONError() {
	w := httptest.NewRecorder()
	handlers.JSONError(w, 404, "not found")
	fmt.Println(w.Code, w.Header().Get("Content-Type"), w.Body.String())
	// Output:
	// 404 application/json {"error":"not found"}
}
