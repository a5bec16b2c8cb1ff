package queuefair

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// decisionCase is one request whose Decision is known.
type decisionCase struct {
	name     string
	edit     func(*Config)
	settings string            // "" = the download fails
	adapter  map[string]string // adapter URL -> answer
	url      string
	cookies  map[string]string
	want     Decision
}

func decisionCases() []decisionCase {
	pass := passToken("sec-q", testUA, "q", testNow-30)
	q := settingsJSON(queueJSON("q", "", ""))
	simple := func(c *Config) { c.AdapterMode = ModeSimple }
	rule2 := `[{"operator":null,"component":"Path","match":"Contain","value":"/shop","caseSensitive":false,"negate":false},
		{"operator":"And","component":"Path","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false}]`
	return []decisionCase{
		{"no settings", nil, "", nil, checkoutURL, nil,
			Decision{Outcome: OutcomeFailedOpen, Reason: ReasonNoSettings, Continue: true}},
		{"no match", nil, q, nil, "https://shop.example.com/home", nil,
			Decision{Outcome: OutcomeNoMatch, Continue: true}},
		{"passed cookie", nil, q, nil, checkoutURL, map[string]string{"QueueFair-Pass-q": pass},
			Decision{Outcome: OutcomePassedCookie, Queue: "q", Rule: 1, Continue: true}},
		{"passed string", nil, q, nil, checkoutURL + "?" + pass, nil,
			Decision{Outcome: OutcomePassedString, Queue: "q", Continue: false}},
		{"passed string, not stripped", func(c *Config) { c.StripPassedString = false }, q, nil, checkoutURL + "?" + pass, nil,
			Decision{Outcome: OutcomePassedString, Queue: "q", Continue: true}},
		{"safeguard", nil, q, map[string]string{adapterURL("q"): `{"action":"SafeGuard","queue":"q","validation":"` + url.QueryEscape(pass) + `"}`}, checkoutURL, nil,
			Decision{Outcome: OutcomeSafeGuard, Queue: "q", Rule: 1, Continue: true}},
		{"cleared", nil, q, map[string]string{adapterURL("q"): `{"action":"CLEAR","queue":"q"}`}, checkoutURL, nil,
			Decision{Outcome: OutcomeCleared, Queue: "q", Rule: 1, Continue: true}},
		{"sent to queue, safe", nil, q, map[string]string{adapterURL("q"): `{"action":"SendToQueue","location":"https://q.example/q"}`}, checkoutURL, nil,
			Decision{Outcome: OutcomeSentToQueue, Queue: "q", Rule: 1}},
		{"sent to queue, simple, second rule decides", simple, settingsJSON(queueJSON("q", rule2, "")), nil, "https://shop.example.com/shop/checkout", nil,
			Decision{Outcome: OutcomeSentToQueue, Queue: "q", Rule: 2}},
		{"passed string rejected", nil, q, nil, checkoutURL + "?" + passToken("wrong", testUA, "q", testNow), nil,
			Decision{Outcome: OutcomeInvalidQuery, Queue: "q"}},
		{"cookie rejected, then queued", simple, q, nil, checkoutURL, map[string]string{"QueueFair-Pass-q": strings.Replace(pass, "qfa=", "qfb=", 1)},
			Decision{Outcome: OutcomeSentToQueue, Queue: "q", Rule: 1, CookieDeleted: true}},
		{"adapter down", nil, q, nil, checkoutURL, nil,
			Decision{Outcome: OutcomeFailedOpen, Reason: ReasonAdapterDown, Queue: "q", Rule: 1, Continue: true}},
		{"malformed answer", nil, q, map[string]string{adapterURL("q"): `[1,"uid"]`}, checkoutURL, nil,
			Decision{Outcome: OutcomeFailedOpen, Reason: ReasonBadAnswer, Queue: "q", Rule: 1, Continue: true}},
		{"answer without action", nil, q, map[string]string{adapterURL("q"): `{"uid":"u","cookieSeconds":5}`}, checkoutURL, nil,
			Decision{Outcome: OutcomeFailedOpen, Reason: ReasonNoAction, Queue: "q", Rule: 1, Continue: true}},
		{"malformed rule", nil, settingsJSON(queueJSON("q", `[{"operator":null,"component":"Path","value":"/checkout","caseSensitive":true,"negate":false}]`, "")), nil, checkoutURL, nil,
			Decision{Outcome: OutcomeFailedOpen, Reason: ReasonBadSettings, Queue: "q", Rule: 1, Continue: true}},
	}
}

func (c decisionCase) rig(t *testing.T, edit func(*Config)) *rig {
	r := newRig(t, func(cfg *Config) {
		if c.edit != nil {
			c.edit(cfg)
		}
		if edit != nil {
			edit(cfg)
		}
	})
	if c.settings != "" {
		r.stub.json(testSettings, c.settings)
	}
	for u, body := range c.adapter {
		r.stub.json(u, body)
	}
	return r
}

