package queuefair_test

// The external test package's shared helpers: the scaffolding of the Examples
// (example_test.go, example_operator_test.go) and the browser journeys (browser_test.go), that
// is a local stand-in for the Queue-Fair servers, a Passed String signer and a visitor that
// prints each hop; and goTool, for the tests that run the go command (demo_test.go,
// readme_test.go). The Examples spell out the queuefair.Config they use; startDemo, which
// hides it, is for the tests.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/queuefair/queuefair"
)

// The demo's account and queue, as they would appear in the Queue-Fair portal. The Examples
// write the account, its secret and the queue out ("demo-shop", "sale"), so that each reads
// on its own on pkg.go.dev; the stand-in serves these.
const (
	demoAccount     = "demo-shop"
	demoSecret      = "demo-account-secret"
	demoQueue       = "sale"
	demoQueueSecret = "demo-queue-secret"
	demoUA          = "Mozilla/5.0 (X11; Linux x86_64) DemoBrowser/1.0"
)

// standIn is a local stand-in for the three Queue-Fair servers, on one TLS test server: the
// files server (settings), the adapter server (its answer set by action) and the queue server
// (which lets every visitor straight through by signing a Passed String, as the real one does
// when a visitor reaches the front of the queue). A Gate uses it with FilesServer = host(),
// HTTPClient = srv.Client() (which trusts its test certificate), and cacheDir, a private
// settings cache folder; close removes both.
type standIn struct {
	srv      *httptest.Server
	action   string // adapter answer: "SafeGuard" or "SendToQueue"
	mode     string // the queue's adapterMode: "safe" or "simple"
	cacheDir string

	mu                       sync.Mutex
	adapterCalls, queueVisit int
}

func newStandIn(mode, action string) *standIn {
	cacheDir, err := os.MkdirTemp("", "queuefair-demo")
	if err != nil {
		panic(err)
	}
	s := &standIn{mode: mode, action: action, cacheDir: cacheDir}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	return s
}

// close stops the server and removes the cache folder.
func (s *standIn) close() {
	s.srv.Close()
	os.RemoveAll(s.cacheDir)
}

func (s *standIn) host() string { return strings.TrimPrefix(s.srv.URL, "https://") }

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.URL.Path == "/"+demoAccount+"/"+demoSecret+"/queue-fair-settings.json":
		fmt.Fprintf(w, `{"queues":[{"name":%q,"displayName":"Big Sale","secret":%q,"passedLifetimeMinutes":20,
			"queueServer":%q,"adapterServer":%q,"adapterMode":%q,"dynamicTarget":"disabled",
			"activation":{"rules":[{"operator":null,"component":"Path","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false}]}}]}`,
			demoQueue, demoQueueSecret, s.host(), s.host(), s.mode)
	case r.URL.Path == "/adapter/"+demoQueue:
		s.adapterCalls++
		if s.action == "SendToQueue" {
			fmt.Fprintf(w, `{"uid":"visitor-1","cookieSeconds":86400,"action":"SendToQueue","location":"https://%s/%s"}`, s.host(), demoQueue)
			return
		}
		pass := sign(r.URL.Query().Get("identifier"), "SafeGuard")
		fmt.Fprintf(w, `{"uid":"visitor-1","cookieSeconds":86400,"action":"SafeGuard","queue":%q,"validation":%q}`, demoQueue, url.QueryEscape(pass))
	case r.URL.Path == "/"+demoQueue:
		s.queueVisit++
		if e := r.URL.Query().Get("qfError"); e != "" {
			fmt.Fprintf(w, "queue page: %s", e)
			return
		}
		target := r.URL.Query().Get("target")
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		http.Redirect(w, r, target+sep+sign(r.UserAgent(), "Queue"), http.StatusFound)
	default:
		http.NotFound(w, r)
	}
}

// sign makes a Passed String for a visitor's User-Agent, signed with the queue secret.
func sign(userAgent, passType string) string { return signAt(userAgent, passType, time.Now()) }

