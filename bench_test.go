package queuefair

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmark workloads: three case-insensitive queues in simple mode, a desktop Chrome,
// settings already in memory. Each goes through the public per-request API with a no-op Service.
const (
	benchUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	benchW1  = "https://shop.example.com/products/42?ref=home"
	benchURL = "https://shop.example.com/checkout/cart"
)

func benchSettings() string {
	rule := func(op, comp, match, value, name string) string {
		if op == "" {
			op = "null"
		} else {
			op = `"` + op + `"`
		}
		return `{"operator":` + op + `,"component":"` + comp + `","name":"` + name + `","match":"` + match + `","value":"` + value + `","caseSensitive":false,"negate":false}`
	}
	q := func(name string, rules ...string) string {
		return `{"name":"` + name + `","displayName":"` + name + `","secret":"sec-` + name + `","passedLifetimeMinutes":20,
			"queueServer":"shopco.queue-fair.net","adapterServer":"adapter.queue-fair.net","dynamicTarget":"disabled",
			"activation":{"rules":[` + strings.Join(rules, ",") + `]}}`
	}
	return settingsJSON(
		q("checkout", rule("", "Path", "Contain", "/checkout", ""), rule("And", "Domain", "Equal", "shop.example.com", "")),
		q("tickets", rule("", "Path", "Contain", "/tickets", ""), rule("Or", "Query", "Contain", "event=", ""), rule("And", "Cookie", "Exist", "", "presale")),
		q("launch", rule("", "Path", "Contain", "/launch", ""), rule("And", "Domain", "Equal", "shop.example.com", "")),
	)
}

// benchGate is a Gate with the benchmark settings loaded, on the default clock (Config.Now
// unset), as in production: the workloads pay for the clock readings a server pays for.
func benchGate(b testing.TB) *Gate {
	r := newRig(b, func(c *Config) { c.AdapterMode = ModeSimple; c.Logger = discardLogger(); c.Now = nil })
	r.stub.json(testSettings, benchSettings())
	r.gate.NewAdapter(noopService{}, benchW1, benchUA, testIP, "").IsContinue(context.Background())
	if r.gate.store.cur.Load() == nil {
		b.Fatal("settings did not load")
	}
	return r.gate
}

type workload struct {
	url     string
	cookies map[string]string
	want    bool
}

func benchWorkload(b *testing.B, w workload, parallel bool) {
	g := benchGate(b)
	svc := noopService{cookies: w.cookies}
	ctx := context.Background()
	if got := g.NewAdapter(svc, w.url, benchUA, testIP, "").IsContinue(ctx); got != w.want {
		b.Fatalf("decision = %v, want %v", got, w.want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for i := 0; i < b.N; i++ {
			g.NewAdapter(svc, w.url, benchUA, testIP, "").IsContinue(ctx)
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			g.NewAdapter(svc, w.url, benchUA, testIP, "").IsContinue(ctx)
		}
	})
}

// The workloads; the passes of W2 and W3 are signed at now (Unix seconds).
func w1() workload { return workload{url: benchW1, want: true} }
func w2(now int64) workload {
	return workload{url: benchURL, cookies: map[string]string{"QueueFair-Pass-checkout": passToken("sec-checkout", benchUA, "checkout", now)}, want: true}
}
func w3(now int64) workload {
	return workload{url: benchURL + "?" + passToken("sec-checkout", benchUA, "checkout", now), want: false}
}
func w4() workload { return workload{url: benchURL, want: false} }

// unixNow is the time benchGate's passes are signed at.
func unixNow() int64 { return time.Now().Unix() }

func BenchmarkW1NoMatch(b *testing.B)                { benchWorkload(b, w1(), false) }
func BenchmarkW1NoMatchParallel(b *testing.B)        { benchWorkload(b, w1(), true) }
func BenchmarkW2ValidCookie(b *testing.B)            { benchWorkload(b, w2(unixNow()), false) }
func BenchmarkW2ValidCookieParallel(b *testing.B)    { benchWorkload(b, w2(unixNow()), true) }
func BenchmarkW3PassedString(b *testing.B)           { benchWorkload(b, w3(unixNow()), false) }
func BenchmarkW3PassedStringParallel(b *testing.B)   { benchWorkload(b, w3(unixNow()), true) }
func BenchmarkW4SimpleRedirect(b *testing.B)         { benchWorkload(b, w4(), false) }
func BenchmarkW4SimpleRedirectParallel(b *testing.B) { benchWorkload(b, w4(), true) }

