package queuefair

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"net/url"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestSignerKnownValue holds the package's signer to a hash the reference computed: the Passed
// Cookie of the conformance scenario cookie-valid-domain, which the reference accepted.
func TestSignerKnownValue(t *testing.T) {
	body := "qfqid=8f14e45f-ceea-467a-9575-4f0c1e2d3b6a&qfts=1763999940&qfa=shopco&qfq=main-queue&qfpt=SafeGuard&"
	const known = "886404e5e13763c43060cda1ece1e07b5e15d5b3903b93264b59dc2f050a4b2d"
	s := newSigner("qsecret-123")
	mustEqual(t, "matches the reference's hash", s.matches(testUA, body, known), true)
	mustEqual(t, "matches another secret's hash", newSigner("qsecret-124").matches(testUA, body, known), false)
	mustEqual(t, "matches with a byte changed", s.matches(testUA, body+"x", known), false)
}

func TestSignerMatches(t *testing.T) {
	s := newSigner("sec")
	good := hashHex("sec", "ua"+"msg")
	tests := []struct {
		name               string
		prefix, msg, given string
		want               bool
	}{
		{"valid", "ua", "msg", good, true},
		{"split elsewhere", "u", "amsg", good, true}, // prefix and message are one text
		{"upper-case hex", "ua", "msg", strings.ToUpper(good), false},
		{"other message", "ua", "msG", good, false},
		{"truncated", "ua", "msg", good[:63], false},
		{"empty", "ua", "msg", "", false},
		{"other key", "ua", "msg", hashHex("sec2", "uamsg"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustEqual(t, "matches", s.matches(tt.prefix, tt.msg, tt.given), tt.want)
		})
	}
}

func TestSignerConcurrent(t *testing.T) {
	s := newSigner("sec")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			msg := strings.Repeat("x", i*100)
			want := hashHex("sec", "ua"+msg)
			for j := 0; j < 200; j++ {
				if !s.matches("ua", msg, want) {
					t.Error("concurrent check failed")
					return
				}
			}
		}(i)
	}
	wg.Wait()
}

func TestSignerHugeMessageDropsBuffer(t *testing.T) {
	s := newSigner("k")
	big := strings.Repeat("a", 100<<10)
	if !s.matches("", big, hashHex("k", big)) {
		t.Fatal("big message")
	}
	m := s.pool.Get().(*macState)
	if cap(m.buf) > 64<<10 {
		t.Errorf("pooled buffer kept %d bytes", cap(m.buf))
	}
}

func TestConstantTimeEqual(t *testing.T) {
	// Sums whose bytes take every value in every position of a word, against hex.Encode.
	for v := 0; v < 256; v++ {
		var sum [sha256.Size]byte
		for i := range sum {
			sum[i] = byte(v + 37*i)
		}
		want := hex.EncodeToString(sum[:])
		if !constantTimeEqual(&sum, want) {
			t.Fatalf("%x: its hex %s does not match", sum, want)
		}
		for _, bad := range []string{strings.ToUpper(want), want[:63], want + "0", ""} {
			if bad != want && constantTimeEqual(&sum, bad) {
				t.Fatalf("%x matches %q", sum, bad)
			}
		}
	}
	// One changed bit anywhere in the given hash.
	sum := sha256.Sum256([]byte("queue-fair"))
	want := hex.EncodeToString(sum[:])
	for i := range want {
		for _, bit := range []byte{0x01, 0x80} {
			given := []byte(want)
			given[i] ^= bit
			if constantTimeEqual(&sum, string(given)) {
				t.Fatalf("bit %#x of byte %d changed, still equal", bit, i)
			}
		}
	}
}

