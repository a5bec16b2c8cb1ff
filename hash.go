package queuefair

// This file holds two things. First, the signature of Passed Strings and Passed Cookies:
// Python's QueueFairAdapter.hash and processIdentifier, and which part of a pass is signed
// (SPEC 11.1). Then, under the second header, every piece of Python's standard library that the
// port reproduces byte for byte: urllib.parse (parse_qs, unquote, quote_plus, urlparse's
// query), str.lower, int() and bool(). The adapter (queuefair.go) and the settings
// (settings.go) both call into it; it calls neither.

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"hash"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"unicode"
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
// Port: compared in constant time; Python compares hashes with !=.
func (s *signer) matches(prefix, message, given string) bool {
	m := s.pool.Get().(*macState)
	defer s.pool.Put(m)
	m.mac.Reset()
	m.buf = append(append(m.buf[:0], prefix...), message...)
	m.mac.Write(m.buf)
	m.mac.Sum(m.sum[:0])
	if cap(m.buf) > 64<<10 {
		m.buf = make([]byte, 0, 512) // do not keep a giant buffer from one odd request
	}
	return constantTimeEqual(&m.sum, given)
}

// constantTimeEqual reports whether given is the lower-case hex of sum (as hex.EncodeToString
// writes it), without leaking through timing how many leading bytes match: sum is encoded and
// compared eight characters at a time, with no branch or table lookup on its bytes, and every
// word is compared. Lengths are public (a hex SHA-256 is 64 characters).
func constantTimeEqual(sum *[sha256.Size]byte, given string) bool {
	if len(given) != 2*len(sum) {
		return false
	}
	var v uint64
	for i := 0; i < len(sum); i += 4 {
		v |= hexWord(sum[i:]) ^ word(given[2*i:])
	}
	v |= v >> 32 // fold the word into its low byte, without a branch
	v |= v >> 16
	v |= v >> 8
	return subtle.ConstantTimeByteEq(uint8(v), 0) == 1
}

