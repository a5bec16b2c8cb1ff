package queuefair

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzSeeds adds the URLs, User-Agents and cookies of the conformance scenarios to f through add.
func fuzzSeeds(f *testing.F, add func(v vector)) {
	for _, v := range loadVectors(f) {
		add(v)
	}
}

func FuzzValidateQuery(f *testing.F) {
	fuzzSeeds(f, func(v vector) { f.Add(v.Request.URL, v.Request.UserAgent) })
	f.Add(checkoutURL+"?"+passToken("sec-q", testUA, "q", testNow), testUA)
	r := newRig(f, nil)
	q := &queue{name: "q", secret: "sec-q", hasSecret: true, sign: newSigner("sec-q")}
	f.Fuzz(func(t *testing.T, u, ua string) {
		a := r.gate.NewAdapter(newRecorder(nil), u, ua, testIP, "")
		if a.validateQuery(q) && !strings.Contains(u, "qfh=") {
			t.Fatalf("accepted a Passed String without qfh: %q", u)
		}
	})
}

func FuzzValidateCookie(f *testing.F) {
	fuzzSeeds(f, func(v vector) {
		for _, c := range v.Request.Cookies {
			f.Add(c, v.Request.UserAgent)
		}
	})
	f.Add(passToken("sec-q", testUA, "q", testNow), testUA)
	r := newRig(f, nil)
	s := newSigner("sec-q")
	f.Fuzz(func(t *testing.T, cookie, ua string) {
		a := r.gate.NewAdapter(newRecorder(nil), checkoutURL, ua, testIP, "")
		if a.validateCookie(s, 20, cookie) && !strings.Contains(cookie, "qfh=") {
			t.Fatalf("accepted a cookie without qfh: %q", cookie)
		}
	})
}

// TestTamperedPassesRejected is the property that every byte of a pass matters: changing any
// one byte of the signed part or of the hash of a valid Passed String or Passed Cookie makes
// it invalid.
func TestTamperedPassesRejected(t *testing.T) {
	r := newRig(t, nil)
	q := &queue{name: "q", secret: "sec-q", hasSecret: true, sign: newSigner("sec-q"), lifetimeMinutes: 20, lifetimeOK: true}
	pass := passToken("sec-q", testUA, "q", testNow-30)
	a := r.gate.NewAdapter(newRecorder(nil), checkoutURL+"?"+pass, testUA, testIP, "")
	if !a.validateQuery(q) || !a.validateCookie(q.sign, 20, pass) {
		t.Fatal("the untampered pass is not valid")
	}
	for i := 0; i < len(pass); i++ {
		for _, b := range []byte{pass[i] ^ 1, 'A', '0', '&', '=', '%'} {
			if b == pass[i] {
				continue
			}
			bad := pass[:i] + string(b) + pass[i+1:]
			a := r.gate.NewAdapter(newRecorder(nil), checkoutURL+"?"+bad, testUA, testIP, "")
			if a.validateQuery(q) {
				t.Errorf("Passed String accepted with byte %d changed to %q: %s", i, b, bad)
			}
			if a.validateCookie(q.sign, 20, bad) {
				t.Errorf("Passed Cookie accepted with byte %d changed to %q: %s", i, b, bad)
			}
		}
	}
}

func FuzzComponents(f *testing.F) {
	fuzzSeeds(f, func(v vector) { f.Add(v.Request.URL, "/checkout") })
	for _, s := range []string{"https://https://x/", "http://a:b@c/d?e#f", "?", "", "::::", "https://h/x", "https://ÜBER.example/\u212a/İ"} {
		f.Add(s, "über")
	}
	f.Fuzz(func(t *testing.T, u, needle string) {
		if !utf8.ValidString(needle) {
			return // rule values come from JSON strings: always UTF-8
		}
		d, p, q := domainOf(u), pathOf(u), queryComponent(u)
		a := Adapter{requestedURL: u}
		if a.parts(); a.domain != d || a.path != p || a.query != q {
			t.Fatalf("cutParts(%q) = %q %q %q; step by step %q %q %q", u, a.domain, a.path, a.query, d, p, q)
		}
		if a.urlASCII != isASCII(u) {
			t.Fatalf("cutParts(%q) says ASCII %v", u, a.urlASCII)
		}
		if strings.ContainsAny(d, "?#/:") {
			t.Fatalf("domain %q of %q holds a delimiter", d, u)
		}
		if p == "" {
			t.Fatalf("empty path for %q", u)
		}
		if !strings.Contains(u, "?") && q != "" {
			t.Fatalf("query %q of %q without '?'", q, u)
		}
		// The copy-free case folding agrees with lower-casing the whole URL as Python does.
		lowerU := pythonLower(u)
		for _, v := range []string{pythonLower(d), pythonLower(p), pythonLower(q), "", pythonLower(needle)} {
			if equalRule(u, v, false, nil) != (lowerU == v) {
				t.Fatalf("equalRule(%q, %q) disagrees with pythonLower", u, v)
			}
			if got, want := containsRule(u, v, false, false, nil), strings.Contains(lowerU, v); got != want {
				t.Fatalf("containsRule(%q, %q) = %v, pythonLower gives %v", u, v, got, want)
			}
		}
	})
}

