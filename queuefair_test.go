package queuefair

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestComponentsMatchPython(t *testing.T) {
	for _, tt := range loadOracle(t).Components {
		mustEqual(t, "Domain of "+tt.URL, domainOf(tt.URL), tt.Domain)
		mustEqual(t, "Path of "+tt.URL, pathOf(tt.URL), tt.Path)
		mustEqual(t, "Query of "+tt.URL, queryComponent(tt.URL), tt.Query)
		a := Adapter{requestedURL: tt.URL}
		a.parts()
		mustEqual(t, "parts of "+tt.URL, [3]string{a.domain, a.path, a.query}, [3]string{tt.Domain, tt.Path, tt.Query})
	}
}

func TestIsRuleMatch(t *testing.T) {
	cookies := map[string]string{"tier": "Gold", "empty": "", "kelvin": "\u212a"}
	u := "https://Shop.Example.com/Checkout/Cart?Item=7"
	tests := []struct {
		name string
		r    rule
		want bool
	}{
		{"path contain ci", rule{component: compPath, value: "/checkout", match: matchContain}, true},
		{"path contain cs", rule{component: compPath, value: "/checkout", match: matchContain, caseSensitive: true}, false},
		{"path equal ci", rule{component: compPath, value: "/checkout/cart", match: matchEqual}, true},
		{"domain equal ci", rule{component: compDomain, value: "shop.example.com", match: matchEqual}, true},
		{"domain equal cs", rule{component: compDomain, value: "shop.example.com", match: matchEqual, caseSensitive: true}, false},
		{"query exist", rule{component: compQuery, match: matchExist}, true},
		{"query contain", rule{component: compQuery, value: "item=7", match: matchContain}, true},
		{"cookie equal ci", rule{component: compCookie, cookie: "tier", value: "gold", match: matchEqual}, true},
		{"cookie equal cs", rule{component: compCookie, cookie: "tier", value: "gold", match: matchEqual, caseSensitive: true}, false},
		{"cookie absent exist", rule{component: compCookie, cookie: "nope", match: matchExist}, false},
		{"cookie absent negated", rule{component: compCookie, cookie: "nope", match: matchExist, negate: true}, true},
		{"contain empty value on empty component", rule{component: compCookie, cookie: "empty", value: "", match: matchContain}, false},
		{"contain empty value", rule{component: compCookie, cookie: "tier", value: "", match: matchContain}, true},
		{"equal empty on empty", rule{component: compCookie, cookie: "empty", value: "", match: matchEqual}, true},
		{"unknown match", rule{component: compPath, value: "/", match: matchNone}, false},
		{"unknown match negated", rule{component: compPath, value: "/", match: matchNone, negate: true}, true},
		{"unknown component is the URL", rule{component: compURL, value: "https://shop", match: matchContain}, true},
		// The URL is ASCII; a cookie need not be, and the Kelvin sign lower-cases to 'k'.
		{"non-ASCII cookie contains", rule{component: compCookie, cookie: "kelvin", value: "k", match: matchContain}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := (&Gate{}).NewAdapter(newRecorder(cookies), u, testUA, testIP, "")
			a.parts() // as after an earlier URL rule: the URL is known to be ASCII
			mustEqual(t, "isRuleMatch", a.isRuleMatch(&tt.r), tt.want)
		})
	}
}

func TestCaseInsensitiveFolding(t *testing.T) {
	for _, tt := range []struct {
		comp, value     string
		equal, contains bool
	}{
		{"ÜBER", "über", true, true},
		{"/A/ÜBER", "über", false, true},
		{"/a/b", "ü", false, false},
		{"ABC", "bc", false, true},
		{"abc", "", false, true},
		{"/CheckOut/Cart", "/checkout", false, true},
		{"xCHECKOUT", "/checkout", false, false}, // no slash before it
		{"/x//CHECKOUT", "/checkout", false, true},
		{"/\u212a", "/k", true, true}, // the Kelvin sign lower-cases to ASCII k
		{"\u212a", "k", true, true},
		{"ﬀ", "ff", false, false}, // no full case folding: Python's lower() keeps the ligature
		{"", "", true, true},
		{"", "a", false, false},
		{"/PIZZA", "/pizza", true, true}, // 'A' and 'Z', the ends of the ASCII letters
		{"/@[", "/@[", true, true},       // the bytes either side of them stay as they are
		{"/@[", "/`{", false, false},
		{"short", "longer value", false, false},
		{"/İSTANBUL", "/i\u0307stanbul", true, true}, // Python lower-cases İ to two characters
		{"/İSTANBUL", "/istanbul", false, false},
		{"/ΟΔΟΣ", "/οδος", true, true}, // and a word-final sigma to ς
		{"/ΟΔΟΣ", "/οδοσ", false, false},
		{"/ΟΔΟΣ/ΟΔΟΣ", "ς/", false, true},
	} {
		mustEqual(t, "equal "+tt.comp, equalRule(tt.comp, tt.value, false, nil), tt.equal)
		mustEqual(t, "contains "+tt.comp, containsRule(tt.comp, tt.value, false, false, nil), tt.contains)
	}
}

func TestIsMatchArray(t *testing.T) {
	T := rule{component: compPath, match: matchExist}               // always true
	F := rule{component: compPath, match: matchExist, negate: true} // always false
	with := func(r rule, op operator) rule { r.op = op; return r }
	tests := []struct {
		name  string
		rules []rule
		has   bool
		want  bool
	}{
		{"no rules key", nil, false, false},
		{"empty rules", []rule{}, true, false},
		{"single true", []rule{T}, true, true},
		{"single false", []rule{F}, true, false},
		{"first operator ignored", []rule{with(F, opOr)}, true, false},
		{"T and F", []rule{T, with(F, opAnd)}, true, false},
		{"T and T", []rule{T, with(T, opAnd)}, true, true},
		{"F or T", []rule{F, with(T, opOr)}, true, true},
		{"F and T or T", []rule{F, with(T, opAnd), with(T, opOr)}, true, false}, // And with false state returns at once
		{"T or F and F", []rule{T, with(F, opOr), with(F, opAnd)}, true, true},  // Or with true state returns at once
		{"null operator is ignored", []rule{T, with(F, opOther)}, true, true},
		{"unknown operator is ignored", []rule{F, with(T, opOther)}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := (&Gate{}).NewAdapter(newRecorder(nil), checkoutURL, testUA, testIP, "")
			got, err := a.isMatchArray(tt.rules, tt.has)
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "isMatchArray", got, tt.want)
		})
	}
}

