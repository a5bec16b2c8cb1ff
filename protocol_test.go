package queuefair

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Features of Queue-Fair's newer adapters (Node, .NET, the edge adapters) that the Python
// reference lacks. Each test feeds settings or an answer shaped as those adapters read them.

// ruleJSON is one activation rule.
func ruleJSON(component, match, value string, caseSensitive, negate bool) string {
	b := map[bool]string{true: "true", false: "false"}
	return `{"operator":null,"component":"` + component + `","match":"` + match + `","value":` + jsonQuote(value) +
		`,"caseSensitive":` + b[caseSensitive] + `,"negate":` + b[negate] + `}`
}

func jsonQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

func TestNewerRuleMatches(t *testing.T) {
	tests := []struct {
		name          string
		match, value  string
		caseSensitive bool
		negate        bool
		url           string
		want          bool
	}{
		{"RegExp matches", "RegExp", `^/checkout/(cart|pay)$`, true, false, "https://shop.example.com/checkout/cart?x=1", true},
		{"RegExp no match", "RegExp", `^/checkout/(cart|pay)$`, true, false, "https://shop.example.com/checkout/cartx", false},
		{"RegExp case-insensitive", "RegExp", `^/checkout/(cart|pay)$`, false, false, "https://shop.example.com/Checkout/PAY", true},
		{"RegExp case-sensitive", "RegExp", `^/checkout/(cart|pay)$`, true, false, "https://shop.example.com/Checkout/PAY", false},
		{"RegExp case-insensitive keeps \\D", "RegExp", `^/item/\D+$`, false, false, "https://shop.example.com/item/42", false},
		{"RegExp negated", "RegExp", `^/checkout`, true, true, "https://shop.example.com/home", true},
		{"RegExp RE2 cannot compile never matches", "RegExp", `^/(?!home)`, true, false, "https://shop.example.com/checkout", false},
		{"RegExp RE2 cannot compile never matches, negated", "RegExp", `^/(?!home)`, true, true, "https://shop.example.com/checkout", false},
		{"EndsWith", "EndsWith", ".json", true, false, "https://shop.example.com/api/basket.json?x=1", true},
		{"EndsWith no", "EndsWith", ".json", true, false, "https://shop.example.com/api/basket.jsonp", false},
		{"EndsWith repeated needle", "EndsWith", ".js", true, false, "https://shop.example.com/a.js/b.js", true},
		{"EndsWith case-insensitive", "EndsWith", ".JSON", false, false, "https://shop.example.com/BASKET.Json", true},
		{"EndsWith case-sensitive", "EndsWith", ".JSON", true, false, "https://shop.example.com/basket.json", false},
		{"EndsWith negated", "EndsWith", ".json", true, true, "https://shop.example.com/basket.json", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
			r.stub.json(testSettings, settingsJSON(queueJSON("q", "["+ruleJSON("Path", tt.match, tt.value, tt.caseSensitive, tt.negate)+"]", "")))
			ok, calls := r.run(tt.url, nil)
			mustEqual(t, "queued", !ok, tt.want)
			if tt.want && (len(calls) != 2 || !strings.HasPrefix(calls[1].Location, "https://shopco.queue-fair.net/q?target=")) {
				t.Errorf("calls %v", calls)
			}
		})
	}
	t.Run("a pattern RE2 cannot compile is named in a warning", func(t *testing.T) {
		r := newRig(t, nil)
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "["+ruleJSON("Path", "RegExp", `^/(?!home)`, true, false)+"]", "")))
		r.run(checkoutURL, nil)
		if !strings.Contains(r.logs.String(), `queue \"q\" rule 1: RegExp \"^/(?!home)\" does not compile here`) {
			t.Errorf("no warning naming the rule:\n%s", r.logs.String())
		}
	})
	t.Run("known newer matches are not warned about", func(t *testing.T) {
		r := newRig(t, nil)
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "["+ruleJSON("Path", "RegExp", `^/checkout`, true, false)+","+
			strings.Replace(ruleJSON("Path", "EndsWith", ".json", true, false), `"operator":null`, `"operator":"Or"`, 1)+"]", "")))
		r.run(checkoutURL, nil)
		if strings.Contains(r.logs.String(), "cannot evaluate") {
			t.Errorf("warned:\n%s", r.logs.String())
		}
	})
}

