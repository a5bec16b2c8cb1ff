package queuefair_test

// End-to-end journeys in a real browser: headless Chromium, driven with --dump-dom and a
// persistent profile, against a protected site and the stand-in Queue-Fair servers of
// exampleutils_test.go, all on loopback. Skipped when no Chromium is installed.

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/queuefair/queuefair"
)

// browserUA is the User-Agent Chromium is told to send, so that the test can sign passes for it.
const browserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) QueueFairE2E/1.0 Safari/537.36"

// findChromium returns the browser to drive, or "" when there is none.
func findChromium() string {
	if p := os.Getenv("QUEUEFAIR_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is one Chromium profile: cookies persist from one visit to the next.
type browser struct {
	bin, profile string
}

// visit loads rawURL (following redirects, as a browser does) and returns the final DOM.
func (b browser) visit(t *testing.T, rawURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--ignore-certificate-errors", // the stand-ins' test certificate
		"--user-agent="+browserUA, "--user-data-dir="+b.profile, "--dump-dom", rawURL)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", rawURL, err, stderr.String())
	}
	return string(out)
}

// protectedSite is the site under test: /checkout behind the Gate's middleware shows a marker,
// its own URL and the cookies it received (and, through JavaScript, those the browser holds);
// /tamper, outside the Gate, spoils the visitor's Passed Cookie.
type protectedSite struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits int
}

func newProtectedSite(gate *queuefair.Gate, useTLS bool) *protectedSite {
	s := &protectedSite{}
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var names []string
		for _, c := range r.Cookies() {
			names = append(names, c.Name)
		}
		sort.Strings(names)
		fmt.Fprintf(w, `<html><body><p id="marker">PROTECTED CONTENT</p><p id="url">%s</p><p id="sent">sent:%s</p>`+
			`<p id="held"></p><script>document.getElementById("held").textContent = "held:" + `+
			`document.cookie.split("; ").map(function (c) { return c.split("=")[0]; }).sort().join(",");</script></body></html>`,
			html.EscapeString(r.URL.RequestURI()), strings.Join(names, ","))
	})
	mux := http.NewServeMux()
	mux.Handle("/checkout", gate.Handler(page))
	mux.HandleFunc("/tamper", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(queuefair.CookieNameBase + demoQueue)
		if err != nil {
			http.Error(w, "no Passed Cookie to tamper with", http.StatusBadRequest)
			return
		}
		spoiled := strings.Replace(c.Value, "qfts=1", "qfts=2", 1) // a timestamp far in the future
		http.SetCookie(w, &http.Cookie{Name: c.Name, Value: spoiled, Path: "/", MaxAge: 3600, Secure: r.TLS != nil, SameSite: sameSite(r)})
		io.WriteString(w, "<html><body>TAMPERED</body></html>")
	})
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/checkout" {
			s.mu.Lock()
			s.hits++
			s.mu.Unlock()
		}
		mux.ServeHTTP(w, r)
	})
	if useTLS {
		s.srv = httptest.NewTLSServer(counted)
	} else {
		s.srv = httptest.NewServer(counted)
	}
	return s
}

func sameSite(r *http.Request) http.SameSite {
	if r.TLS != nil {
		return http.SameSiteNoneMode
	}
	return http.SameSiteDefaultMode
}

// counts is how many requests each party has seen: the protected page, the adapter server and
// the queue server.
type counts struct{ site, adapter, queue int }

func (s *protectedSite) count(qf *standIn) counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	qf.mu.Lock()
	defer qf.mu.Unlock()
	return counts{site: s.hits, adapter: qf.adapterCalls, queue: qf.queueVisit}
}

// step is one visit of a journey and what it must show.
type step struct {
	path     string // on the site
	expired  bool   // instead, /checkout with an expired Passed String
	want     []string
	wantNot  []string
	counts   counts // totals after the step
	describe string
}

