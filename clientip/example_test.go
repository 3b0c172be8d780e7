package clientip_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/switchyard/switchyard/clientip"
)

func ExampleResolver_IP() {
	trusted, err := clientip.ParsePrefixes([]string{"10.0.0.0/8", "::1"})
	if err != nil {
		panic(err)
	}
	r := clientip.New(trusted)

	// A request through our proxy at 10.0.0.5; the client put a fake entry first.
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.0.0.5:41000"
	req.Header.Set("X-Forwarded-For", "6.6.6.6, 198.51.100.7")
	fmt.Println(r.IP(req))

	// The same header sent directly by a client is not believed.
	req.RemoteAddr = "203.0.113.9:52000"
	fmt.Println(r.IP(req))
	// Output:
	// 198.51.100.7
	// 203.0.113.9
}

func ExampleParsePrefixes() {
	_, err := clientip.ParsePrefixes([]string{"10.0.0.0/8", "10.0.0.0/33"})
	fmt.Println(err)
	// Output:
	// entry [1] "10.0.0.0/33": not a valid CIDR; want a CIDR such as 10.0.0.0/8 or ::1/128, or an IP address
}