// TestOneClockReadPerRequest: each workload reads the Gate's clock once, however many checks
// need the time (the settings' freshness under Config.Now, a Passed String's timestamp, a
// Passed Cookie's age): the reading is passed down, and every check judges the same instant.
// Under the default clock, W1 and W4 read none.
func TestOneClockReadPerRequest(t *testing.T) {
	var reads atomic.Int64
	at := time.Unix(testNow, 0)
	r := newRig(t, func(c *Config) {
		c.AdapterMode = ModeSimple
		c.Now = func() time.Time { reads.Add(1); return at }
	})
	r.stub.json(testSettings, benchSettings())
	ctx := context.Background()
	for _, w := range []struct {
		name string
		w    workload
	}{{"W1", w1()}, {"W2", w2(testNow)}, {"W3", w3(testNow)}, {"W4", w4()}} {
		svc := noopService{cookies: w.w.cookies}
		r.gate.NewAdapter(svc, w.w.url, benchUA, testIP, "").IsContinue(ctx) // settings load
		r.gate.store.inFlight.Wait()
		reads.Store(0)
		if got := r.gate.NewAdapter(svc, w.w.url, benchUA, testIP, "").IsContinue(ctx); got != w.w.want {
			t.Fatalf("%s: decision %v, want %v", w.name, got, w.w.want)
		}
		if n := reads.Load(); n != 1 {
			t.Errorf("%s read the clock %d times, want 1", w.name, n)
		}
	}

	// Under the default clock, a request that checks no pass reads none.
	g := benchGate(t)
	for _, w := range []struct {
		name string
		w    workload
		read bool
	}{{"W1", w1(), false}, {"W2", w2(unixNow()), true}, {"W3", w3(unixNow()), true}, {"W4", w4(), false}} {
		a := g.NewAdapter(noopService{cookies: w.w.cookies}, w.w.url, benchUA, testIP, "")
		if got := a.IsContinue(ctx); got != w.w.want {
			t.Fatalf("%s on the default clock: decision %v, want %v", w.name, got, w.w.want)
		}
		if a.haveNow != w.read {
			t.Errorf("%s on the default clock read the clock: %v, want %v", w.name, a.haveNow, w.read)
		}
	}
}

// BenchmarkFloorHMAC is the unavoidable work of a Passed Cookie check: one HMAC-SHA256 keyed
// per call, over the User-Agent and the cookie body, hex-encoded.
func BenchmarkFloorHMAC(b *testing.B) {
	cookie := passToken("sec-checkout", benchUA, "checkout", testNow)
	body := cookie[:strings.LastIndex(cookie, "qfh=")]
	key := []byte("sec-checkout")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(benchUA))
		m.Write([]byte(body))
		_ = hex.EncodeToString(m.Sum(nil))
	}
}

// BenchmarkFloorHMACKeyed is the honest floor of a Passed Cookie check: one HMAC-SHA256,
// keyed once and reset for each check, over the User-Agent and the cookie's signed text,
// hex-encoded into an array and compared in constant time with the cookie's hash. No
// allocation; everything W2 does beyond this is the adapter's own cost.
func BenchmarkFloorHMACKeyed(b *testing.B) {
	cookie := passToken("sec-checkout", benchUA, "checkout", testNow)
	h := strings.LastIndex(cookie, "qfh=")
	body, given := cookie[:h], cookie[h+len("qfh="):]
	m := hmac.New(sha256.New, []byte("sec-checkout"))
	buf := make([]byte, 0, 512)
	var sum [sha256.Size]byte
	var hx [2 * sha256.Size]byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Reset()
		buf = append(append(buf[:0], benchUA...), body...)
		m.Write(buf)
		hex.Encode(hx[:], m.Sum(sum[:0]))
		if subtle.ConstantTimeCompare(hx[:], []byte(given)) != 1 {
			b.Fatal("hash mismatch")
		}
	}
}

