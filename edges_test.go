package queuefair

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The edges in this file are ones that mutation testing found no test holding: changing the
// code there (a deleted break, an off-by-one, an inverted check) left the suite passing.

// compileRules reads a rules list as parseRules does from a settings document.
func compileRules(t *testing.T, list string) ([]rule, bool) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(list), &v); err != nil {
		t.Fatal(err)
	}
	return parseRules(v, &patternBudget{})
}

// TestIsMatchArrayEdges: how isMatchArray settles a state, as Python's loop does.
func TestIsMatchArrayEdges(t *testing.T) {
	path := func(op, value string) string {
		return `{"operator":` + op + `,"component":"Path","match":"Contain","value":"` + value + `","caseSensitive":false,"negate":false}`
	}
	for _, tt := range []struct {
		name, rules string
		cookies     map[string]string
		match       bool
		err         bool
		rule        int // the rule that settled it
	}{
		// A false And ends the loop: a later Or that matches is never read.
		{"true And false Or true", "[" + path("null", "/checkout") + "," + path(`"And"`, "zzz") + "," + path(`"Or"`, "/checkout") + "]", nil, false, false, 2},
		// A true state before an Or decides at once: the broken rule after it is never read.
		{"true Or broken", "[" + path("null", "/checkout") + `,{"operator":"Or","match":"Contain","value":"x","caseSensitive":false,"negate":false}]`, nil, true, false, 1},
		// A Contain whose value is not text, on an empty component: no match, then negated.
		{"odd rule negated", `[{"operator":null,"component":"Query","match":"Contain","value":5,"caseSensitive":true,"negate":true}]`, nil, true, false, 1},
		// Python's value.lower() on null raises when the rule is reached.
		{"null value, case-insensitive", `[{"operator":null,"component":"Path","match":"Exist","value":null,"caseSensitive":false,"negate":false}]`, nil, false, true, 1},
		// A cookie rule named by a number names no cookie, not the cookie "".
		{"cookie named 5", `[{"operator":null,"component":"Cookie","name":5,"match":"Exist","value":"","caseSensitive":false,"negate":false}]`, map[string]string{"": "x", "5": "x"}, false, false, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rules, has := compileRules(t, tt.rules)
			a := (&Gate{}).NewAdapter(newRecorder(tt.cookies), checkoutURL, testUA, testIP, "")
			m, err := a.isMatchArray(rules, has)
			mustEqual(t, "match", m, tt.match)
			mustEqual(t, "error", err != nil, tt.err)
			mustEqual(t, "settled by rule", a.rule, tt.rule)
		})
	}
}

// TestCookieAndServiceValueEdges: a cookie's name is matched whole, a lone quote is a value,
// and the fast paths of the value cleaners drop what the slow ones drop.
func TestCookieAndServiceValueEdges(t *testing.T) {
	for _, tt := range []struct{ header, want string }{
		{"xQueueFair-Pass-q=forged", ""},
		{"a=1; xQueueFair-Pass-q=forged; QueueFair-Pass-q=real", "real"},
		{`QueueFair-Pass-q="`, `"`},
		{`QueueFair-Pass-q=""`, ""},
	} {
		mustEqual(t, "cookie from "+tt.header, cookieValue(http.Header{"Cookie": {tt.header}}, "QueueFair-Pass-q"), tt.want)
	}
	mustEqual(t, "cookieSafe", cookieSafe("abcdefg;hijklmnopq"), "abcdefghijklmnopq")
	mustEqual(t, "headerSafe", headerSafe("a\x00b"), "ab")
	mustEqual(t, "headerSafe, long", headerSafe("abcdefgh\x00ijklmnop\r\n"), "abcdefghijklmnop")
}

// TestRequestPartsQuery: through Check the Query component is the raw query, without its '?'.
func TestRequestPartsQuery(t *testing.T) {
	a := (&Gate{}).NewRequestAdapter(newRecorder(nil), Request{Scheme: "https", Host: "h", Path: "/p", RawQuery: "a=1?b"})
	mustEqual(t, "path", a.path, "/p")
	mustEqual(t, "query", a.query, "a=1?b")
	mustEqual(t, "domain", a.domain, "h")
}