// TestMalformedRulesFailWherePythonDoes holds isMatch to Python's on settings that are not
// well formed: where Python raises (a missing key, a value of the wrong type), isMatch returns
// an error and the page runs; a rule that Python never reaches never fails. The table was
// printed by running each queue through the reference's isMatch.
func TestMalformedRulesFailWherePythonDoes(t *testing.T) {
	const (
		no = iota
		yes
		raises
	)
	for _, tt := range []struct {
		name, queue string
		want        int
	}{
		{"activation absent", ``, no},
		{"activation null", `,"activation":null`, raises},
		{"activation number", `,"activation":5`, raises},
		{"activation string without rules", `,"activation":"x"`, no},
		{"activation string with rules", `,"activation":"my rules"`, raises},
		{"activation list without rules", `,"activation":["a"]`, no},
		{"activation list with rules", `,"activation":["rules"]`, raises},
		{"rules null", `,"activation":{"rules":null}`, no},
		{"rules empty string", `,"activation":{"rules":""}`, no},
		{"rules string", `,"activation":{"rules":"x"}`, raises},
		{"rules empty object", `,"activation":{"rules":{}}`, no},
		{"rules object", `,"activation":{"rules":{"a":1}}`, raises},
		{"rules number", `,"activation":{"rules":5}`, raises},
		{"rule not object", `,"activation":{"rules":[1]}`, raises},
		{"full rule", `,"activation":{"rules":[{"operator":null,"component":"Path","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false}]}`, yes},
		{"no operator on the first rule", `,"activation":{"rules":[{"component":"Path","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false}]}`, yes},
		{"no operator on the second rule", `,"activation":{"rules":[{"operator":null,"component":"Path","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false},{"component":"Path","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false}]}`, raises},
		{"second rule not an object", `,"activation":{"rules":[{"operator":null,"component":"Path","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false},7]}`, raises},
		{"third rule never reached", `,"activation":{"rules":[{"operator":null,"component":"Path","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false},{"operator":"Or","component":"Path","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false},7]}`, yes},
		{"no component", `,"activation":{"rules":[{"operator":null,"match":"Contain","value":"/checkout","caseSensitive":false,"negate":false}]}`, raises},
		{"no value", `,"activation":{"rules":[{"operator":null,"component":"Path","match":"Contain","caseSensitive":false,"negate":false}]}`, raises},
		{"no match", `,"activation":{"rules":[{"operator":null,"component":"Path","value":"/checkout","caseSensitive":false,"negate":false}]}`, raises},
		{"no caseSensitive", `,"activation":{"rules":[{"operator":null,"component":"Path","match":"Contain","value":"/checkout","negate":false}]}`, raises},
		{"no negate", `,"activation":{"rules":[{"operator":null,"component":"Path","match":"Contain","value":"/checkout","caseSensitive":false}]}`, raises},
		{"cookie rule without name", `,"activation":{"rules":[{"operator":null,"component":"Cookie","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false}]}`, raises},
		{"path rule without name", `,"activation":{"rules":[{"operator":null,"component":"Path","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false}]}`, yes},
		{"null value, case-insensitive", `,"activation":{"rules":[{"operator":null,"component":"Path","match":"Contain","value":null,"caseSensitive":false,"negate":false}]}`, raises},
		{"number value, case-insensitive", `,"activation":{"rules":[{"operator":null,"component":"Path","match":"Contain","value":5,"caseSensitive":false,"negate":false}]}`, raises},
		{"null value, case-sensitive Equal", `,"activation":{"rules":[{"operator":null,"component":"Path","match":"Equal","value":null,"caseSensitive":true,"negate":false}]}`, no},
		{"null value, case-sensitive Exist", `,"activation":{"rules":[{"operator":null,"component":"Path","match":"Exist","value":null,"caseSensitive":true,"negate":false}]}`, yes},
		{"null value, case-sensitive Contain", `,"activation":{"rules":[{"operator":null,"component":"Path","match":"Contain","value":null,"caseSensitive":true,"negate":false}]}`, raises},
		{"null value, case-sensitive Contain, empty cookie", `,"activation":{"rules":[{"operator":null,"component":"Cookie","match":"Contain","value":null,"caseSensitive":true,"negate":false,"name":"none"}]}`, no},
		{"null value, case-sensitive Equal, empty cookie", `,"activation":{"rules":[{"operator":null,"component":"Cookie","match":"Equal","value":null,"caseSensitive":true,"negate":false,"name":"none"}]}`, no},
		{"cookie rule named by a number", `,"activation":{"rules":[{"operator":null,"component":"Cookie","match":"Contain","value":"","caseSensitive":false,"negate":false,"name":5}]}`, no},
		{"cookie rule named by null, negated", `,"activation":{"rules":[{"operator":null,"component":"Cookie","match":"Exist","value":"","caseSensitive":false,"negate":true,"name":null}]}`, yes},
		{"cookie rule named by a list", `,"activation":{"rules":[{"operator":null,"component":"Cookie","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false,"name":["tier"]}]}`, raises},
		{"cookie rule named by an object", `,"activation":{"rules":[{"operator":null,"component":"Cookie","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false,"name":{}}]}`, raises},
		{"cookie rule named by text", `,"activation":{"rules":[{"operator":null,"component":"Cookie","match":"Equal","value":"gold","caseSensitive":false,"negate":false,"name":"tier"}]}`, yes},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := compileSettings([]byte(`{"queues":[{"name":"q"` + tt.queue + `}]}`))
			if err != nil {
				t.Fatal(err)
			}
			a := (&Gate{}).NewAdapter(newRecorder(map[string]string{"tier": "Gold"}), "https://shop.example.com/checkout?x=1", testUA, testIP, "")
			m, err := a.isMatch(s.queues[0])
			got := no
			switch {
			case err != nil:
				got = raises
				if !errors.Is(err, errAbort) {
					t.Errorf("error %v is not errAbort", err)
				}
			case m:
				got = yes
			}
			mustEqual(t, "outcome (0 no, 1 yes, 2 raises)", got, tt.want)
		})
	}
}

func TestSetUIDFromCookie(t *testing.T) {
	tests := []struct {
		cookie  string
		uid     string
		hasUID  bool
		adapter string // the uid part of the adapter URL
	}{
		{"", "", false, ""},
		{"u:abc", "abc", true, "&uid=abc"},
		{"u=abc", "abc", true, "&uid=abc"},
		{"u:a=b", "b", true, "&uid=b"}, // Python looks for '=' before ':': the first '=' wins
		{"nosep", "", false, ""},
		{"u:", "", true, "&uid="},
		{"u=x&ipaddress=1.2.3.4", "x&ipaddress=1.2.3.4", true, "&uid=x%26ipaddress%3D1.2.3.4"},
	}
	for _, tt := range tests {
		t.Run(tt.cookie, func(t *testing.T) {
			r := newRig(t, nil)
			r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
			rec := newRecorder(map[string]string{"QueueFair-Store-shopco": tt.cookie})
			a := r.gate.NewAdapter(rec, checkoutURL, testUA, testIP, "")
			a.IsContinue(context.Background())
			mustEqual(t, "uid", a.uid, tt.uid)
			mustEqual(t, "hasUID", a.hasUID, tt.hasUID)
			want := "https://adapter.queue-fair.net/adapter/q?ipaddress=203.0.113.7" + tt.adapter + "&identifier=" + urlencode(testUA)
			if got := r.stub.urls(); len(got) != 2 || got[1] != want {
				t.Errorf("fetches %q, want adapter URL %q", got, want)
			}
		})
	}
}

// TestUIDCannotInjectParameters: a uid cookie built to add a spoofed ipaddress (and a second
// uid) to the adapter-server request adds nothing.
func TestUIDCannotInjectParameters(t *testing.T) {
	r := newRig(t, nil)
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	r.run(checkoutURL, map[string]string{"QueueFair-Store-shopco": "u=x&ipaddress=6.6.6.6&uid=y#z"})
	fetched := r.stub.urls()
	if len(fetched) != 2 {
		t.Fatalf("fetched %q", fetched)
	}
	u, err := url.Parse(fetched[1])
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if len(q["ipaddress"]) != 1 || q.Get("ipaddress") != testIP {
		t.Errorf("ipaddress = %q, want only %q", q["ipaddress"], testIP)
	}
	if len(q["uid"]) != 1 || q.Get("uid") != "x&ipaddress=6.6.6.6&uid=y#z" {
		t.Errorf("uid = %q", q["uid"])
	}
	if u.Fragment != "" {
		t.Errorf("fragment %q smuggled in", u.Fragment)
	}
}

// TestQFUIDIsEncoded: a planted uid cookie cannot add a second target (or anything else) to
// the SendToQueue redirect; an ordinary uid is written as it is.
func TestQFUIDIsEncoded(t *testing.T) {
	for uid, want := range map[string]string{
		"x&target=https://evil.example/": "x%26target%3Dhttps%3A%2F%2Fevil.example%2F",
		"4f1c-9a2e_7.b~":                 "4f1c-9a2e_7.b~",
	} {
		r := newRig(t, nil)
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		r.stub.json("https://adapter.queue-fair.net/adapter/q?ipaddress="+urlencode(testIP)+"&uid="+urlencode(uid)+"&identifier="+urlencode(testUA),
			`{"action":"SendToQueue","location":"https://q.example/q"}`)
		ok, calls := r.run(checkoutURL, map[string]string{"QueueFair-Store-shopco": "u=" + uid})
		if ok || len(calls) == 0 {
			t.Fatalf("continue %v, calls %v", ok, calls)
		}
		loc := calls[len(calls)-1].Location
		mustEqual(t, "Location", loc, "https://q.example/q?target="+urlencode(checkoutURL)+"&qfuid="+want)
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "targets", len(u.Query()["target"]), 1)
		mustEqual(t, "qfuid", u.Query().Get("qfuid"), uid)
	}
}

// TestOversizedAdapterRequestQueues: a User-Agent or uid cookie built to make the
// adapter-server request too long for a front end (which would refuse it, and a refusal lets
// the page run) sends the visitor to the queue server instead, and a uid that long is ignored.
func TestOversizedAdapterRequestQueues(t *testing.T) {
	t.Run("huge User-Agent", func(t *testing.T) {
		r := newRig(t, nil)
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		rec := newRecorder(nil)
		ok := r.gate.NewAdapter(rec, checkoutURL, strings.Repeat("A", 20000), testIP, "").IsContinue(context.Background())
		if ok || len(rec.calls) != 2 || !strings.HasPrefix(rec.calls[1].Location, "https://shopco.queue-fair.net/q?target=") {
			t.Errorf("continue %v, calls %v", ok, rec.calls)
		}
		mustEqual(t, "fetches", len(r.stub.urls()), 1)
	})
	t.Run("huge uid cookie", func(t *testing.T) {
		r := newRig(t, nil)
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		r.stub.json(adapterURL("q"), `{"action":"SendToQueue","location":"https://shopco.queue-fair.net/q"}`)
		ok, calls := r.run(checkoutURL, map[string]string{"QueueFair-Store-shopco": "u:" + strings.Repeat("u", 20000)})
		if ok || len(calls) != 2 {
			t.Errorf("continue %v, calls %v", ok, calls)
		}
		if got := r.stub.urls(); len(got) != 2 || got[1] != adapterURL("q") {
			t.Errorf("fetches %q: the long uid was sent", got)
		}
	})
	t.Run("uid of 256 bytes is used, of 257 ignored", func(t *testing.T) {
		for _, n := range []int{maxUIDBytes, maxUIDBytes + 1} {
			r := newRig(t, nil)
			r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
			uid := strings.Repeat("u", n)
			want := adapterURL("q")
			if n <= maxUIDBytes {
				want = strings.Replace(want, "&identifier=", "&uid="+uid+"&identifier=", 1)
			}
			r.stub.json(want, `{"action":"SendToQueue","location":"https://shopco.queue-fair.net/q"}`)
			r.run(checkoutURL, map[string]string{"QueueFair-Store-shopco": "u:" + uid})
			if got := r.stub.urls(); len(got) != 2 || got[1] != want {
				t.Errorf("uid of %d bytes: fetches %q, want %s", n, got, want)
			}
		}
	})
}

