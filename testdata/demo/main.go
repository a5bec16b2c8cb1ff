// Command demo runs a small site protected by queuefair, with local stand-ins for the three
// Queue-Fair servers, and prints every hop of every visitor as it happens. It needs no network
// and no account: everything listens on 127.0.0.1.
//
//	go run ./testdata/demo          # then open http://127.0.0.1:8080/ in a browser
//	go run ./testdata/demo -walk    # a scripted walk: two visitors in four scenes, then exit
//
// The site has two protected pages, each matched by a queue's activation rule:
//
//   - /basket, queue "basket": the queue is quiet, so the adapter server answers SafeGuard and
//     the visitor goes straight in with a Passed Cookie;
//   - /checkout, queue "sale": the queue is busy, so the adapter server answers SendToQueue; the
//     queue page counts down, then sends the visitor back with a Passed String signed with the
//     queue's secret; the adapter checks it, stores it as the Passed Cookie and strips it from
//     the address bar.
//
// The stand-ins stand for Queue-Fair's files server (the settings), adapter server and queue
// server. The adapter always calls the first two over https, so they run TLS with a test
// certificate that only the site's Gate trusts; the queue page the browser sees is plain http.
// The demo lives under testdata/ so that "go test ./..." and "go vet ./..." leave it alone.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"flag"
	"fmt"
	"html"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/queuefair/queuefair"
)

// The demo account and its two queues, as they would appear in the Queue-Fair portal.
const (
	account       = "demo-shop"
	accountSecret = "demo-account-secret"
)

// demoQueue is one queue of the demo's settings.
type demoQueue struct {
	name, displayName, secret, path string
	busy                            bool // the adapter server answers SendToQueue, not SafeGuard
}

var queues = []demoQueue{
	{name: "basket", displayName: "Basket", secret: "basket-queue-secret", path: "/basket", busy: false},
	{name: "sale", displayName: "Big Sale", secret: "sale-queue-secret", path: "/checkout", busy: true},
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address of the protected site")
	walk := flag.Bool("walk", false, "run a scripted walk: two visitors in four scenes, print the transcript and exit")
	wait := flag.Int("wait", 5, "seconds the queue page counts down before it lets a visitor through")
	debug := flag.Bool("debug", false, "also print the adapter's debug log (to stderr)")
	flag.Parse()
	log.SetFlags(0)

	if *walk {
		*addr = "127.0.0.1:0"
	}
	d, err := start(*addr, *wait, *debug)
	if err != nil {
		log.Fatal(err)
	}
	defer d.close()

	if *walk {
		if err := d.walk(); err != nil {
			log.Fatal(err)
		}
		return
	}
	d.instructions()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	<-stop
	fmt.Println("\nstopped")
}

// demo is the running site and stand-ins.
type demo struct {
	site                  *http.Server
	siteURL               string
	files, adapter, queue *httptest.Server // TLS: the Gate calls them
	queuePage             *httptest.Server // plain http: the browser sees it
	trust                 *x509.CertPool   // the stand-ins' certificate
	cacheDir              string
	wait                  int
	out                   *printer

	mu   sync.Mutex
	uids int // uids handed out by the adapter server
	qids int // Passed Strings signed
}

// start starts the stand-ins, then the Gate and the protected site on addr.
func start(addr string, wait int, debug bool) (*demo, error) {
	d := &demo{wait: wait, out: &printer{}}
	d.files = startTLS(d.logged("site", "files", http.HandlerFunc(d.serveSettings)))
	d.adapter = startTLS(d.logged("site", "adapter", http.HandlerFunc(d.serveAdapter)))
	queuePage := http.HandlerFunc(d.serveQueue)
	d.queue = startTLS(d.logged("", "queue", queuePage))
	d.queuePage = httptest.NewServer(d.logged("", "queue", queuePage))
	d.trust = x509.NewCertPool()
	for _, s := range []*httptest.Server{d.files, d.adapter, d.queue} {
		d.trust.AddCert(s.Certificate())
	}

	var err error
	if d.cacheDir, err = os.MkdirTemp("", "queuefair-demo"); err != nil {
		return nil, err
	}
	cfg := queuefair.NewConfig(account, accountSecret)
	cfg.FilesServer = host(d.files.URL)
	cfg.HTTPClient = &http.Client{Transport: d.transport()}
	cfg.SettingsFileCacheLocation = d.cacheDir
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil)) // warnings only
	if debug {
		cfg.Debug = true
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	gate, err := queuefair.New(cfg)
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/", d.serveHome)
	mux.HandleFunc("/tamper", d.serveTamper)
	mux.HandleFunc("/forget", d.serveForget)
	for _, q := range queues {
		mux.Handle(q.path, gate.Handler(d.page(q)))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("the site cannot listen on %s (try -addr 127.0.0.1:8081): %w", addr, err)
	}
	d.siteURL = "http://" + ln.Addr().String()
	d.site = &http.Server{Handler: d.logged("", "site", mux), ReadHeaderTimeout: 10 * time.Second}
	go d.site.Serve(ln)
	return d, nil
}

