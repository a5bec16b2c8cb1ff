package queuefair

// The internal tests' shared helpers, one of each:
//
//   - Services: recorder (records every call; the tests' usual Service, with cacheControl,
//     the call that goes with every redirect and cookie) and noopService.
//   - Fake Queue-Fair servers: stubTransport, in memory (the files and adapter servers as a
//     table of URLs, for a rig on a fixed clock), and switchable, a real TLS server whose
//     handler a test swaps (for faults that need a network: hangs, drips, resets, timeouts).
//   - A Gate wired to test doubles: rig (newRig, and faultRig on a switchable files server),
//     with the clock, sleeps and logBuffer doubles and the account's test constants;
//     captureDefaultLogger for what goes to slog.Default.
//   - Settings, passes and URLs: queueJSON, settingsJSON, simpleSettings, passToken, hashHex,
//     adapterURL, checkoutURL; loadOracle, what the Python reference and urllib returned
//     (testdata/python-oracle.json).
//   - A protected net/http site: site, with get and cookieNamed to visit it.
//   - Assertions: mustEqual, nilIfEmpty.
//
// The external tests (package queuefair_test: the Examples, the browser journeys) cannot see
// these; their stand-in and visitor are in exampleutils_test.go.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// call is one recorded Service call, shaped like the conformance vectors' "calls" entries.
type call struct {
	Op              string `json:"op"`
	Name            string `json:"name,omitempty"`
	Value           string `json:"value,omitempty"`
	LifetimeSeconds int    `json:"lifetimeSeconds,omitempty"`
	Domain          string `json:"domain,omitempty"`
	Location        string `json:"location,omitempty"`
}

func (c call) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// recorder is a Service that serves request cookies from a map and records every call.
type recorder struct {
	cookies map[string]string
	calls   []call
}

func newRecorder(cookies map[string]string) *recorder {
	if cookies == nil {
		cookies = map[string]string{}
	}
	return &recorder{cookies: cookies}
}

func (r *recorder) SetCookie(name, value string, lifetimeSeconds int, domain string) {
	r.calls = append(r.calls, call{Op: "setCookie", Name: name, Value: value, LifetimeSeconds: lifetimeSeconds, Domain: domain})
}
func (r *recorder) Redirect(location string) {
	r.calls = append(r.calls, call{Op: "redirect", Location: location})
}
func (r *recorder) GetCookie(name string) string { return r.cookies[name] }
func (r *recorder) AddHeader(name, value string) {
	r.calls = append(r.calls, call{Op: "addHeader", Name: name, Value: value})
}

// cacheControl is the call that marks a response the adapter changed as not to be cached.
var cacheControl = call{Op: "addHeader", Name: "Cache-Control", Value: "no-store, max-age=0"}

// noopService is a Service that does nothing, for benchmarks and fuzzing.
type noopService struct{ cookies map[string]string }

func (noopService) SetCookie(string, string, int, string) {}
func (noopService) Redirect(string)                       {}
func (s noopService) GetCookie(name string) string        { return s.cookies[name] }
func (noopService) AddHeader(string, string)              {}

// stubTransport is the in-memory fake of the Queue-Fair servers: an http.RoundTripper that
// answers from a table of URL -> handler, and every other request from its fallback (set with
// otherwise) or, without one, with a refused connection; it records the URLs asked for, in
// order. It is safe for concurrent use.
type stubTransport struct {
	mu       sync.Mutex
	routes   map[string]func(*http.Request) (*http.Response, error)
	fallback func(*http.Request) (*http.Response, error)
	fetched  []string
}

func newStubTransport() *stubTransport {
	return &stubTransport{routes: map[string]func(*http.Request) (*http.Response, error){}}
}

// json serves body (a JSON text) with status 200 at rawURL.
func (s *stubTransport) json(rawURL string, body string) {
	s.handle(rawURL, func(*http.Request) (*http.Response, error) { return jsonResponse(200, body), nil })
}

func (s *stubTransport) handle(rawURL string, h func(*http.Request) (*http.Response, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[rawURL] = h
}

// otherwise answers every URL that has no handler of its own with h.
func (s *stubTransport) otherwise(h func(*http.Request) (*http.Response, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fallback = h
}

func (s *stubTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	u := req.URL.String()
	s.mu.Lock()
	s.fetched = append(s.fetched, u)
	h := s.routes[u]
	if h == nil {
		h = s.fallback
	}
	s.mu.Unlock()
	if h == nil {
		return nil, errors.New("stub transport: connection refused")
	}
	return h(req)
}

// count is how many times url was fetched.
func (s *stubTransport) count(url string) (n int) {
	for _, u := range s.urls() {
		if u == url {
			n++
		}
	}
	return n
}

func (s *stubTransport) urls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.fetched...)
}

func jsonResponse(status int, body string) *http.Response {
	return &http.Response{
		StatusCode: status,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(strings.NewReader(body)),
	}
}

// fault is a misbehaving handler; release ends any wait it is in.
type fault func(w http.ResponseWriter, r *http.Request, release <-chan struct{})

