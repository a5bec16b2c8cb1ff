package queuefair

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestHashesComparedInConstantTime reads the source: the only comparison of a computed hash
// with the visitor's is constantTimeEqual, whose loop never returns early, and the validation
// functions compare no hash with == or !=.
func TestHashesComparedInConstantTime(t *testing.T) {
	fset := token.NewFileSet()
	funcs := map[string]*ast.FuncDecl{}
	for _, file := range []string{"hash.go", "queuefair.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				funcs[fd.Name.Name] = fd
			}
		}
	}
	calls := func(fd *ast.FuncDecl, name string) bool {
		found := false
		ast.Inspect(fd, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok {
				if id, ok := c.Fun.(*ast.Ident); ok && id.Name == name {
					found = true
				}
				if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == name {
					found = true
				}
			}
			return true
		})
		return found
	}
	if !calls(funcs["matches"], "constantTimeEqual") {
		t.Error("signer.matches does not compare with constantTimeEqual")
	}
	if !calls(funcs["constantTimeEqual"], "ConstantTimeByteEq") {
		t.Error("constantTimeEqual does not end in subtle.ConstantTimeByteEq")
	}
	ast.Inspect(funcs["constantTimeEqual"], func(n ast.Node) bool {
		if loop, ok := n.(*ast.ForStmt); ok {
			ast.Inspect(loop.Body, func(n ast.Node) bool {
				if _, ok := n.(*ast.ReturnStmt); ok {
					t.Errorf("constantTimeEqual returns from inside its loop at %v", fset.Position(n.Pos()))
				}
				return true
			})
		}
		return true
	})
	for _, name := range []string{"validateQuery", "validateCookie", "matches"} {
		ast.Inspect(funcs[name], func(n ast.Node) bool {
			if b, ok := n.(*ast.BinaryExpr); ok && (b.Op == token.EQL || b.Op == token.NEQ) {
				for _, side := range []ast.Expr{b.X, b.Y} {
					if id, ok := side.(*ast.Ident); ok && strings.Contains(strings.ToLower(id.Name), "hash") {
						t.Errorf("%s compares %s with %s at %v", name, id.Name, b.Op, fset.Position(b.Pos()))
					}
				}
			}
			return true
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

// TestByteOrderMarkSkipped: settings and an adapter answer that start with a UTF-8 BOM are
// used, as the reference's JSON reader uses them.
func TestByteOrderMarkSkipped(t *testing.T) {
	const bom = "\xEF\xBB\xBF"
	r := newRig(t, nil)
	r.stub.json(testSettings, bom+settingsJSON(queueJSON("q", "", "")))
	r.stub.json(adapterURL("q"), bom+`{"action":"SendToQueue","location":"https://q.example/q"}`)
	ok, calls := r.run(checkoutURL, nil)
	if ok || len(calls) != 2 || calls[1].Op != "redirect" {
		t.Fatalf("continue %v, calls %v", ok, calls)
	}
}

// TestMissingDynamicTargetRunsThePage: as in the reference, a SendToQueue for a queue without
// a dynamicTarget key raises after the uid cookie is stored: the page runs.
func TestMissingDynamicTargetRunsThePage(t *testing.T) {
	r := newRig(t, nil)
	r.stub.json(testSettings, settingsJSON(strings.Replace(queueJSON("q", "", ""), `"dynamicTarget":"disabled",`, "", 1)))
	r.stub.json(adapterURL("q"), `{"uid":"u1","cookieSeconds":60,"action":"SendToQueue","location":"https://q.example/q"}`)
	ok, calls := r.run(checkoutURL, nil)
	want := []call{{Op: "setCookie", Name: "QueueFair-Store-shopco", Value: "u:u1", LifetimeSeconds: 60}}
	if !ok || !reflect.DeepEqual(calls, want) {
		t.Errorf("continue %v, calls %v; want true, %v", ok, calls, want)
	}
}

// TestUnknownRulesWarnOncePerDownload: rules whose match or component this package does not
// know (a kind newer than this package, say StartsWith) are named in one warning per download.
func TestUnknownRulesWarnOncePerDownload(t *testing.T) {
	rules := `[{"operator":null,"component":"Path","match":"StartsWith","value":"/checkout","caseSensitive":true,"negate":false},
		{"operator":"Or","component":"Header","match":"Equal","value":"x","caseSensitive":true,"negate":false}]`
	r := newRig(t, func(c *Config) { c.SettingsFileCacheLifetimeMinutes = 0 })
	r.stub.json(testSettings, settingsJSON(queueJSON("q", rules, "")))
	for i := 0; i < 3; i++ {
		r.run("https://shop.example.com/home", nil)
	}
	logs := r.logs.String()
	for _, want := range []string{`queue \"q\" rule 1: match \"StartsWith\" never matches`, `queue \"q\" rule 2: component \"Header\" compares the whole URL`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if n := strings.Count(logs, "rules this adapter cannot evaluate"); n < 1 || n > 3 {
		t.Errorf("%d warnings for 3 downloads", n)
	}
	r2 := newRig(t, nil)
	r2.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	r2.run(checkoutURL, nil)
	if strings.Contains(r2.logs.String(), "cannot evaluate") {
		t.Error("warned about known rules")
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
}
