package queuefair

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestEncodedPathsMeetTheirRules is SPEC 11.2 through Gate.Handler around a real ServeMux:
// whenever the mux routes a request to the /checkout handler, the /checkout rule has queued
// the visitor first, however the path was spelled; and a path the mux does not route there
// (double encoding) is not taken for it either.
func TestEncodedPathsMeetTheirRules(t *testing.T) {
	tests := []struct {
		name          string
		target        string
		caseSensitive bool
		routed        bool // the mux alone sends it to the /checkout handler
		queued        bool
	}{
		{"plain", "/checkout", true, true, true},
		{"encoded letter", "/%63heckout", true, true, true},
		{"encoded letter, query", "/%63heckout?x=1", true, true, true},
		{"every letter encoded", "/%63%68%65%63%6B%6F%75%74", true, true, true},
		{"mixed case, case-insensitive rule", "/%43heckOUT", false, false, true},
		{"mixed case, case-sensitive rule", "/%43heckOUT", true, false, false},
		{"encoded slash", "/shop%2Fcheckout", true, false, true},
		{"encoded slash before the name", "/%2Fcheckout", true, false, true},
		{"double encoded", "/%2563heckout", true, false, false},
		{"elsewhere", "/basket", true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reached string
			mux := http.NewServeMux()
			mux.HandleFunc("/checkout", func(http.ResponseWriter, *http.Request) { reached = "checkout" })
			mux.HandleFunc("/", func(http.ResponseWriter, *http.Request) { reached = "other" })

			mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", tt.target, nil))
			mustEqual(t, "mux routes to /checkout", reached == "checkout", tt.routed)

			r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
			rules := `[{"operator":null,"component":"Path","match":"Contain","value":"/checkout","caseSensitive":` +
				map[bool]string{true: "true", false: "false"}[tt.caseSensitive] + `,"negate":false}]`
			r.stub.json(testSettings, settingsJSON(queueJSON("q", rules, "")))
			reached = ""
			w := httptest.NewRecorder()
			r.gate.Handler(mux).ServeHTTP(w, httptest.NewRequest("GET", tt.target, nil))
			mustEqual(t, "queued", w.Code == http.StatusFound, tt.queued)
			if tt.routed && reached == "checkout" {
				t.Errorf("%s reached the /checkout handler without queueing", tt.target)
			}
			if tt.queued && !strings.HasPrefix(w.Header().Get("Location"), "https://shopco.queue-fair.net/q?target=") {
				t.Errorf("Location = %q", w.Header().Get("Location"))
			}
		})
	}
}

func TestAbsoluteURL(t *testing.T) {
	tests := []struct {
		scheme, host, path, query, want string
	}{
		{"https", "shop.example.com", "/checkout", "", "https://shop.example.com/checkout"},
		{"https", "shop.example.com", "/checkout", "a=1&qfh=x", "https://shop.example.com/checkout?a=1&qfh=x"},
		{"http", "h:8080", "", "", "http://h:8080/"},
		{"http", "h", "p", "", "http://h/p"},
		{"http", "h", "/a b/%63/ü", "q=%20", "http://h/a%20b/%2563/%C3%BC?q=%20"},
		{"http", "h", "/:@&+$,-_.!~*'()", "", "http://h/:@&+$,-_.!~*'()"},
		{"http", "h", "/;?#\"<>\x00\xff", "", "http://h/%3B%3F%23%22%3C%3E%00%FF"},
		{"http", "h", "/x", "raw=%zz;ü", "http://h/x?raw=%zz;ü"},
	}
	for _, tt := range tests {
		mustEqual(t, "AbsoluteURL("+tt.path+")", AbsoluteURL(tt.scheme, tt.host, tt.path, tt.query), tt.want)
	}
}

// FuzzAbsoluteURL: the path AbsoluteURL writes decodes back to the path it was given, and
// holds only the bytes escape_uri_path leaves alone, '%' escapes, and nothing that could end
// the path early ('?' or '#').
func FuzzAbsoluteURL(f *testing.F) {
	for _, p := range []string{"/checkout", "/%63heckout", "/a b", "/ü", "", "x", "/?#", "/%zz"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		got := AbsoluteURL("https", "h", path, "")
		escaped := strings.TrimPrefix(got, "https://h")
		for i := 0; i < len(escaped); i++ {
			if c := escaped[i]; c != '%' && !djangoPathSafe(c) {
				t.Fatalf("AbsoluteURL(%q) = %q holds %q", path, got, c)
			}
		}
		want := path
		if want == "" || want[0] != '/' {
			want = "/" + want
		}
		back, err := url.PathUnescape(escaped)
		if err != nil || back != want {
			t.Fatalf("AbsoluteURL(%q) = %q decodes to %q (%v)", path, got, back, err)
		}
	})
}