func FuzzQueryValue(f *testing.F) {
	for _, s := range []string{"qfh=a&qfh=b", "qf%68=x", "a+b=c", "qfh=%zz", "qfh=%E2%82"} {
		f.Add(s, "qfh")
	}
	f.Fuzz(func(t *testing.T, s, key string) {
		if got, want := lastIndex(s, key+"="), strings.LastIndex(s, key+"="); got != want {
			t.Fatalf("lastIndex(%q, %q) = %d, want %d", s, key+"=", got, want)
		}
		v, ok := queryValue(s, key)
		if ok && !strings.ContainsAny(s, "%+") && !strings.Contains(s, key+"="+v) {
			t.Fatalf("queryValue(%q, %q) = %q, not in the input", s, key, v)
		}
		// Escapes decode to UTF-8 or U+FFFD; text without escapes passes through as it came.
		if u := unquote(s, true); utf8.ValidString(s) && !utf8.ValidString(u) {
			t.Fatalf("unquote(%q) = %q is not UTF-8", s, u)
		}
	})
}

func FuzzCompileSettings(f *testing.F) {
	fuzzSeeds(f, func(v vector) { f.Add([]byte(v.Settings)) })
	f.Add([]byte(`{"queues":[{"name":"q","passedLifetimeMinutes":"1e9","activation":{"rules":null,"variantRules":[{}]}}]}`))
	for _, m := range []string{"RegExp", "EndsWith"} { // the matches the newer adapters write
		for _, v := range []string{`^/checkout`, `(a{1000}){1000}`, `(?!x)`, `\`, `[`, ``} {
			f.Add([]byte(settingsJSON(queueJSON("q", "["+ruleJSON("Path", m, v, false, true)+"]", ""))))
		}
	}
	f.Add([]byte(`{"queues":[]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := compileSettings(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("compiled %q, which is not one JSON value", data) // json.loads refuses it
		}
		for _, q := range s.queues {
			if q.cookieName != CookieNameBase+q.name {
				t.Fatalf("queue compiled without a name: %+v", q)
			}
		}
	})
}

func FuzzParseAdapterResult(f *testing.F) {
	fuzzSeeds(f, func(v vector) {
		for _, body := range v.AdapterResponses {
			f.Add([]byte(body))
		}
	})
	f.Add([]byte(`{"uid":null}`))
	f.Add([]byte(`["uid"] `))
	f.Add([]byte(`{} x`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseAdapterResult(body)
		if err == nil && r == nil {
			t.Fatal("nil result without error")
		}
		if err == nil && !json.Valid(body) {
			t.Fatalf("accepted %q, which is not one JSON value", body) // json.loads refuses it
		}
	})
}

// FuzzCookieLookup holds cookieValue's search to the plain loop over every part of every
// line, for any header lines (split at '\n') and any name.
func FuzzCookieLookup(f *testing.F) {
	f.Add("a=1; QueueFair-Pass-q=\"x\"; b=QueueFair-Pass-q\nQueueFair-Pass-q=2", "QueueFair-Pass-q")
	f.Add("x=QueueFair-Store-aQueueFair-Store-a; QueueFair-Store-a =v", "QueueFair-Store-a")
	f.Add(" \u00a0n=1;n;n=2", "n")
	f.Add("=1; a;b=2", "")
	f.Add("a;b=1; a;b=2", "a;b")
	f.Fuzz(func(t *testing.T, lines, name string) {
		h := http.Header{"Cookie": strings.Split(lines, "\n")}
		if got, want := cookieValue(h, name), cookieValuePlain(h, name); got != want {
			t.Fatalf("cookieValue(%q, %q) = %q, the plain loop %q", lines, name, got, want)
		}
	})
}

// FuzzCookieValue holds cookieValue to net/http's own parser: whenever net/http accepts every
// pair of a Cookie header (so that it skips none that cookieValue would find first), the value
// cookieValue finds for a name is the value of http.Request.Cookies' first cookie of that name.
// Headers where the two are meant to differ are left out: a pair without '=', and white space
// around a name or value (cookieValue reads those as the reference's Django does).
func FuzzCookieValue(f *testing.F) {
	f.Add(`a=1; QueueFair-Pass-q="x=1"; b=2`, "QueueFair-Pass-q")
	f.Add(`a=1; a=2`, "a")
	f.Add(`a = spaced ; b=2`, "a")
	f.Add(`;;=;"`, "")
	f.Fuzz(func(t *testing.T, header, name string) {
		got := cookieValue(http.Header{"Cookie": {header}}, name)
		all := (&http.Request{Header: http.Header{"Cookie": {header}}}).Cookies()
		pairs := 0
		for _, p := range strings.Split(header, ";") {
			if !strings.Contains(p, "=") && strings.TrimSpace(p) != "" {
				return // net/http reads "x" as a cookie x, Django as a nameless value x
			}
			if n, v, _ := strings.Cut(strings.TrimSpace(p), "="); n != strings.TrimSpace(n) || v != strings.TrimSpace(v) {
				return // white space around a name or value: Django strips it, net/http keeps some
			}
			if strings.TrimSpace(p) != "" {
				pairs++
			}
		}
		if len(all) != pairs {
			return // net/http refused a pair: it is no oracle for this header
		}
		want := ""
		for _, c := range all {
			if c.Name == name {
				want = c.Value
				break
			}
		}
		if got != want {
			t.Fatalf("cookieValue(%q, %q) = %q, net/http says %q", header, name, got, want)
		}
	})
}

// FuzzIsContinue runs whole requests with arbitrary URL, User-Agent, cookies, settings and
// adapter answer: IsContinue must return, never panic, and only redirect with a decision of
// false.
func FuzzIsContinue(f *testing.F) {
	fuzzSeeds(f, func(v vector) {
		answer := ""
		for _, body := range v.AdapterResponses {
			answer = string(body)
		}
		cookies := ""
		for k, c := range v.Request.Cookies {
			cookies += k + "=" + c + "\n"
		}
		f.Add(v.Request.URL, v.Request.UserAgent, cookies, string(v.Settings), answer, v.Config.AdapterMode == "simple", string(v.Config.Debug) == "true")
	})
	f.Fuzz(func(t *testing.T, u, ua, cookies, settings, answer string, simple, debug bool) {
		cfg := NewConfig(testAccount, testSecret)
		if simple {
			cfg.AdapterMode = ModeSimple
		}
		cfg.Debug = debug
		cfg.Now = newClock(testNow).Now
		cfg.Sleep = func(context.Context, time.Duration) {}
		cfg.Logger = discardLogger()
		cfg.SettingsFileCacheLocation = "/dev/null/queuefair" // no disk: its faults have their own tests
		// The settings URL gets the fuzzed settings; every adapter URL the fuzzed answer.
		stub := newStubTransport()
		stub.json(testSettings, settings)
		stub.otherwise(func(*http.Request) (*http.Response, error) { return jsonResponse(200, answer), nil })
		cfg.HTTPClient = &http.Client{Transport: stub}
		g, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer g.store.inFlight.Wait()
		jar := map[string]string{}
		for _, line := range strings.Split(cookies, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				jar[k] = v
			}
		}
		rec := newRecorder(jar)
		cont := g.NewAdapter(rec, u, ua, testIP, "").IsContinue(context.Background())
		redirects := 0
		for _, c := range rec.calls {
			if c.Op == "redirect" {
				redirects++
				if !allowedRedirect(c.Location, u, settings, answer) {
					t.Fatalf("redirect to %q: not a queue server, the adapter's location or the request's own URL", c.Location)
				}
			}
		}
		if redirects > 1 || (redirects == 1) == cont {
			t.Fatalf("continue=%v with calls %v", cont, rec.calls)
		}
	})
}

// allowedRedirect reports whether loc goes where the adapter may send a visitor: a queue server
// named in the settings, the location in the adapter server's answer when that is an http or
// https URL, or the requested URL itself (cut short by the strip redirect); and whether it
// holds no CR, LF or NUL. Values are compared as the adapter cleans them for the Service.
func allowedRedirect(loc, requested, settings, answer string) bool {
	if strings.ContainsAny(loc, "\r\n\x00") {
		return false
	}
	if strings.HasPrefix(headerSafe(requested), loc) {
		return true
	}
	const bom = "\xEF\xBB\xBF"
	if s, err := compileSettings([]byte(strings.TrimPrefix(settings, bom))); err == nil {
		for _, q := range s.queues {
			if strings.HasPrefix(loc, headerSafe("https://"+q.queueServer+"/")) {
				return true
			}
		}
	}
	if r, err := parseAdapterResult([]byte(strings.TrimPrefix(answer, bom))); err == nil && r.hasLocation {
		return isHTTPURL(r.location) && strings.HasPrefix(loc, headerSafe(r.location+"?"))
	}
	return false
}

// FuzzUIDCookie: whatever the visitor's uid cookie holds, the adapter-server request it makes
// has exactly one ipaddress (the visitor's), one identifier, at most one uid, and that uid is
// the cookie's text after its separator.
func FuzzUIDCookie(f *testing.F) {
	for _, s := range []string{"u:abc", "u=abc", "u=x&ipaddress=6.6.6.6", "nosep", "u:", ":", "u:a#b?c", "u:%zz+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cookie string) {
		var got string
		cfg := NewConfig(testAccount, testSecret)
		cfg.Logger = discardLogger()
		cfg.SettingsFileCacheLocation = "/dev/null/queuefair"
		stub := newStubTransport()
		stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		stub.otherwise(func(req *http.Request) (*http.Response, error) {
			got = req.URL.String()
			return jsonResponse(200, `{}`), nil
		})
		cfg.HTTPClient = &http.Client{Transport: stub}
		g, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		a := g.NewAdapter(newRecorder(map[string]string{"QueueFair-Store-shopco": cookie}), checkoutURL, testUA, testIP, "")
		a.IsContinue(context.Background())
		g.store.inFlight.Wait()
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("adapter URL %q does not parse: %v", got, err)
		}
		q := u.Query()
		if len(q["ipaddress"]) != 1 || q.Get("ipaddress") != testIP || len(q["identifier"]) != 1 || len(q["uid"]) > 1 || u.Fragment != "" {
			t.Fatalf("cookie %q changed the adapter request: %q", cookie, got)
		}
		if a.hasUID && q.Get("uid") != a.uid {
			t.Fatalf("uid %q arrived as %q", a.uid, q.Get("uid"))
		}
	})
}

