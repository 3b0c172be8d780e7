package config_test

import (
	"fmt"

	"github.com/switchyard/switchyard/core/config"
)

func ExampleExpandPattern() {
	p, err := config.ExpandPattern("/pages/{n:int}/{slug:slug}")
	fmt.Println(p, err)
	_, err = config.ExpandPattern("/files/{name:[a-z}")
	fmt.Println(err)
	// Output:
	// /pages/{n:[0-9]+}/{slug:[a-z0-9]+(?:-[a-z0-9]+)*} <nil>
	// route pattern "/files/{name:[a-z}": invalid regexp in {name}: missing closing ] in "[a-z"
}

func ExampleLoadBytes() {
	_, err := config.LoadBytes("demo.yaml", []byte(`plugins:
  gzip: {type: compression}
middleware: [gzip, zgip]
routes:
  - path: /hello
    methods: [GET, FETCH]
    handler:
      respond: {body: hi}
`), ".", nil)
	fmt.Println(err)
	// Output:
	// demo.yaml:3: middleware[1].use: plugin "zgip" is not defined in plugins: (did you mean "gzip"?)
	// demo.yaml:6: routes[0].methods[1]: unknown HTTP method "FETCH"; methods are GET, HEAD, POST, PUT, PATCH, DELETE, CONNECT, OPTIONS, TRACE
}

func ExampleLoadBytes_env() {
	l, err := config.LoadBytes("demo.yaml", []byte("server:\n  addr: 127.0.0.1:8080\n"), ".",
		[]string{"SWITCHYARD_SERVER__ADDR=0.0.0.0:9000", "SWITCHYARD_PERFORMANCE__ROUTING__CACHE_SIZE=2000"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(l.Config.Server.Addr, l.Config.Performance.Routing.CacheSize)
	fmt.Println(l.Locate("server.addr"))
	// Output:
	// 0.0.0.0:9000 2000
	// env SWITCHYARD_SERVER__ADDR 0
}

func ExampleRedact() {
	r := config.Redact(map[string]any{
		"url":      "redis://app:s3cret@cache:6379/0",
		"password": "hunter2",
		"ttl":      "60s",
	})
	fmt.Println(r["url"], r["password"], r["ttl"])
	// Output:
	// redis://app:REDACTED@cache:6379/0 REDACTED 60s
}