// TestAbsoluteURLEscapesHost: a host byte that cannot stand in a host and port is written as
// %XX, so a Host a visitor chose cannot end the host early; hosts of real sites are unchanged.
func TestAbsoluteURLEscapesHost(t *testing.T) {
	for _, tt := range []struct{ host, want string }{
		{"shop.example.com", "https://shop.example.com/checkout"},
		{"shop.example.com:8443", "https://shop.example.com:8443/checkout"},
		{"[2001:db8::1]:443", "https://[2001:db8::1]:443/checkout"},
		{"x?", "https://x%3F/checkout"},
		{"x#", "https://x%23/checkout"},
		{"x/?", "https://x%2F%3F/checkout"},
		{"evil@shop", "https://evil%40shop/checkout"},
		{"a b\\c%", "https://a%20b%5Cc%25/checkout"},
		{"b\xc3\xbcch", "https://b%C3%BCch/checkout"},
	} {
		mustEqual(t, "AbsoluteURL with host "+strconv.Quote(tt.host), AbsoluteURL("https", tt.host, "/checkout", ""), tt.want)
	}
}

// TestRequestAdapterHostsCannotMoveThePath: through NewRequestAdapter (the Fiber recipes) and
// through NewAdapter with AbsoluteURL, the rules see the request's own path whatever Host
// the visitor sends: a Fiber app takes it from X-Forwarded-Host by default, which nothing
// checks. NewAdapter cuts the URL as the reference does, so a host that "https://" holds can
// still move the path there; NewRequestAdapter takes the parts by position.
func TestRequestAdapterHostsCannotMoveThePath(t *testing.T) {
	rules := `[{"operator":null,"component":"Path","match":"Equal","value":"/checkout","caseSensitive":false,"negate":false}]`
	r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
	r.stub.json(testSettings, settingsJSON(queueJSON("q", rules, "")))
	queued := func(a *Adapter) bool {
		if a.IsContinue(context.Background()) {
			return false
		}
		return a.Decision().Outcome == OutcomeSentToQueue
	}
	for _, host := range []string{"x?", "x#", "x/?", "x/", "?", "#", "a b", "x\\y", "shop.example.com", "[::1]:80"} {
		if !queued(r.gate.NewAdapter(newRecorder(nil), AbsoluteURL("https", host, "/checkout", "a=1"), testUA, testIP, "")) {
			t.Errorf("NewAdapter(AbsoluteURL) with Host %q: /checkout not queued", host)
		}
	}
	for _, host := range []string{"x?", "x#", "x/?", "h", "s", "tp", "ttps", "", ":1", "https:", "a b", "shop.example.com"} {
		req := Request{Scheme: "https", Host: host, Path: "/checkout", RawQuery: "a=1", UserAgent: testUA, RemoteIP: testIP}
		if !queued(r.gate.NewRequestAdapter(newRecorder(nil), req)) {
			t.Errorf("NewRequestAdapter with Host %q: /checkout not queued", host)
		}
	}
}

// TestDomainRulesSeeTheHostAsRouted: a Domain rule sees the Host as the visitor sent it, port
// removed, as the server routes it. "admin.example.com." (a trailing dot, which a browser sends
// as typed) is not "admin.example.com" to http.ServeMux's host patterns, and so not to the
// rules either: a queue on every host but the admin one (a negated Domain rule) queues the
// dotted name, which the mux serves as the shop. (Handing the rules the name without its dot,
// tried once, let that visitor into the shop unqueued.) The same dot dodges a Domain Equal rule
// on a server that serves any name, which is why the README says to serve only your own.
func TestDomainRulesSeeTheHostAsRouted(t *testing.T) {
	rules := "[" + ruleJSON("Domain", "Equal", "admin.example.com", false, true) + "]"
	r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
	r.stub.json(testSettings, settingsJSON(queueJSON("q", rules, "")))
	var served string
	mux := http.NewServeMux()
	mux.HandleFunc("admin.example.com/", func(http.ResponseWriter, *http.Request) { served = "admin" })
	mux.HandleFunc("/", func(http.ResponseWriter, *http.Request) { served = "shop" })
	h := r.gate.Handler(mux)
	for _, tt := range []struct{ host, served string }{
		{"shop.example.com", ""}, // queued
		{"admin.example.com", "admin"},
		{"admin.example.com:443", "admin"},
		{"admin.example.com.", ""}, // routed to the shop: queued
		{"admin.example.com.:443", ""},
	} {
		served = ""
		req := httptest.NewRequest("GET", "https://"+tt.host+"/checkout", nil)
		req.Header.Set("User-Agent", testUA)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if served != tt.served || (served == "") != (w.Code == http.StatusFound) {
			t.Errorf("Host %q: served %q with status %d, want %q", tt.host, served, w.Code, tt.served)
		}
	}
}