// TestClearAction: an adapter answer with action CLEAR marks its queue passed for this request,
// sets no cookie, and lets the next queue be checked (the reference abandons the request).
func TestClearAction(t *testing.T) {
	r := newRig(t, nil)
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", ""), queueJSON("r", "", "")))
	r.stub.json(adapterURL("q"), `{"action":"CLEAR","queue":"q"}`)
	r.stub.json(adapterURL("r"), `{"action":"SendToQueue","location":"https://shopco.queue-fair.net/r"}`)
	ok, calls := r.run(checkoutURL, nil)
	want := []call{cacheControl, {Op: "redirect", Location: "https://shopco.queue-fair.net/r?target=" + urlencode(checkoutURL)}}
	if ok || !reflect.DeepEqual(calls, want) {
		t.Errorf("continue %v, calls %v; want false, %v", ok, calls, want)
	}
	mustEqual(t, "adapter calls", len(r.stub.urls()), 3)

	r = newRig(t, nil)
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	r.stub.json(adapterURL("q"), `{"action":"CLEAR","queue":"q"}`)
	if ok, calls := r.run(checkoutURL, nil); !ok || len(calls) != 0 {
		t.Errorf("continue %v, calls %v", ok, calls)
	}
}

// TestExtraClear: with extra CLEAR, a visitor's valid Passed Cookie is set again for 20
// seconds and the visitor is checked as one without a pass, carrying qfx=CLEAR.
func TestExtraClear(t *testing.T) {
	pass := passToken("sec-q", testUA, "q", testNow-60)
	jar := map[string]string{"QueueFair-Pass-q": pass}
	t.Run("simple mode", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		rec := newRecorder(jar)
		ok := r.gate.NewAdapter(rec, checkoutURL, testUA, testIP, ExtraClear).IsContinue(context.Background())
		want := []call{cacheControl,
			{Op: "setCookie", Name: "QueueFair-Pass-q", Value: pass, LifetimeSeconds: 20},
			{Op: "redirect", Location: "https://shopco.queue-fair.net/q?target=" + urlencode(checkoutURL) + "&qfx=CLEAR"}}
		if ok || !reflect.DeepEqual(rec.calls, want) {
			t.Errorf("continue %v, calls %v; want false, %v", ok, rec.calls, want)
		}
	})
	t.Run("safe mode asks the adapter server", func(t *testing.T) {
		r := newRig(t, nil)
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		r.stub.json(adapterURL("q"), `{"action":"SendToQueue","location":"https://shopco.queue-fair.net/q"}`)
		rec := newRecorder(jar)
		ok := r.gate.NewAdapter(rec, checkoutURL, testUA, testIP, ExtraClear).IsContinue(context.Background())
		if ok || len(rec.calls) != 3 || rec.calls[1].LifetimeSeconds != 20 || !strings.HasSuffix(rec.calls[2].Location, "&qfx=CLEAR") {
			t.Errorf("continue %v, calls %v", ok, rec.calls)
		}
		mustEqual(t, "fetches", len(r.stub.urls()), 2)
	})
	t.Run("without a pass, as any visitor", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		rec := newRecorder(nil)
		r.gate.NewAdapter(rec, checkoutURL, testUA, testIP, ExtraClear).IsContinue(context.Background())
		if len(rec.calls) != 2 || rec.calls[1].Op != "redirect" {
			t.Errorf("calls %v", rec.calls)
		}
	})
	t.Run("through CheckExtra", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		req := httptest.NewRequest("GET", checkoutURL, nil)
		req.Header.Set("User-Agent", testUA)
		req.AddCookie(&http.Cookie{Name: "QueueFair-Pass-q", Value: pass})
		w := httptest.NewRecorder()
		if r.gate.CheckExtra(w, req, ExtraClear) {
			t.Fatal("page ran")
		}
		c := w.Result().Cookies()
		if len(c) != 1 || c[0].MaxAge != 20 || c[0].Value != pass {
			t.Errorf("cookies %v", w.Header()["Set-Cookie"])
		}
		if !strings.HasSuffix(w.Header().Get("Location"), "&qfx=CLEAR") {
			t.Errorf("Location %q", w.Header().Get("Location"))
		}
	})
	t.Run("without extra the pass stands", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		if ok, calls := r.run(checkoutURL, jar); !ok || len(calls) != 0 {
			t.Errorf("continue %v, calls %v", ok, calls)
		}
	})
}