// The parts of W2 beyond FloorHMACKeyed, each alone (the README's breakdown).

// BenchmarkPartClock is the one clock reading a pass check needs (its age).
func BenchmarkPartClock(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if time.Now().UnixNano() == 0 {
			b.Fatal("no clock")
		}
	}
}

// BenchmarkPartRules is W2's rules: the URL cut into parts, then the three queues' rules.
func BenchmarkPartRules(b *testing.B) {
	g := benchGate(b)
	queues := g.store.cur.Load().s.queues
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a := Adapter{g: g, requestedURL: benchURL, service: noopService{}}
		for _, q := range queues {
			if _, err := a.isMatch(q); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkPartPassReading is reading W2's Passed Cookie: its hash, its signed text, and the
// timestamp that text vouches for.
func BenchmarkPartPassReading(b *testing.B) {
	cookie := passToken("sec-checkout", benchUA, "checkout", testNow)
	for i := 0; i < b.N; i++ {
		_, end, asWritten, why := passHash(cookie)
		if _, why2 := signedTimestamp(cookie[:end], asWritten, parseInt); why != "" || why2 != "" {
			b.Fatal(why, why2)
		}
	}
}

// BenchmarkPartCookieLookups is W2's two GetCookie calls (the uid and the Passed Cookie) and
// the test that the Passed Cookie names its queue.
func BenchmarkPartCookieLookups(b *testing.B) {
	var svc Service = noopService{cookies: w2(unixNow()).cookies}
	for i := 0; i < b.N; i++ {
		svc.GetCookie("QueueFair-Store-" + testAccount)
		if c := svc.GetCookie("QueueFair-Pass-checkout"); !strings.Contains(c, "checkout") {
			b.Fatal("no pass")
		}
	}
}

// manyQueueSettings is a settings document of n queues of three rules each, none of which
// matches W1's URL.
func manyQueueSettings(n int) string {
	qs := make([]string, n)
	for i := range qs {
		name := fmt.Sprintf("q%04d", i)
		qs[i] = queueJSON(name, `[{"operator":null,"component":"Path","match":"Contain","value":"/`+name+`","caseSensitive":false,"negate":false},
			{"operator":"And","component":"Domain","match":"Equal","value":"shop.example.com","caseSensitive":false,"negate":false},
			{"operator":"Or","component":"Query","match":"Contain","value":"`+name+`=1","caseSensitive":false,"negate":false}]`, "")
	}
	return settingsJSON(qs...)
}

// BenchmarkW1Queues is W1 (no queue matches) against 10, 100 and 1,000 queues of three rules:
// the per-queue cost of a no-match request, which must stay linear and allocation-free.
func BenchmarkW1Queues(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := newRig(b, func(c *Config) { c.AdapterMode = ModeSimple; c.Logger = discardLogger(); c.Now = nil })
			r.stub.json(testSettings, manyQueueSettings(n))
			ctx := context.Background()
			if !r.gate.NewAdapter(noopService{}, benchW1, benchUA, testIP, "").IsContinue(ctx) {
				b.Fatal("redirected")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.gate.NewAdapter(noopService{}, benchW1, benchUA, testIP, "").IsContinue(ctx)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/queue")
		})
	}
}

