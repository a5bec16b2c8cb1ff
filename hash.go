package queuefair

// This file holds the cryptography of Passed Strings and Passed Cookies and the parsing of the
// signed text: Python's QueueFairAdapter.hash and processIdentifier, plus the pieces of
// urllib.parse (parse_qs, unquote, quote_plus) that the signatures depend on.

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"strings"
	"sync"
	"unicode/utf8"
)

// signer is Python's QueueFairAdapter.hash (the lower-case hex HMAC-SHA256 of a message keyed
// with a queue secret), keyed once: Python keys a new HMAC on every check, a signer keys its
// HMACs when settings load and hands them out through a pool, so a check costs one HMAC of the
// message and no allocation. It is safe for concurrent use.
type signer struct {
	pool sync.Pool // of *macState
}

// macState is one keyed HMAC plus the scratch space a check needs.
type macState struct {
	mac hash.Hash
	buf []byte
	sum [sha256.Size]byte
	hex [sha256.Size * 2]byte
}

// newSigner keys a signer with secret.
func newSigner(secret string) *signer {
	key := []byte(secret)
	s := &signer{}
	s.pool.New = func() any {
		return &macState{mac: hmac.New(sha256.New, key), buf: make([]byte, 0, 512)}
	}
	return s
}

// matches reports, in constant time, whether given is the lower-case hex HMAC of
// prefix+message. It is the `checkHash != queryHash` test of Python's validateQuery and
// validateCookie, without the timing leak of `!=`.
func (s *signer) matches(prefix, message, given string) bool {
	m := s.pool.Get().(*macState)
	defer s.pool.Put(m)
	m.mac.Reset()
	m.buf = append(append(m.buf[:0], prefix...), message...)
	m.mac.Write(m.buf)
	hex.Encode(m.hex[:], m.mac.Sum(m.sum[:0]))
	if cap(m.buf) > 64<<10 {
		m.buf = make([]byte, 0, 512) // do not keep a giant buffer from one odd request
	}
	return constantTimeEqual(m.hex[:], given)
}

// constantTimeEqual compares a computed hash with a string from the visitor without leaking,
// through timing, how many leading bytes match. Lengths are public (a hex SHA-256 is 64).
func constantTimeEqual(want []byte, given string) bool {
	if len(want) != len(given) {
		return false
	}
	var v byte
	for i := 0; i < len(want); i++ {
		v |= want[i] ^ given[i]
	}
	return subtle.ConstantTimeByteEq(v, 0) == 1
}

// processIdentifier is Python's QueueFairAdapter.processIdentifier: the User-Agent up to a '['
// that stands at character 20 or later, else the whole User-Agent. Python counts characters,
// not bytes, so this does too.
func processIdentifier(ua string) string {
	i := strings.IndexByte(ua, '[')
	if i < 20 { // also i == -1; 20 bytes are at most 20 characters
		return ua
	}
	if utf8.RuneCountInString(ua[:i]) < 20 {
		return ua
	}
	return ua[:i]
}

// queryValues is Python's urllib.parse.parse_qs(s)[k1][0] and [k2][0] in one pass over s (a
// signed pass is checked for both qfh and qfts): the first non-blank value of each key in the
// '&'-separated s, names and values decoded ('+' is a space, bad '%' escapes stay text). ok1
// and ok2 are false for a key with no non-blank value. With k1 == k2, v2 is the second value.
func queryValues(s, k1, k2 string) (v1 string, ok1 bool, v2 string, ok2 bool) {
	for s != "" {
		field := s
		if i := strings.IndexByte(s, '&'); i >= 0 {
			field, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		eq := strings.IndexByte(field, '=')
		if eq < 0 || eq == len(field)-1 {
			continue // parse_qs drops a field without '=' or with a blank value
		}
		name, raw := field[:eq], field[eq+1:]
		if hasEscapes(name, true) {
			name = unquote(name, true) // rare: an encoded name such as qf%68
		}
		switch {
		case !ok1 && name == k1:
			v1, ok1 = unquote(raw, true), true
		case !ok2 && name == k2:
			v2, ok2 = unquote(raw, true), true
		}
		if ok1 && ok2 {
			break
		}
	}
	return
}

// queryValue is Python's urllib.parse.parse_qs(s)[key][0]: the first non-blank value of key.
func queryValue(s, key string) (string, bool) {
	v, ok, _, _ := queryValues(s, key, key)
	return v, ok
}

// signedTimestamp has no Python counterpart (Port: SPEC 11.1, the reference reads qfts from
// anywhere in the pass). It is the qfts that a pass's signed text vouches for: signed must start
// with "qfqid=" and hold exactly one field named qfts (names decoded as parse_qs decodes them,
// with or without a value); ts is that field's decoded value. A qfts outside the signed text is
// never read: the visitor chooses the User-Agent that is hashed in front of the signed text, so
// any text outside it may be the visitor's own. why says what is wrong, for the debug log.
func signedTimestamp(signed string) (ts, why string) {
	if !strings.HasPrefix(signed, "qfqid=") {
		return "", "signed text does not start with qfqid="
	}
	found := false
	for s := signed; s != ""; {
		field := s
		if i := strings.IndexByte(s, '&'); i >= 0 {
			field, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		name, value, _ := strings.Cut(field, "=")
		if hasEscapes(name, true) {
			name = unquote(name, true)
		}
		if name != "qfts" {
			continue
		}
		if found {
			return "", "signed text has more than one qfts"
		}
		found, ts = true, unquote(value, true)
	}
	if ts == "" {
		return "", "no timestamp in signed text"
	}
	return ts, ""
}

// lastIndex is strings.LastIndex for the short needles of this package, searching back for
// the needle's first byte (strings.LastIndex hashes every byte of s).
func lastIndex(s, needle string) int {
	if needle == "" {
		return len(s)
	}
	c := needle[0]
	for i := len(s) - len(needle); i >= 0; i-- {
		if s[i] == c && s[i:i+len(needle)] == needle {
			return i
		}
	}
	return -1
}

// unquote is Python's urllib.parse.unquote (plus=false) and unquote_plus (plus=true):
// %XX escapes become bytes, malformed escapes stay as they are, and bytes that are not UTF-8
// become U+FFFD, as Python's errors='replace' does.
func unquote(s string, plus bool) string {
	if !hasEscapes(s, plus) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		case c == '+' && plus:
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	if utf8.Valid(b) {
		return string(b)
	}
	var out strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			n = invalidPrefixLen(b)
		}
		out.WriteRune(r)
		b = b[n:]
	}
	return out.String()
}