// FuzzRequestAdapter: whatever the Host, the decoded path and the raw query, NewRequestAdapter
// queues a path that holds /checkout (any ASCII case), hands the rules the query as given, and
// redirects only to http and https URLs.
func FuzzRequestAdapter(f *testing.F) {
	for _, s := range [][3]string{{"shop.example.com", "/checkout", ""}, {"x?", "/checkout", "a=1"}, {"h", "/CHECKOUT", "?#"},
		{"", "/a/checkout", "qfqid=1&qfh=2"}, {"a/b#c", "/x", "/checkout"}} {
		f.Add(s[0], s[1], s[2])
	}
	r := newRig(f, func(c *Config) { c.AdapterMode = ModeSimple; c.Logger = discardLogger() })
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	f.Fuzz(func(t *testing.T, host, path, query string) {
		rec := newRecorder(nil)
		req := Request{Scheme: "https", Host: host, Path: path, RawQuery: query, UserAgent: testUA, RemoteIP: testIP}
		a := r.gate.NewRequestAdapter(rec, req)
		if q := a.parts().query; q != query {
			t.Fatalf("Host %q, path %q: the rules see the query %q, not %q", host, path, q, query)
		}
		cont := a.IsContinue(context.Background())
		lower := strings.Map(func(c rune) rune {
			if 'A' <= c && c <= 'Z' {
				return c + 'a' - 'A'
			}
			return c
		}, path)
		if strings.Contains(lower, "/checkout") && cont {
			t.Fatalf("Host %q, path %q: not queued", host, path)
		}
		for _, c := range rec.calls {
			if c.Op == "redirect" && !isHTTPURL(c.Location) {
				t.Fatalf("Host %q, path %q: redirect to %q", host, path, c.Location)
			}
		}
	})
}

// TestOddHostsCannotMoveThePath: the rules see the request's own path whatever Host the
// visitor sends. Python finds the path after the first occurrence of the host in the URL, so
// a host that "https://" already holds ("h", "tp"), or none at all, would move it.
func TestOddHostsCannotMoveThePath(t *testing.T) {
	rules := `[{"operator":null,"component":"Path","match":"Equal","value":"/checkout","caseSensitive":false,"negate":false}]`
	for _, host := range []string{"h", "tp", "ttps", "", ":1", "shop.example.com", "SHOP.example.com:8443", "x?", "x#", "x/?", "a b"} {
		t.Run(host, func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
			r.stub.json(testSettings, settingsJSON(queueJSON("q", rules, "")))
			served := false
			mux := http.NewServeMux()
			mux.HandleFunc("/checkout", func(http.ResponseWriter, *http.Request) { served = true })
			req := httptest.NewRequest("GET", "/checkout", nil)
			req.Host = host
			w := httptest.NewRecorder()
			r.gate.Handler(mux).ServeHTTP(w, req)
			if served || w.Code != http.StatusFound {
				t.Errorf("Host %q: /checkout served without queueing (status %d)", host, w.Code)
			}
		})
	}
}

// TestStripRedirectOnlyToHTTP: an integration that hands NewAdapter a URL without its scheme
// still never makes a Service redirect anywhere but an http or https URL.
func TestStripRedirectOnlyToHTTP(t *testing.T) {
	s := signedText(testNow - 5)
	pass := s + "qfh=" + hashHex(forgeSecret, testUA+s)
	for _, u := range []string{"//evil.example/x?" + pass, "javascript:alert(1)//?" + pass, "/checkout?" + pass} {
		r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
		r.stub.json(testSettings, settingsJSON(queueJSON(forgeQueue, "", "")))
		rec := newRecorder(nil)
		r.gate.NewAdapter(rec, u, testUA, testIP, "").IsContinue(context.Background())
		for _, c := range rec.calls {
			if c.Op == "redirect" && !isHTTPURL(c.Location) {
				t.Errorf("%s: redirect to %q", u, c.Location)
			}
		}
	}
}

// TestHostClean: the eight-at-a-time check agrees with one byte at a time, for every byte at
// every position of hosts from 0 to 17 bytes.
func TestHostClean(t *testing.T) {
	for n := 0; n <= 17; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				b[pos] = byte(c)
				want := true
				for _, x := range b {
					want = want && byteClass[x]&hostByte != 0
				}
				if got := hostClean(string(b)); got != want {
					t.Fatalf("hostClean(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}