// switchable is the fake Queue-Fair server on the network: a TLS test server (its Client
// trusts its certificate) whose handler a test can swap, counting requests per path. It plays
// the files server (faultRig), the adapter server (adapterRig) or both, and misbehaves with
// setFault (the faults of faults_test.go). It closes when the test ends.
type switchable struct {
	srv     *httptest.Server
	once    sync.Once
	mu      sync.Mutex
	h       http.HandlerFunc
	hits    map[string]int
	release chan struct{}
}

func newSwitchable(t *testing.T) *switchable {
	s := &switchable{hits: map[string]int{}, release: make(chan struct{})}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		h := s.h
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.close)
	return s
}

// close ends every wait a fault is in and shuts the server and its client's idle connections.
func (s *switchable) close() {
	s.once.Do(func() {
		close(s.release)
		s.srv.Client().CloseIdleConnections()
		s.srv.Close()
	})
}

func (s *switchable) host() string { return strings.TrimPrefix(s.srv.URL, "https://") }

func (s *switchable) set(h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.h = h
}

func (s *switchable) setFault(f fault) {
	s.set(func(w http.ResponseWriter, r *http.Request) { f(w, r, s.release) })
}

func (s *switchable) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// serveSettings makes the server answer the settings file with body.
func (s *switchable) serveSettings(body string) {
	s.set(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
}

// faultSettingsPath is the test account's settings file on a switchable files server.
const faultSettingsPath = "/shopco/a1b2c3d4-acct-secret/queue-fair-settings.json"

// faultRig is a rig whose files server is srv, with a short ReadTimeout (faultTimeout).
func faultRig(t *testing.T, srv *switchable, edit func(*Config)) *rig {
	return newRig(t, func(c *Config) {
		c.FilesServer = srv.host()
		c.HTTPClient = srv.srv.Client()
		c.ReadTimeout = faultTimeout
		if edit != nil {
			edit(c)
		}
	})
}

// noGoroutineLeak records the goroutine count and returns a check, run at the end of a test
// after its servers have closed, that waits for the count to come back down.
func noGoroutineLeak(t *testing.T) func() {
	settle := func() {
		time.Sleep(10 * time.Millisecond)
	}
	settle()
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second) // ends early once they are gone; a leak stays
		n := runtime.NumGoroutine()
		for n > before && time.Now().Before(deadline) {
			settle()
			n = runtime.NumGoroutine()
		}
		if n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	}
}

// clock is a settable test clock, safe for concurrent use without a lock.
type clock struct{ nanos atomic.Int64 }

func newClock(unix int64) *clock {
	c := &clock{}
	c.nanos.Store(unix * int64(time.Second))
	return c
}

func (c *clock) Now() time.Time { return time.Unix(0, c.nanos.Load()) }

func (c *clock) Advance(d time.Duration) { c.nanos.Add(int64(d)) }

// sleeps records each pause instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) Sleep(_ context.Context, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
}

func (s *sleeps) seconds() []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []float64{}
	for _, d := range s.d {
		out = append(out, d.Seconds())
	}
	return out
}

// logBuffer is a logger whose output the test can read; it logs at debug level so that every
// debug line is built and written.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// captureDefaultLogger points slog.Default at a buffer for the rest of the test, and puts back
// both slog's and the log package's defaults afterwards (slog.SetDefault also redirects log).
func captureDefaultLogger(t *testing.T) *logBuffer {
	t.Helper()
	buf := &logBuffer{}
	old, oldOut, oldFlags := slog.Default(), log.Writer(), log.Flags()
	slog.SetDefault(buf.logger())
	t.Cleanup(func() {
		slog.SetDefault(old)
		log.SetOutput(oldOut)
		log.SetFlags(oldFlags)
	})
	return buf
}

// rig is a Gate wired to test doubles.
type rig struct {
	gate   *Gate
	stub   *stubTransport
	clock  *clock
	sleeps *sleeps
	logs   *logBuffer
	dir    string
}

const (
	testAccount  = "shopco"
	testSecret   = "a1b2c3d4-acct-secret"
	testSettings = "https://files.queue-fair.net/shopco/a1b2c3d4-acct-secret/queue-fair-settings.json"
	testUA       = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
	testIP       = "203.0.113.7"
	testNow      = 1764000000
)

const checkoutURL = "https://shop.example.com/checkout/cart"