// FuzzSignedPassTimestamp is SPEC 11.1 as a property: whenever a Passed String or a Passed
// Cookie is accepted, the qfts that made it recent lies inside the signed text. The fuzzer
// chooses the User-Agent, the signed text (signed honestly, as an attacker holding any genuine
// pass can arrange), and the text put before and after it; the test then finds the signed text
// the way SPEC 11.1 defines it, without the package's helpers, and checks it.
func FuzzSignedPassTimestamp(f *testing.F) {
	genuine := signedText(testNow - 10)
	f.Add(testUA, genuine, "", "", false)
	f.Add(testUA, genuine, "a=1&", "&utm=2", true)
	f.Add(testUA+genuine, "", "", "&qfts=99999999999", false)
	f.Add(testUA, genuine, "qfts=1764000000&", "", true)
	f.Add(testUA, "&qfts=99999999999&"+genuine, "", "", false)
	f.Add(testUA, "qfqid=1&qfts=1764000000&qfts=1&", "", "", true)
	r := newRig(f, nil)
	q := &queue{name: "q", secret: "sec-q", hasSecret: true, sign: newSigner("sec-q")}
	f.Fuzz(func(t *testing.T, ua, body, before, after string, query bool) {
		pass := before + body + "qfh=" + hashHex("sec-q", processIdentifier(ua)+body) + after
		var signed string
		var accepted bool
		if query {
			if strings.ContainsAny(pass, "#?") {
				return // a query holds neither
			}
			a := r.gate.NewAdapter(newRecorder(nil), checkoutURL+"?"+pass, ua, testIP, "")
			accepted = a.validateQuery(q)
			h, i := strings.LastIndex(pass, "qfh="), strings.LastIndex(pass, "qfqid=")
			if accepted && (i < 0 || i > h) {
				t.Fatalf("accepted %q: qfqid= does not come before the last qfh=", pass)
			}
			if accepted {
				signed = pass[i:h]
			}
		} else {
			a := r.gate.NewAdapter(newRecorder(nil), checkoutURL, ua, testIP, "")
			accepted = a.validateCookie(q.sign, 20, pass)
			signed = pass[:strings.LastIndex(pass, "qfh=")]
		}
		if !accepted {
			return
		}
		if !strings.HasPrefix(signed, "qfqid=") {
			t.Fatalf("accepted %q: signed text %q does not start with qfqid=", pass, signed)
		}
		var stamps []string
		for _, field := range strings.Split(signed, "&") {
			name, value, _ := strings.Cut(field, "=")
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
			if name == "qfts" {
				stamps = append(stamps, value)
			}
		}
		if len(stamps) != 1 {
			t.Fatalf("accepted %q: signed text %q holds %d qfts", pass, signed, len(stamps))
		}
		ts, err := strconv.ParseInt(strings.TrimSpace(stamps[0]), 10, 64)
		if err != nil {
			return // an odd spelling Python's int() reads (underscores, a sign): still signed
		}
		lo, hi := int64(testNow-20*60), int64(math.MaxInt64)
		if query {
			lo, hi = testNow-300, testNow+300
		}
		if ts < lo || ts > hi {
			t.Fatalf("accepted %q: signed qfts %d is out of date", pass, ts)
		}
	})
}