// BenchmarkLoadSettings1000Queues is the cost of compiling a settings file of 1,000 queues of
// three rules (once per download): its time, and in B/op the heap it takes.
func BenchmarkLoadSettings1000Queues(b *testing.B) {
	data := []byte(manyQueueSettings(1000))
	b.ReportMetric(float64(len(data)), "file-bytes")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := compileSettings(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorScan is the unavoidable work of a no-match request, measured with the standard
// library only (so that speeding up the package's own scan cannot move it): look for a Passed
// String, and case-insensitively for the first rule's value, window by window with
// strings.EqualFold.
func BenchmarkFloorScan(b *testing.B) {
	b.ReportAllocs()
	n := 0
	for i := 0; i < b.N; i++ {
		if strings.Contains(benchW1, "qfqid=") {
			n++
		}
		for j := 0; j+len("/checkout") <= len(benchW1); j++ {
			if strings.EqualFold(benchW1[j:j+len("/checkout")], "/checkout") {
				n++
			}
		}
	}
	if n != 0 {
		b.Fatal("scan matched")
	}
}

// TestHotPathAllocations pins the allocations of the four benchmark workloads (0, 0, 0 and 1:
// the Location string Service.Redirect takes), so that an edit which makes the per-request
// Adapter escape to the heap, or adds an allocation anywhere on these paths, fails a test. The
// race detector's sync.Pool drops items at random, so the count only holds without it.
func TestHotPathAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	g := benchGate(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		w    workload
		want float64
	}{
		{"W1NoMatch", w1(), 0},
		{"W2ValidCookie", w2(unixNow()), 0},
		{"W3PassedString", w3(unixNow()), 0},
		{"W4SimpleRedirect", w4(), 1},
	} {
		svc := noopService{cookies: tt.w.cookies}
		if got := g.NewAdapter(svc, tt.w.url, benchUA, testIP, "").IsContinue(ctx); got != tt.w.want {
			t.Fatalf("%s: decision = %v, want %v", tt.name, got, tt.w.want)
		}
		allocs := testing.AllocsPerRun(200, func() {
			g.NewAdapter(svc, tt.w.url, benchUA, testIP, "").IsContinue(ctx)
		})
		if allocs != tt.want {
			t.Errorf("%s: %v allocations per request, want %v", tt.name, allocs, tt.want)
		}
	}
}

// BenchmarkFloorRedirectParallel is the unavoidable work of W4 on every CPU: build the queue
// server's Location and hand it to a Service that keeps it, one allocation per op because
// Service.Redirect takes a string. Its throughput at -cpu 2 over -cpu 1 is the ceiling for
// W4's: with this little live heap, the garbage collector and the allocator take a share of
// the second CPU that the zero-allocation workloads do not pay.
func BenchmarkFloorRedirectParallel(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		svc := &keepingService{}
		for pb.Next() {
			var scratch [512]byte
			u := appendStartURL(scratch[:0], "shopco.queue-fair.net", "/", "checkout", "?target=")
			svc.Redirect(string(appendURLEncoded(u, benchURL)))
		}
	})
}

// keepingService keeps the last Location it was given, as a real Service does.
type keepingService struct {
	noopService
	location string
}

func (s *keepingService) Redirect(location string) { s.location = location }

// BenchmarkCheckHTTP is the whole net/http path for W1: Gate.Check with a real request.
func BenchmarkCheckHTTP(b *testing.B) { benchCheck(b, benchW1, "") }

// benchCheck runs Gate.Check on a GET of url from a desktop Chrome, with cookies as its Cookie
// header when not empty; the page must run.
func benchCheck(b *testing.B, url, cookies string) {
	g := benchGate(b)
	req, _ := http.NewRequest("GET", url, nil)
	req.RemoteAddr = "203.0.113.7:5555"
	req.Header.Set("User-Agent", benchUA)
	if cookies != "" {
		req.Header.Set("Cookie", cookies)
	}
	w := discardResponseWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !g.Check(w, req) {
			b.Fatal("redirected")
		}
	}
}