func TestValidateQuery(t *testing.T) {
	const sec = "sec-q"
	valid := passToken(sec, testUA, "q", testNow-10)
	tests := []struct {
		name  string
		query string
		want  bool
	}{
		{"valid", valid, true},
		{"valid with params before", "a=1&" + valid, true},
		{"valid with params after", valid + "&utm=x", true},
		{"at past limit", passToken(sec, testUA, "q", testNow-300), true},
		{"past limit", passToken(sec, testUA, "q", testNow-301), false},
		{"at future limit", passToken(sec, testUA, "q", testNow+300), true},
		{"future limit", passToken(sec, testUA, "q", testNow+301), false},
		{"wrong secret", passToken("other", testUA, "q", testNow), false},
		{"other user agent", passToken(sec, "curl/8", "q", testNow), false},
		{"no qfh", strings.Replace(valid, "qfh=", "qfx=", 1), false},
		{"blank qfh", valid[:strings.Index(valid, "qfh=")+4], false},
		{"no qfqid", strings.Replace(valid, "qfqid=", "qfqiX=", 1), false},
		{"no qfts", strings.Replace(valid, "qfts=", "qftX=", 1), false},
		{"qfts not digits", strings.Replace(valid, "qfts=", "qfts=x", 1), false},
		{"upper-case hash", strings.ToUpper(valid), false},
		{"tampered queue", strings.Replace(valid, "qfq=q", "qfq=r", 1), false},
		{"hash before qfqid", "qfh=" + hashHex(sec, testUA) + "&qfqid=1&qfts=1764000000", false}, // Python hashes the UA alone and accepts
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, nil)
			q := &queue{name: "q", secret: sec, hasSecret: true, sign: newSigner(sec)}
			a := r.gate.NewAdapter(newRecorder(nil), checkoutURL+"?"+tt.query+"#frag", testUA, testIP, "")
			mustEqual(t, "validateQuery", a.validateQuery(q), tt.want)
		})
	}
	t.Run("queue without secret", func(t *testing.T) {
		r := newRig(t, nil)
		a := r.gate.NewAdapter(newRecorder(nil), checkoutURL+"?"+valid, testUA, testIP, "")
		mustEqual(t, "validateQuery", a.validateQuery(&queue{name: "q"}), false)
	})
	t.Run("sub-second clock past the limit", func(t *testing.T) {
		r := newRig(t, nil)
		r.clock.Advance(500 * time.Millisecond) // Python's float time.time() is past ts+300
		q := &queue{name: "q", secret: sec, hasSecret: true, sign: newSigner(sec)}
		a := r.gate.NewAdapter(newRecorder(nil), checkoutURL+"?"+passToken(sec, testUA, "q", testNow-300), testUA, testIP, "")
		mustEqual(t, "validateQuery", a.validateQuery(q), false)
	})
}

func TestValidateCookie(t *testing.T) {
	const sec = "sec-q"
	tests := []struct {
		name   string
		cookie string
		want   bool
	}{
		{"valid", passToken(sec, testUA, "q", testNow-60), true},
		{"at lifetime", passToken(sec, testUA, "q", testNow-1200), true},
		{"past lifetime", passToken(sec, testUA, "q", testNow-1201), false},
		{"far future (no limit)", passToken(sec, testUA, "q", testNow+86400), true},
		{"wrong secret", passToken("x", testUA, "q", testNow), false},
		{"other UA", passToken(sec, "other", "q", testNow), false},
		{"empty", "", false},
		{"garbage", "%%%&&&===", false},
		{"hash only", "qfh=" + hashHex(sec, testUA), false}, // signed, but no timestamp
		{"encoded qfh name", strings.Replace(passToken(sec, testUA, "q", testNow), "qfh=", "qf%68=", 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, nil)
			a := r.gate.NewAdapter(newRecorder(nil), checkoutURL, testUA, testIP, "")
			mustEqual(t, "ValidateCookie", a.ValidateCookie(sec, 20, tt.cookie), tt.want)
		})
	}
}