// FuzzPassReading holds the fast paths of reading a pass to the plain ones, which transcribe
// Python: usualPassHash to passHashPlain, and qftsFieldsAsWritten to qftsFields. They may only
// skip work.
func FuzzPassReading(f *testing.F) {
	genuine := passToken("sec-q", testUA, "q", testNow)
	h := strings.LastIndex(genuine, "qfh=")
	for _, s := range []string{
		genuine, "a=1&" + genuine, genuine[h:], "x" + genuine[h:],
		genuine[:h] + "qf%68=1&" + genuine[h:], genuine[:h] + "qfh=2&" + genuine[h:], genuine[:h] + "qfh&" + genuine[h:],
		genuine[:h] + "qfh=&" + genuine[h:], "qfts&" + genuine, genuine[:h] + "qfts=+1&qfts&" + genuine[h:],
		genuine[:len(genuine)-1] + "&", genuine[:len(genuine)-1] + "=", genuine[:len(genuine)-1] + "%",
		"qfqid=1&qfts=12=3&qftsx=4&qfts", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h1, e1, asWritten, w1 := passHash(s)
		h2, e2, w2 := passHashPlain(s)
		if h1 != h2 || e1 != e2 || w1 != w2 {
			t.Fatalf("passHash(%q) = %q %d %q; plainly %q %d %q", s, h1, e1, w1, h2, e2, w2)
		}
		if asWritten && hasEscapes(s, true) {
			t.Fatalf("passHash(%q) says it has no escapes", s)
		}
		if hasEscapes(s, true) {
			return // qftsFieldsAsWritten is only used without escapes
		}
		t1, n1 := qftsFieldsAsWritten(s)
		t2, n2 := qftsFields(s)
		if t1 != t2 || n1 != n2 {
			t.Fatalf("qftsFieldsAsWritten(%q) = %q %d; plainly %q %d", s, t1, n1, t2, n2)
		}
	})
}