func startTLS(h http.Handler) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	s.StartTLS()
	return s
}

// transport trusts the stand-ins' certificate, and nothing else.
func (d *demo) transport() *http.Transport {
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: d.trust}, ForceAttemptHTTP2: true}
}

func (d *demo) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	d.site.Shutdown(ctx)
	for _, s := range []*httptest.Server{d.files, d.adapter, d.queue, d.queuePage} {
		s.Close()
	}
	os.RemoveAll(d.cacheDir)
}

func host(rawURL string) string {
	u, _ := url.Parse(rawURL)
	return u.Host
}

func (d *demo) instructions() {
	fmt.Printf(`queuefair demo: a site protected by the adapter, and local stand-ins for Queue-Fair

  site              %s/            <- open this in a browser
  files server      %s     (settings; https, test certificate)
  adapter server    %s     (https, test certificate)
  queue server      %s     (https, for error pages)
  queue page        %s      (plain http: where queued visitors wait)

Pages: /basket (queue "basket", quiet: SafeGuard, straight in), /checkout (queue "sale", busy:
the queue page counts down %d s, then sends you back with a Passed String), /tamper (spoils
your Passed Cookie for the sale), /forget (deletes your cookies). Only an invalid Passed String
leads the browser to the https queue server: your browser will warn about its test
certificate there, which is expected.

Each hop is printed below as it happens: who, what, the answer and the cookies set.
Press Ctrl-C to stop.

`, d.siteURL, d.files.URL, d.adapter.URL, d.queue.URL, d.queuePage.URL, d.wait)
}

// serveSettings is the files server: the account's settings at
// /{account}/{accountSecret}/queue-fair-settings.json.
func (d *demo) serveSettings(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/"+account+"/"+accountSecret+"/queue-fair-settings.json" {
		http.NotFound(w, r)
		return
	}
	var qs []string
	for _, q := range queues {
		qs = append(qs, fmt.Sprintf(`{"name":%q,"displayName":%q,"secret":%q,"passedLifetimeMinutes":20,`+
			`"queueServer":%q,"adapterServer":%q,"adapterMode":"safe","dynamicTarget":"disabled",`+
			`"activation":{"rules":[{"operator":null,"component":"Path","match":"Contain","value":%q,"caseSensitive":false,"negate":false}]}}`,
			q.name, q.displayName, q.secret, host(d.queue.URL), host(d.adapter.URL), q.path))
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"queues":[%s]}`, strings.Join(qs, ","))
}

// serveAdapter is the adapter server: /adapter/{queue}?ipaddress=..&uid=..&identifier=..
// answers SendToQueue for a busy queue, SafeGuard with a signed pass for a quiet one.
func (d *demo) serveAdapter(w http.ResponseWriter, r *http.Request) {
	q, ok := findQueue(strings.TrimPrefix(r.URL.Path, "/adapter/"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	uid := r.URL.Query().Get("uid")
	if uid == "" {
		d.mu.Lock()
		d.uids++
		uid = fmt.Sprintf("visitor-%d", d.uids)
		d.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	if q.busy {
		fmt.Fprintf(w, `{"uid":%q,"cookieSeconds":86400,"action":"SendToQueue","location":%q}`,
			uid, d.queuePage.URL+"/"+q.name)
		return
	}
	pass := d.sign(q, r.URL.Query().Get("identifier"), "SafeGuard")
	fmt.Fprintf(w, `{"uid":%q,"cookieSeconds":86400,"action":"SafeGuard","queue":%q,"validation":%q}`,
		uid, q.name, url.QueryEscape(pass))
}

// serveQueue is the queue server: /{queue}?target=.. shows a page that counts down and then
// goes to /{queue}/front, which sends the visitor back to target with a Passed String.
func (d *demo) serveQueue(w http.ResponseWriter, r *http.Request) {
	name, front := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/front")
	q, ok := findQueue(name)
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if e := r.URL.Query().Get("qfError"); e != "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>%[1]s</title><h1>%[1]s: %[2]s</h1><p>The site could not check your pass. <a href="%[3]s/">Back to the site</a></p>`,
			html.EscapeString(q.displayName), html.EscapeString(e), d.siteURL)
		return
	}
	target := r.URL.Query().Get("target")
	if !strings.HasPrefix(target, d.siteURL+"/") {
		http.Error(w, "this queue only sends visitors back to the demo site", http.StatusBadRequest)
		return
	}
	if front {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		http.Redirect(w, r, target+sep+d.sign(q, identifier(r.UserAgent()), "Queue"), http.StatusFound)
		return
	}
	next := "/" + q.name + "/front?target=" + url.QueryEscape(target)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><title>%[1]s: queue</title>