// invalidPrefixLen is how many bytes at the start of b one U+FFFD replaces when b does not
// start with valid UTF-8: the lead byte plus the continuation bytes that could still have
// completed it (Unicode's "maximal subpart", which Python's decoder follows).
func invalidPrefixLen(b []byte) int {
	want, lo, hi := 0, byte(0x80), byte(0xBF)
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		want = 2
	case c == 0xE0:
		want, lo = 3, 0xA0
	case c == 0xED:
		want, hi = 3, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		want = 3
	case c == 0xF0:
		want, lo = 4, 0x90
	case c == 0xF4:
		want, hi = 4, 0x8F
	case c >= 0xF1 && c <= 0xF3:
		want = 4
	default:
		return 1
	}
	n := 1
	for n < want && n < len(b) && b[n] >= lo && b[n] <= hi {
		n++
		lo, hi = 0x80, 0xBF
	}
	return n
}

// hasEscapes reports whether s holds a '%' (or, with plus, a '+'): whether unquote changes it.
func hasEscapes(s string, plus bool) bool {
	if len(s) < 16 { // a field name: a loop beats two calls to IndexByte
		for i := 0; i < len(s); i++ {
			if s[i] == '%' || plus && s[i] == '+' {
				return true
			}
		}
		return false
	}
	return strings.IndexByte(s, '%') >= 0 || (plus && strings.IndexByte(s, '+') >= 0)
}

// urldecode is Python's QueueFairAdapter.urldecode (urllib.parse.unquote): percent-decoding
// only, so '+' stays '+'.
func urldecode(s string) string { return unquote(s, false) }

// urlencode is Python's QueueFairAdapter.urlencode (urllib.parse.quote_plus): letters, digits
// and "_.-~" kept, space as '+', every other byte as %XX, exactly as url.QueryEscape does.
func urlencode(s string) string {
	var scratch [256]byte
	return string(appendURLEncoded(scratch[:0], s))
}

// appendURLEncoded appends urlencode(s) to dst. Callers build a URL in a buffer on their stack
// and convert it once, so the URL costs one allocation of its exact size
// (TestAppendURLEncodedIsQueryEscape holds it to url.QueryEscape).
func appendURLEncoded(dst []byte, s string) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			dst = append(dst, c)
		case c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return dst
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// parseDigits reads a non-negative decimal made only of ASCII digits, as the spec asks of a
// Passed String's qfts. ok is false for anything else, including values too large for int64.
func parseDigits(s string) (n int64, ok bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseInt is Python's int(str) for the values this package meets: optional ASCII white space
// around an optional sign and ASCII digits (underscores allowed between digits, as Python
// does). ok is false for anything else or for values too large.
func parseInt(s string) (n int64, ok bool) {
	if n, ok := parseDigits(s); ok {
		return n, true // the usual case, without the general parse
	}
	s = strings.Trim(s, " \t\n\r\v\f")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return 0, false
	}
	digits := strings.ReplaceAll(s, "_", "")
	n, ok = parseDigits(digits)
	if neg {
		n = -n
	}
	return n, ok
}