// TestDecisionOutcomes produces every outcome through IsContinue and through Gate.Check (with
// OnDecision), and checks the Decision each reports.
func TestDecisionOutcomes(t *testing.T) {
	for _, c := range decisionCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Run("IsContinue", func(t *testing.T) {
				r := c.rig(t, nil)
				a := r.gate.NewAdapter(newRecorder(c.cookies), c.url, testUA, testIP, "")
				cont := a.IsContinue(context.Background())
				mustEqual(t, "IsContinue", cont, c.want.Continue)
				mustEqual(t, "Decision", a.Decision(), c.want)
			})
			// Every net/http entry point reports the request once.
			for _, via := range []string{"Check", "CheckExtra", "Handler"} {
				t.Run(via, func(t *testing.T) {
					var got []Decision
					r := c.rig(t, func(cfg *Config) {
						cfg.OnDecision = func(_ context.Context, d Decision) { got = append(got, d) }
					})
					req := httptest.NewRequest("GET", c.url, nil)
					req.Header.Set("User-Agent", testUA)
					req.RemoteAddr = testIP + ":5000"
					for k, v := range c.cookies {
						req.AddCookie(&http.Cookie{Name: k, Value: v})
					}
					var cont bool
					switch via {
					case "Check":
						cont = r.gate.Check(httptest.NewRecorder(), req)
					case "CheckExtra":
						cont = r.gate.CheckExtra(httptest.NewRecorder(), req, "")
					case "Handler":
						r.gate.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { cont = true })).ServeHTTP(httptest.NewRecorder(), req)
					}
					mustEqual(t, via, cont, c.want.Continue)
					if len(got) != 1 {
						t.Fatalf("OnDecision called %d times", len(got))
					}
					if got[0].Duration <= 0 {
						t.Errorf("Duration %v", got[0].Duration)
					}
					got[0].Duration = 0
					mustEqual(t, "Decision", got[0], c.want)
				})
			}
		})
	}
}

// TestDecisionCheckCookie: the hybrid model reports passed_cookie or cookie_rejected.
func TestDecisionCheckCookie(t *testing.T) {
	var got []Decision
	r := newRig(t, func(c *Config) {
		c.OnDecision = func(_ context.Context, d Decision) { got = append(got, d.withoutDuration()) }
	})
	for _, cookie := range []string{passToken("sec-q", testUA, "q", testNow), "junk", ""} {
		req := httptest.NewRequest("GET", checkoutURL, nil)
		req.Header.Set("User-Agent", testUA)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "QueueFair-Pass-q", Value: cookie})
		}
		w := httptest.NewRecorder()
		r.gate.CheckCookie(w, req, "q", "sec-q", 20)
		// As in the reference, a failed Passed Cookie is not deleted here: the visitor is
		// sent to the InvalidCookie page, which the queue server serves.
		if sc := w.Header().Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("cookie %q: Set-Cookie %q", cookie, sc)
		}
	}
	want := []Decision{{Outcome: OutcomePassedCookie, Queue: "q", Continue: true}, {Outcome: OutcomeCookieRejected, Queue: "q"}, {Outcome: OutcomeCookieRejected, Queue: "q"}}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("decisions %+v, want %+v", got, want)
	}
}

func (d Decision) withoutDuration() Decision { d.Duration = 0; return d }

// TestOnDecisionPanicRecovered: a panicking hook is logged; the page's answer stands.
func TestOnDecisionPanicRecovered(t *testing.T) {
	r := newRig(t, func(c *Config) { c.OnDecision = func(context.Context, Decision) { panic("metrics down") } })
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	r.stub.json(adapterURL("q"), `{"action":"SendToQueue","location":"https://q.example/q"}`)
	ok, calls := r.run(checkoutURL, nil)
	if ok || len(calls) != 2 {
		t.Errorf("continue %v, calls %v", ok, calls)
	}
	if !strings.Contains(r.logs.String(), "OnDecision panicked") {
		t.Errorf("no warning:\n%s", r.logs.String())
	}
}

// TestOnDecisionConcurrent: the hook runs on each request's goroutine, once per request, and
// holds no lock of the Gate's (it may take its time without stalling other requests).
func TestOnDecisionConcurrent(t *testing.T) {
	var mu sync.Mutex
	n := 0
	release := make(chan struct{})
	r := newRig(t, func(c *Config) {
		c.OnDecision = func(ctx context.Context, d Decision) {
			if ctx.Value(ctxKey{}) == "slow" {
				<-release // a slow hook on one request
			}
			mu.Lock()
			n++
			mu.Unlock()
		}
	})
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	r.run("https://shop.example.com/home", nil) // settings loaded
	done := make(chan struct{})
	go func() {
		r.gate.NewAdapter(newRecorder(nil), "https://shop.example.com/home", testUA, testIP, "").IsContinue(context.WithValue(context.Background(), ctxKey{}, "slow"))
		close(done)
	}()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.gate.NewAdapter(newRecorder(nil), "https://shop.example.com/home", testUA, testIP, "").IsContinue(context.Background())
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("other requests waited for a slow hook")
	}
	close(release)
	<-done
	mu.Lock()
	defer mu.Unlock()
	mustEqual(t, "hook calls", n, 52)
}