// TestUsualPassesTakeTheFastPath: a Passed Cookie and a Passed String as Queue-Fair writes them
// are read by the fast paths, so that the benchmarks measure them.
func TestUsualPassesTakeTheFastPath(t *testing.T) {
	pass := passToken("sec-q", testUA, "q", testNow)
	for _, s := range []string{pass, "utm_source=mail&" + pass} {
		if _, _, ok := usualPassHash(s); !ok {
			t.Errorf("usualPassHash(%q) is not ok", s)
		}
	}
	if hasEscapes(pass, true) {
		t.Errorf("a usual pass %q has escapes: qftsFieldsAsWritten would not read it", pass)
	}
}

// FuzzServiceValues holds the cleaning of values handed to a Service to its definition, one
// byte at a time through the table (cookieSafe has a fast path that steps over whole words).
func FuzzServiceValues(f *testing.F) {
	pass := passToken("sec-q", testUA, "q", testNow)
	for _, s := range []string{pass, pass + "\x7f", "a;b", "\"quoted\"", "tab\there", "ü" + pass, "\r\n", "", "abcdefg;hijklmnopq", "abcdefgh\x00ijklmnop"} {
		f.Add(s)
	}
	keep := func(v string, ok func(byte) bool) string {
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if ok(v[i]) {
				b.WriteByte(v[i])
			}
		}
		return b.String()
	}
	f.Fuzz(func(t *testing.T, v string) {
		if got, want := cookieSafe(v), keep(v, func(c byte) bool { return 0x20 <= c && c < 0x7f && c != '"' && c != ';' && c != '\\' }); got != want {
			t.Fatalf("cookieSafe(%q) = %q, want %q", v, got, want)
		}
		if got, want := cookieNameSafe(v), keep(v, tokenByte); got != want {
			t.Fatalf("cookieNameSafe(%q) = %q, want %q", v, got, want)
		}
		if got, want := headerSafe(v), keep(v, func(c byte) bool { return c != '\r' && c != '\n' && c != 0 }); got != want {
			t.Fatalf("headerSafe(%q) = %q, want %q", v, got, want)
		}
	})
}