func TestQueueDomain(t *testing.T) {
	tests := []struct{ location, want string }{
		{"https://shopco.queue-fair.net/q", "https://queue.shop.example/q"},
		{"https://shopco.queue-fair.net:8443/q/p?x=1", "https://queue.shop.example:8443/q/p?x=1"},
		{"https://shopco.queue-fair.net", "https://queue.shop.example"},
		{"https://shopco.queue-fair.net?x=:", "https://queue.shop.example?x=:"},
		{"http://10.0.0.1/q", "http://queue.shop.example/q"},
	}
	for _, tt := range tests {
		r := newRig(t, func(c *Config) { c.QueueDomain = "queue.shop.example" })
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		r.stub.json(adapterURL("q"), `{"action":"SendToQueue","location":"`+tt.location+`"}`)
		_, calls := r.run(checkoutURL, nil)
		mustEqual(t, "Location", calls[len(calls)-1].Location, tt.want+"?target="+urlencode(checkoutURL))
	}
	r := newRig(t, nil)
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	r.stub.json(adapterURL("q"), `{"action":"SendToQueue","location":"https://shopco.queue-fair.net/q"}`)
	_, calls := r.run(checkoutURL, nil)
	mustEqual(t, "Location without QueueDomain", calls[len(calls)-1].Location, "https://shopco.queue-fair.net/q?target="+urlencode(checkoutURL))
	for _, bad := range []string{"evil.example/x", "a b", "x:1", "u@h"} {
		cfg := NewConfig("a", "s")
		cfg.QueueDomain = bad
		if _, err := New(cfg); err == nil {
			t.Errorf("QueueDomain %q accepted", bad)
		}
	}
}

func TestSendURL(t *testing.T) {
	u := checkoutURL + "?a=1&b=ü"
	r := newRig(t, func(c *Config) { c.SendURL = true })
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	r.stub.json(adapterURL("q")+"&url="+urlencode(u), `{}`)
	if ok, _ := r.run(u, nil); !ok {
		t.Fatal("page did not run")
	}
	mustEqual(t, "adapter URL", r.stub.urls()[1], adapterURL("q")+"&url=https%3A%2F%2Fshop.example.com%2Fcheckout%2Fcart%3Fa%3D1%26b%3D%C3%BC")
	r = newRig(t, nil)
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	r.run(u, nil)
	mustEqual(t, "adapter URL by default", r.stub.urls()[1], adapterURL("q"))
}

