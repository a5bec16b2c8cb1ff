package queuefair

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
)

// vector is one conformance scenario recorded from the Python reference (see
// testdata/conformance/README.md).
type vector struct {
	Name   string `json:"name"`
	Config struct {
		Account                          string          `json:"account"`
		AccountSecret                    string          `json:"accountSecret"`
		AdapterMode                      string          `json:"adapterMode"`
		StripPassedString                bool            `json:"stripPassedString"`
		QueryTimeLimitSeconds            int             `json:"queryTimeLimitSeconds"`
		SettingsFileCacheLifetimeMinutes int             `json:"settingsFileCacheLifetimeMinutes"`
		Debug                            json.RawMessage `json:"debug"`
	} `json:"config"`
	Now      int64           `json:"now"`
	Settings json.RawMessage `json:"settings"`
	Request  struct {
		URL       string            `json:"url"`
		UserAgent string            `json:"userAgent"`
		RemoteIP  string            `json:"remoteIP"`
		Cookies   map[string]string `json:"cookies"`
		Extra     *string           `json:"extra"`
	} `json:"request"`
	AdapterResponses map[string]json.RawMessage `json:"adapterResponses"`
	Expect           *expectation               `json:"expect"`
	SpecExpect       *expectation               `json:"specExpect"`
}

type expectation struct {
	Outcome  string    `json:"outcome"`
	Continue bool      `json:"continue"`
	Calls    []call    `json:"calls"`
	Fetches  []string  `json:"fetches"`
	Sleeps   []float64 `json:"sleeps"`
}

// outcome is the reference's outcome: "ok", or "exception:Type" where it raised.
func (e *expectation) outcome() string {
	if e == nil {
		return ""
	}
	return e.Outcome
}

// conformanceDirs are the folders whose *.json scenarios TestConformance runs: the project's
// copy, the scenarios recorded with testdata/recorded/record.py, the shared originals when
// they sit beside the checkout, and any folders listed in QUEUEFAIR_CONFORMANCE_DIRS (for
// scenarios recorded elsewhere from the Python reference).
func conformanceDirs() []string {
	dirs := []string{
		filepath.Join("testdata", "conformance"),
		filepath.Join("testdata", "recorded"),
		filepath.Join("..", "shared", "testdata", "conformance"),
	}
	return append(dirs, filepath.SplitList(os.Getenv("QUEUEFAIR_CONFORMANCE_DIRS"))...)
}

func loadVectors(t testing.TB) map[string]vector {
	t.Helper()
	out := map[string]vector{}
	for _, dir := range conformanceDirs() {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var v vector
			if err := json.Unmarshal(data, &v); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if v.Name == "" {
				v.Name = strings.TrimSuffix(filepath.Base(f), ".json")
			}
			out[v.Name] = v // the shared copy wins: it is the newest
		}
	}
	return out
}

// vectorNames are the names of vectors, sorted, so that scenarios run in the same order.
func vectorNames(vectors map[string]vector) []string {
	names := make([]string, 0, len(vectors))
	for n := range vectors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TestConformance runs every recorded scenario: same decision, same Service calls in the same
// order, same URLs fetched, same pauses. specExpect, where present, replaces expect.
func TestConformance(t *testing.T) {
	vectors := loadVectors(t)
	if len(vectors) < 380 {
		t.Fatalf("found %d conformance scenarios, want the 100+ in testdata/conformance and the 280+ in testdata/recorded", len(vectors))
	}
	names := vectorNames(vectors)
	for _, name := range names {
		v := vectors[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runVector(t, v)
		})
	}
}

func runVector(t *testing.T, v vector) {
	want := v.want()
	r, err := vectorRig(t, v)
	if err != nil { // a bad account: the program keeps a nil Gate, which lets every page run
		t.Logf("New refused the config (%v): running with a nil Gate", err)
	}
	extra := ""
	if v.Request.Extra != nil {
		extra = *v.Request.Extra
	}
	rec := newRecorder(v.Request.Cookies)
	got := r.gate.NewAdapter(rec, v.Request.URL, v.Request.UserAgent, v.Request.RemoteIP, extra).IsContinue(context.Background())
	if r.gate != nil {
		r.gate.store.inFlight.Wait()
	}

	if got != want.Continue {
		t.Errorf("continue = %v, want %v", got, want.Continue)
	}
	if !reflect.DeepEqual(nilIfEmpty(rec.calls), nilIfEmpty(want.Calls)) {
		t.Errorf("calls:\n got %v\nwant %v", rec.calls, want.Calls)
	}
	if fetched := r.stub.urls(); !reflect.DeepEqual(nilIfEmpty(fetched), nilIfEmpty(want.Fetches)) {
		t.Errorf("fetches:\n got %q\nwant %q", fetched, want.Fetches)
	}
	if s := r.sleeps.seconds(); !reflect.DeepEqual(nilIfEmpty(s), nilIfEmpty(want.Sleeps)) {
		t.Errorf("sleeps = %v, want %v", s, want.Sleeps)
	}
	if t.Failed() {
		t.Logf("log:\n%s", r.logs.String())
	}
}

