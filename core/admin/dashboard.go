package admin

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"math"
	"mime"
	"net/http"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/switchyard/switchyard/core"
	"github.com/switchyard/switchyard/core/config"
	"github.com/switchyard/switchyard/core/handlers"
	"github.com/switchyard/switchyard/hotreload"
	"github.com/switchyard/switchyard/internal/devstatus"
	"github.com/switchyard/switchyard/pool"
	"github.com/switchyard/switchyard/registry"
)

// The dashboard is one page rendered on the server from the serving
// snapshot, the registry, the pools and the reload history. Its script
// (dashboard/dashboard.js, no build step, no external resource) polls
// {prefix}/api/stats every second to draw the traffic chart, and fetches the
// page again to swap in the sections whose markup changed: every few
// seconds for the live plugin and pool statistics, and at once when the
// configuration version or the reload history changes.

//go:embed dashboard
var dashboardFS embed.FS

// pageTemplate is parsed on the first dashboard request, not at start:
// a server whose dashboard nobody opens does not pay for it.
var pageTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page.html").Funcs(template.FuncMap{
		"join": strings.Join,
	}).ParseFS(dashboardFS, "dashboard/page.html"))
})

// dashboardCSP allows only the page's own script, style sheet and API.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// serveDashboard renders the page.
func (a *api) serveDashboard(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := pageTemplate().Execute(&buf, a.dashboardData()); err != nil {
		handlers.JSONError(w, http.StatusInternalServerError, "internal server error")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", dashboardCSP)
	hd.Set("Content-Length", strconv.Itoa(buf.Len()))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(buf.Bytes())
}

// serveAsset serves the dashboard's script and style sheet.
func serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	if name != "dashboard.js" && name != "dashboard.css" {
		handlers.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	data, err := dashboardFS.ReadFile("dashboard/" + name)
	if err != nil {
		handlers.JSONError(w, http.StatusNotFound, "not found")
		return
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(data)
}

// pageData is what the page template renders.
type pageData struct {
	Prefix  string
	Version string
	Built   string
	// Files are the configuration files; empty for an in-memory config.
	Files []string
	// Alert is the newest reload when it was rejected: the page shows its
	// error at the top until a reload succeeds.
	Alert *reloadItem
	// Reloads is the history, newest first; LastReload the newest entry's
	// time (the script watches it).
	Reloads    []reloadItem
	LastReload string
	Routes     []routeItem
	Conditions []conditionItem
	Types      []string
	Plugins    []pluginItem
	Pools      []poolItem
	Config     string
	// BuildFailed is the dev loop's newest build when it did not compile
	// (devserver -build): the page shows the compiler's errors until a
	// good build takes over.
	BuildFailed *buildItem
}

// buildItem is a failed build of the dev loop.
type buildItem struct {
	Package string
	Build   int
	Serving int
	Time    string
	Output  string
}

type routeItem struct {
	Path    string
	Pattern string // the chi pattern, when presets expanded it
	Methods string
	Handler string
	Chain   []core.LinkInfo
}

type conditionItem struct{ Name, Source string }

type pluginItem struct {
	Name     string
	Type     string
	Live     bool
	Refs     int
	Built    string
	Hash     string
	Headline []statItem
	Details  []statItem
}

type poolItem struct {
	Name string
	pool.Stats
}

type reloadItem struct {
	Time     string
	Trigger  string
	Success  bool
	Skipped  bool
	Result   string // reloadResult
	Repeats  int    // further identical results folded into this one
	Times    int    // Repeats + 1
	Duration string
	Version  string
	Error    string
	Changes  []string
}

// statItem is one plugin statistic, formatted. Meter, when HasMeter, is a
// fraction in [0, 1] that the page draws as a gauge.
type statItem struct {
	Label    string
	Value    string
	Meter    float64
	HasMeter bool
}

func (a *api) dashboardData() pageData {
	d := pageData{Types: registry.Types()}
	if st, ok := devstatus.Read(); ok && st.Failed > 0 {
		d.BuildFailed = &buildItem{Package: st.Package, Build: st.Failed, Serving: st.Serving, Time: localTime(st.At), Output: st.Output}
	}
	s := a.h.Snapshot()
	if s != nil {
		d.Prefix = a.prefix
		d.Version = s.Version
		d.Built = localTime(s.Built)
		d.Files = s.Loaded.Files
		d.Config = configYAML(s.Loaded.Raw)
		for _, rt := range s.Routes() {
			ri := routeItem{Path: rt.Path, Methods: "any", Handler: rt.Handler, Chain: rt.Chain}
			if rt.Pattern != rt.Path {
				ri.Pattern = rt.Pattern
			}
			if len(rt.Methods) > 0 {
				ri.Methods = strings.Join(rt.Methods, " ")
			}
			d.Routes = append(d.Routes, ri)
		}
		conds := s.Config().Conditions
		for _, name := range slices.Sorted(maps.Keys(conds)) {
			d.Conditions = append(d.Conditions, conditionItem{Name: name, Source: conditionSource(conds[name])})
		}
	}
	for _, inst := range a.h.Plugins().Instances() {
		head, rest := formatStats(inst.Stats)
		d.Plugins = append(d.Plugins, pluginItem{Name: inst.Name, Type: inst.Type, Live: inst.Live, Refs: inst.Refs,
			Built: localTime(inst.Built), Hash: inst.Hash, Headline: head, Details: rest})
	}
	stats := a.h.Pools().Stats()
	for _, name := range slices.Sorted(maps.Keys(stats)) {
		d.Pools = append(d.Pools, poolItem{Name: name, Stats: stats[name]})
	}
	for _, r := range a.h.History() {
		d.Reloads = append(d.Reloads, newReloadItem(r))
	}
	if last, ok := a.latestReload(); ok {
		d.LastReload = timeOrZero(last.Time)
		if !last.Success {
			d.Alert = &d.Reloads[0]
		}
	}
	return d
}

func newReloadItem(r hotreload.Result) reloadItem {
	it := reloadItem{Time: localTime(r.Time), Trigger: string(r.Trigger), Success: r.Success, Skipped: r.Skipped, Result: reloadResult(r),
		Repeats: r.Repeats, Times: r.Repeats + 1, Duration: formatDuration(r.Duration), Version: r.Version, Error: r.Error}
	c := r.Changes
	for _, part := range []struct {
		sign  string
		names []string
	}{
		{"route +", c.RoutesAdded}, {"route −", c.RoutesRemoved}, {"route ~", c.RoutesChanged},
		{"plugin +", c.PluginsCreated}, {"plugin −", c.PluginsRetired},
	} {
		for _, n := range part.names {
			it.Changes = append(it.Changes, part.sign+n)
		}
	}
	return it
}

// conditionSource renders a named condition as written: an expression as
// it is, a structured matcher as compact JSON (as the routes' chains show
// inline ones).
func conditionSource(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	out, err := json.Marshal(config.Redact(map[string]any{"c": v})["c"])
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(out)
}

// configYAML renders the effective configuration, secrets redacted.
func configYAML(raw map[string]any) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(config.Redact(raw)); err != nil {
		return "cannot render the configuration: " + err.Error()
	}
	_ = enc.Close()
	return buf.String()
}

func localTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func formatDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
	case d >= time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64) + " µs"
}

