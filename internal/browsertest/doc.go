// Package browsertest holds the end-to-end tests of the admin dashboard: a
// real host serves a config file, a headless Chromium driven through
// github.com/chromedp/chromedp loads {admin.prefix}/, and the tests edit the
// file and watch the page follow without being reloaded.
//
// The tests need a Chromium or Chrome binary (Debian's chromium package, or
// the path in SWITCHYARD_BROWSER). Without one they skip, unless
// SWITCHYARD_REQUIRE_BROWSER is set (CI sets it), in which case they fail.
//
//	SWITCHYARD_REQUIRE_BROWSER=1 go test -race ./internal/browsertest/
package browsertest