// TestHashesComparedInConstantTime reads the source: the only comparison of a computed hash
// with the visitor's is constantTimeEqual, whose loop never returns early, and the validation
// functions compare no hash with == or !=.
func TestHashesComparedInConstantTime(t *testing.T) {
	fset := token.NewFileSet()
	funcs := map[string]*ast.FuncDecl{}
	for _, file := range []string{"hash.go", "queuefair.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				funcs[fd.Name.Name] = fd
			}
		}
	}
	for _, name := range []string{"matches", "constantTimeEqual", "validateQuery", "validateCookie"} {
		if funcs[name] == nil {
			t.Fatalf("no func %s in hash.go or queuefair.go: if it moved or was renamed, point this test at it", name)
		}
	}
	calls := func(fd *ast.FuncDecl, name string) bool {
		found := false
		ast.Inspect(fd, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok {
				if id, ok := c.Fun.(*ast.Ident); ok && id.Name == name {
					found = true
				}
				if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == name {
					found = true
				}
			}
			return true
		})
		return found
	}
	if !calls(funcs["matches"], "constantTimeEqual") {
		t.Error("signer.matches does not compare with constantTimeEqual")
	}
	if !calls(funcs["constantTimeEqual"], "ConstantTimeByteEq") {
		t.Error("constantTimeEqual does not end in subtle.ConstantTimeByteEq")
	}
	ast.Inspect(funcs["constantTimeEqual"], func(n ast.Node) bool {
		if loop, ok := n.(*ast.ForStmt); ok {
			ast.Inspect(loop.Body, func(n ast.Node) bool {
				if _, ok := n.(*ast.ReturnStmt); ok {
					t.Errorf("constantTimeEqual returns from inside its loop at %v", fset.Position(n.Pos()))
				}
				return true
			})
		}
		return true
	})
	for _, name := range []string{"validateQuery", "validateCookie", "matches"} {
		ast.Inspect(funcs[name], func(n ast.Node) bool {
			if b, ok := n.(*ast.BinaryExpr); ok && (b.Op == token.EQL || b.Op == token.NEQ) {
				for _, side := range []ast.Expr{b.X, b.Y} {
					if id, ok := side.(*ast.Ident); ok && strings.Contains(strings.ToLower(id.Name), "hash") {
						t.Errorf("%s compares %s with %s at %v", name, id.Name, b.Op, fset.Position(b.Pos()))
					}
				}
			}
			return true
		})
	}
}

func TestProcessIdentifierMatchesPython(t *testing.T) {
	for _, tt := range loadOracle(t).Identifier {
		mustEqual(t, "processIdentifier("+tt.UA+")", processIdentifier(tt.UA), tt.ID)
	}
}

func TestQueryValueMatchesPythonParseQS(t *testing.T) {
	for _, tt := range loadOracle(t).ParseQS {
		for key, want := range map[string]*string{"qfh": tt.QFH, "q fh": tt.QSp} {
			got, ok := queryValue(tt.S, key)
			if want == nil {
				if ok {
					t.Errorf("queryValue(%q, %q) = %q, want none", tt.S, key, got)
				}
				continue
			}
			if !ok || got != *want {
				t.Errorf("queryValue(%q, %q) = %q, %v; want %q", tt.S, key, got, ok, *want)
			}
		}
	}
}

func TestUnquoteMatchesPython(t *testing.T) {
	for _, tt := range loadOracle(t).Unquote {
		mustEqual(t, "unquote("+tt.S+")", urldecode(tt.S), tt.Unquote)
	}
	mustEqual(t, "unquote_plus", unquote("a+b%2B", true), "a b+")
}

func TestURLEncodeIsQuotePlus(t *testing.T) {
	mustEqual(t, "quote_plus", urlencode("a b/c?d=e&f~g_h.i-j:ü"), "a+b%2Fc%3Fd%3De%26f~g_h.i-j%3A%C3%BC")
}

func TestAppendURLEncodedIsQueryEscape(t *testing.T) {
	var all strings.Builder
	for c := 0; c < 256; c++ {
		all.WriteByte(byte(c))
	}
	for _, in := range []string{"", "a b/c?d=e&f~g_h.i-j:ü", all.String(), testUA} {
		mustEqual(t, "appendURLEncoded", string(appendURLEncoded([]byte("x="), in)), "x="+url.QueryEscape(in))
		mustEqual(t, "urlencode", urlencode(in), url.QueryEscape(in))
	}
}

// TestPythonLower holds pythonLower to Python 3.11's str.lower. The table was printed by
// Python; the loop encodes a scan of every code point, where Python and strings.ToLower
// differ only for 'İ' (and Σ, whose lower case depends on its neighbours).
func TestPythonLower(t *testing.T) {
	for _, tt := range [][2]string{
		{"Σ", "σ"}, {"ΑΣ", "ας"}, {"ΟΔΟΣ", "οδος"}, {"ΟΔΟΣ ΟΔΟΣ", "οδος οδος"}, {"ΑΣΑ", "ασα"},
		{"Α'Σ", "α'ς"}, {"ΑΣ'", "ας'"}, {"ΑΣ'Α", "ασ'α"}, {"Α.Σ.", "α.ς."}, {"1Σ", "1σ"},
		{"ΑΣ1", "ας1"}, {"Σ\u0308", "σ\u0308"}, {"Α\u0308Σ", "α\u0308ς"}, {"ΑΣ\u0308Α", "ασ\u0308α"},
		{"ΑΣ\u00adΒ", "ασ\u00adβ"}, {"İSTANBUL", "i\u0307stanbul"}, {"aΣ", "aς"}, {"ǅΣ", "ǆς"},
		{"ΑΣÿ", "ασÿ"}, {"/Straße/ÜBER?Q=İ", "/straße/über?q=i\u0307"}, {"ʰ'1.ǅ", "ʰ'1.ǆ"},
		{"Α.ⓐ-İ", "α.ⓐ-i\u0307"}, {":ǅʰ\u0308", ":ǆʰ\u0308"}, {"ABC", "abc"}, {"", ""},
		{"A\xffΣ", "a\xffσ"}, // bytes that are not UTF-8 are kept
	} {
		mustEqual(t, "pythonLower("+tt[0]+")", pythonLower(tt[0]), tt[1])
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r == 'İ' || r == 'Σ' || !utf8.ValidRune(r) {
			continue
		}
		if s := string(r); pythonLower(s) != strings.ToLower(s) {
			t.Fatalf("pythonLower(%U) = %q, want %q", r, pythonLower(s), strings.ToLower(s))
		}
	}
}