// hexWord is the lower-case hex of the first four bytes of b, each byte's high digit first as
// hex.Encode writes them, as the little-endian word of its eight characters (to compare with
// word). Each byte is spread to its own 16 bits, its two nibbles to two bytes, and each nibble
// n becomes '0'+n, plus 'a'-'0'-10 where n > 9 (n+6 carries into bit 4 exactly then).
func hexWord(b []byte) uint64 {
	x := uint64(binary.LittleEndian.Uint32(b))
	x = (x | x<<16) & 0x0000ffff0000ffff // bytes 0, 1, 2, 3 at bits 0, 8, 32, 40
	x = (x | x<<8) & 0x00ff00ff00ff00ff  // at bits 0, 16, 32, 48
	n := x>>4&0x000f000f000f000f | (x&0x000f000f000f000f)<<8
	return n + lowBits*'0' + (n+lowBits*6)>>4&lowBits*('a'-'0'-10)
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

// passHash is what Python's validateQuery and validateCookie first read from a pass s: the
// hash it carries (parse_qs(s)['qfh'][0]) and where the last "qfh=" starts, which ends its
// signed text. why says what is missing, for the debug log. A pass of the usual shape is read
// by usualPassHash, and then asWritten is true: s holds no '%' or '+'. passHashPlain reads any
// other, as Python does.
func passHash(s string) (hash string, end int, asWritten bool, why string) {
	if hash, end, ok := usualPassHash(s); ok {
		return hash, end, true, ""
	}
	hash, end, why = passHashPlain(s)
	return hash, end, false, why
}

// passHashPlain is passHash for a pass of any shape, read as Python reads it.
func passHashPlain(s string) (hash string, end int, why string) {
	end = lastIndex(s, "qfh=")
	if end < 0 {
		return "", -1, "no qfh= in the pass"
	}
	hash, ok := queryValue(s, "qfh")
	if !ok {
		return "", -1, "the pass's qfh is blank"
	}
	return hash, end, ""
}

// usualPassHash is the fast path of passHash (FuzzPassReading holds it to passHashPlain), for a
// pass that ends in "qfh=" (first or after a '&') and 64 bytes without '&' or '=', and holds no
// '%' or '+' (so every name reads as written) and no "h=" before that "qfh=". Then that "qfh="
// is the last (any later one would end in an '=' within the 64 bytes), no field before it can
// be a qfh with a value (its name would be followed by "h="), and its value is those 64 bytes.
// ok is false for any other shape.
func usualPassHash(s string) (hash string, end int, ok bool) {
	end = len(s) - len("qfh=") - 2*sha256.Size
	if end < 0 || s[end:end+len("qfh=")] != "qfh=" || end > 0 && s[end-1] != '&' {
		return "", 0, false
	}
	hash = s[end+len("qfh="):]
	if strings.IndexByte(hash, '&') >= 0 || strings.IndexByte(hash, '=') >= 0 ||
		hasEscapes(s, true) || strings.Contains(s[:end], "h=") {
		return "", 0, false
	}
	return hash, end, true
}

// signedTimestamp has no Python counterpart (Port: SPEC 11.1, the reference reads qfts from
// anywhere in the pass). It is the qfts that a pass's signed text vouches for, read with parse:
// signed must start with "qfqid=" and hold exactly one field named qfts (names decoded as
// parse_qs decodes them, with or without a value). A qfts outside the signed text is never
// read: the visitor chooses the User-Agent that is hashed in front of the signed text, so any
// text outside it may be the visitor's own. why says what is wrong, for the debug log.
//
// asWritten says the caller knows signed holds no '%' or '+' (usualPassHash found none in the
// pass), so that its names read as written.
func signedTimestamp(signed string, asWritten bool, parse func(string) (int64, bool)) (ts int64, why string) {
	if !strings.HasPrefix(signed, "qfqid=") {
		return 0, "signed text does not start with qfqid="
	}
	var text string
	var n int
	if !asWritten && hasEscapes(signed, true) {
		text, n = qftsFields(signed)
	} else {
		text, n = qftsFieldsAsWritten(signed)
	}
	if n > 1 {
		return 0, "signed text has more than one qfts"
	}
	if text == "" {
		return 0, "no timestamp in signed text"
	}
	if ts, ok := parse(text); ok {
		return ts, ""
	}
	return 0, "timestamp not numeric"
}

// qftsFields counts the fields of signed named qfts (names decoded as parse_qs decodes them)
// and returns the decoded value of the first.
func qftsFields(signed string) (text string, n int) {
	for s := signed; s != ""; {
		var name, value string
		name, value, s = nextField(s)
		if name != "qfts" {
			continue
		}
		if n++; n == 1 {
			text = unquote(value, true)
		}
	}
	return text, n
}

// qftsFieldsAsWritten is qftsFields for a signed text with no '%' or '+', whose names and values
// read as written: a field is named qfts when it is "qfts" or starts with "qfts=".
// FuzzPassReading holds the two together.
func qftsFieldsAsWritten(signed string) (text string, n int) {
	for s := signed; ; {
		field := s
		i := strings.IndexByte(s, '&')
		if i >= 0 {
			field, s = s[:i], s[i+1:]
		}
		if strings.HasPrefix(field, "qfts") && (len(field) == len("qfts") || field[len("qfts")] == '=') {
			if n++; n == 1 {
				text = field[min(len(field), len("qfts=")):]
			}
		}
		if i < 0 {
			return text, n
		}
	}
}

// lastIndex is strings.LastIndex(s, needle) for the needles of this package ("qfh=",
// "qfqid="). Every field of a pass starts "qf", so a search for a needle's first byte stops at
// each field. lastIndex searches forward, from one vectorised match to the next, for the needle's
// tail after its leading 'q's and 'f's ("h=", "id="), which a pass holds rarely, and keeps the
// matches with the head in front: every occurrence of needle holds its tail, so none is missed.
// Where strings.LastIndex hashes every byte of s, a pass costs two or three searches.
func lastIndex(s, needle string) int {
	split := 0
	for split < len(needle)-1 && (needle[split] == 'q' || needle[split] == 'f') {
		split++
	}
	head, tail := needle[:split], needle[split:]
	last := -1
	for i := len(head); i <= len(s); {
		j := strings.Index(s[i:], tail)
		if j < 0 {
			break
		}
		if at := i + j - len(head); s[at:at+len(head)] == head {
			last = at
		}
		i += j + 1
	}
	return last
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

// =============================================================================================
// Python's standard library, byte for byte
// What the reference gets from urllib.parse, str.lower, int() and bool(), reproduced exactly,
// because a signature, a rule or a settings field depends on every byte of it. Held to
// testdata/python-oracle.json (hash_test.go) and to tables printed by Python 3.11.
// =============================================================================================

// --- urllib.parse

// queryValue is Python's urllib.parse.parse_qs(s)[key][0]: the value of the first field of the
// '&'-separated s named key with a value that is not blank, name and value decoded ('+' is a
// space, a bad '%' escape stays text); ok is false when there is none.
func queryValue(s, key string) (v string, ok bool) {
	for s != "" {
		var name, raw string
		name, raw, s = nextField(s)
		if raw == "" {
			continue // parse_qs drops a field without '=' or with a blank value
		}
		if name == key {
			return unquote(raw, true), true
		}
	}
	return "", false
}

// nextField splits the first '&'-separated field off s, as parse_qs does: its name, decoded
// (an encoded name such as qf%68 is rare), its raw value ("" without '='), and the rest of s.
// The name is read once, for its '=' and for any '%' or '+' that makes it need decoding.
func nextField(s string) (name, raw, rest string) {
	field := s
	if i := strings.IndexByte(s, '&'); i >= 0 {
		field, rest = s[:i], s[i+1:]
	}
	name, escaped := field, false
	for i := 0; i < len(field); i++ {
		if c := field[i]; c == '=' {
			name, raw = field[:i], field[i+1:]
			break
		} else if c == '%' || c == '+' {
			escaped = true
		}
	}
	if escaped {
		name = unquote(name, true)
	}
	return name, raw, rest
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
	want := 0
	switch c := b[0]; {
	case 0xC2 <= c && c <= 0xDF:
		want = 2
	case 0xE0 <= c && c <= 0xEF:
		want = 3
	case 0xF0 <= c && c <= 0xF4:
		want = 4
	default:
		return 1
	}
	// b[:n+1] continues a valid sequence when some continuation bytes complete it.
	var seq [utf8.UTFMax]byte
	n := 1
	for n < want && n < len(b) {
		copy(seq[:], b[:n+1])
		for i := n + 1; i < want; i++ {
			seq[i] = 0x80
		}
		if !utf8.Valid(seq[:want]) {
			break
		}
		n++
	}
	return n
}

// hasEscapes reports whether s holds a '%' (or, with plus, a '+'): whether unquote changes it.
func hasEscapes(s string, plus bool) bool {
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
		case byteClass[c]&unreservedByte != 0: // letters, digits and -._~
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

// urlparseQuery is Python's urllib.parse.urlparse(url).query, as Python 3.11 has it: the text
// after the first '?' that comes before any '#', up to that '#', once every tab, CR and LF is
// deleted from the URL (WHATWG's rule, which urlsplit applies; net/http refuses such URLs, but
// NewAdapter may be given one). ok is false where urlparse raises ValueError, which the try of
// validateQuery turns into an invalid Passed String: a host with one bracket but not the
// other, or in brackets but not an IPv6 or IPvFuture address, or with a character that NFKC
// turns into '/', '?', '#', '@' or ':' (nfkcDelimiters).
func urlparseQuery(u string) (query string, ok bool) {
	if strings.IndexByte(u, '\t') >= 0 || strings.IndexByte(u, '\r') >= 0 || strings.IndexByte(u, '\n') >= 0 {
		b := make([]byte, 0, len(u))
		for i := 0; i < len(u); i++ {
			if c := u[i]; c != '\t' && c != '\r' && c != '\n' {
				b = append(b, c)
			}
		}
		u = string(b)
	}
	if !netlocParses(u) {
		return "", false
	}
	if i := strings.IndexByte(u, '#'); i >= 0 {
		u = u[:i]
	}
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[i+1:], true
	}
	return "", true
}

// netlocParses reports whether urlsplit takes the netloc of u (tabs, CR and LF deleted) without
// raising: past leading controls and spaces and a scheme, the text after "//" up to the first
// '/', '?' or '#'.
func netlocParses(u string) bool {
	for len(u) > 0 && u[0] <= ' ' { // Python strips these (WHATWG's C0 controls and space)
		u = u[1:]
	}
	if i := strings.IndexByte(u, ':'); i > 0 && isASCIILetter(u[0]) {
		scheme := true
		for j := 0; j < i && scheme; j++ {
			c := u[j]
			scheme = isASCIILetter(c) || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
		}
		if scheme {
			u = u[i+1:]
		}
	}
	if len(u) < 2 || u[0] != '/' || u[1] != '/' {
		return true
	}
	u = u[2:]
	end := 0 // the netloc is u[:end]; usually a plain host, stepped over eight bytes at a time
	for ; end+8 <= len(u); end += 8 {
		w := word(u[end:])
		if w&highBits != 0 || hasByte(w, lowBits*'/') || hasByte(w, lowBits*'?') || hasByte(w, lowBits*'#') ||
			hasByte(w, lowBits*'[') || hasByte(w, lowBits*']') {
			break
		}
	}
	open, shut, ascii := -1, -1, true
	for ; end < len(u); end++ {
		c := u[end]
		if c == '/' || c == '?' || c == '#' {
			break
		}
		if c == '[' && open < 0 {
			open = end
		} else if c == ']' && shut < 0 {
			shut = end
		} else if c >= 0x80 {
			ascii = false
		}
	}
	netloc := u[:end]
	if (open >= 0) != (shut >= 0) {
		return false // "Invalid IPv6 URL"
	}
	if open >= 0 {
		host := netloc[open+1:]
		if j := strings.IndexByte(host, ']'); j >= 0 {
			host = host[:j]
		}
		if !bracketedHost(host) {
			return false
		}
	}
	if !ascii {
		for _, r := range netloc {
			if r >= 0x80 && strings.ContainsRune(nfkcDelimiters, r) {
				return false
			}
		}
	}
	return true
}

// bracketedHost is what Python's _check_bracketed_host accepts between a URL's brackets: an
// IPvFuture address ('v', hex digits, '.', anything), or an IPv6 address, never an IPv4 one.
func bracketedHost(h string) bool {
	if strings.HasPrefix(h, "v") {
		i := 1
		for i < len(h) && isHex(h[i]) {
			i++
		}
		return i > 1 && i+1 < len(h) && h[i] == '.'
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && !ip.Is4()
}

// nfkcDelimiters are the characters whose NFKC form holds '/', '?', '#', '@' or ':' (Unicode
// 14, Python 3.11's): a host with one of them makes urlsplit raise.
const nfkcDelimiters = "\u2047\u2048\u2049\u2100\u2101\u2105\u2106\u2a74\ufe13\ufe16\ufe55\ufe56\ufe5f\ufe6b\uff03\uff0f\uff1a\uff1f\uff20"

// isASCIILetter reports whether c is an ASCII letter (Python's c.isascii() and c.isalpha()).
func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// --- str.lower

// pythonLower is Python's str.lower, which rules use when they are not case sensitive. It is
// strings.ToLower except in the two places where Python's full case mapping differs: 'İ'
// becomes "i̇" (two characters), and a capital sigma that ends a word becomes 'ς' (the
// Final_Sigma context). Bytes that are not UTF-8 are kept as they are.
func pythonLower(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s) + 1)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteByte(s[i])
		case r == 'İ':
			b.WriteString("i\u0307")
		case r == 'Σ' && finalSigma(s, i, i+n):
			b.WriteRune('ς')
		default:
			b.WriteRune(unicode.ToLower(r))
		}
		i += n
	}
	return b.String()
}

