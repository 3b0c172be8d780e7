package suite

import (
	"fmt"
	"html"
	"io"
	"math"
)

// SVG draws the ratios of the run as a bar chart: for each scenario, its
// throughput ratio (Switchyard over the baseline) and its CPU-per-request
// ratio (the baseline over Switchyard, so that longer is better for both),
// on one scale with the baseline at 1.0. The reload scenario, whose
// baseline is Switchyard itself, is drawn too: there 1.0 is "no cost".
func (r *Report) SVG(w io.Writer) {
	const (
		left, right = 190, 30 // margins around the bars
		width       = 760
		rowH, barH  = 46, 16
		top, bottom = 48, 44
	)
	scale := 1.5 // at least to 1.5x, so that 1.0 is never at the edge
	for _, s := range r.Scenarios {
		scale = math.Max(scale, math.Max(s.Ratio, s.CPURatio))
	}
	scale = math.Ceil(scale*2) / 2
	plot := float64(width - left - right)
	x := func(v float64) float64 { return left + plot*math.Min(v, scale)/scale }
	height := top + bottom + rowH*len(r.Scenarios)

	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	p(`<rect width="100%%" height="100%%" fill="#fff"/>` + "\n")
	p(`<text x="%d" y="20" font-size="14" font-weight="bold">Switchyard against its baselines (1.0 = the baseline)</text>`+"\n", left)
	p(`<rect x="%d" y="28" width="12" height="10" fill="#2b6cb0"/><text x="%d" y="37">throughput ratio</text>`+"\n", left, left+16)
	p(`<rect x="%d" y="28" width="12" height="10" fill="#38a169"/><text x="%d" y="37">CPU/request ratio (baseline over Switchyard)</text>`+"\n", left+130, left+146)
	for t := 0.0; t <= scale+1e-9; t += 0.5 {
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e2e8f0"/>`+"\n", x(t), top, x(t), height-bottom)
		p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#4a5568">%.1f×</text>`+"\n", x(t), height-bottom+16, t)
	}
	for i, s := range r.Scenarios {
		y := top + i*rowH + 6
		with := s.Scenario.Baseline
		if s.Scenario.Reload {
			with = "itself"
		}
		p(`<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH-3, html.EscapeString(s.Scenario.Title))
		p(`<text x="%d" y="%d" text-anchor="end" fill="#718096" font-size="10">vs %s</text>`+"\n", left-8, y+barH+11, html.EscapeString(with))
		bar := func(y int, v float64, color string) {
			p(`<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y, x(v)-left, barH, color)
			p(`<text x="%.1f" y="%d" fill="#1a202c" font-size="11">%.2f×</text>`+"\n", x(v)+4, y+barH-4, v)
		}
		bar(y, s.Ratio, "#2b6cb0")
		if s.CPURatio > 0 {
			bar(y+barH+2, s.CPURatio, "#38a169")
		}
	}
	p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c53030" stroke-width="2" stroke-dasharray="4 3"/>`+"\n",
		x(1), top-4, x(1), height-bottom+4)
	p("</svg>\n")
}