// want is the scenario's expectation: specExpect where the reference crashed, else expect.
func (v vector) want() *expectation {
	if v.SpecExpect != nil {
		return v.SpecExpect
	}
	return v.Expect
}

// vectorRig is a rig configured, clocked and served as the scenario was; its Gate is nil when
// New refuses the scenario's config (err says why).
func vectorRig(t *testing.T, v vector) (*rig, error) {
	r, err := newRigOrError(t, func(c *Config) {
		c.Account = v.Config.Account
		c.AccountSecret = v.Config.AccountSecret
		c.AdapterMode = v.Config.AdapterMode
		c.StripPassedString = v.Config.StripPassedString
		c.QueryTimeLimitSeconds = v.Config.QueryTimeLimitSeconds
		c.SettingsFileCacheLifetimeMinutes = v.Config.SettingsFileCacheLifetimeMinutes
		var dbg any
		_ = json.Unmarshal(v.Config.Debug, &dbg)
		switch d := dbg.(type) {
		case bool:
			c.Debug = d
		case string:
			c.DebugIP = d
		}
	})
	if err != nil {
		r.gate = nil
	} else {
		r.clock = newClock(v.Now)
		r.gate.now = r.clock.Now
	}
	settingsURL := "https://files.queue-fair.net/" + v.Config.Account + "/" + v.Config.AccountSecret + "/queue-fair-settings.json"
	if len(v.Settings) > 0 && string(v.Settings) != "null" {
		r.stub.json(settingsURL, string(v.Settings))
	}
	for u, body := range v.AdapterResponses {
		if len(body) > 0 && string(body) != "null" {
			r.stub.json(u, string(body))
		}
	}
	return r, err
}

// TestConformanceThroughCheck runs every scenario a second time through Gate.Check, from an
// http.Request built as a browser would send it (URL, User-Agent, RemoteAddr, Cookie header,
// TLS for https), and compares what reaches the wire: the decision, the status, the Location,
// the Set-Cookie names and values (and which are deletions) and Cache-Control. Scenarios are
// skipped only where a browser could not send the URL as recorded: a scheme other than http
// or https, a fragment, an unparsable URL, or a path that is not in the form the server would
// rebuild it (AbsoluteURL), such as a raw ';' or non-ASCII byte.
func TestConformanceThroughCheck(t *testing.T) {
	vectors := loadVectors(t)
	names := vectorNames(vectors)
	ran := 0
	for _, name := range names {
		v := vectors[name]
		req, why := vectorRequest(v)
		if req == nil {
			t.Logf("%s: skipped: %s", name, why)
			continue
		}
		ran++
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runVectorThroughCheck(t, v, req)
		})
	}
	if ran < len(vectors)/2 {
		t.Errorf("only %d of %d scenarios could run through Check", ran, len(vectors))
	}
}