<meta http-equiv="refresh" content="%[2]d;url=%[3]s">
<h1>%[1]s: you are in the queue</h1>
<p>Your turn comes in <b id="n">%[2]d</b> s; this page then sends you back to the site with a Passed String.</p>
<script>var n = %[2]d; setInterval(function () { if (n > 0) document.getElementById("n").textContent = --n; }, 1000);</script>`,
		html.EscapeString(q.displayName), d.wait, html.EscapeString(next))
}

func findQueue(name string) (demoQueue, bool) {
	for _, q := range queues {
		if q.name == name {
			return q, true
		}
	}
	return demoQueue{}, false
}

// sign makes a Passed String as Queue-Fair does: the signed text
// qfqid=..&qfts=..&qfa=..&qfq=..&qfpt=..& and then qfh, the lower-case hex HMAC-SHA256, keyed
// with the queue's secret, of the visitor's identifier followed by the signed text.
func (d *demo) sign(q demoQueue, ident, passType string) string {
	d.mu.Lock()
	d.qids++
	qid := fmt.Sprintf("demo-%d", d.qids)
	d.mu.Unlock()
	signed := fmt.Sprintf("qfqid=%s&qfts=%d&qfa=%s&qfq=%s&qfpt=%s&", qid, time.Now().Unix(), account, q.name, passType)
	m := hmac.New(sha256.New, []byte(q.secret))
	io.WriteString(m, ident+signed)
	return signed + "qfh=" + hex.EncodeToString(m.Sum(nil))
}

// identifier is what a pass is signed for: the User-Agent, cut before a '[' at index 20 or later.
func identifier(ua string) string {
	if i := strings.IndexByte(ua, '['); i >= 20 {
		return ua[:i]
	}
	return ua
}

// page is a protected page: it runs only when the Gate lets the visitor through.
func (d *demo) page(q demoQueue) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>%[1]s</title><h1>%[1]s page</h1><p>Protected by queue %[2]q. %[3]s</p><p><a href="/">Home</a></p>`,
			html.EscapeString(q.displayName), q.name, cookieList(r))
	})
}

func (d *demo) serveHome(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><title>queuefair demo</title><h1>queuefair demo shop</h1>
<ul>
<li><a href="/basket">/basket</a>: queue "basket" is quiet: the adapter server answers SafeGuard, you go straight in.</li>
<li><a href="/checkout">/checkout</a>: queue "sale" is busy: you wait %d s in the queue, then come back with a Passed String.</li>
<li><a href="/tamper">/tamper</a>: spoil your Passed Cookie for the sale, then visit /checkout again.</li>
<li><a href="/forget">/forget</a>: delete your cookies and start again.</li>
</ul><p>%s</p><p>The terminal prints each hop.</p>`, d.wait, cookieList(r))
}

func cookieList(r *http.Request) string {
	var names []string
	for _, c := range r.Cookies() {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "Your browser sent no cookies."
	}
	return "Your browser sent the cookies " + html.EscapeString(strings.Join(names, ", ")) + "."
}

// serveTamper changes one digit of the visitor's Passed Cookie for the sale, as a visitor
// trying to extend their pass would; the adapter then deletes it and queues them again.
func (d *demo) serveTamper(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(queuefair.CookieNameBase + "sale")
	if err != nil {
		http.Error(w, "no Passed Cookie for the sale yet: visit /checkout first", http.StatusBadRequest)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: c.Name, Value: tamper(c.Value), Path: "/", MaxAge: 1200})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, `<!doctype html><p>Your Passed Cookie for the sale now claims a later time. Try <a href="/checkout">/checkout</a>.</p>`)
}

// tamper moves a pass's timestamp: its first digit after "qfts=" goes up by one.
func tamper(pass string) string {
	i := strings.Index(pass, "qfts=") + len("qfts=")
	if i < len("qfts=") || i >= len(pass) {
		return pass + "x"
	}
	return pass[:i] + string('0'+(pass[i]-'0'+1)%10) + pass[i+1:]
}

func (d *demo) serveForget(w http.ResponseWriter, r *http.Request) {
	for _, c := range r.Cookies() {
		http.SetCookie(w, &http.Cookie{Name: c.Name, Path: "/", MaxAge: -1})
	}
	http.Redirect(w, r, "/", http.StatusFound)
}