// TestFlow runs whole requests through IsContinue, one behaviour per row.
func TestFlow(t *testing.T) {
	safeGuard := func(q string) string {
		return `{"action":"SafeGuard","queue":"` + q + `","validation":"` + url.QueryEscape(passToken("sec-"+q, testUA, q, testNow)) + `"}`
	}
	tests := []struct {
		name     string
		edit     func(*Config)
		settings string // "" = download fails
		adapter  map[string]string
		url      string
		cookies  map[string]string
		extra    string
		want     bool
		calls    []call
		fetches  int
	}{
		{
			name:    "no settings: page runs",
			url:     checkoutURL,
			want:    true,
			fetches: 1,
		},
		{
			name:     "no match: nothing happens",
			settings: settingsJSON(queueJSON("q", "", "")),
			url:      "https://shop.example.com/home",
			want:     true,
			fetches:  1,
		},
		{
			name:     "safe: SafeGuard sets the pass and uid cookies",
			settings: settingsJSON(queueJSON("q", "", `,"cookieDomain":".example.com"`)),
			adapter: map[string]string{adapterURL("q"): `{"uid":"u-1","cookieSeconds":3600,"action":"SafeGuard","queue":"q","validation":"` +
				url.QueryEscape(passToken("sec-q", testUA, "q", testNow)) + `"}`},
			url:  checkoutURL,
			want: true,
			calls: []call{
				{Op: "setCookie", Name: "QueueFair-Store-shopco", Value: "u:u-1", LifetimeSeconds: 3600, Domain: ".example.com"},
				cacheControl,
				{Op: "setCookie", Name: "QueueFair-Pass-q", Value: passToken("sec-q", testUA, "q", testNow), LifetimeSeconds: 1200, Domain: ".example.com"},
			},
			fetches: 2,
		},
		{
			name:     "safe: SendToQueue with uid, path target, variant and extra",
			settings: settingsJSON(queueJSON("q", "", `,"dynamicTarget":"path","activation":{"rules":[{"component":"Path","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false}],"variantRules":[{"variant":"big spender","rules":[{"component":"Query","match":"Contain","value":"vip","caseSensitive":false,"negate":false}]}]}`)),
			adapter:  map[string]string{"https://adapter.queue-fair.net/adapter/q?ipaddress=203.0.113.7&uid=u-9&identifier=" + urlencode(testUA): `{"action":"SendToQueue","location":"https://shopco.queue-fair.net/q"}`},
			url:      checkoutURL + "?vip=1",
			cookies:  map[string]string{"QueueFair-Store-shopco": "u:u-9"},
			extra:    "a b",
			want:     false,
			calls:    []call{cacheControl, {Op: "redirect", Location: "https://shopco.queue-fair.net/q?target=https%3A%2F%2Fshop.example.com%2Fcheckout%2Fcart&qfuid=u-9&qfv=big+spender&qfx=a+b"}},
			fetches:  2,
		},
		{
			name:     "safe: uid mismatch keeps the visitor's uid and sets no uid cookie",
			settings: settingsJSON(queueJSON("q", "", "")),
			adapter:  map[string]string{"https://adapter.queue-fair.net/adapter/q?ipaddress=203.0.113.7&uid=mine&identifier=" + urlencode(testUA): `{"uid":"theirs","cookieSeconds":60,"action":"SendToQueue","location":"https://x.example/q"}`},
			url:      checkoutURL,
			cookies:  map[string]string{"QueueFair-Store-shopco": "u:mine"},
			want:     false,
			calls:    []call{cacheControl, {Op: "redirect", Location: "https://x.example/q?target=" + urlencode(checkoutURL) + "&qfuid=mine"}},
			fetches:  2,
		},
		{
			name:     "safe: adapter server down: page runs, later queues unchecked",
			settings: settingsJSON(queueJSON("a", "", ""), queueJSON("b", "", "")),
			url:      checkoutURL,
			want:     true,
			fetches:  2,
		},
		{
			name:     "safe: non-JSON answer: page runs",
			settings: settingsJSON(queueJSON("q", "", "")),
			adapter:  map[string]string{adapterURL("q"): `<html>busy</html>`},
			url:      checkoutURL,
			want:     true,
			fetches:  2,
		},
		{
			name:     "safe: empty answer: next queue consulted",
			settings: settingsJSON(queueJSON("a", "", ""), queueJSON("b", "", "")),
			adapter:  map[string]string{adapterURL("a"): `{}`, adapterURL("b"): `{"action":"SendToQueue","location":"https://q.example/b"}`},
			url:      checkoutURL,
			want:     false,
			calls:    []call{cacheControl, {Op: "redirect", Location: "https://q.example/b?target=" + urlencode(checkoutURL)}},
			fetches:  3,
		},
		{
			name:     "safe: SendToQueue without location: page runs",
			settings: settingsJSON(queueJSON("q", "", "")),
			adapter:  map[string]string{adapterURL("q"): `{"action":"SendToQueue"}`},
			url:      checkoutURL,
			want:     true,
			fetches:  2,
		},
		{
			name:     "safe: uid without cookieSeconds: page runs, no cookie",
			settings: settingsJSON(queueJSON("q", "", "")),
			adapter:  map[string]string{adapterURL("q"): `{"uid":"u","action":"SendToQueue","location":"https://x/q"}`},
			url:      checkoutURL,
			want:     true,
			fetches:  2,
		},
		{
			name:     "safe: uid not a string: page runs, not queued",
			settings: settingsJSON(queueJSON("q", "", "")),
			adapter:  map[string]string{adapterURL("q"): `{"uid":5,"cookieSeconds":1,"action":"SendToQueue","location":"https://x/q"}`},
			url:      checkoutURL,
			want:     true,
			fetches:  2,
		},
		{
			name:     "safe: SafeGuard during a Passed String visit strips it",
			settings: settingsJSON(queueJSON("q", "", "")),
			adapter:  map[string]string{adapterURL("q"): safeGuard("q")},
			url:      checkoutURL + "?qfqid=1", // a Passed String without qfq: skipped, then consulted
			want:     false,
			calls: []call{cacheControl, {Op: "setCookie", Name: "QueueFair-Pass-q", Value: passToken("sec-q", testUA, "q", testNow), LifetimeSeconds: 1200},
				{Op: "redirect", Location: checkoutURL}},
			fetches: 2,
		},
		{
			name:     "queue-level simple overrides global safe",
			settings: settingsJSON(queueJSON("q", "", `,"adapterMode":"simple"`)),
			url:      checkoutURL,
			want:     false,
			calls:    []call{cacheControl, {Op: "redirect", Location: "https://shopco.queue-fair.net/q?target=" + urlencode(checkoutURL)}},
			fetches:  1,
		},
		{
			name:     "global simple stops after a queue-level safe queue lets the visitor through",
			edit:     func(c *Config) { c.AdapterMode = ModeSimple },
			settings: settingsJSON(queueJSON("a", "", `,"adapterMode":"safe"`), queueJSON("b", "", "")),
			adapter:  map[string]string{adapterURL("a"): `{"action":"Other"}`},
			url:      checkoutURL,
			want:     true, // malformed pass answer (no queue/validation): page runs
			fetches:  2,
		},
		{
			name:     "global simple: a safe queue's empty answer ends the run",
			edit:     func(c *Config) { c.AdapterMode = ModeSimple },
			settings: settingsJSON(queueJSON("a", "", `,"adapterMode":"safe"`), queueJSON("b", "", "")),
			adapter:  map[string]string{adapterURL("a"): `{}`},
			url:      checkoutURL,
			want:     true,
			fetches:  2,
		},
		{
			name:     "simple with extra",
			edit:     func(c *Config) { c.AdapterMode = ModeSimple },
			settings: settingsJSON(queueJSON("q", "", "")),
			url:      checkoutURL,
			extra:    "x=1&y",
			want:     false,
			calls:    []call{cacheControl, {Op: "redirect", Location: "https://shopco.queue-fair.net/q?target=" + urlencode(checkoutURL) + "&qfx=x%3D1%26y"}},
			fetches:  1,
		},
		{
			name:     "valid Passed Cookie: nothing to do",
			settings: settingsJSON(queueJSON("q", "", "")),
			url:      checkoutURL,
			cookies:  map[string]string{"QueueFair-Pass-q": passToken("sec-q", testUA, "q", testNow-5)},
			want:     true,
			fetches:  1,
		},
		{
			name:     "Passed Cookie not naming its queue is ignored, not deleted",
			edit:     func(c *Config) { c.AdapterMode = ModeSimple },
			settings: settingsJSON(queueJSON("q", "", "")),
			url:      checkoutURL,
			cookies:  map[string]string{"QueueFair-Pass-q": "garbage"},
			want:     false,
			calls:    []call{cacheControl, {Op: "redirect", Location: "https://shopco.queue-fair.net/q?target=" + urlencode(checkoutURL)}},
			fetches:  1,
		},
		{
			name:     "invalid Passed String but valid Passed Cookie: page runs",
			settings: settingsJSON(queueJSON("q", "", "")),
			url:      checkoutURL + "?" + passToken("sec-q", testUA, "q", testNow-3600),
			cookies:  map[string]string{"QueueFair-Pass-q": passToken("sec-q", testUA, "q", testNow-5)},
			want:     true,
			fetches:  1,
		},
		{
			name:     "valid Passed String, strip off",
			edit:     func(c *Config) { c.StripPassedString = false },
			settings: settingsJSON(queueJSON("q", "", `,"passedLifetimeMinutes":"3"`)),
			url:      checkoutURL + "?" + passToken("sec-q", testUA, "q", testNow),
			want:     true,
			calls:    []call{cacheControl, {Op: "setCookie", Name: "QueueFair-Pass-q", Value: passToken("sec-q", testUA, "q", testNow), LifetimeSeconds: 180}},
			fetches:  1,
		},
		{
			name:     "Passed String for an unknown queue is ignored",
			edit:     func(c *Config) { c.AdapterMode = ModeSimple },
			settings: settingsJSON(queueJSON("q", "", "")),
			url:      "https://shop.example.com/home?" + passToken("sec-z", testUA, "z", testNow),
			want:     true,
			fetches:  1,
		},
		{
			name:     "unreadable passedLifetimeMinutes: page runs",
			settings: settingsJSON(queueJSON("q", "", `,"passedLifetimeMinutes":"soon"`)),
			url:      checkoutURL + "?" + passToken("sec-q", testUA, "q", testNow),
			want:     true,
			fetches:  1,
		},
		{
			name:     "queue without adapterServer: page runs",
			settings: settingsJSON(queueJSON("q", "", `,"adapterServer":null`)),
			url:      checkoutURL,
			want:     true,
			fetches:  1,
		},
		{
			name:     "empty adapterServer: Python's https:///adapter/... fails and the page runs",
			settings: settingsJSON(queueJSON("q", "", `,"adapterServer":""`)),
			url:      checkoutURL,
			want:     true,
			fetches:  2,
		},
		{
			name:     "debug IP of another visitor does not matter",
			edit:     func(c *Config) { c.DebugIP = "198.51.100.1"; c.AdapterMode = ModeSimple },
			settings: settingsJSON(queueJSON("q", "", "")),
			url:      checkoutURL,
			want:     false,
			calls:    []call{cacheControl, {Op: "redirect", Location: "https://shopco.queue-fair.net/q?target=" + urlencode(checkoutURL)}},
			fetches:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.edit)
			if tt.settings != "" {
				r.stub.json(testSettings, tt.settings)
			}
			for u, body := range tt.adapter {
				r.stub.json(u, body)
			}
			rec := newRecorder(tt.cookies)
			got := r.gate.NewAdapter(rec, tt.url, testUA, testIP, tt.extra).IsContinue(context.Background())
			mustEqual(t, "continue", got, tt.want)
			if !reflect.DeepEqual(nilIfEmpty(rec.calls), nilIfEmpty(tt.calls)) {
				t.Errorf("calls:\n got %v\nwant %v", rec.calls, tt.calls)
			}
			if f := r.stub.urls(); len(f) != tt.fetches {
				t.Errorf("fetched %q, want %d fetches", f, tt.fetches)
			}
			if t.Failed() {
				t.Log(r.logs.String())
			}
		})
	}
}

