package queuefair_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"expvar"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/queuefair/queuefair"
)

// Example shows the checkQueueFair pattern: Check first in a handler, then the page through
// the same ResponseWriter. The queue is in SafeGuard, so the adapter server lets the visitor
// through and the adapter stores the Passed Cookie; the second visit needs no adapter call.
func Example() {
	qf := newStandIn("safe", "SafeGuard") // the Queue-Fair servers, on a local TLS test server
	defer qf.close()

	cfg := queuefair.NewConfig("demo-shop", "demo-account-secret")
	cfg.FilesServer = qf.host()                 // instead of files.queue-fair.net
	cfg.HTTPClient = qf.srv.Client()            // trusts the stand-in's test certificate
	cfg.SettingsFileCacheLocation = qf.cacheDir // a private folder for the settings cache
	gate, err := queuefair.New(cfg)
	if err != nil {
		panic(err)
	}

	checkout := func(w http.ResponseWriter, r *http.Request) {
		if !gate.Check(w, r) {
			return // the visitor has been redirected
		}
		io.WriteString(w, "checkout page")
	}
	site := httptest.NewServer(http.HandlerFunc(checkout))
	defer site.Close()

	browser := newVisitor(qf, site)
	fmt.Println("first visit:")
	browser.visit(site.URL + "/checkout")
	fmt.Println("cookies:", browser.cookies(site))
	fmt.Println("second visit:")
	browser.visit(site.URL + "/checkout")
	fmt.Println("adapter server calls:", qf.adapterCalls)
	// Output:
	// first visit:
	//   site /checkout -> 200 "checkout page"
	// cookies: QueueFair-Pass-sale, QueueFair-Store-demo-shop
	// second visit:
	//   site /checkout -> 200 "checkout page"
	// adapter server calls: 1
}

// Example_simpleMode shows a queued visitor in simple mode, with the middleware: the adapter
// sends the visitor to the queue server without asking the adapter server; the queue signs a
// Passed String; the adapter checks it, stores it as the Passed Cookie and redirects once more
// to strip it from the address bar.
func Example_simpleMode() {
	qf := newStandIn("simple", "") // the Queue-Fair servers, on a local TLS test server
	defer qf.close()

	cfg := queuefair.NewConfig("demo-shop", "demo-account-secret")
	cfg.FilesServer = qf.host()                 // instead of files.queue-fair.net
	cfg.HTTPClient = qf.srv.Client()            // trusts the stand-in's test certificate
	cfg.SettingsFileCacheLocation = qf.cacheDir // a private folder for the settings cache
	cfg.AdapterMode = queuefair.ModeSimple
	gate, err := queuefair.New(cfg)
	if err != nil {
		panic(err)
	}

	checkout := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "checkout page") })
	site := httptest.NewServer(gate.Handler(checkout))
	defer site.Close()

	browser := newVisitor(qf, site)
	fmt.Println("first visit:")
	browser.visit(site.URL + "/checkout?a=1")
	fmt.Println("cookies:", browser.cookies(site))
	fmt.Println("second visit:")
	browser.visit(site.URL + "/checkout?a=1")
	fmt.Println("queue server visits:", qf.queueVisit, "adapter server calls:", qf.adapterCalls)
	// Output:
	// first visit:
	//   site /checkout [a=1] -> 302 to queue-fair /sale [target=site /checkout [a=1]]
	//   queue-fair /sale [target=site /checkout [a=1]] -> 302 to site /checkout [a=1] + Passed String
	//   site /checkout [a=1] + Passed String -> 302 to site /checkout [a=1]
	//   site /checkout [a=1] -> 200 "checkout page"
	// cookies: QueueFair-Pass-sale
	// second visit:
	//   site /checkout [a=1] -> 200 "checkout page"
	// queue server visits: 1 adapter server calls: 0
}