// TestHostileRegExpPatterns: patterns from the settings that RE2 refuses (too many
// repetitions, look-arounds, a dangling escape) or that backtracking engines take exponential
// time over never panic, never match (negated or not), and are named in a warning; a pattern
// that RE2 accepts runs in linear time even on a long hostile path.
func TestHostileRegExpPatterns(t *testing.T) {
	for _, pattern := range []string{`(a{1000}){1000}`, `(?<=x)y`, `\`, `[`, `(?P<n>`, strings.Repeat("(", 10000)} {
		for _, negate := range []bool{false, true} {
			r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
			r.stub.json(testSettings, settingsJSON(queueJSON("q", "["+ruleJSON("Path", "RegExp", pattern, false, negate)+"]", "")))
			if ok, calls := r.run(checkoutURL, nil); !ok || len(calls) != 0 {
				t.Errorf("pattern %.20q negate %v: continue %v, calls %v", pattern, negate, ok, calls)
			}
			if !strings.Contains(r.logs.String(), "does not compile here") {
				t.Errorf("pattern %.20q: no warning", pattern)
			}
		}
	}
	// (a+)+$ takes exponential time in a backtracking engine on "aaa...b"; RE2 is linear.
	r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "["+ruleJSON("Path", "RegExp", `^/(a+)+$`, true, false)+"]", "")))
	start := time.Now()
	if ok, _ := r.run("https://shop.example.com/"+strings.Repeat("a", 5000)+"b", nil); !ok {
		t.Error("a path the pattern does not match was queued")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a hostile path took %v", d)
	}
}

// TestRegExpPatternBounds: a RegExp pattern too long, or whose compiled program is too large,
// never matches (negated or not) and is named in the download's warning, as one RE2 cannot
// compile; so are all patterns after a document's patterns have spent their bounds in all.
// Patterns of real sizes compile.
func TestRegExpPatternBounds(t *testing.T) {
	compiled := func(t *testing.T, patterns ...string) (ok []bool, unknown []string) {
		t.Helper()
		rules := make([]string, len(patterns))
		for i, p := range patterns {
			rules[i] = ruleJSON("Path", "RegExp", p, true, true)
		}
		s, err := compileSettings([]byte(settingsJSON(queueJSON("q", "["+strings.Join(rules, ",")+"]", ""))))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range s.queues[0].rules {
			ok = append(ok, r.match == matchRegExp && r.re != nil && r.negate)
		}
		return ok, s.unknown
	}
	for _, tt := range []struct {
		name, pattern string
		ok            bool
		why           string
	}{
		{"a real pattern", `^/(checkout|basket|payment)(/|$)`, true, ""},
		{"a class of every letter", `^/[\pL\pN_-]+/checkout$`, true, ""},
		{"1024 bytes", "[" + strings.Repeat("a", 1022) + "]", true, ""},
		{"1025 bytes", "[" + strings.Repeat("a", 1023) + "]", false, "longer than 1024 bytes"},
		{"a{998}: 1000 instructions", `a{998}`, true, ""},
		{"a{999}: 1001 instructions", `a{999}`, false, "1001 instructions"},
		{`\pL{1000}`, `\pL{1000}`, false, "instructions and"},
		{`[\pL] 20 times`, strings.Repeat(`[\pL]`, 20), false, "class ranges compiled"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ok, unknown := compiled(t, tt.pattern)
			mustEqual(t, "compiled", ok[0], tt.ok)
			if got := strings.Join(unknown, "; "); tt.why != "" && !strings.Contains(got, tt.why) || tt.why == "" && got != "" {
				t.Errorf("warning %q, want one saying %q", got, tt.why)
			}
		})
	}
	t.Run("a document's patterns in all", func(t *testing.T) {
		patterns := make([]string, 25)
		for i := range patterns {
			patterns[i] = `a{898}` // 900 instructions each: 22 fit in 20,000
		}
		ok, unknown := compiled(t, patterns...)
		for i, c := range ok {
			mustEqual(t, "pattern "+strconv.Itoa(i+1)+" compiled", c, i < 22)
		}
		mustEqual(t, "warnings", len(unknown), 3)
		if !strings.Contains(unknown[2], "over 20000 instructions") {
			t.Errorf("warning %q", unknown[2])
		}
	})
	t.Run("a refused pattern never matches, negated or not", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "["+ruleJSON("Path", "RegExp", `\pL{1000}`, true, true)+"]", "")))
		ok, _ := r.run(checkoutURL, nil)
		mustEqual(t, "page runs", ok, true)
	})
}

// TestRegExpStepBudget: a request's RegExp rules run for at most maxRegexpSteps in all (each
// costs its instructions times the bytes it tests, plus one). A visitor who pads a URL part
// cannot make a rule within the pattern bounds cost seconds (a{990}b took 8 s on a 256 KiB
// query), nor skip the queue that way: a rule that would go past the budget is not run, and
// its queue counts as matched, so the visitor is queued unless they hold a pass.
func TestRegExpStepBudget(t *testing.T) {
	var b patternBudget
	_, insts, err := b.compile(`(?i)a{990}b`)
	if err != nil {
		t.Fatal(err)
	}
	const budget = 1 << 16      // the tests' budget, short for the race detector
	perRule := budget/insts - 1 // the most bytes one such rule may test within it
	for _, tt := range []struct {
		name   string
		rules  []string
		query  string
		queued bool
		warned bool
	}{
		{"within the budget: run", []string{ruleJSON("Query", "RegExp", `a{990}b`, false, false)}, strings.Repeat("a", perRule), false, false},
		{"one byte over: the queue matches", []string{ruleJSON("Query", "RegExp", `a{990}b`, false, false)}, strings.Repeat("a", perRule+1), true, true},
		{"negated, over: the queue still matches", []string{ruleJSON("Query", "RegExp", `a{990}b`, false, true)}, strings.Repeat("a", 1<<16) + "b", true, true},
		{"a real pattern on a 256 KiB query, within the real budget: run", []string{ruleJSON("Query", "RegExp", `(^|&)event=(summer|winter)(&|$)`, false, false)}, strings.Repeat("x=1&", 1<<16), false, false},
		{"the rules of a request share the budget", []string{
			ruleJSON("Query", "RegExp", `a{990}b`, false, false), `{"operator":"Or","component":"Query","match":"RegExp","value":"a{990}c","caseSensitive":false,"negate":false}`,
		}, strings.Repeat("a", perRule/2+1), true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
			r.gate.warnGap = 0
			if !strings.HasPrefix(tt.name, "a real pattern") {
				r.gate.regexpBudget = budget
			}
			r.stub.json(testSettings, settingsJSON(queueJSON("q", "["+strings.Join(tt.rules, ",")+"]", "")))
			ok, _ := r.run("https://shop.example.com/p?"+tt.query, nil)
			mustEqual(t, "queued", !ok, tt.queued)
			mustEqual(t, "warned", strings.Contains(r.logs.String(), "RegExp rules would take too long"), tt.warned)

			// A visitor with a valid pass passes all the same.
			pass := passToken("sec-q", testUA, "q", testNow)
			ok, _ = r.run("https://shop.example.com/p?"+tt.query, map[string]string{"QueueFair-Pass-q": pass})
			mustEqual(t, "passed", ok, true)
		})
	}
}