// TestAnswersThatAreNotObjects: an adapter answer that is JSON but not an object is read as
// Python's gotAdapter reads it. A false value is as empty as {}, and a list or text without an
// element or the letters "uid" or "action" has no action: both move on to the next queue. null,
// a number, true, a list or text that holds "uid" or "action" (Python's indexing raises), and
// anything that is not one JSON value let the page run, and no later queue is checked.
func TestAnswersThatAreNotObjects(t *testing.T) {
	for _, tt := range []struct {
		answer string
		moveOn bool
	}{
		{`[]`, true}, {`0`, true}, {`-0.0`, true}, {`false`, true}, {`""`, true},
		{`[1,2]`, true}, {`["UID",{"uid":1}]`, true}, {`"queue"`, true}, {` [ ] `, true},
		{`null`, false}, {`5`, false}, {`true`, false}, {`["x","uid"]`, false}, {`["action"]`, false},
		{`"fluids"`, false}, {`"no action"`, false},
		{`{"action":"SendToQueue","location":"https://q.example/a"} x`, false}, {`{} {}`, false}, {`[]]`, false},
	} {
		r := newRig(t, nil)
		r.stub.json(testSettings, settingsJSON(queueJSON("a", "", ""), queueJSON("b", "", "")))
		r.stub.json(adapterURL("a"), tt.answer)
		r.stub.json(adapterURL("b"), `{"action":"SendToQueue","location":"https://q.example/b"}`)
		ok, calls := r.run(checkoutURL, nil)
		fetches := len(r.stub.urls())
		if tt.moveOn {
			want := []call{cacheControl, {Op: "redirect", Location: "https://q.example/b?target=" + urlencode(checkoutURL)}}
			if ok || !reflect.DeepEqual(calls, want) || fetches != 3 {
				t.Errorf("%s: continue %v, calls %v, %d fetches; want queue b consulted", tt.answer, ok, calls, fetches)
			}
		} else if !ok || len(calls) != 0 || fetches != 2 {
			t.Errorf("%s: continue %v, calls %v, %d fetches; want the page to run, b unchecked", tt.answer, ok, calls, fetches)
		}
	}
}

// TestRedirectsOnlyToHTTP: a SendToQueue location that is not an http or https URL lets the
// page run with a warning, and is never handed to the Service.
func TestRedirectsOnlyToHTTP(t *testing.T) {
	for _, loc := range []string{"javascript:alert(1)//", "data:text/html,hi", "//evil.example/q", " https://q.example/", "ftp://q.example/", "q.example/q", ""} {
		t.Run(loc, func(t *testing.T) {
			r := newRig(t, nil)
			r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
			b, _ := json.Marshal(loc)
			r.stub.json(adapterURL("q"), `{"action":"SendToQueue","location":`+string(b)+`}`)
			ok, calls := r.run(checkoutURL, nil)
			if !ok || len(calls) != 0 {
				t.Errorf("continue %v, calls %v", ok, calls)
			}
			if !strings.Contains(r.logs.String(), "not an http or https URL") {
				t.Errorf("no warning:\n%s", r.logs.String())
			}
		})
	}
	for _, loc := range []string{"https://q.example/q", "HTTP://q.example/q", "Https://q.example/q"} {
		r := newRig(t, nil)
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		r.stub.json(adapterURL("q"), `{"action":"SendToQueue","location":"`+loc+`"}`)
		if ok, calls := r.run(checkoutURL, nil); ok || calls[len(calls)-1].Location != loc+"?target="+urlencode(checkoutURL) {
			t.Errorf("%s: continue %v, calls %v", loc, ok, calls)
		}
	}

	// Such an answer is a bad answer: the check ends and the page runs, as the README says;
	// a later queue is not asked (as after any answer that cannot be used).
	r := newRig(t, nil)
	r.stub.json(testSettings, settingsJSON(queueJSON("a", "", ""), queueJSON("b", "", "")))
	r.stub.json(adapterURL("a"), `{"action":"SendToQueue","location":"javascript:alert(1)"}`)
	r.stub.json(adapterURL("b"), `{"action":"SendToQueue","location":"https://q.example/b"}`)
	a := r.gate.NewAdapter(newRecorder(nil), checkoutURL, testUA, testIP, "")
	mustEqual(t, "page runs", a.IsContinue(context.Background()), true)
	mustEqual(t, "decision", a.Decision().Reason, ReasonBadAnswer)
	mustEqual(t, "queue b asked after a's refused location", r.stub.count(adapterURL("b")), 0)
}

// TestMissingDynamicTargetCountsAsDisabled: SPEC 8 counts a queue without a dynamicTarget (or
// with one that is not text) as "disabled": the visitor returns to the whole URL, query
// included. The reference raises on the missing key instead, after storing the uid cookie.
func TestMissingDynamicTargetCountsAsDisabled(t *testing.T) {
	u := checkoutURL + "?size=9"
	for _, dt := range []string{``, `"dynamicTarget":null,`, `"dynamicTarget":7,`, `"dynamicTarget":"disabled",`} {
		r := newRig(t, nil)
		r.stub.json(testSettings, settingsJSON(strings.Replace(queueJSON("q", "", ""), `"dynamicTarget":"disabled",`, dt, 1)))
		r.stub.json(adapterURL("q"), `{"uid":"u1","cookieSeconds":60,"action":"SendToQueue","location":"https://q.example/q"}`)
		ok, calls := r.run(u, nil)
		want := []call{
			{Op: "setCookie", Name: "QueueFair-Store-shopco", Value: "u:u1", LifetimeSeconds: 60},
			cacheControl,
			{Op: "redirect", Location: "https://q.example/q?target=" + urlencode(u) + "&qfuid=u1"},
		}
		if ok || !reflect.DeepEqual(calls, want) {
			t.Errorf("%q: continue %v, calls %v; want false, %v", dt, ok, calls, want)
		}
	}
}

func TestDebugLogsOnlyForDebugIP(t *testing.T) {
	for _, tt := range []struct {
		ip   string
		want bool
	}{{testIP, true}, {"198.51.100.9", false}} {
		r := newRig(t, func(c *Config) { c.DebugIP = testIP })
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		r.gate.NewAdapter(newRecorder(nil), checkoutURL, testUA, tt.ip, "").IsContinue(context.Background())
		mustEqual(t, "debug lines for "+tt.ip, strings.Contains(r.logs.String(), "level=DEBUG"), tt.want)
	}
}

func TestLogsNeverHoldSecrets(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Debug = true })
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	r.gate.NewAdapter(newRecorder(map[string]string{"QueueFair-Pass-q": passToken("bad", testUA, "q", testNow)}),
		checkoutURL+"?"+passToken("sec-x", testUA, "q", testNow), testUA, testIP, "").IsContinue(context.Background())
	// And a failing download, whose error would name the URL.
	r2 := newRig(t, func(c *Config) { c.Debug = true })
	r2.run(checkoutURL, nil)
	for _, logs := range []string{r.logs.String(), r2.logs.String()} {
		for _, secret := range []string{testSecret, "sec-q"} {
			if strings.Contains(logs, secret) {
				t.Errorf("log holds secret %q:\n%s", secret, logs)
			}
		}
	}
	if !strings.Contains(r2.logs.String(), "<secret>") && !strings.Contains(r2.logs.String(), "settings download failed") {
		t.Errorf("no download failure logged:\n%s", r2.logs.String())
	}
}

// TestLogsNeverHoldSecretsOnAnyPath runs debug-logged requests down every path that logs and
// searches the log for the account secret and the queue secrets.
func TestLogsNeverHoldSecretsOnAnyPath(t *testing.T) {
	const accountSecret, queueSecret = "acct-SECRET-5f2e", "queue-SECRET-9d1c"
	queue := strings.Replace(queueJSON("q", "", ""), `"secret":"sec-q"`, `"secret":"`+queueSecret+`"`, 1)
	good := passToken(queueSecret, testUA, "q", testNow)
	bad := passToken("wrong", testUA, "q", testNow)
	requests := []struct {
		url     string
		cookies map[string]string
	}{
		{checkoutURL, nil},
		{checkoutURL + "?" + good, nil},
		{checkoutURL + "?" + bad, nil},
		{checkoutURL + "?" + bad, map[string]string{"QueueFair-Pass-q": bad}},
		{checkoutURL, map[string]string{"QueueFair-Pass-q": good}},
		{checkoutURL, map[string]string{"QueueFair-Pass-q": bad, "QueueFair-Store-shopco": "u:1"}},
	}
	for _, answer := range []string{"", `{"action":"SafeGuard","queue":"q","validation":"` + url.QueryEscape(good) + `"}`, `nonsense`} {
		for _, settingsOK := range []bool{true, false} {
			r := newRig(t, func(c *Config) { c.Debug = true; c.AccountSecret = accountSecret })
			settingsURL := strings.Replace(testSettings, testSecret, accountSecret, 1)
			if settingsOK {
				r.stub.json(settingsURL, settingsJSON(queue))
			} else {
				r.stub.handle(settingsURL, func(*http.Request) (*http.Response, error) { return jsonResponse(500, "no"), nil })
			}
			if answer != "" {
				r.stub.json(adapterURL("q"), answer)
			}
			for _, req := range requests {
				r.gate.NewAdapter(newRecorder(req.cookies), req.url, testUA, testIP, "").IsContinue(context.Background())
			}
			logs := r.logs.String()
			if !strings.Contains(logs, "level=DEBUG") {
				t.Fatal("nothing was logged")
			}
			for _, secret := range []string{accountSecret, queueSecret} {
				if strings.Contains(logs, secret) {
					t.Errorf("the log holds %q:\n%s", secret, logs)
				}
			}
		}
	}
}