func TestBrowserJourneys(t *testing.T) {
	bin := findChromium()
	if bin == "" && os.Getenv("QUEUEFAIR_REQUIRE_BROWSER") != "" {
		t.Fatal("QUEUEFAIR_REQUIRE_BROWSER is set but no Chromium was found")
	}
	if bin == "" {
		t.Skip("no Chromium found: install Debian's chromium package (or set QUEUEFAIR_CHROMIUM) to run the browser journeys")
	}
	passCookie := queuefair.CookieNameBase + demoQueue
	uidCookie := "QueueFair-Store-" + demoAccount
	journeys := []struct {
		name         string
		mode, action string
		tls          bool
		steps        []step
	}{
		{"SafeGuard pass", "safe", "SafeGuard", false, []step{
			{path: "/checkout", describe: "let through, both cookies stored",
				want:   []string{"PROTECTED CONTENT", "held:" + passCookie + "," + uidCookie},
				counts: counts{site: 1, adapter: 1}},
			{path: "/checkout", describe: "second visit: cookies sent, no adapter call",
				want:   []string{"PROTECTED CONTENT", "sent:" + passCookie + "," + uidCookie},
				counts: counts{site: 2, adapter: 1}},
		}},
		{"queued visit", "safe", "SendToQueue", false, []step{
			{path: "/checkout?a=1", describe: "to the queue, back with a Passed String, stripped",
				want:    []string{"PROTECTED CONTENT", `<p id="url">/checkout?a=1</p>`, "held:" + passCookie + "," + uidCookie},
				wantNot: []string{"qfqid"},
				counts:  counts{site: 3, adapter: 1, queue: 1}},
			{path: "/checkout?a=1", describe: "no loop: the Passed Cookie lets the visitor in",
				want:   []string{"PROTECTED CONTENT", "sent:" + passCookie + "," + uidCookie},
				counts: counts{site: 4, adapter: 1, queue: 1}},
		}},
		{"queued visit over HTTPS", "safe", "SendToQueue", true, []step{
			{path: "/checkout", describe: "SameSite=None; Secure cookies accepted",
				want:    []string{"PROTECTED CONTENT", `<p id="url">/checkout</p>`, "held:" + passCookie + "," + uidCookie},
				wantNot: []string{"qfqid"},
				counts:  counts{site: 3, adapter: 1, queue: 1}},
			{path: "/checkout", describe: "and sent back",
				want:   []string{"PROTECTED CONTENT", "sent:" + passCookie + "," + uidCookie},
				counts: counts{site: 4, adapter: 1, queue: 1}},
		}},
		{"tampered cookie", "simple", "", false, []step{
			{path: "/checkout", describe: "queued once (simple mode)",
				want:   []string{"PROTECTED CONTENT", "held:" + passCookie},
				counts: counts{site: 3, queue: 1}},
			{path: "/tamper", describe: "the visitor edits the cookie", want: []string{"TAMPERED"},
				counts: counts{site: 3, queue: 1}},
			{path: "/checkout", describe: "sent back to the queue, then in with a fresh pass",
				want:    []string{"PROTECTED CONTENT", `<p id="url">/checkout</p>`},
				wantNot: []string{"qfqid"},
				counts:  counts{site: 6, queue: 2}},
		}},
		{"expired Passed String", "safe", "SafeGuard", false, []step{
			{expired: true, describe: "the InvalidQuery page, no pass",
				want:    []string{"queue page: InvalidQuery"},
				wantNot: []string{"PROTECTED CONTENT"},
				counts:  counts{site: 1, queue: 1}},
		}},
	}
	for _, j := range journeys {
		t.Run(j.name, func(t *testing.T) {
			qf, gate, stop := startDemo(j.mode, j.action, func(c *queuefair.Config) {
				if j.mode == "simple" {
					c.AdapterMode = queuefair.ModeSimple
				}
			})
			defer stop()
			site := newProtectedSite(gate, j.tls)
			defer site.srv.Close()
			b := browser{bin: bin, profile: t.TempDir()}
			for i, st := range j.steps {
				target := site.srv.URL + st.path
				if st.expired { // signed for this browser, an hour ago
					target = site.srv.URL + "/checkout?" + signAt(browserUA, "Queue", time.Now().Add(-time.Hour))
				}
				dom := b.visit(t, target)
				for _, w := range st.want {
					if !strings.Contains(dom, w) {
						t.Errorf("step %d (%s): page lacks %q:\n%s", i+1, st.describe, w, dom)
					}
				}
				for _, w := range st.wantNot {
					if strings.Contains(dom, w) {
						t.Errorf("step %d (%s): page holds %q:\n%s", i+1, st.describe, w, dom)
					}
				}
				got := site.count(qf)
				if got != st.counts {
					t.Errorf("step %d (%s): requests %+v, want %+v", i+1, st.describe, got, st.counts)
				}
				t.Logf("step %d, %s: site %d, adapter server %d, queue server %d", i+1, st.describe, got.site, got.adapter, got.queue)
			}
		})
	}
}