func TestParseNumbers(t *testing.T) {
	digits := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1764000000", 1764000000, true}, {"0", 0, true}, {"", 0, false}, {"-1", 0, false},
		{"+1", 0, false}, {" 1", 0, false}, {"1e3", 0, false}, {"١٢", 0, false},
		{"123456789012345678", 123456789012345678, true}, {"1234567890123456789", 0, false},
		{"1:", 0, false}, {"/1", 0, false}, // the bytes either side of the digits
	}
	for _, tt := range digits {
		n, ok := parseDigits(tt.in)
		if n != tt.want || ok != tt.ok {
			t.Errorf("parseDigits(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.want, tt.ok)
		}
	}
	ints := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"20", 20, true}, {" 20\n", 20, true}, {"-5", -5, true}, {"+7", 7, true}, {"1_000", 1000, true},
		{"_1", 0, false}, {"1__0", 0, false}, {"1_", 0, false}, {"20.5", 0, false}, {"", 0, false},
		{"-", 0, false}, {"0x10", 0, false},
		// Other scripts' digits and white space, as Python 3.11 reads them (int() printed there).
		{"١٢", 12, true}, {"٠", 0, true}, {"۱۲۳", 123, true}, {"१०", 10, true}, {"\u00a012\u3000", 12, true},
		{"\x1c7\x1f", 0, false}, {"-١", -1, true}, {"+\u0663", 3, true}, {"1_\u0662", 12, true},
		{"\u2007 5", 5, true}, {"5\u200b", 0, false}, {"١٢.٥", 0, false}, {"𝟏𝟐", 12, true}, {"𝟘", 0, true},
		{"Ⅻ", 0, false}, {"²", 0, false}, {"½", 0, false}, {"\u0085 9 \u0085", 9, true}, {"ߊ", 0, false},
		{"\u07c0\u07c1", 1, true}, {"\u0e51\u0e52", 12, true}, {"\u1369", 0, false}, {"\uff11\uff12", 12, true},
		{"\u180e5", 0, false}, {"\xff1", 0, false},
		// Python reads any number of digits up to 4,300 (3.11's limit); beyond 18, math.MaxInt64.
		{"1234567890123456789", math.MaxInt64, true}, {"-1000000000000000000", -math.MaxInt64, true},
		{"000000000000000000000000000042", 42, true}, {" +0_000_000_000_000_000_000_001 ", 1, true},
		{strings.Repeat("9", 4300), math.MaxInt64, true}, {strings.Repeat("0", 4300), 0, true},
		{strings.Repeat("1", 4301), 0, false}, {strings.Repeat("0", 4301), 0, false},
		{strings.Repeat("1_", 2150) + "1", math.MaxInt64, true}, {strings.Repeat("1_", 4300) + "1", 0, false},
		{strings.Repeat("\u0661", 19), math.MaxInt64, true},
	}
	for _, tt := range ints {
		n, ok := parseInt(tt.in)
		if n != tt.want || ok != tt.ok {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.want, tt.ok)
		}
	}
}

// TestDecimalRanges: decimalValue counts each digit from the start of its range of
// unicode.Nd, which holds while every range is a run of whole tens, stride 1, starting at a
// zero (Unicode's rule for decimal digits; a Go release with other tables would fail here).
func TestDecimalRanges(t *testing.T) {
	check := func(lo, hi, stride uint32) {
		if stride != 1 || (hi-lo+1)%10 != 0 {
			t.Errorf("unicode.Nd range %#x-%#x (stride %d) is not a run of whole tens", lo, hi, stride)
		}
		if !unicode.IsDigit(rune(lo)) || decimalValue(rune(lo)) != 0 || decimalValue(rune(lo+9)) != 9 {
			t.Errorf("unicode.Nd range %#x-%#x does not run 0 to 9", lo, hi)
		}
	}
	for _, r := range unicode.Nd.R16 {
		check(uint32(r.Lo), uint32(r.Hi), uint32(r.Stride))
	}
	for _, r := range unicode.Nd.R32 {
		check(r.Lo, r.Hi, r.Stride)
	}
	mustEqual(t, "value of U+0669 ARABIC-INDIC DIGIT NINE", decimalValue('\u0669'), byte(9))
}