// panicService panics on every call.
type panicService struct{}

func (panicService) SetCookie(string, string, int, string) { panic("boom") }
func (panicService) Redirect(string)                       { panic("boom") }
func (panicService) GetCookie(string) string               { panic("boom") }
func (panicService) AddHeader(string, string)              { panic("boom") }

func TestIsContinueNeverPanics(t *testing.T) {
	captureDefaultLogger(t) // the nil Gate's Check below warns through slog.Default
	r := newRig(t, nil)
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	mustEqual(t, "continue", r.gate.NewAdapter(panicService{}, checkoutURL, testUA, testIP, "").IsContinue(context.Background()), true)
	var nilGate *Gate
	mustEqual(t, "nil gate", nilGate.NewAdapter(panicService{}, checkoutURL, "", "", "").IsContinue(context.Background()), true)
	// An Adapter from a nil Gate still validates cookies and redirects (the hybrid model).
	orphan := nilGate.NewAdapter(newRecorder(nil), checkoutURL, testUA, testIP, "")
	mustEqual(t, "nil gate cookie check", orphan.ValidateCookie("sec-q", 20, passToken("sec-q", testUA, "q", time.Now().Unix())), true)
	orphan.Redirect("https://q.example/", time.Millisecond)
	var nilAdapter *Adapter
	mustEqual(t, "nil adapter", nilAdapter.IsContinue(context.Background()), true)
	mustEqual(t, "nil gate Check", nilGate.Check(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)), true)
}

// A nil Gate (New failed, or a package-level gate shadowed in main) lets every page run; it
// must say so, or a site runs its sale with no waiting room and nothing in the log.
func TestNilGateWarns(t *testing.T) {
	logs := captureDefaultLogger(t)
	var gate *Gate
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") })

	h := gate.Handler(page)
	if n := strings.Count(logs.String(), "nil *Gate"); n != 1 {
		t.Fatalf("wrapping with a nil Gate logged %d warnings, want 1 at once:\n%s", n, logs.String())
	}
	for i := 0; i < 3; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/checkout", nil))
		mustEqual(t, "page from a nil Gate's Handler", rec.Body.String(), "page")
	}
	if n := strings.Count(logs.String(), "nil *Gate"); n != 1 {
		t.Errorf("a nil Gate's Handler warned %d times, want once, when wrapping:\n%s", n, logs.String())
	}
	mustEqual(t, "Handler call named", strings.Contains(logs.String(), "call=Handler"), true)

	for i := 0; i < 2; i++ {
		mustEqual(t, "nil Gate Check", gate.Check(httptest.NewRecorder(), httptest.NewRequest("GET", "/checkout", nil)), true)
	}
	if n := strings.Count(logs.String(), "call=Check"); n != 2 {
		t.Errorf("a nil Gate's Check warned %d times in 2 calls, want 2 (it has nowhere to remember):\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("not a warning:\n%s", logs.String())
	}
}

// A Gate from New warns about nothing when it wraps a handler.
func TestGateHandlerDoesNotWarn(t *testing.T) {
	logs := captureDefaultLogger(t)
	r := newRig(t, nil)
	r.gate.Handler(http.NotFoundHandler())
	if s := logs.String(); s != "" {
		t.Errorf("a working Gate logged through slog.Default: %s", s)
	}
}

func TestCutBefore(t *testing.T) {
	for _, tt := range []struct {
		u    string
		pos  int
		want string
	}{{"https://x/p?qfqid=1", 12, "https://x/p"}, {"https://x/p?a=1&qfqid=1", 16, "https://x/p?a=1"}, {"qfqid=1", 0, "qfqid="}, {"", 0, ""}} {
		mustEqual(t, "cutBefore("+tt.u+")", cutBefore(tt.u, tt.pos), tt.want)
	}
}

func TestHTTPEndToEnd(t *testing.T) {
	r := newRig(t, nil)
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", `,"cookieDomain":"127.0.0.1"`)))
	r.stub.json("https://adapter.queue-fair.net/adapter/q?ipaddress=127.0.0.1&identifier="+urlencode(testUA),
		`{"uid":"u-1","cookieSeconds":600,"action":"SafeGuard","queue":"q","validation":"`+url.QueryEscape(passToken("sec-q", testUA, "q", testNow))+`"}`)
	r.gate.now = time.Now // cookie expiry is read by a real client

	for _, useTLS := range []bool{false, true} {
		s := site(t, r.gate, useTLS)
		client := s.Client()
		resp := get(t, client, s.URL+"/checkout/cart")
		mustEqual(t, "status", resp.StatusCode, 200)
		mustEqual(t, "Cache-Control", resp.Header.Get("Cache-Control"), "no-store, max-age=0")
		pass := cookieNamed(resp, "QueueFair-Pass-q")
		if pass == nil {
			t.Fatalf("no Passed Cookie in %q", resp.Header["Set-Cookie"])
		}
		mustEqual(t, "value", pass.Value, passToken("sec-q", testUA, "q", testNow))
		mustEqual(t, "path", pass.Path, "/")
		mustEqual(t, "domain", pass.Domain, "127.0.0.1")
		mustEqual(t, "max-age", pass.MaxAge, 1200)
		mustEqual(t, "secure", pass.Secure, useTLS)
		mustEqual(t, "httponly", pass.HttpOnly, false)
		if useTLS {
			mustEqual(t, "samesite", pass.SameSite, http.SameSiteNoneMode)
		} else {
			mustEqual(t, "samesite", pass.SameSite, http.SameSite(0)) // no attribute
		}
		if d := time.Until(pass.Expires) - 1200*time.Second; d > 5*time.Second || d < -5*time.Second {
			t.Errorf("Expires %v does not match Max-Age", pass.Expires)
		}
		uid := cookieNamed(resp, "QueueFair-Store-shopco")
		if uid == nil || uid.Value != "u:u-1" || uid.MaxAge != 600 {
			t.Errorf("uid cookie = %v", uid)
		}
	}
}

func TestHTTPRedirectAndDelete(t *testing.T) {
	r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	s := site(t, r.gate, true)
	expired := &http.Cookie{Name: "QueueFair-Pass-q", Value: passToken("sec-q", testUA, "q", testNow-7200)}
	resp := get(t, s.Client(), s.URL+"/checkout/cart?a=1", expired)
	mustEqual(t, "status", resp.StatusCode, http.StatusFound)
	mustEqual(t, "Location", resp.Header.Get("Location"), "https://shopco.queue-fair.net/q?target="+urlencode(s.URL+"/checkout/cart?a=1"))
	mustEqual(t, "Cache-Control", resp.Header.Get("Cache-Control"), "no-store, max-age=0")
	del := cookieNamed(resp, "QueueFair-Pass-q")
	if del == nil || del.MaxAge != -1 || del.Value != "" {
		t.Fatalf("expired Passed Cookie not deleted: %q", resp.Header["Set-Cookie"])
	}
	if !strings.Contains(strings.Join(resp.Header["Set-Cookie"], "\n"), "Max-Age=0") {
		t.Errorf("no Max-Age=0 in %q", resp.Header["Set-Cookie"])
	}
}

func TestHTTPStripRedirect(t *testing.T) {
	r := newRig(t, nil)
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	s := site(t, r.gate, false)
	resp := get(t, s.Client(), s.URL+"/checkout/cart?a=1&"+passToken("sec-q", testUA, "q", testNow))
	mustEqual(t, "status", resp.StatusCode, http.StatusFound)
	mustEqual(t, "Location", resp.Header.Get("Location"), s.URL+"/checkout/cart?a=1")
	if c := cookieNamed(resp, "QueueFair-Pass-q"); c == nil || c.Value != passToken("sec-q", testUA, "q", testNow) {
		t.Errorf("Passed Cookie = %v", c)
	}
	// Back without the Passed String, with the cookie: the page.
	resp = get(t, s.Client(), s.URL+"/checkout/cart?a=1", &http.Cookie{Name: "QueueFair-Pass-q", Value: passToken("sec-q", testUA, "q", testNow)})
	mustEqual(t, "status after strip", resp.StatusCode, 200)
}

func TestCheckCookieHybrid(t *testing.T) {
	r := newRig(t, nil)
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.gate.CheckCookie(w, req, "q", "sec-q", 20) {
			io.WriteString(w, "ok")
		}
	})
	s := httptest.NewServer(h)
	defer s.Close()
	good := &http.Cookie{Name: "QueueFair-Pass-q", Value: passToken("sec-q", testUA, "q", testNow)}
	mustEqual(t, "valid cookie", get(t, s.Client(), s.URL+"/app", good).StatusCode, 200)
	resp := get(t, s.Client(), s.URL+"/app")
	mustEqual(t, "no cookie", resp.StatusCode, http.StatusFound)
	mustEqual(t, "Location", resp.Header.Get("Location"), "https://shopco.queue-fair.net/q?qfError=InvalidCookie")
	mustEqual(t, "no settings downloaded", len(r.stub.urls()), 0)
}