// FuzzRuleComparison holds the in-place comparisons of rules to Python's lines written
// plainly: `comp.lower() == test.lower()` and `comp.lower().find(test.lower()) != -1`. The
// fast paths compare ASCII without lower-casing a copy; they may only skip work.
func FuzzRuleComparison(f *testing.F) {
	for _, s := range [][2]string{{"/Checkout/Cart", "/checkout"}, {"İstanbul", "i̇stanbul"}, {"ΟΔΟΣ", "οδος"}, {"K", "k"}, {"", ""}, {"abc", ""}, {"/PIZZA@[", "/pizza@["}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, comp, value string) {
		if !utf8.ValidString(value) {
			return // a settings value comes from JSON: it is UTF-8
		}
		test := pythonLower(value) // as parseRule stores a case-insensitive value
		if got, want := equalRule(comp, test, false, nil), pythonLower(comp) == test; got != want {
			t.Fatalf("equalRule(%q, %q) = %v, Python says %v", comp, test, got, want)
		}
		if got, want := equalRule(comp, value, true, nil), comp == value; got != want {
			t.Fatalf("case-sensitive equalRule(%q, %q) = %v, want %v", comp, value, got, want)
		}
		want := strings.Contains(pythonLower(comp), test)
		if got := containsRule(comp, test, false, isASCII(comp), nil); got != want {
			t.Fatalf("containsRule(%q, %q) = %v, Python says %v", comp, test, got, want)
		}
		// The same, padded past the lengths at which containsRule searches a lowered copy.
		longComp, longTest := strings.Repeat("-", foldedTextMax)+comp, strings.Repeat("-", foldedValueMax+1)+test
		if got, want := containsRule(longComp, longTest, false, isASCII(longComp), nil), strings.Contains(pythonLower(longComp), longTest); got != want {
			t.Fatalf("containsRule(long %q, long %q) = %v, Python says %v", comp, test, got, want)
		}
		if got := containsRule(comp, value, true, false, nil); got != strings.Contains(comp, value) {
			t.Fatalf("case-sensitive containsRule(%q, %q) = %v", comp, value, got)
		}
	})
}