// Example_safeModeQueued shows a queued visitor in safe mode: the adapter server answers
// SendToQueue with the queue's address and a uid, which the adapter stores and passes on.
func Example_safeModeQueued() {
	qf := newStandIn("safe", "SendToQueue") // the adapter server says the queue is busy
	defer qf.close()

	cfg := queuefair.NewConfig("demo-shop", "demo-account-secret")
	cfg.FilesServer = qf.host()                 // instead of files.queue-fair.net
	cfg.HTTPClient = qf.srv.Client()            // trusts the stand-in's test certificate
	cfg.SettingsFileCacheLocation = qf.cacheDir // a private folder for the settings cache
	gate, err := queuefair.New(cfg)
	if err != nil {
		panic(err)
	}

	checkout := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "checkout page") })
	site := httptest.NewServer(gate.Handler(checkout))
	defer site.Close()

	browser := newVisitor(qf, site)
	browser.visit(site.URL + "/checkout")
	fmt.Println("cookies:", browser.cookies(site))
	fmt.Println("adapter server calls:", qf.adapterCalls)
	// Output:
	//   site /checkout -> 302 to queue-fair /sale [target=site /checkout, qfuid=visitor-1]
	//   queue-fair /sale [target=site /checkout, qfuid=visitor-1] -> 302 to site /checkout + Passed String
	//   site /checkout + Passed String -> 302 to site /checkout
	//   site /checkout -> 200 "checkout page"
	// cookies: QueueFair-Pass-sale, QueueFair-Store-demo-shop
	// adapter server calls: 1
}

// Example_invalidPassedString shows a visitor arriving with a Passed String that was not signed
// for them (here, a tampered timestamp): the adapter pauses a second, as the reference does, and
// sends the visitor to the queue's InvalidQuery page.
func Example_invalidPassedString() {
	qf := newStandIn("safe", "SafeGuard")
	defer qf.close()

	cfg := queuefair.NewConfig("demo-shop", "demo-account-secret")
	cfg.FilesServer = qf.host()                 // instead of files.queue-fair.net
	cfg.HTTPClient = qf.srv.Client()            // trusts the stand-in's test certificate
	cfg.SettingsFileCacheLocation = qf.cacheDir // a private folder for the settings cache
	cfg.Sleep = func(_ context.Context, d time.Duration) { fmt.Println("  (the adapter pauses", d, "before answering)") }
	gate, err := queuefair.New(cfg)
	if err != nil {
		panic(err)
	}

	checkout := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "checkout page") })
	site := httptest.NewServer(gate.Handler(checkout))
	defer site.Close()

	pass := sign(demoUA, "Queue")
	tampered := strings.Replace(pass, "qfts=1", "qfts=2", 1) // moved far into the future
	browser := newVisitor(qf, site)
	browser.visit(site.URL + "/checkout?" + tampered)
	fmt.Println("cookies:", browser.cookies(site))
	// Output:
	//   (the adapter pauses 1s before answering)
	//   site /checkout + Passed String -> 302 to queue-fair /sale [qfError=InvalidQuery]
	//   queue-fair /sale [qfError=InvalidQuery] -> 200 "queue page: InvalidQuery"
	// cookies:
}

// ExampleGate_CheckCookie shows the hybrid security model: the page only checks the Passed
// Cookie that the client-side adapter obtained, with the queue's secret, and sends visitors
// without a valid one to the InvalidCookie page. No settings are downloaded.
func ExampleGate_CheckCookie() {
	qf := newStandIn("safe", "SafeGuard")
	defer qf.close()

	cfg := queuefair.NewConfig("demo-shop", "demo-account-secret")
	cfg.FilesServer = qf.host()                 // instead of files.queue-fair.net
	cfg.HTTPClient = qf.srv.Client()            // trusts the stand-in's test certificate
	cfg.SettingsFileCacheLocation = qf.cacheDir // a private folder for the settings cache
	gate, err := queuefair.New(cfg)
	if err != nil {
		panic(err)
	}

	app := func(w http.ResponseWriter, r *http.Request) {
		if !gate.CheckCookie(w, r, "sale", "demo-queue-secret", 60) { // the queue's name and secret
			return
		}
		io.WriteString(w, "app page")
	}
	site := httptest.NewServer(http.HandlerFunc(app))
	defer site.Close()

	browser := newVisitor(qf, site)
	fmt.Println("without a Passed Cookie:")
	browser.visit(site.URL + "/app")
	siteURL, _ := url.Parse(site.URL)
	browser.client.Jar.SetCookies(siteURL, []*http.Cookie{{Name: queuefair.CookieNameBase + "sale", Value: sign(demoUA, "Queue")}})
	fmt.Println("with one:")
	browser.visit(site.URL + "/app")
	// Output:
	// without a Passed Cookie:
	//   site /app -> 302 to demo-shop.queue-fair.net /sale [qfError=InvalidCookie]
	// with one:
	//   site /app -> 200 "app page"
}