func TestRequestOrigin(t *testing.T) {
	tests := []struct {
		name       string
		trust      bool
		hops       int
		tls        bool
		proto, xff []string
		scheme, ip string
	}{
		{"plain", false, 1, false, nil, nil, "http", "192.0.2.1"},
		{"tls", false, 1, true, nil, nil, "https", "192.0.2.1"},
		{"headers ignored by default", false, 1, false, []string{"https"}, []string{"198.51.100.7"}, "http", "192.0.2.1"},
		{"trusted", true, 1, false, []string{"https"}, []string{"198.51.100.7"}, "https", "198.51.100.7"},
		{"spoofed left entry ignored", true, 1, false, []string{"https, http"}, []string{"6.6.6.6, 198.51.100.7"}, "https", "198.51.100.7"},
		{"two hops", true, 2, false, nil, []string{"203.0.113.9, 198.51.100.7", "10.0.0.1"}, "http", "198.51.100.7"},
		{"too few entries", true, 3, false, nil, []string{"198.51.100.7"}, "http", "192.0.2.1"},
		{"not an IP", true, 1, false, []string{"gopher"}, []string{"evil&x=1"}, "http", "192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewConfig("a", "s")
			cfg.TrustForwardedHeaders, cfg.ForwardedHops = tt.trust, tt.hops
			g, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/p?q=1", nil)
			req.RemoteAddr = "192.0.2.1:1234"
			if tt.tls {
				req.TLS = &tls.ConnectionState{}
			}
			for _, v := range tt.proto {
				req.Header.Add("X-Forwarded-Proto", v)
			}
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			scheme, ip := g.requestOrigin(req)
			mustEqual(t, "scheme", scheme, tt.scheme)
			mustEqual(t, "ip", ip, tt.ip)
			mustEqual(t, "url", AbsoluteURL(scheme, req.Host, req.URL.Path, req.URL.RawQuery), tt.scheme+"://example.com/p?q=1")
		})
	}
}

func TestCookieValue(t *testing.T) {
	h := http.Header{"Cookie": {`a=1; QueueFair-Pass-q="x=1&y=2"; b = spaced ; a=2`, "c=3"}}
	for name, want := range map[string]string{"a": "1", "QueueFair-Pass-q": "x=1&y=2", "b": "spaced", "c": "3", "d": "", "Queue": ""} {
		mustEqual(t, "cookie "+name, cookieValue(h, name), want)
	}
}

func TestHTTPServiceSanitizes(t *testing.T) {
	w := httptest.NewRecorder()
	s := NewHTTPService(w, httptest.NewRequest("GET", "/", nil), false)
	s.SetCookie("n", "a\"b;c\\d\x7fé", 10, "")
	s.AddHeader("X-Test", "a\r\nSet-Cookie: evil=1")
	s.Redirect("https://x.example/\r\nX-Evil: 1")
	mustEqual(t, "cookie", w.Header().Get("Set-Cookie")[:6], "n=abcd")
	mustEqual(t, "header", w.Header().Get("X-Test"), "aSet-Cookie: evil=1")
	mustEqual(t, "location", w.Header().Get("Location"), "https://x.example/X-Evil: 1")
	mustEqual(t, "status", w.Code, http.StatusFound)
}

// TestNoNewlineReachesAHeader: CR and LF in the requested URL, in the uid cookie and in the
// adapter server's answer never reach a response header through the net/http Service.
func TestNoNewlineReachesAHeader(t *testing.T) {
	evil := "\r\nSet-Cookie: evil=1\r\n"
	jsonEvil := strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(evil)
	r := newRig(t, nil)
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	r.stub.json("https://adapter.queue-fair.net/adapter/q?ipaddress=203.0.113.7&uid=u%0D%0Ax&identifier="+urlencode(testUA),
		`{"uid":"u\r\nx","cookieSeconds":60,"action":"SendToQueue","location":"https://q.example/q`+jsonEvil+`"}`)
	w := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/checkout", nil)
	req.Header["Cookie"] = []string{"QueueFair-Store-shopco=u:u\r\nx"}
	svc := NewHTTPService(w, req, true)
	ok := r.gate.NewAdapter(svc, "https://shop.example.com/checkout"+evil, testUA, testIP, "").IsContinue(context.Background())
	mustEqual(t, "redirected", ok, false)
	if len(w.Header()["Location"]) != 1 {
		t.Fatalf("Location headers %q", w.Header()["Location"])
	}
	for name, values := range w.Header() {
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n") {
				t.Errorf("header %s holds a newline: %q", name, v)
			}
			if name == "Set-Cookie" && strings.HasPrefix(v, "evil") {
				t.Errorf("an injected cookie was set: %q", v)
			}
		}
	}
}

// TestCookieValuesAreTheValidatedStrings: the Passed Cookie the adapter sets is, byte for
// byte, the Passed String it validated or the validation the adapter server signed, and it
// validates as a cookie on the next request.
func TestCookieValuesAreTheValidatedStrings(t *testing.T) {
	pass := passToken("sec-q", testUA, "q", testNow)
	t.Run("from a Passed String", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.StripPassedString = false })
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		u := checkoutURL + "?x=1&" + pass + "&utm=mail"
		_, calls := r.run(u, nil)
		if len(calls) != 2 || calls[1].Value != u[strings.Index(u, "qfqid"):] {
			t.Fatalf("calls %v", calls)
		}
		ok, _ := r.run(checkoutURL, map[string]string{"QueueFair-Pass-q": calls[1].Value})
		mustEqual(t, "the cookie validates", ok, true)
	})
	t.Run("from the adapter server", func(t *testing.T) {
		r := newRig(t, nil)
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		r.stub.json(adapterURL("q"), `{"action":"SafeGuard","queue":"q","validation":"`+url.QueryEscape(pass)+`"}`)
		_, calls := r.run(checkoutURL, nil)
		if len(calls) != 2 || calls[1].Value != pass {
			t.Fatalf("calls %v", calls)
		}
	})
	t.Run("nothing set from an invalid pass", func(t *testing.T) {
		r := newRig(t, nil)
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		_, calls := r.run(checkoutURL+"?"+strings.Replace(pass, "qfa=shopco", "qfa=other", 1), nil)
		for _, c := range calls {
			if c.Op == "setCookie" && c.LifetimeSeconds > 0 {
				t.Errorf("set %v from an invalid Passed String", c)
			}
		}
	})
	t.Run("on the wire", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.StripPassedString = false })
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		r.gate.now = r.clock.Now
		s := site(t, r.gate, true)
		resp := get(t, s.Client(), s.URL+"/checkout?"+pass)
		if c := cookieNamed(resp, "QueueFair-Pass-q"); c == nil || c.Value != pass {
			t.Errorf("Set-Cookie %q, want the value %q", resp.Header["Set-Cookie"], pass)
		}
	})
}

// TestEveryServiceGetsCleanValues: a hostile adapter-server answer and settings reach a custom
// Service (here the recorder, as a Fiber or Echo Service would be) only as safe values: no CR,
// LF or NUL in a Location, cookie names of token bytes, cookie values of bytes net/http
// accepts, domains without ';'.
func TestEveryServiceGetsCleanValues(t *testing.T) {
	evil := "\r\nSet-Cookie: evil=1;\x00\"\\"
	j := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	pass := passToken("sec-q", testUA, "q", testNow)
	answers := []string{
		`{"uid":` + j("u"+evil) + `,"cookieSeconds":60,"action":"SendToQueue","location":` + j("https://q.example/q"+evil) + `}`,
		`{"uid":"u1","cookieSeconds":60,"action":"SafeGuard","queue":` + j("q"+evil) + `,"validation":` + j(url.QueryEscape(pass+evil)) + `}`,
	}
	for _, answer := range answers {
		r := newRig(t, nil)
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", `,"cookieDomain":".example.com; HttpOnly`+"\\r\\n"+`"`)))
		r.stub.json(adapterURL("q"), answer)
		_, calls := r.run(checkoutURL, nil)
		if len(calls) < 2 {
			t.Fatalf("answer %s: calls %v", answer, calls)
		}
		for _, c := range calls {
			for _, v := range []string{c.Name, c.Value, c.Domain, c.Location} {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Errorf("a Service got %q in %v", v, c)
				}
			}
			if c.Op != "setCookie" {
				continue
			}
			for i := 0; i < len(c.Name); i++ {
				if !tokenByte(c.Name[i]) {
					t.Errorf("cookie name %q holds %q", c.Name, c.Name[i])
				}
			}
			for i := 0; i < len(c.Value); i++ {
				if !validCookieByte(c.Value[i]) {
					t.Errorf("cookie value %q holds %q", c.Value, c.Value[i])
				}
			}
			if strings.Contains(c.Domain, ";") || c.Domain != ".example.comHttpOnly" {
				t.Errorf("cookie domain %q", c.Domain)
			}
		}
	}
}