// TestQfqWithoutPassedString: a URL with qfq= but no qfqid= holds no Passed String (Python
// looks for qfqid= first), so the visitor is queued as usual, not sent to InvalidQuery.
func TestQfqWithoutPassedString(t *testing.T) {
	r := newRig(t, nil)
	r.stub.json(testSettings, simpleSettings(1))
	ok, calls := r.run(checkoutURL+"?qfq=q&qfts=1&qfh=00", nil)
	mustEqual(t, "page runs", ok, false)
	if len(calls) == 0 || !strings.HasPrefix(calls[len(calls)-1].Location, "https://v1.example/q?target=") {
		t.Errorf("calls %v, want a redirect to the queue", calls)
	}
}

// TestManyPassedQueues: more queues passed in one request than the Adapter keeps inline.
func TestManyPassedQueues(t *testing.T) {
	r := newRig(t, nil)
	var queues []string
	cookies := map[string]string{}
	for i := 1; i <= 6; i++ {
		n := fmt.Sprintf("q%d", i)
		queues = append(queues, queueJSON(n, "", ""))
		cookies[CookieNameBase+n] = passToken("sec-"+n, testUA, n, testNow)
	}
	r.stub.json(testSettings, settingsJSON(queues...))
	a := r.gate.NewAdapter(newRecorder(cookies), checkoutURL, testUA, testIP, "")
	mustEqual(t, "page runs", a.IsContinue(context.Background()), true)
	mustEqual(t, "outcome", a.Decision().Outcome, OutcomePassedCookie)
	for i := 1; i <= 6; i++ {
		mustEqual(t, fmt.Sprintf("q%d marked", i), a.isMarked(fmt.Sprintf("q%d", i)), true)
	}
}