// FuzzCheckHostAndPath sends Gate.Check requests with any Host header and any path: it never
// panics, and a request whose decoded path holds /checkout (the rule, case-insensitive) is
// always queued, whatever the Host (SPEC 11.2 and the parts setRequestParts hands the rules).
func FuzzCheckHostAndPath(f *testing.F) {
	for _, s := range [][2]string{{"shop.example.com", "/checkout"}, {"h", "/checkout"}, {"", "/%63heckout"}, {"tp", "/a/CHECKOUT"}, {"[::1]:80", "/x"}, {"a:b:c", "/%2Fcheckout"}} {
		f.Add(s[0], s[1])
	}
	r := newRig(f, func(c *Config) { c.AdapterMode = ModeSimple; c.Logger = discardLogger() })
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	f.Fuzz(func(t *testing.T, host, path string) {
		u, err := url.ParseRequestURI(path)
		if err != nil || !strings.HasPrefix(path, "/") {
			return // not a request a server would hand a handler (its Host may be any text a
			// middleware put there)
		}
		req := &http.Request{Method: "GET", URL: u, Host: host, RequestURI: path, Header: http.Header{}, RemoteAddr: "192.0.2.1:1"}
		w := discardResponseWriter{h: http.Header{}}
		cont := r.gate.Check(w, req)
		if strings.Contains(strings.ToLower(u.Path), "/checkout") && cont {
			t.Fatalf("Host %q, path %q (decoded %q): not queued", host, path, u.Path)
		}
		if loc := w.h.Get("Location"); loc != "" && !isHTTPURL(loc) {
			t.Fatalf("redirect to %q", loc)
		}
	})
}

// FuzzParseInt holds parseInt (Python's int() of a cookie's qfts or a settings number) to
// strconv: whatever it accepts, strconv reads the same number from its ASCII form without the
// white space and underscores, and it never panics on any text.
func FuzzParseInt(f *testing.F) {
	for _, s := range []string{"1764000000", " -1_000\n", "١٢", "\u00a012\u3000", "𝟏𝟐", "1__0", "\xff1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := parseInt(s)
		if !ok {
			return
		}
		a, ascii := decimalASCII(s)
		text := strings.ReplaceAll(strings.TrimSpace(a), "_", "")
		want, err := strconv.ParseInt(text, 10, 64)
		if digits := strings.TrimLeft(strings.TrimLeft(text, "+-"), "0"); len(digits) > 18 {
			want, err = math.MaxInt64, nil // more than 18 digits: read as the largest int64
			if text[0] == '-' {
				want = -want
			}
		}
		if !ascii || err != nil || want != n {
			t.Fatalf("parseInt(%q) = %d; its ASCII form %q reads %d, %v", s, n, a, want, err)
		}
	})
}

// FuzzConstantTimeEqual holds the hash comparison to hex.EncodeToString and ==.
func FuzzConstantTimeEqual(f *testing.F) {
	f.Add([]byte("queue-fair"), "")
	f.Add(make([]byte, 32), strings.Repeat("0", 64))
	f.Fuzz(func(t *testing.T, b []byte, given string) {
		var sum [sha256.Size]byte
		copy(sum[:], b)
		if len(b) >= len(sum) && len(given) == 0 {
			given = hex.EncodeToString(sum[:]) // make equal pairs common
		}
		if got, want := constantTimeEqual(&sum, given), hex.EncodeToString(sum[:]) == given; got != want {
			t.Fatalf("constantTimeEqual(%x, %q) = %v, want %v", sum, given, got, want)
		}
	})
}

// FuzzURLParseQuery: urlparseQuery never panics; when the URL parses, its query is the text
// after the first '?' before any '#' of the URL without tabs, CR and LF (whatever the host);
// and a URL whose host holds no bracket and no non-ASCII character always parses, since only
// those can make Python's urlsplit raise.
func FuzzURLParseQuery(f *testing.F) {
	for _, s := range []string{"https://shop.example.com/checkout?qfqid=1&qfts=2#x", "https://[::1]:80/?a", "https://[shop]/?a",
		"https://ex\u2100ample.com/?a", "https://[v1.x]/?a", "  //[x]?a", "h\tt\ntp://h/?\r", "?", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		query, ok := urlparseQuery(u)
		clean := strings.NewReplacer("\t", "", "\r", "", "\n", "").Replace(u)
		if ok {
			want := clean
			if i := strings.IndexByte(want, '#'); i >= 0 {
				want = want[:i]
			}
			if i := strings.IndexByte(want, '?'); i >= 0 {
				want = want[i+1:]
			} else {
				want = ""
			}
			if query != want {
				t.Fatalf("urlparseQuery(%q) = %q, want %q", u, query, want)
			}
		} else if isASCII(clean) && !strings.ContainsAny(clean, "[]") {
			t.Fatalf("urlparseQuery(%q) refused a URL without brackets or non-ASCII text", u)
		}
	})
}