// newRig builds a Gate on a stub transport, a fixed clock at testNow, recorded sleeps, a
// debug logger and a fresh cache folder; edit changes the Config first.
func newRig(t testing.TB, edit func(*Config)) *rig {
	t.Helper()
	r, err := newRigOrError(t, edit)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// newRigOrError is newRig for a Config that New may refuse: the rig then has a nil Gate, as
// a program whose New failed would.
func newRigOrError(t testing.TB, edit func(*Config)) (*rig, error) {
	t.Helper()
	r := &rig{stub: newStubTransport(), clock: newClock(testNow), sleeps: &sleeps{}, logs: &logBuffer{}, dir: t.TempDir()}
	cfg := NewConfig(testAccount, testSecret)
	cfg.HTTPClient = &http.Client{Transport: r.stub}
	cfg.Now = r.clock.Now
	cfg.Sleep = r.sleeps.Sleep
	cfg.Logger = r.logs.logger()
	cfg.SettingsFileCacheLocation = r.dir
	if edit != nil {
		edit(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		return r, err
	}
	r.gate = g
	t.Cleanup(g.store.inFlight.Wait)
	return r, nil
}

// run runs one request through a fresh Adapter and returns its decision and calls.
func (r *rig) run(url string, cookies map[string]string) (bool, []call) {
	rec := newRecorder(cookies)
	ok := r.gate.NewAdapter(rec, url, testUA, testIP, "").IsContinue(context.Background())
	return ok, rec.calls
}

// simpleSettings is a settings document whose queue q sends /checkout visitors to the queue in
// simple mode; version changes the queue server so that tests can tell documents apart.
func simpleSettings(version int) string {
	return settingsJSON(queueJSON("q", "", fmt.Sprintf(`,"adapterMode":"simple","queueServer":"v%d.example"`, version)))
}

// servedVersion runs a /checkout request and returns which settings version redirected it
// (0 when the page ran).
func (r *rig) servedVersion(t *testing.T) int {
	t.Helper()
	ok, calls := r.run(checkoutURL, nil)
	if ok {
		return 0
	}
	var v int
	fmt.Sscanf(calls[len(calls)-1].Location, "https://v%d.example", &v)
	return v
}

// queueJSON is one queue of a settings document, with the vectors' usual defaults.
func queueJSON(name string, rules string, extra string) string {
	if rules == "" {
		rules = `[{"operator":null,"component":"Path","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false}]`
	}
	return fmt.Sprintf(`{"name":%q,"displayName":%q,"secret":"sec-%s","passedLifetimeMinutes":20,
		"queueServer":"shopco.queue-fair.net","adapterServer":"adapter.queue-fair.net","dynamicTarget":"disabled",
		"activation":{"rules":%s}%s}`, name, name, name, rules, extra)
}

// settingsJSON wraps queues into a settings document.
func settingsJSON(queues ...string) string {
	return `{"queues":[` + strings.Join(queues, ",") + `]}`
}

// hashHex is Python's QueueFairAdapter.hash written plainly, for signing test passes.
func hashHex(secret, message string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(message))
	return hex.EncodeToString(m.Sum(nil))
}

// pathOf is Python's Path branch, step by step, for tests.
func pathOf(u string) string { return pathAfter(u, domainOf(u)) }

// passToken builds a signed pass (Passed String or Passed Cookie body) for queue q at ts.
func passToken(secret, ua, q string, ts int64) string {
	body := fmt.Sprintf("qfqid=8f14e45f-ceea-467a-9575-4f0c1e2d3b6a&qfts=%d&qfa=shopco&qfq=%s&qfpt=SafeGuard&", ts, q)
	return body + "qfh=" + hashHex(secret, processIdentifier(ua)+body)
}

// adapterURL is the adapter-server URL the adapter asks for queue q with the test IP and UA.
func adapterURL(q string) string {
	return "https://adapter.queue-fair.net/adapter/" + q + "?ipaddress=" + urlencode(testIP) + "&identifier=" + urlencode(testUA)
}

// oracle is testdata/python-oracle.json: inputs of ours run through the Python reference and
// urllib, and what they returned.
type oracle struct {
	Components []struct {
		URL, Domain, Path, Query string
	} `json:"components"`
	ParseQS []struct {
		S   string  `json:"s"`
		QFH *string `json:"qfh"`
		QSp *string `json:"q fh"`
	} `json:"parse_qs"`
	Unquote []struct {
		S       string `json:"s"`
		Unquote string `json:"unquote"`
	} `json:"unquote"`
	Identifier []struct {
		UA string `json:"ua"`
		ID string `json:"id"`
	} `json:"identifier"`
}

// loadOracle reads testdata/python-oracle.json.
func loadOracle(t *testing.T) oracle {
	t.Helper()
	data, err := os.ReadFile("testdata/python-oracle.json")
	if err != nil {
		t.Fatal(err)
	}
	var o oracle
	if err := json.Unmarshal(data, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func mustEqual[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// nilIfEmpty makes an empty slice nil, so that reflect.DeepEqual takes none and [] as equal.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// contextWithCancelled returns a context that has already ended.
func contextWithCancelled() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx, cancel
}

// site runs a protected net/http site on httptest (https when useTLS): every path serves
// "protected content" behind g.Handler. It closes when the test ends.
func site(t *testing.T, g *Gate, useTLS bool) *httptest.Server {
	t.Helper()
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "protected content") })
	var s *httptest.Server
	if useTLS {
		s = httptest.NewTLSServer(g.Handler(page))
	} else {
		s = httptest.NewServer(g.Handler(page))
	}
	t.Cleanup(s.Close)
	return s
}

// get requests rawURL without following redirects.
func get(t *testing.T, client *http.Client, rawURL string, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", rawURL, nil)
	req.Header.Set("User-Agent", testUA)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