// ExampleGate_CheckExtra ends a visitor's pass once it has been used, as Queue-Fair's newer
// adapters do with extra CLEAR: on the order confirmation page the Passed Cookie is set again
// to last 20 seconds, and the visitor is checked as one without a pass (here, in simple mode,
// sent to the queue server with qfx=CLEAR).
func ExampleGate_CheckExtra() {
	qf := newStandIn("simple", "")
	defer qf.close()

	cfg := queuefair.NewConfig("demo-shop", "demo-account-secret")
	cfg.FilesServer = qf.host()                 // instead of files.queue-fair.net
	cfg.HTTPClient = qf.srv.Client()            // trusts the stand-in's test certificate
	cfg.SettingsFileCacheLocation = qf.cacheDir // a private folder for the settings cache
	gate, err := queuefair.New(cfg)
	if err != nil {
		panic(err)
	}

	orderComplete := func(w http.ResponseWriter, r *http.Request) {
		if !gate.CheckExtra(w, r, queuefair.ExtraClear) {
			return
		}
		io.WriteString(w, "thank you for your order")
	}

	r := httptest.NewRequest("GET", "https://shop.example/checkout/complete", nil)
	r.Header.Set("User-Agent", demoUA)
	r.AddCookie(&http.Cookie{Name: queuefair.CookieNameBase + "sale", Value: sign(demoUA, "Queue")})
	w := httptest.NewRecorder()
	orderComplete(w, r)
	resp := w.Result()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	fmt.Println(resp.StatusCode, loc.Path, "qfx="+loc.Query().Get("qfx"))
	for _, c := range resp.Cookies() {
		fmt.Println(c.Name, "Max-Age", c.MaxAge)
	}
	// Output:
	// 302 /sale qfx=CLEAR
	// QueueFair-Pass-sale Max-Age 20
}

// ExampleGate_NewRequestAdapter runs the adapter under a framework other than net/http: a
// Service over that framework's request and response (here, the request's cookies and a print
// of each call), and the request in parts. The Host is the visitor's own choice, as
// X-Forwarded-Host can be; the /checkout rule still sees the path /checkout.
func ExampleGate_NewRequestAdapter() {
	qf := newStandIn("simple", "")
	defer qf.close()

	cfg := queuefair.NewConfig("demo-shop", "demo-account-secret")
	cfg.FilesServer = qf.host()                 // instead of files.queue-fair.net
	cfg.HTTPClient = qf.srv.Client()            // trusts the stand-in's test certificate
	cfg.SettingsFileCacheLocation = qf.cacheDir // a private folder for the settings cache
	gate, err := queuefair.New(cfg)
	if err != nil {
		panic(err)
	}

	svc := printingService{cookies: map[string]string{}, queueHost: qf.host()}
	a := gate.NewRequestAdapter(svc, queuefair.Request{
		Scheme: "https", Host: "tp", Path: "/checkout", RawQuery: "a=1",
		UserAgent: demoUA, RemoteIP: "192.0.2.1",
	})
	fmt.Println("page runs:", a.IsContinue(context.Background()))
	// Output:
	// AddHeader Cache-Control: no-store, max-age=0
	// Redirect https://queue-fair/sale?target=https%3A%2F%2Ftp%2Fcheckout%3Fa%3D1
	// page runs: false
}