// realCookies is a shop's Cookie header as browsers send it: analytics, consent, session and
// cart cookies, 11 of them in about 900 bytes, none of them Queue-Fair's.
const realCookies = `_ga=GA1.1.1234567890.1732800000; _ga_ABCDEF1234=GS1.1.1732800000.1.1.1732800100.0.0.0; ` +
	`_gcl_au=1.1.987654321.1732800000; OptanonConsent=isGpcEnabled=0&datestamp=Thu+Nov+28+2026+10%3A00%3A00+GMT%2B0000` +
	`&version=202310.1.0&browserGpcFlag=0&isIABGlobal=false&hosts=&landingPath=NotLandingPage&groups=C0001%3A1%2CC0002%3A1` +
	`%2CC0003%3A1%2CC0004%3A1; OptanonAlertBoxClosed=2026-11-28T10:00:00.000Z; sessionid=3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c; ` +
	`cart=eyJpdGVtcyI6W3siaWQiOjQyLCJxdHkiOjF9XX0; _fbp=fb.1.1732800000000.1234567890; ` +
	`_hjSessionUser_123456=eyJpZCI6IjEyMzQ1Njc4LTkwYWItY2RlZi0xMjM0LTU2Nzg5MGFiY2RlZiIsImNyZWF0ZWQiOjE3MzI4MDAwMDAwMDB9; ` +
	`csrftoken=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789`

// BenchmarkCheckHTTPCookies is W1 and W2 through Gate.Check with realCookies in the request
// (W2's pass cookie last), the cookie lookups a server pays for on every request.
func BenchmarkCheckHTTPCookies(b *testing.B) {
	for _, w := range []struct {
		name, url, cookies string
	}{
		{"W1", benchW1, realCookies},
		{"W2", benchURL, realCookies + "; QueueFair-Pass-checkout=" + w2(unixNow()).cookies["QueueFair-Pass-checkout"]},
	} {
		b.Run(w.name, func(b *testing.B) { benchCheck(b, w.url, w.cookies) })
	}
}

// BenchmarkCookieLookup is one cookie looked up in realCookies, and in a hostile 64 KiB
// header that repeats the name in one value with no ';' (the lookup stays linear).
func BenchmarkCookieLookup(b *testing.B) {
	name := "QueueFair-Store-" + testAccount
	for _, h := range []struct{ name, header string }{
		{"real", realCookies},
		{"hostile", "x=" + strings.Repeat(name, 64<<10/len(name))},
	} {
		b.Run(h.name, func(b *testing.B) {
			hdr := http.Header{"Cookie": {h.header}}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if cookieValue(hdr, name) != "" {
					b.Fatal("found")
				}
			}
		})
	}
}

type discardResponseWriter struct{ h http.Header }

func (w discardResponseWriter) Header() http.Header         { return w.h }
func (w discardResponseWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w discardResponseWriter) WriteHeader(int)             {}

// BenchmarkContainRuleLongValue is the worst case of a case-insensitive Contain rule: a
// 4,001-byte value of repeats against a visitor's 512 KiB query (about 3 s when the query was
// compared in place, at up to the value's length in steps a byte).
func BenchmarkContainRuleLongValue(b *testing.B) {
	comp, value := strings.Repeat("a", 512<<10), strings.Repeat("a", 4000)+"b"
	a := &Adapter{}
	for i := 0; i < b.N; i++ {
		if containsRule(comp, value, false, true, a) {
			b.Fatal("found")
		}
	}
}

// BenchmarkRegExpBudgetSpent is the most a request's RegExp rules can cost: one rule of about
// a thousand instructions (within the pattern bounds) against a query just short enough to
// stay within maxRegexpSteps, so that it runs in full.
func BenchmarkRegExpBudgetSpent(b *testing.B) {
	r := newRig(b, func(c *Config) { c.AdapterMode = ModeSimple; c.Logger = discardLogger() })
	var budget patternBudget
	_, insts, err := budget.compile(`(?i)a{990}b`)
	if err != nil {
		b.Fatal(err)
	}
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "["+ruleJSON("Query", "RegExp", `a{990}b`, false, false)+"]", "")))
	u := "https://shop.example.com/p?" + strings.Repeat("a", maxRegexpSteps/insts-len("https://shop.example.com/p?")-1)
	ctx := context.Background()
	r.gate.NewAdapter(noopService{}, u, benchUA, testIP, "").IsContinue(ctx) // settings load
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a := r.gate.NewAdapter(noopService{}, u, benchUA, testIP, "")
		if !a.IsContinue(ctx) {
			b.Fatal("queued: the rule did not run within the budget")
		}
	}
}