type ctxKey struct{}

// TestDryRun: with DryRun the adapter decides as usual but sends the visitor nothing, calls no
// adapter server and never pauses; the page always runs.
func TestDryRun(t *testing.T) {
	for _, c := range decisionCases() {
		t.Run(c.name, func(t *testing.T) {
			var hooked []Decision
			r := c.rig(t, func(cfg *Config) {
				cfg.DryRun = true
				cfg.OnDecision = func(_ context.Context, d Decision) { hooked = append(hooked, d.withoutDuration()) }
			})
			rec := newRecorder(c.cookies)
			a := r.gate.NewAdapter(rec, c.url, testUA, testIP, "")
			if !a.IsContinue(context.Background()) {
				t.Error("the page did not run")
			}
			if len(rec.calls) != 0 || len(r.sleeps.seconds()) != 0 {
				t.Errorf("calls %v, sleeps %v", rec.calls, r.sleeps.seconds())
			}
			for _, f := range r.stub.urls() {
				if strings.Contains(f, "/adapter/") {
					t.Errorf("asked the adapter server: %s", f)
				}
			}
			want := c.want
			want.DryRun = true
			if len(c.adapter) > 0 || c.name == "adapter down" {
				want = Decision{Outcome: OutcomeWouldConsult, Queue: "q", Rule: 1, Continue: true, DryRun: true}
			}
			mustEqual(t, "Decision", a.Decision(), want)
			if len(hooked) != 1 || hooked[0] != want {
				t.Errorf("hook got %+v", hooked)
			}
		})
	}
}

// TestDecisionHookAllocations: with OnDecision set, W1-W4 allocate at most one more time each
// (the README reports the figures; without a hook TestHotPathAllocations pins them).
func TestDecisionHookAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	g := benchGate(t)
	counts := map[Outcome]int{}
	g.cfg.OnDecision = func(_ context.Context, d Decision) { counts[d.Outcome]++ }
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		w    workload
		base float64
	}{{"W1", w1(), 0}, {"W2", w2(unixNow()), 0}, {"W3", w3(unixNow()), 0}, {"W4", w4(), 1}} {
		svc := noopService{cookies: tt.w.cookies}
		allocs := testing.AllocsPerRun(200, func() { g.NewAdapter(svc, tt.w.url, benchUA, testIP, "").IsContinue(ctx) })
		if allocs > tt.base+1 {
			t.Errorf("%s with a hook: %v allocations, want at most %v", tt.name, allocs, tt.base+1)
		}
		t.Logf("%s with a hook: %v allocations", tt.name, allocs)
	}
}

// TestDecisionAdapterSkipped: while the adapter server is skipped after a failure, the
// decision says adapter_down, and with QueueWhenAdapterDown sent_to_queue.
func TestDecisionAdapterSkipped(t *testing.T) {
	for _, queue := range []bool{false, true} {
		r := newRig(t, func(c *Config) { c.QueueWhenAdapterDown = queue })
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		r.run(checkoutURL, nil) // the adapter server fails: the back-off starts
		a := r.gate.NewAdapter(newRecorder(nil), checkoutURL, testUA, testIP, "")
		a.IsContinue(context.Background())
		want := Decision{Outcome: OutcomeFailedOpen, Reason: ReasonAdapterDown, Queue: "q", Rule: 1, Continue: true}
		if queue {
			want = Decision{Outcome: OutcomeSentToQueue, Queue: "q", Rule: 1}
		}
		mustEqual(t, "Decision", a.Decision(), want)
		mustEqual(t, "adapter calls", len(r.stub.urls()), 2)
	}
}

// TestOutcomeAndReasonNames: the names Outcome and Reason give, which the README tells
// operators to graph, are pinned here; a value past the last is "unknown".
func TestOutcomeAndReasonNames(t *testing.T) {
	outcomes := map[Outcome]string{
		OutcomeNoMatch: "no_match", OutcomePassedCookie: "passed_cookie", OutcomePassedString: "passed_string",
		OutcomeSafeGuard: "safeguard", OutcomeCleared: "cleared", OutcomeSentToQueue: "sent_to_queue",
		OutcomeInvalidQuery: "passed_string_rejected", OutcomeCookieRejected: "cookie_rejected",
		OutcomeWouldConsult: "would_consult", OutcomeFailedOpen: "failed_open", OutcomeFailedOpen + 1: "unknown",
	}
	for o, name := range outcomes {
		mustEqual(t, "outcome", o.String(), name)
	}
	reasons := map[Reason]string{
		ReasonNone: "", ReasonNoSettings: "no_settings", ReasonBadSettings: "bad_settings", ReasonAdapterDown: "adapter_down",
		ReasonBadAnswer: "bad_answer", ReasonNoAction: "no_action", ReasonPanic: "panic", ReasonPanic + 1: "unknown",
	}
	for r, name := range reasons {
		mustEqual(t, "reason", r.String(), name)
	}
}