// printingService is a queuefair.Service over a framework's request (its cookies) that
// prints what the adapter asks of the response, with the stand-in's host shown as queue-fair.
type printingService struct {
	cookies   map[string]string
	queueHost string
}

func (s printingService) SetCookie(name, value string, lifetimeSeconds int, domain string) {
	fmt.Println("SetCookie", name, lifetimeSeconds)
}
func (s printingService) Redirect(location string) {
	fmt.Println("Redirect", strings.ReplaceAll(location, s.queueHost, "queue-fair"))
}
func (s printingService) GetCookie(name string) string { return s.cookies[name] }
func (s printingService) AddHeader(name, value string) { fmt.Println("AddHeader", name+":", value) }

// ExampleConfig_onDecision counts what the waiting room does with expvar, from the standard
// library: one counter per outcome, served at /debug/vars by expvar's handler. Feeding
// Prometheus or OpenTelemetry is the same few lines with their counter types.
func ExampleConfig_onDecision() {
	outcomes := expvar.NewMap("queuefair_outcomes_example")
	qf := newStandIn("simple", "")
	defer qf.close()

	cfg := queuefair.NewConfig("demo-shop", "demo-account-secret")
	cfg.FilesServer = qf.host()                 // instead of files.queue-fair.net
	cfg.HTTPClient = qf.srv.Client()            // trusts the stand-in's test certificate
	cfg.SettingsFileCacheLocation = qf.cacheDir // a private folder for the settings cache
	cfg.AdapterMode = queuefair.ModeSimple
	cfg.OnDecision = func(_ context.Context, d queuefair.Decision) {
		key := d.Outcome.String()
		if d.Reason != queuefair.ReasonNone {
			key += ":" + d.Reason.String()
		}
		outcomes.Add(key, 1)
	}
	gate, err := queuefair.New(cfg)
	if err != nil {
		panic(err)
	}

	checkout := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") })
	site := httptest.NewServer(gate.Handler(checkout))
	defer site.Close()

	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/", "/about", "/checkout", "/checkout"} {
		resp, err := browser.Get(site.URL + path)
		if err == nil {
			resp.Body.Close()
		}
	}
	fmt.Println(outcomes.String())
	// Output: {"no_match": 2, "sent_to_queue": 2}
}

// ExampleConfig_dryRun rehearses the rules on live traffic: with DryRun the adapter decides
// as usual and reports it, but sends the visitor nothing, so every page runs.
func ExampleConfig_dryRun() {
	qf := newStandIn("simple", "")
	defer qf.close()

	cfg := queuefair.NewConfig("demo-shop", "demo-account-secret")
	cfg.FilesServer = qf.host()                 // instead of files.queue-fair.net
	cfg.HTTPClient = qf.srv.Client()            // trusts the stand-in's test certificate
	cfg.SettingsFileCacheLocation = qf.cacheDir // a private folder for the settings cache
	cfg.AdapterMode = queuefair.ModeSimple
	cfg.DryRun = true
	cfg.OnDecision = func(_ context.Context, d queuefair.Decision) {
		fmt.Printf("would have: %s (queue %q, page runs: %v)\n", d.Outcome, d.Queue, d.Continue)
	}
	gate, err := queuefair.New(cfg)
	if err != nil {
		panic(err)
	}

	checkout := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "checkout page") })
	site := httptest.NewServer(gate.Handler(checkout))
	defer site.Close()

	resp, err := site.Client().Get(site.URL + "/checkout")
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body), len(resp.Header["Set-Cookie"]), "cookies")
	// Output:
	// would have: sent_to_queue (queue "sale", page runs: false)
	// 200 checkout page 0 cookies
}

// ExampleNewConfig shows the reference defaults that NewConfig fills in.
func ExampleNewConfig() {
	cfg := queuefair.NewConfig("my-account", "my-account-secret")
	fmt.Println(cfg.FilesServer, cfg.QueryTimeLimitSeconds, cfg.ReadTimeout, cfg.SettingsFileCacheLifetimeMinutes,
		cfg.StripPassedString, cfg.AdapterMode, cfg.SettingsFileCacheLocation)
	// Output: files.queue-fair.net 300 5s 5 true safe .
}

