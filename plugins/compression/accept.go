package compression

// Accept-Encoding negotiation, RFC 9110 §12.5.3:
//
//	Accept-Encoding  = #( codings [ weight ] )
//	codings          = content-coding / "identity" / "*"
//	weight           = OWS ";" OWS "q=" qvalue
//	qvalue           = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
//
// Tokens compare case-insensitively and exactly ("bgzip" is not gzip; "x-gzip"
// is, RFC 9110 §8.4.1.3). Parameters other than q are skipped. An element
// that does not follow the grammar (a bad token, a qvalue such as 0.0001 or
// 2) is ignored as a whole, so garbage can never make a coding acceptable. A
// coding listed twice takes its lowest weight: a refusal is never overridden.
// The parser allocates nothing.

// qUnlisted marks a coding the header does not mention.
const qUnlisted = -1

// acceptWeights are the weights (0..1000) one Accept-Encoding header gives
// the codings the plugin knows, or qUnlisted.
type acceptWeights struct {
	q    [numEncodings]int16 // indexed by encoding; encIdentity is "identity"
	star int16               // the "*" entry
}

// parseAcceptEncoding reads every field line of Accept-Encoding (a request may
// carry several; they combine as one comma-separated list).
func parseAcceptEncoding(lines []string) acceptWeights {
	aw := acceptWeights{star: qUnlisted}
	for i := range aw.q {
		aw.q[i] = qUnlisted
	}
	for _, s := range lines {
		for len(s) > 0 {
			var tok string
			var q int
			var ok bool
			tok, q, ok, s = nextCoding(s)
			if !ok {
				continue
			}
			aw.set(tok, int16(q))
		}
	}
	return aw
}

func (aw *acceptWeights) set(tok string, q int16) {
	var slot *int16
	switch {
	case tok == "*":
		slot = &aw.star
	case asciiEqualFold(tok, "gzip"), asciiEqualFold(tok, "x-gzip"):
		slot = &aw.q[encGzip]
	case asciiEqualFold(tok, "zstd"):
		slot = &aw.q[encZstd]
	case asciiEqualFold(tok, "br"):
		slot = &aw.q[encBr]
	case asciiEqualFold(tok, "identity"):
		slot = &aw.q[encIdentity]
	default:
		return
	}
	if *slot == qUnlisted || q < *slot {
		*slot = q
	}
}

// weight is the weight the header gives e: its own entry, else "*"'s.
func (aw *acceptWeights) weight(e encoding) int16 {
	if q := aw.q[e]; q != qUnlisted {
		return q
	}
	return aw.star
}

// choose picks the coding for a response: among prefs (the server's order),
// the one with the highest weight above zero, earlier entries winning ties;
// identity when none is acceptable, or when the client weighs identity
// above every coding it accepts.
func (aw *acceptWeights) choose(prefs []encoding) encoding {
	best, bestQ := encIdentity, int16(0)
	for _, e := range prefs {
		if q := aw.weight(e); q > bestQ {
			best, bestQ = e, q
		}
	}
	if best != encIdentity && aw.weight(encIdentity) > bestQ {
		return encIdentity
	}
	return best
}

// negotiate returns the coding to use for a request with these
// Accept-Encoding lines. No header means identity: without it a client has
// not said it can decode anything.
func negotiate(lines []string, prefs []encoding) encoding {
	if len(lines) == 0 {
		return encIdentity
	}
	aw := parseAcceptEncoding(lines)
	return aw.choose(prefs)
}

// nextCoding parses the element at the start of s and returns its token, its
// weight in thousandths, whether it is well formed, and the rest of s after
// the element's comma. Empty elements (",,") are skipped.
func nextCoding(s string) (tok string, q int, ok bool, rest string) {
	i := skipOWSAndCommas(s, 0)
	if i == len(s) {
		return "", 0, false, ""
	}
	j := skipToken(s, i)
	if j == i {
		return "", 0, false, skipElement(s, i)
	}
	tok, q = s[i:j], 1000
	i = skipOWS(s, j)
	for i < len(s) && s[i] == ';' {
		i = skipOWS(s, i+1)
		nameEnd := skipToken(s, i)
		if nameEnd == i || nameEnd == len(s) || s[nameEnd] != '=' {
			return "", 0, false, skipElement(s, i)
		}
		name := s[i:nameEnd]
		i = nameEnd + 1
		if name == "q" || name == "Q" {
			v, end, good := parseQValue(s, i)
			if !good {
				return "", 0, false, skipElement(s, end)
			}
			q, i = v, end
		} else {
			end, good := skipParamValue(s, i)
			if !good {
				return "", 0, false, skipElement(s, end)
			}
			i = end
		}
		i = skipOWS(s, i)
	}
	if i < len(s) && s[i] != ',' {
		return "", 0, false, skipElement(s, i)
	}
	if i < len(s) {
		i++
	}
	return tok, q, true, s[i:]
}

// parseQValue parses a qvalue at s[i:] as thousandths and returns the index
// after it; the value must end at OWS, ';', ',' or the end of s.
func parseQValue(s string, i int) (q, end int, ok bool) {
	if i >= len(s) || (s[i] != '0' && s[i] != '1') {
		return 0, i, false
	}
	one := s[i] == '1'
	if one {
		q = 1000
	}
	i++
	if i < len(s) && s[i] == '.' {
		i++
		scale := 100
		for n := 0; i < len(s) && isDigit(s[i]); n++ {
			if n == 3 || (one && s[i] != '0') {
				return 0, i, false
			}
			q += int(s[i]-'0') * scale
			scale /= 10
			i++
		}
	}
	if i < len(s) && !isDelimAfterValue(s[i]) {
		return 0, i, false
	}
	return q, i, true
}

// skipParamValue skips a parameter value (token or quoted-string) at s[i:].
func skipParamValue(s string, i int) (end int, ok bool) {
	if i < len(s) && s[i] == '"' {
		for i++; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '"':
				i++
				if i < len(s) && !isDelimAfterValue(s[i]) {
					return i, false
				}
				return i, true
			}
		}
		return len(s), false
	}
	j := skipToken(s, i)
	if j == i || (j < len(s) && !isDelimAfterValue(s[j])) {
		return j, false
	}
	return j, true
}

// skipElement returns the rest of s after the comma that ends the element
// containing s[i] (quoted strings may contain commas).
func skipElement(s string, i int) string {
	for ; i < len(s); i++ {
		switch s[i] {
		case ',':
			return s[i+1:]
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		}
	}
	return ""
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

func skipOWSAndCommas(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
		i++
	}
	return i
}

func skipToken(s string, i int) int {
	for i < len(s) && isTChar(s[i]) {
		i++
	}
	return i
}

func isDelimAfterValue(c byte) bool { return c == ' ' || c == '\t' || c == ';' || c == ',' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isTChar reports whether c may appear in an RFC 9110 token.
func isTChar(c byte) bool {
	return c < 0x80 && tcharTable[c]
}

var tcharTable = func() (t [128]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// asciiEqualFold compares s and t ignoring ASCII case only (header tokens are
// ASCII; Unicode folding such as 'ſ' == 's' must not apply).
func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if a != b && lowerASCII(a) != lowerASCII(b) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