func TestTruthy(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want bool
	}{{nil, false}, {false, false}, {true, true}, {"", false}, {"false", true}, {json.Number("0"), false},
		{json.Number("0.0"), false}, {json.Number("2"), true}, {[]any{}, false}, {[]any{1}, true},
		{map[string]any{}, false}, {map[string]any{"a": 1}, true}} {
		mustEqual(t, fmt.Sprintf("truthy(%v)", tt.v), truthy(tt.v), tt.want)
	}
}

func TestLastIndex(t *testing.T) {
	for _, tt := range [][2]string{
		{"", ""}, {"abc", ""}, {"", "qfh="}, {"qfh=", "qfh="}, {"qfh=qfh=", "qfh="}, {"aqfh=bqfh=c", "qfh="},
		{"qfhqfh=", "qfh="}, {"aaaa", "aa"}, {"qfqid=1&qfh=2&qfqid=3", "qfqid="}, {"qf", "qfh="}, {"xyz", "q"},
		// The tail searched for ("h=", "qid=") without its head, or sharing bytes with it.
		{"h=qfh=xh=", "qfh="}, {"id=qfqid=1&aqid=2", "qfqid="}, {"qfqfqid=", "qfqid="}, {"fh=", "qfh="},
		{"qqq", "qq"}, {"fqfqf", "fq"}, {"qf", "qf"}, {"qfq", "qfq"}, {"ffff", "f"},
	} {
		mustEqual(t, "lastIndex("+tt[0]+", "+tt[1]+")", lastIndex(tt[0], tt[1]), strings.LastIndex(tt[0], tt[1]))
	}
}

// TestURLParseQuery holds urlparseQuery to Python 3.11's urllib.parse.urlparse(url).query, the
// answers below recorded from it: tabs, CR and LF deleted, and false where it raises
// ValueError (brackets, IPvFuture, an IPv4 address in brackets, a character NFKC makes a
// delimiter), which makes a Passed String invalid in the reference.
func TestURLParseQuery(t *testing.T) {
	for _, tt := range []struct {
		url, query string
		ok         bool
	}{
		{"https://shop.example.com/checkout?qfqid=1&qfts=2#frag?x", "qfqid=1&qfts=2", true},
		{"https://shop.example.com/checkout?qf\tqid=1&q\r\nfts=2", "qfqid=1&qfts=2", true},
		{"  \x01https://[::1]:8080/p?a=1", "a=1", true},
		{"https://[shop]/p?a=1", "", false},
		{"https://[::1/p?a=1", "", false},
		{"https://]x[/p?a=1", "", false},
		{"https://[1.2.3.4]/p?a=1", "", false},
		{"https://[v1.x]/p?a=1", "a=1", true},
		{"https://[v.x]/p?a=1", "", false},
		{"https://[v1.]/p?a=1", "", false},
		{"https://[::ffff:1.2.3.4]/p?a=1", "a=1", true},
		{"https://[fe80::1%25eth0]/p?a=1", "a=1", true},
		{"https://user@[::1]:80/p?a=1", "a=1", true},
		{"https://ex\u2100ample.com/p?a=1", "", false},
		{"https://\uff45xample.com/p?a=1", "a=1", true},
		{"https://shop.example.com/\u2100?a=1", "a=1", true},
		{"//[x]/p?a=1", "", false},
		{"1http://[x]/p?a=1", "a=1", true},
		{"http:/[x]/p?a=1", "a=1", true},
		{"mailto:[x]?a=1", "a=1", true},
		{"https://sh[op]x/p?a=1", "", false},
		{"https://[::1]x/p?a=1", "a=1", true},
		{"https://a[b]c]/p?a=1", "", false},
		{"", "", true},
		{"?", "", true},
		{"https://h/p?a=1#b?c", "a=1", true},
		{"https://h#x?y", "", true},
		{"https://\t[::1]/?q=\t1", "q=1", true},
		{"ht\ttps://[bad]/?q", "", false},
		{"HTTPS://[::1]/?q", "q", true},
		{"h+t.t-p://[bad]/?q", "", false},
		{"h_ttp://[bad]/?q", "q", true},
	} {
		query, ok := urlparseQuery(tt.url)
		if query != tt.query || ok != tt.ok {
			t.Errorf("urlparseQuery(%q) = %q, %v; Python: %q, %v", tt.url, query, ok, tt.query, tt.ok)
		}
	}
}