// knownStats are the statistics keys that the built-in plugins report and
// the dashboard shows first, labelled and formatted; any other key is shown
// after them as it is.
var knownStats = []struct {
	key, label string
	format     func(float64) string
	meter      bool
}{
	{"hit_ratio", "hit ratio", formatPercent, true},
	{"bytes", "cached", formatBytes, false},
	{"entries", "entries", formatCount, false},
	{"max_size", "capacity", formatBytes, false},
	{"keys", "keys", formatCount, false},
	{"max_keys", "max keys", formatCount, false},
	{"limited", "refused", formatCount, false},
	{"allowed", "allowed", formatCount, false},
	{"ratio", "compression ratio", formatRatio, false},
	{"bytes_in", "bytes in", formatBytes, false},
	{"bytes_out", "bytes out", formatBytes, false},
}

// formatStats splits a plugin's Stats into the known keys, formatted for
// people, and the rest, formatted generically, both in a stable order.
func formatStats(st map[string]any) (headline, details []statItem) {
	used := map[string]bool{}
	for _, k := range knownStats {
		v, ok := st[k.key]
		if !ok {
			continue
		}
		used[k.key] = true
		f, isNum := toFloat(v)
		if !isNum {
			details = append(details, statItem{Label: k.label, Value: formatValue(v)})
			continue
		}
		it := statItem{Label: k.label, Value: k.format(f)}
		if k.meter {
			it.Meter, it.HasMeter = math.Max(0, math.Min(1, f)), true
		}
		headline = append(headline, it)
	}
	for _, key := range slices.Sorted(maps.Keys(st)) {
		if !used[key] {
			details = append(details, statItem{Label: strings.ReplaceAll(key, "_", " "), Value: formatValue(st[key])})
		}
	}
	return headline, details
}

// toFloat returns v as a float64 when it is a number.
func toFloat(v any) (float64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(rv.Uint()), true
	case reflect.Float32, reflect.Float64:
		return rv.Float(), true
	}
	return 0, false
}

// formatValue renders any statistic: numbers, booleans, strings, lists and
// maps (keys sorted).
func formatValue(v any) string {
	if f, ok := toFloat(v); ok {
		if f == math.Trunc(f) && math.Abs(f) < 1e15 {
			return formatCount(f)
		}
		return strconv.FormatFloat(f, 'g', 4, 64)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Invalid:
		return "—"
	case reflect.Bool:
		if rv.Bool() {
			return "yes"
		}
		return "no"
	case reflect.String:
		return rv.String()
	case reflect.Slice, reflect.Array:
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = formatValue(rv.Index(i).Interface())
		}
		return strings.Join(parts, ", ")
	case reflect.Map:
		m := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			m[fmt.Sprint(it.Key().Interface())] = it.Value().Interface()
		}
		parts := make([]string, 0, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, k+" "+formatValue(m[k]))
		}
		return strings.Join(parts, ", ")
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return "—"
		}
		return formatValue(rv.Elem().Interface())
	}
	return fmt.Sprint(v)
}

func formatPercent(f float64) string {
	return strconv.FormatFloat(100*f, 'f', 1, 64) + "%"
}

func formatRatio(f float64) string {
	if f == 0 {
		return "—"
	}
	return strconv.FormatFloat(f, 'f', 2, 64) + "×"
}

// formatCount renders a whole number with thin-space thousands separators.
func formatCount(f float64) string {
	s := strconv.FormatInt(int64(f), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatBytes renders a byte count in decimal units, as sizes are written
// in the config (1 MB = 1,000,000 bytes).
func formatBytes(f float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	i := 0
	for math.Abs(f) >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(f, 'f', 0, 64) + " B"
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " " + units[i]
}