// signAt is sign with the timestamp of at.
func signAt(userAgent, passType string, at time.Time) string {
	body := fmt.Sprintf("qfqid=demo-qid&qfts=%d&qfa=%s&qfq=%s&qfpt=%s&", at.Unix(), demoAccount, demoQueue, passType)
	m := hmac.New(sha256.New, []byte(demoQueueSecret))
	m.Write([]byte(userAgent + body))
	return body + "qfh=" + hex.EncodeToString(m.Sum(nil))
}

// demoConfig is the Gate's configuration for the demo: the stand-in as files server, its
// certificate trusted, its private cache folder and a quiet logger.
func demoConfig(s *standIn) queuefair.Config {
	cfg := queuefair.NewConfig(demoAccount, demoSecret)
	cfg.FilesServer = s.host()
	cfg.HTTPClient = s.srv.Client()
	cfg.SettingsFileCacheLocation = s.cacheDir
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
}

// visitor is a browser: a cookie jar, and a log of each hop it makes.
type visitor struct {
	client *http.Client
	roles  map[string]string // host -> "site" or "queue-fair"
}

func newVisitor(s *standIn, site *httptest.Server) *visitor {
	jar, _ := cookiejar.New(nil)
	client := &http.Client{
		Jar:           jar,
		Transport:     s.srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &visitor{client: client, roles: map[string]string{
		strings.TrimPrefix(site.URL, "http://"): "site",
		s.host():                                "queue-fair",
	}}
}

// visit follows rawURL hop by hop, printing each one, until a page or a host it does not know.
func (v *visitor) visit(rawURL string) {
	for hop := 0; hop < 8; hop++ {
		req, _ := http.NewRequest("GET", rawURL, nil)
		req.Header.Set("User-Agent", demoUA)
		resp, err := v.client.Do(req)
		if err != nil {
			fmt.Println("  error:", err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			fmt.Printf("  %s -> %d %q\n", v.describe(rawURL), resp.StatusCode, body)
			return
		}
		next := resp.Header.Get("Location")
		fmt.Printf("  %s -> 302 to %s\n", v.describe(rawURL), v.describe(next))
		u, _ := url.Parse(next)
		if v.roles[u.Host] == "" {
			return
		}
		rawURL = next
	}
}

// describe shows a URL with hosts named by role, a target decoded, and a Passed String named
// rather than printed (it holds a timestamp and a hash).
func (v *visitor) describe(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	who := v.roles[u.Host]
	if who == "" {
		who = u.Host
	}
	out := who + " " + u.Path
	q := u.Query()
	var params []string
	if t := q.Get("target"); t != "" {
		params = append(params, "target="+v.describe(t))
	}
	for _, k := range []string{"qfuid", "qfError", "a"} {
		if val := q.Get(k); val != "" {
			params = append(params, k+"="+val)
		}
	}
	if len(params) > 0 {
		out += " [" + strings.Join(params, ", ") + "]"
	}
	if q.Has("qfqid") {
		out += " + Passed String"
	}
	return out
}

// cookies lists the names of the cookies the visitor holds for the site.
func (v *visitor) cookies(site *httptest.Server) string {
	u, _ := url.Parse(site.URL)
	var names []string
	for _, c := range v.client.Jar.Cookies(u) {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// startDemo starts the stand-in with the queue in mode and the adapter answering action, and
// a Gate on demoConfig, which edit may change; stop cleans both up.
func startDemo(mode, action string, edit func(*queuefair.Config)) (qf *standIn, gate *queuefair.Gate, stop func()) {
	qf = newStandIn(mode, action)
	cfg := demoConfig(qf)
	if edit != nil {
		edit(&cfg)
	}
	gate, err := queuefair.New(cfg)
	if err != nil {
		qf.close()
		panic(err)
	}
	return qf, gate, qf.close
}

// goTool is the go command that runs this test, or "" when there is none.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return ""
}

// fileExists reports whether p names a file.
func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