func TestErrorsAreAborts(t *testing.T) {
	if err := abortf("x %d", 1); !errors.Is(err, errAbort) || err.Error() != "queuefair: request check abandoned: x 1" {
		t.Errorf("abortf = %v", err)
	}
}

// TestHasByte: hasByte finds any byte value in any lane of a word, and none that is absent,
// including next to the bytes whose borrow could mislead it (0x00, 0x01, 0x80, 0xff).
func TestHasByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		for _, fill := range []byte{0x00, 0x01, 0x7f, 0x80, 0xff, byte(c + 1), byte(c - 1)} {
			if fill == byte(c) {
				continue
			}
			w := lowBits * uint64(fill)
			if hasByte(w, lowBits*uint64(c)) {
				t.Fatalf("hasByte(%#x, %#x) without it", w, c)
			}
			for lane := 0; lane < 8; lane++ {
				v := w&^(0xff<<(8*lane)) | uint64(c)<<(8*lane)
				if !hasByte(v, lowBits*uint64(c)) {
					t.Fatalf("hasByte(%#x, %#x) missed lane %d", v, c, lane)
				}
			}
		}
	}
}

// TestWordRanges: hasLess and hasAbove against every byte value in every lane, next to fill
// bytes at the edges of their ranges (hasLess is only asked about words of bytes below 0x80).
func TestWordRanges(t *testing.T) {
	for _, n := range []byte{0x00, 0x01, 0x20, 0x7e, 0x7f} {
		for c := 0; c < 256; c++ {
			for _, fill := range []byte{0x00, 0x20, 0x7e, 0x7f, 0x80, 0xff} {
				for lane := 0; lane < 8; lane++ {
					w := lowBits*uint64(fill)&^(0xff<<(8*lane)) | uint64(c)<<(8*lane)
					above := byte(c) > n || fill > n
					if n < 0x80 && hasAbove(w, n) != above {
						t.Fatalf("hasAbove(%#x, %#x) = %v", w, n, !above)
					}
					less := byte(c) < n || fill < n
					if c < 0x80 && fill < 0x80 && hasLess(w, n) != less {
						t.Fatalf("hasLess(%#x, %#x) = %v", w, n, !less)
					}
				}
			}
		}
	}
}

// TestLongContainValueIsLinear: a case-insensitive Contain compares in place, at up to the
// value's length in steps a byte of the component; a long value against a long component
// searches the lower-cased component instead (a 4,001-byte value against a visitor's 512 KiB
// query took 3 s a request). Either way the answer is Python's.
func TestLongContainValueIsLinear(t *testing.T) {
	value := strings.Repeat("a", 4000) + "b"
	for _, comp := range []string{
		strings.Repeat("A", 64<<10), strings.Repeat("A", 64<<10) + "B", "x" + strings.Repeat("a", 4000) + "B" + strings.Repeat("é", 1000),
		strings.Repeat("é", 2000) + strings.Repeat("A", 4000) + "b", strings.Repeat("a", 4000) + "İb", strings.Repeat("A", foldedTextMax) + "b",
	} {
		want := strings.Contains(pythonLower(comp), value)
		if got := containsRule(comp, value, false, isASCII(comp), nil); got != want {
			t.Errorf("containsRule(%.20q... %d bytes) = %v, Python says %v", comp, len(comp), got, want)
		}
	}
	// Which way it went: the lower-cased copy is allocated (a nil Adapter keeps none), the
	// in-place pass allocates nothing.
	long := strings.Repeat("A", foldedTextMax+1)
	for _, tt := range []struct {
		comp, value string
		copied      bool
	}{
		{long, value, true},
		{long, strings.Repeat("a", foldedValueMax+1), true},
		{long, strings.Repeat("a", foldedValueMax), false},
		{long[:foldedTextMax], value, false},
	} {
		allocs := testing.AllocsPerRun(3, func() { containsRule(tt.comp, tt.value, false, true, nil) })
		if copied := allocs > 0; copied != tt.copied {
			t.Errorf("a %d-byte value in a %d-byte component: lower-cased copy %v, want %v", len(tt.value), len(tt.comp), copied, tt.copied)
		}
	}
}

// TestNonASCIIPartLoweredOnce: a part of the URL with non-ASCII text is lower-cased once per
// request, however many case-insensitive rules test it; the answers are those of lowering it
// for each rule.
func TestNonASCIIPartLoweredOnce(t *testing.T) {
	rules := make([]string, 20)
	for i := range rules {
		op := `"Or"`
		if i == 0 {
			op = "null"
		}
		match := "Contain"
		if i%2 == 1 {
			match = "Equal"
		}
		rules[i] = fmt.Sprintf(`{"operator":%s,"component":"Query","match":%q,"value":"CAFÉ-%d","caseSensitive":false,"negate":false}`, op, match, i)
	}
	r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "["+strings.Join(rules, ",")+"]", "")))
	for _, tt := range []struct {
		query  string
		queued bool
	}{
		{"q=" + strings.Repeat("é", 5000), false},
		{"q=" + strings.Repeat("é", 5000) + "CAFÉ-18", true},
		{"CAFÉ-19", true}, // Equal
		{"cAfé-19x", false},
	} {
		a := r.gate.NewAdapter(newRecorder(nil), "https://shop.example.com/p?"+tt.query, testUA, testIP, "")
		mustEqual(t, "queued "+tt.query[:min(len(tt.query), 12)], !a.IsContinue(context.Background()), tt.queued)
		if a.lowered == nil || len(a.lowered.in) != 1 {
			t.Errorf("query %.12q lowered %+v times, want once", tt.query, a.lowered)
		}
	}

	// Rules that take turns on more texts than the old keep of four: the query, the URL and
	// three cookies, all non-ASCII, ten times over. Each is lowered once.
	rules = rules[:0]
	for i := 0; i < 10; i++ {
		op := `"Or"`
		if i == 0 {
			op = "null"
		}
		rules = append(rules, fmt.Sprintf(`{"operator":%s,"component":"Query","match":"Contain","value":"zzz","caseSensitive":false,"negate":false}`, op),
			`{"operator":"Or","component":"URL","match":"Contain","value":"zzz","caseSensitive":false,"negate":false}`)
		for _, c := range []string{"c1", "c2", "c3"} {
			rules = append(rules, `{"operator":"Or","component":"Cookie","name":"`+c+`","match":"Contain","value":"zzz","caseSensitive":false,"negate":false}`)
		}
	}
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "["+strings.Join(rules, ",")+"]", "")))
	r.clock.Advance(time.Hour)
	r.run(checkoutURL, nil) // the new settings
	r.gate.store.inFlight.Wait()
	a := r.gate.NewAdapter(newRecorder(map[string]string{"c1": "É", "c2": "Éé", "c3": "Ééé"}), "https://shop.example.com/p?q=é", testUA, testIP, "")
	mustEqual(t, "no rule matches", a.IsContinue(context.Background()), true)
	if a.lowered == nil || len(a.lowered.in) != 5 {
		t.Errorf("five texts lowered %+v times, want once each", a.lowered)
	}
}

// TestAdapterAnswerCap: an adapter answer of 64 KiB is read; one byte more is refused, and
// the page runs, as for any failed answer.
func TestAdapterAnswerCap(t *testing.T) {
	for _, size := range []int{maxAdapterBytes, maxAdapterBytes + 1} {
		r := newRig(t, nil)
		r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
		answer := `{"action":"SendToQueue","location":"https://q.example/q","pad":""}`
		answer = strings.Replace(answer, `""`, `"`+strings.Repeat("x", size-len(answer))+`"`, 1)
		r.stub.json(adapterURL("q"), answer)
		ok, _ := r.run(checkoutURL, nil)
		mustEqual(t, "page runs for an answer of "+strconv.Itoa(len(answer))+" bytes", ok, size > maxAdapterBytes)
	}
}

// TestQueueWithoutSecretFailsOpen: a queue whose settings have no secret cannot check a
// Passed Cookie; Python's queue['secret'] raises there, so the page runs, the cookie is kept
// and no later queue is checked. A secret that is not text is a failed check instead (the
// hash raises inside validateCookie's try): the cookie is deleted and the visitor queued.
func TestQueueWithoutSecretFailsOpen(t *testing.T) {
	for _, tt := range []struct {
		name, secret string
		want         bool
		calls        int
	}{
		{"no secret key", "", true, 0},
		{"secret a number", `"secret":5,`, false, 3}, // Cache-Control, the deletion, the redirect
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
			q := strings.Replace(queueJSON("q", "", ""), `"secret":"sec-q",`, tt.secret, 1)
			r.stub.json(testSettings, settingsJSON(q, queueJSON("later", "", "")))
			ok, calls := r.run(checkoutURL, map[string]string{"QueueFair-Pass-q": passToken("sec-q", testUA, "q", testNow)})
			mustEqual(t, "page runs", ok, tt.want)
			mustEqual(t, "calls", len(calls), tt.calls)
		})
	}
}