// vectorRequest is the request a browser would send for the scenario, or nil and why not.
func vectorRequest(v vector) (*http.Request, string) {
	u, err := url.Parse(v.Request.URL)
	switch {
	case err != nil:
		return nil, "URL does not parse"
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, "scheme " + u.Scheme
	case u.Fragment != "" || strings.Contains(v.Request.URL, "#"):
		return nil, "fragment"
	case strings.IndexFunc(v.Request.URL, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0:
		return nil, "a byte a browser would percent-encode"
	case u.Host == "" || u.User != nil:
		return nil, "no host, or user info"
	case AbsoluteURL(u.Scheme, u.Host, u.Path, u.RawQuery) != v.Request.URL:
		return nil, "URL is not in the form a server rebuilds"
	case strings.ContainsAny(v.Request.UserAgent, "\r\n\x00"):
		return nil, "User-Agent a browser cannot send"
	case net.ParseIP(v.Request.RemoteIP) == nil:
		return nil, "remote address is not an IP"
	}
	req := httptest.NewRequest("GET", v.Request.URL, nil)
	req.RemoteAddr = net.JoinHostPort(v.Request.RemoteIP, "50000")
	if v.Request.UserAgent != "" {
		req.Header.Set("User-Agent", v.Request.UserAgent)
	}
	names := make([]string, 0, len(v.Request.Cookies))
	for n := range v.Request.Cookies {
		names = append(names, n)
	}
	sort.Strings(names)
	var line []string
	for _, n := range names {
		if strings.ContainsAny(n+v.Request.Cookies[n], ";\r\n\x00") || strings.ContainsAny(n, "= ") {
			return nil, "a cookie a browser cannot send"
		}
		line = append(line, n+"="+v.Request.Cookies[n])
	}
	if len(line) > 0 {
		req.Header.Set("Cookie", strings.Join(line, "; "))
	}
	return req, ""
}

func runVectorThroughCheck(t *testing.T, v vector, req *http.Request) {
	want := v.want()
	if v.Request.Extra != nil && *v.Request.Extra != "" {
		t.Skip("Check passes no extra; CheckExtra is tested on its own")
	}
	r, err := vectorRig(t, v)
	if err != nil {
		t.Logf("New refused the config (%v): running with a nil Gate", err)
	}
	w := httptest.NewRecorder()
	got := r.gate.Check(w, req)
	if r.gate != nil {
		r.gate.store.inFlight.Wait()
	}
	if got != want.Continue {
		t.Errorf("continue = %v, want %v", got, want.Continue)
	}
	var wantLoc, wantCC string
	var wantCookies []string
	for _, c := range want.Calls {
		switch c.Op {
		case "redirect":
			wantLoc = c.Location
		case "addHeader":
			wantCC = c.Value
		case "setCookie":
			wantCookies = append(wantCookies, wireCookie(c.Name, cookieSafe(c.Value), c.LifetimeSeconds <= 0))
		}
	}
	resp := w.Result()
	var gotCookies []string
	for _, c := range resp.Cookies() {
		gotCookies = append(gotCookies, wireCookie(c.Name, c.Value, c.MaxAge < 0))
	}
	if !reflect.DeepEqual(gotCookies, wantCookies) {
		t.Errorf("Set-Cookie:\n got %q\nwant %q", gotCookies, wantCookies)
	}
	mustEqual(t, "Location", resp.Header.Get("Location"), wantLoc)
	mustEqual(t, "Cache-Control", resp.Header.Get("Cache-Control"), wantCC)
	wantStatus := http.StatusOK
	if !want.Continue {
		wantStatus = http.StatusFound
	}
	mustEqual(t, "status", resp.StatusCode, wantStatus)
	if t.Failed() {
		t.Logf("request %s %q cookies %q\nlog:\n%s", req.Method, req.URL, req.Header.Get("Cookie"), r.logs.String())
	}
}

// wireCookie is a Set-Cookie as a comparable string.
func wireCookie(name, value string, deleted bool) string {
	if deleted {
		return name + " deleted"
	}
	return name + "=" + value
}

// TestConformanceDryRun runs every scenario twice more: live, and with Config.DryRun. The live
// run makes the reference's calls (TestConformance), so its Decision is the reference's
// decision in this package's terms, and it must agree with those calls. The dry run must then
// send nothing to the visitor (no Service call but GetCookie, no pause, no adapter-server call,
// the page runs) and report the same Decision; where the live run asked the adapter server,
// the dry run reports OutcomeWouldConsult for the first queue it would have asked about.
func TestConformanceDryRun(t *testing.T) {
	vectors := loadVectors(t)
	names := vectorNames(vectors)
	seen := map[Outcome]int{}
	var mu sync.Mutex
	t.Run("all", func(t *testing.T) {
		for _, name := range names {
			v := vectors[name]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				live := runDecision(t, v, false)
				mu.Lock()
				seen[live.d.Outcome]++
				mu.Unlock()
				checkLiveDecision(t, v, live)
				dry := runDecision(t, v, true)
				if !dry.cont {
					t.Errorf("dry run: the page did not run")
				}
				if len(dry.calls) != 0 || len(dry.sleeps) != 0 {
					t.Errorf("dry run: calls %v, sleeps %v", dry.calls, dry.sleeps)
				}
				if len(dry.fetches) > 1 || len(dry.fetches) == 1 && !strings.HasSuffix(dry.fetches[0], "/queue-fair-settings.json") {
					t.Errorf("dry run fetched %q", dry.fetches)
				}
				want := live.d
				want.DryRun = true
				if q := firstConsulted(live.fetches); q != "" {
					want = Decision{Outcome: OutcomeWouldConsult, Queue: q, Rule: dry.d.Rule, Continue: true, DryRun: true, CookieDeleted: dry.d.CookieDeleted}
				}
				dry.d.Duration, want.Duration = 0, 0
				if live.gateNil {
					want.DryRun = false // New refused the config: there is no Gate to be dry
				}
				if dry.d != want {
					t.Errorf("dry-run decision %+v, want %+v", dry.d, want)
				}
			})
		}
	})
	for _, o := range []Outcome{OutcomeNoMatch, OutcomePassedCookie, OutcomePassedString, OutcomeSafeGuard, OutcomeSentToQueue, OutcomeInvalidQuery, OutcomeFailedOpen} {
		if seen[o] == 0 {
			t.Errorf("no scenario ended in %v", o)
		}
	}
	t.Logf("live outcomes: %v", seen)
}