// TestVariantAndClearEdges: a variant whose rules are malformed is skipped for the next, and a
// CLEAR answer is reported for the queue it names.
func TestVariantAndClearEdges(t *testing.T) {
	s, err := compileSettings([]byte(`{"queues":[{"name":"q","activation":{"rules":[],"variantRules":[{"variant":"v1","rules":"x"},{"variant":"v2","rules":[` +
		`{"operator":null,"component":"Path","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false}]}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	v, ok := (&Gate{}).NewAdapter(newRecorder(nil), checkoutURL, testUA, testIP, "").getVariant(s.queues[0])
	mustEqual(t, "variant", v, "v2")
	mustEqual(t, "found", ok, true)

	r := newRig(t, nil)
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	r.stub.json(adapterURL("q"), `{"action":"CLEAR","queue":"other"}`)
	a := r.gate.NewAdapter(newRecorder(nil), checkoutURL, testUA, testIP, "")
	a.IsContinue(context.Background())
	mustEqual(t, "outcome", a.Decision().Outcome, OutcomeCleared)
	mustEqual(t, "queue", a.Decision().Queue, "other")
}

// TestClearWithStalePassedString: with extra CLEAR, a visitor whose stale Passed String is
// covered by a valid Passed Cookie passes by the cookie, which is cut to 20 seconds; setting it
// strips the Passed String from the URL with a redirect, so the page does not run on this
// request although the Decision says passed_cookie (as OutcomePassedCookie's doc says).
func TestClearWithStalePassedString(t *testing.T) {
	r := newRig(t, nil)
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	cookie := passToken("sec-q", testUA, "q", testNow-30)
	stale := passToken("sec-q", testUA, "q", testNow-3600)
	rec := newRecorder(map[string]string{"QueueFair-Pass-q": cookie})
	a := r.gate.NewAdapter(rec, checkoutURL+"?"+stale, testUA, testIP, ExtraClear)
	mustEqual(t, "page runs", a.IsContinue(context.Background()), false)
	mustEqual(t, "outcome", a.Decision().Outcome, OutcomePassedCookie)
	var cut, stripped bool
	for _, c := range rec.calls {
		cut = cut || c.Op == "setCookie" && c.Name == "QueueFair-Pass-q" && c.Value == cookie && c.LifetimeSeconds == clearedCookieSeconds
		stripped = stripped || c.Op == "redirect" && c.Location == checkoutURL
	}
	if !cut || !stripped {
		t.Errorf("cookie cut to 20 s %v, redirected to the stripped URL %v: calls %v", cut, stripped, rec.calls)
	}
}

// TestAdapterSkipPerHost: a back-off is for its own adapter server only, and once it is over
// one request probes while the next keeps skipping.
func TestAdapterSkipPerHost(t *testing.T) {
	g := newRig(t, nil).gate
	g.outage.Store(&adapterOutage{host: "a", until: g.mono() + time.Hour})
	mustEqual(t, "b skipped for a's outage", skips(g, "b"), false)
	mustEqual(t, "a skipped", skips(g, "a"), true)
	g.outage.Store(&adapterOutage{host: "a", until: g.mono() - 1})
	mustEqual(t, "the first after the back-off probes", skips(g, "a"), false)
	mustEqual(t, "the next keeps skipping", skips(g, "a"), true)

	// A probe given back without an answer: the next request probes.
	g.outage.Store(&adapterOutage{host: "a", until: g.mono() - 1})
	skip, probe := g.adapterSkip("a")
	mustEqual(t, "probes", skip, false)
	g.probeEnded(probe)
	mustEqual(t, "the next probes again", skips(g, "a"), false)
	// A probe whose answer came (adapterAnswered replaced it) is not given back.
	g.outage.Store(&adapterOutage{host: "a", until: g.mono() - 1})
	skip, probe = g.adapterSkip("a")
	g.adapterAnswered(context.Background(), "a", errors.New("down"))
	g.probeEnded(probe)
	mustEqual(t, "probed", skip, false)
	mustEqual(t, "a new back-off", skips(g, "a"), true)
}

// skips is whether g skips the adapter server host (adapterSkip); a probe taken is kept.
func skips(g *Gate, host string) bool {
	skip, _ := g.adapterSkip(host)
	return skip
}

// TestStoreBoundaries: the edges of the store's limits.
func TestStoreBoundaries(t *testing.T) {
	t.Run("a file exactly one lifetime old is stale", func(t *testing.T) {
		r := newRig(t, nil)
		st := r.gate.store
		if err := st.writeFile([]byte(simpleSettings(1)), r.clock.Now().Add(-st.ttl)); err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "adopted", st.adoptFile(), false)
	})
	t.Run("a future-dated file is not fresh", func(t *testing.T) {
		r := newRig(t, nil)
		if err := r.gate.store.writeFile([]byte(simpleSettings(1)), r.clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		r.gate.Load(context.Background())
		mustEqual(t, "fresh", r.gate.Status().Fresh, false)
	})
	t.Run("a lock 1.5 ReadTimeouts old is alive", func(t *testing.T) {
		r := newRig(t, nil)
		st := r.gate.store
		at := r.clock.Now().Add(-3 * r.gate.cfg.ReadTimeout / 2).UnixNano()
		if err := os.WriteFile(st.lock, []byte(fmt.Sprintf("%d %d\n", os.Getpid(), at)), 0o600); err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "stale", st.lockIsStale(), false)
	})
	t.Run("read caps, at the limit and one byte over", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "f")
		for _, n := range []int{10, 11} {
			os.WriteFile(p, make([]byte, n), 0o600)
			_, err := readTrusted(p, 10)
			mustEqual(t, fmt.Sprintf("file of %d bytes refused", n), err != nil, n > 10)
		}
		r := newRig(t, nil)
		for _, n := range []int{100, 101} {
			r.stub.json("https://x.example/a", strings.Repeat(" ", n))
			_, err := r.gate.urlToJSON(context.Background(), "https://x.example/a", 100)
			mustEqual(t, fmt.Sprintf("answer of %d bytes refused", n), err != nil, n > 100)
		}
	})
}

// TestTimestampFieldNames: in a signed text read name by name (one with a '%'), a field named
// qft is not a qfts, nor is qftsx.
func TestTimestampFieldNames(t *testing.T) {
	for _, signed := range []string{"qfqid=a%20b&qft=5&qfts=100&", "qfqid=a%20b&qftsx=5&qfts=100&", "qfqid=a%20b&qf%74s=100&qft=1&"} {
		ts, why := signedTimestamp(signed, false, parseInt)
		mustEqual(t, "timestamp of "+signed, ts, int64(100))
		mustEqual(t, "why", why, "")
	}
}