// finalSigma reports whether the capital sigma at s[start:end] is in Unicode's Final_Sigma
// context: a cased letter before it and none after it, skipping case-ignorable characters
// both ways.
func finalSigma(s string, start, end int) bool {
	before := start
	for before > 0 {
		r, n := utf8.DecodeLastRuneInString(s[:before])
		if !caseIgnorable(r) {
			if !cased(r) {
				return false
			}
			break
		}
		before -= n
	}
	if before == 0 {
		return false
	}
	for after := end; after < len(s); {
		r, n := utf8.DecodeRuneInString(s[after:])
		if !caseIgnorable(r) {
			return !cased(r)
		}
		after += n
	}
	return true
}

// cased is Unicode's Cased property: upper, lower or title case.
func cased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// caseIgnorable is Unicode's Case_Ignorable property: marks, format characters, modifier
// letters and symbols, and the apostrophes, dots and colons that may sit inside a word.
func caseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', '·', 0x0387, 0x055F, 0x05F4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// --- int()

// parseInt is Python's int(str): optional white space around an optional sign and decimal
// digits, underscores allowed between digits. As in CPython, a non-ASCII white space character
// counts as a space and a decimal digit of any script (category Nd: "١٢", "１２") as its ASCII
// digit (decimalASCII). ok is false for anything else, and for text of more than 4,300
// digits, which Python 3.11 refuses. A value beyond 18 digits reads as ±math.MaxInt64
// (longDigits).
func parseInt(s string) (n int64, ok bool) {
	if n, ok := parseDigits(s); ok {
		return n, true // the usual case, without the general parse
	}
	if s, ok = decimalASCII(s); !ok {
		return 0, false
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
	if n, ok = parseDigits(digits); !ok {
		n, ok = longDigits(digits)
	}
	if neg {
		n = -n
	}
	return n, ok
}

// maxIntDigits is CPython 3.11's default sys.int_info.default_max_str_digits: its int()
// refuses text of more digits (leading zeros included; underscores and sign not).
const maxIntDigits = 4300

// longDigits is parseDigits for the ASCII digits s of a number Python's int() reads in full
// however long: leading zeros are dropped, and a value of more than 18 digits reads as
// math.MaxInt64. Every use compares it with a time or clamps it (clampInt), where any number
// that large gives the answer Python's gives: a pass's qfts of 19 digits is young for ever,
// as in Python, and a lifetime is clamped as one of 2^31 is.
func longDigits(s string) (int64, bool) {
	if s == "" || len(s) > maxIntDigits {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	switch t := strings.TrimLeft(s, "0"); {
	case t == "":
		return 0, true
	case len(t) <= 18:
		return parseDigits(t)
	}
	return math.MaxInt64, true
}

// decimalASCII is the step CPython takes before int() parses text: each non-ASCII white space
// character (str.isspace) becomes ' ' and each decimal digit (category Nd) its ASCII digit;
// ok is false when any other non-ASCII character is there. ASCII is kept as it is. Checked
// against Python 3.11 over every code point: the answers agree but for the digits Unicode 15
// added (Kawi, Nag Mundari), which Go's tables have and Python 3.11's (Unicode 14) lack.
func decimalASCII(s string) (string, bool) {
	if isASCII(s) {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			b = append(b, byte(r))
		case unicode.IsSpace(r): // for non-ASCII, Go's White_Space is Python's isspace
			b = append(b, ' ')
		case unicode.Is(unicode.Nd, r):
			b = append(b, '0'+decimalValue(r))
		default:
			return "", false
		}
	}
	return string(b), true
}

// decimalValue is the value of r, a decimal digit (category Nd). Unicode encodes such digits
// in runs of ten, 0 to 9, so each range of unicode.Nd starts at a zero.
func decimalValue(r rune) byte {
	for _, rg := range unicode.Nd.R16 {
		if lo, hi := rune(rg.Lo), rune(rg.Hi); lo <= r && r <= hi {
			return byte((r - lo) % 10)
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if lo, hi := rune(rg.Lo), rune(rg.Hi); lo <= r && r <= hi {
			return byte((r - lo) % 10)
		}
	}
	return 0
}

// pythonInt is Python's int() of a JSON value as the adapter uses it on passedLifetimeMinutes
// and cookieSeconds: numbers truncate, numeric strings parse, booleans are 0 or 1. A value
// beyond the range of an int32 is clamped to it (clampInt); ok is false where Python's int()
// raises.
func pythonInt(v any) (int, bool) {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return clampInt(n), true
		}
		f, err := x.Float64() // an integer beyond int64, or a fraction or exponent
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false // 1e400 is inf to Python's json, and int(inf) raises
		}
		return int(max(min(f, math.MaxInt32), math.MinInt32)), true // int() truncates, as Python's
	case string:
		n, ok := parseInt(x)
		if !ok {
			return 0, false
		}
		return clampInt(n), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// clampInt is n within the range of an int32. Port: Python's int has no bound, but a Service
// gets an int (32 bits on some platforms) and adds it to a time as a Duration of seconds,
// which a lifetime beyond 292 years overflows: a cookie lifetime of 2^31 seconds or minutes
// is set as 2^31-1 seconds, 68 years, where Python sets the number it read; everything else
// about the visitor is as in Python.
func clampInt(n int64) int {
	return int(max(min(n, math.MaxInt32), math.MinInt32))
}

// --- bool()

// truthy is Python's bool() of a JSON value.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}