// decided is one run of a scenario with its Decision.
type decided struct {
	d       Decision
	cont    bool
	calls   []call
	fetches []string
	sleeps  []float64
	gateNil bool
}

// runDecision runs scenario v through IsContinue, with Config.DryRun set to dry.
func runDecision(t *testing.T, v vector, dry bool) decided {
	r, err := vectorRig(t, v)
	if err == nil {
		r.gate.cfg.DryRun = dry
	}
	extra := ""
	if v.Request.Extra != nil {
		extra = *v.Request.Extra
	}
	rec := newRecorder(v.Request.Cookies)
	a := r.gate.NewAdapter(rec, v.Request.URL, v.Request.UserAgent, v.Request.RemoteIP, extra)
	cont := a.IsContinue(context.Background())
	if r.gate != nil {
		r.gate.store.inFlight.Wait()
	}
	return decided{d: a.Decision(), cont: cont, calls: rec.calls, fetches: r.stub.urls(), sleeps: r.sleeps.seconds(), gateNil: r.gate == nil}
}

// checkLiveDecision holds a live run's Decision to the reference's calls where they settle it.
func checkLiveDecision(t *testing.T, v vector, live decided) {
	want := v.want()
	if live.d.Continue != want.Continue {
		t.Errorf("Decision.Continue = %v, the reference's page ran: %v", live.d.Continue, want.Continue)
	}
	var redirect string
	passSet, deleted := false, false
	for _, c := range want.Calls {
		switch {
		case c.Op == "redirect":
			redirect = c.Location
		case c.Op == "setCookie" && strings.HasPrefix(c.Name, CookieNameBase) && c.LifetimeSeconds > 0:
			passSet = true
		case c.Op == "setCookie" && strings.HasPrefix(c.Name, CookieNameBase):
			deleted = true
		}
	}
	o := live.d.Outcome
	switch {
	case live.gateNil:
		if o != OutcomeNoMatch || !live.d.Continue {
			t.Errorf("nil Gate: decision %+v", live.d)
		}
	case strings.Contains(redirect, "qfError=InvalidQuery"):
		mustEqual(t, "outcome", o, OutcomeInvalidQuery)
	case redirect != "" && passSet && strings.HasPrefix(v.Request.URL, redirect):
		if o != OutcomePassedString && o != OutcomeSafeGuard {
			t.Errorf("a pass was set, then the strip redirect: outcome %v", o)
		}
	case redirect != "":
		mustEqual(t, "outcome", o, OutcomeSentToQueue)
	case strings.HasPrefix(v.Expect.outcome(), "exception") && !passSet:
		if o != OutcomeFailedOpen && o != OutcomeSentToQueue {
			t.Errorf("the reference raised: outcome %v", o)
		}
	}
	if deleted != live.d.CookieDeleted && !live.gateNil {
		t.Errorf("Decision.CookieDeleted = %v, the reference deleted a cookie: %v", live.d.CookieDeleted, deleted)
	}
}

// firstConsulted is the queue of the first adapter-server URL among fetches, or "".
func firstConsulted(fetches []string) string {
	for _, f := range fetches {
		if _, rest, ok := strings.Cut(f, "/adapter/"); ok {
			q, _, _ := strings.Cut(rest, "?")
			return q
		}
	}
	return ""
}