// Example_testYourHandler shows how to test your own protected handler offline, with
// net/http/httptest. One TLS stand-in plays the files server (the settings) and the adapter
// server; the Gate calls them over https, so it gets the stand-in's Client, which trusts its
// test certificate. The test then plays the visitor: queued, back from the queue with a Passed
// String signed with the queue's secret, then let in by the Passed Cookie. The README's
// "Queue-Fair's formats, for integration tests" describes each message.
func Example_testYourHandler() {
	const (
		account, accountSecret = "my-account", "my-account-secret"
		queueName, queueSecret = "my-queue", "my-queue-secret"
		userAgent              = "Mozilla/5.0 (X11; Linux x86_64) MyTest/1.0"
	)
	var standIn *httptest.Server
	standIn = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := strings.TrimPrefix(standIn.URL, "https://")
		switch r.URL.Path {
		case "/" + account + "/" + accountSecret + "/queue-fair-settings.json": // the files server
			fmt.Fprintf(w, `{"queues":[{"name":%q,"displayName":"My queue","secret":%q,
				"passedLifetimeMinutes":20,"queueServer":"my-account.queue-fair.net","adapterServer":%q,
				"adapterMode":"safe","dynamicTarget":"disabled","activation":{"rules":[{"operator":"And",
				"component":"Path","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false}]}}]}`,
				queueName, queueSecret, host)
		case "/adapter/" + queueName: // the adapter server: the queue is busy
			io.WriteString(w, `{"action":"SendToQueue","location":"https://my-account.queue-fair.net/my-queue","uid":"visitor-1","cookieSeconds":86400}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer standIn.Close()

	cacheDir, _ := os.MkdirTemp("", "queuefair-test")
	defer os.RemoveAll(cacheDir)
	cfg := queuefair.NewConfig(account, accountSecret)
	cfg.FilesServer = strings.TrimPrefix(standIn.URL, "https://")
	cfg.HTTPClient = standIn.Client()
	cfg.SettingsFileCacheLocation = cacheDir
	gate, err := queuefair.New(cfg)
	if err != nil {
		panic(err)
	}

	// Your handler, protected as in production.
	handler := gate.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "checkout page")
	}))
	visit := func(target string, cookies ...*http.Cookie) *http.Response {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("User-Agent", userAgent)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		resp := w.Result()
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(resp.StatusCode, resp.Header.Get("Location")+string(body))
		for _, c := range resp.Cookies() {
			fmt.Printf("  sets %s for %d s\n", c.Name, c.MaxAge)
		}
		return resp
	}

	fmt.Println("a new visitor is queued:")
	visit("http://shop.example/checkout")

	// The queue server sends the visitor back with a Passed String, signed for their User-Agent.
	signed := fmt.Sprintf("qfqid=q-1&qfts=%d&qfa=%s&qfq=%s&qfpt=Queue&", time.Now().Unix(), account, queueName)
	mac := hmac.New(sha256.New, []byte(queueSecret))
	io.WriteString(mac, userAgent+signed)
	passedString := signed + "qfh=" + hex.EncodeToString(mac.Sum(nil))
	fmt.Println("back from the queue with a Passed String:")
	resp := visit("http://shop.example/checkout?" + passedString)

	fmt.Println("with the Passed Cookie:")
	visit("http://shop.example/checkout", resp.Cookies()...)
	// Output:
	// a new visitor is queued:
	// 302 https://my-account.queue-fair.net/my-queue?target=http%3A%2F%2Fshop.example%2Fcheckout&qfuid=visitor-1
	//   sets QueueFair-Store-my-account for 86400 s
	// back from the queue with a Passed String:
	// 302 http://shop.example/checkout
	//   sets QueueFair-Pass-my-queue for 1200 s
	// with the Passed Cookie:
	// 200 checkout page
}
