package queuefair

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The forgeries of SPEC 11.1. Each was accepted by the Python reference and by this package
// before the signed text had to hold the qfts that is checked. Every test goes through the
// public API: Gate.NewAdapter(...).IsContinue, Gate.Check and, for cookies, Gate.CheckCookie.

const forgeQueue = "q"

// forgeSecret is the secret of queueJSON("q", ...).
const forgeSecret = "sec-" + forgeQueue

// signedText is a genuine pass's signed text, minted at ts.
func signedText(ts int64) string {
	return fmt.Sprintf("qfqid=8f14e45f-ceea-467a-9575-4f0c1e2d3b6a&qfts=%d&qfa=shopco&qfq=%s&qfpt=SafeGuard&", ts, forgeQueue)
}

// forgery is one request an attacker builds: the User-Agent they send and either a Passed
// Cookie or a query string.
type forgery struct {
	name   string
	ua     string
	cookie string // Passed Cookie value, or ""
	query  string // query string of the requested URL, or ""
}

// cookieForgeries are the eternal-cookie attacks, built from genuine passes that expired a
// day ago.
func cookieForgeries() []forgery {
	old := int64(testNow - 86400)
	s := signedText(old)
	h := hashHex(forgeSecret, testUA+s)
	forever := "&qfts=99999999999&q=" + forgeQueue
	cut := strings.Index(s, "qfa=") // everything up to and with the signed qfts moves
	// A pass obtained with a User-Agent chosen to end in a qfts of the attacker's.
	uaTail := "&qfts=99999999999&"
	sTail := hashHex(forgeSecret, testUA+uaTail+s)
	uaTail2 := "qfqid=x&qfts=99999999999&"
	sTail2 := hashHex(forgeSecret, testUA+uaTail2+s)
	return []forgery{
		{"signed text moved into the User-Agent", testUA + s, "qfh=" + h + forever, ""},
		{"part of the signed text moved", testUA + s[:cut], s[cut:] + "qfh=" + h + forever, ""},
		{"most of the signed text moved", testUA + s[:len(s)-1], s[len(s)-1:] + "qfh=" + h + forever, ""},
		{"User-Agent ending in a qfts", testUA, uaTail + s + "qfh=" + sTail, ""},
		{"User-Agent ending in qfqid and qfts", testUA, uaTail2 + s + "qfh=" + sTail2, ""},
		{"fresh qfts after the hash", testUA, s + "qfh=" + h + "&qfts=" + fmt.Sprint(testNow), ""},
	}
}

// queryForgeries are the replayed and empty-span Passed String attacks.
func queryForgeries() []forgery {
	expired := signedText(testNow - 3600)
	v := expired + "qfh=" + hashHex(forgeSecret, testUA+expired)
	now := fmt.Sprint(testNow)
	return []forgery{
		{"fresh qfts prepended to an expired Passed String", testUA, "", "qfts=" + now + "&" + v},
		{"fresh qfts hidden in another field", testUA, "", "a=1&qfts=" + now + "&x=" + v},
		{"fresh qfts after the hash", testUA, "", v + "&qfts=" + now},
		{"qfh before qfqid (empty signed text)", testUA, "", "qfh=" + hashHex(forgeSecret, testUA) + "&qfqid=1&qfts=" + now + "&qfq=" + forgeQueue},
	}
}

// forgeryRig serves one queue in simple mode, so a visitor without a pass is redirected.
func forgeryRig(t *testing.T) *rig {
	r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple })
	r.stub.json(testSettings, settingsJSON(queueJSON(forgeQueue, "", "")))
	return r
}

func (f forgery) url() string {
	if f.query == "" {
		return checkoutURL
	}
	return checkoutURL + "?" + f.query
}

func (f forgery) cookies() map[string]string {
	if f.cookie == "" {
		return nil
	}
	return map[string]string{CookieNameBase + forgeQueue: f.cookie}
}

func (f forgery) request() *http.Request {
	req := httptest.NewRequest("GET", f.url(), nil)
	req.Header.Set("User-Agent", f.ua)
	if f.cookie != "" {
		req.Header.Set("Cookie", CookieNameBase+forgeQueue+"="+f.cookie)
	}
	return req
}

func TestForgedPassesRejected(t *testing.T) {
	all := append(cookieForgeries(), queryForgeries()...)
	for _, f := range all {
		t.Run(f.name, func(t *testing.T) {
			t.Run("IsContinue", func(t *testing.T) {
				r := forgeryRig(t)
				rec := newRecorder(f.cookies())
				ok := r.gate.NewAdapter(rec, f.url(), f.ua, testIP, "").IsContinue(context.Background())
				if ok {
					t.Fatalf("forged pass accepted; calls %v", rec.calls)
				}
				for _, c := range rec.calls {
					if c.Op == "setCookie" && c.LifetimeSeconds > 0 {
						t.Errorf("a Passed Cookie was set from a forgery: %v", c)
					}
				}
			})
			t.Run("Check", func(t *testing.T) {
				r := forgeryRig(t)
				w := httptest.NewRecorder()
				if r.gate.Check(w, f.request()) {
					t.Fatalf("forged pass accepted by Check; headers %v", w.Header())
				}
				mustEqual(t, "status", w.Code, http.StatusFound)
			})
			if f.cookie == "" {
				return
			}
			t.Run("CheckCookie", func(t *testing.T) {
				r := forgeryRig(t)
				w := httptest.NewRecorder()
				if r.gate.CheckCookie(w, f.request(), forgeQueue, forgeSecret, 20) {
					t.Fatal("forged cookie accepted by CheckCookie")
				}
				if loc := w.Header().Get("Location"); !strings.Contains(loc, "qfError=InvalidCookie") {
					t.Errorf("Location = %q", loc)
				}
			})
		})
	}
}

// TestGenuinePassesStillAccepted: the same shapes, signed honestly and in date, are accepted
// through the same three doors, including a signed text with parameters this package does not
// know and text around it.
func TestGenuinePassesStillAccepted(t *testing.T) {
	s := signedText(testNow - 10)
	extra := "qfqid=1&qfts=" + fmt.Sprint(testNow-10) + "&qfa=shopco&qfq=" + forgeQueue + "&qfpt=Queue&qfnew=7&qf%78=y&"
	genuine := []forgery{
		{"cookie", testUA, s + "qfh=" + hashHex(forgeSecret, testUA+s), ""},
		{"cookie with unknown signed parameters", testUA, extra + "qfh=" + hashHex(forgeSecret, testUA+extra), ""},
		{"Passed String", testUA, "", s + "qfh=" + hashHex(forgeSecret, testUA+s)},
		{"Passed String with parameters around it", testUA, "", "utm=1&qfts=5&" + extra + "qfh=" + hashHex(forgeSecret, testUA+extra) + "&ref=x"},
	}
	for _, f := range genuine {
		t.Run(f.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.AdapterMode = ModeSimple; c.StripPassedString = false })
			r.stub.json(testSettings, settingsJSON(queueJSON(forgeQueue, "", "")))
			if ok, calls := r.run(f.url(), f.cookies()); !ok {
				t.Fatalf("genuine pass refused; calls %v", calls)
			}
			w := httptest.NewRecorder()
			if !r.gate.Check(w, f.request()) {
				t.Fatalf("genuine pass refused by Check: %v", w.Header())
			}
			if f.cookie != "" && !r.gate.CheckCookie(httptest.NewRecorder(), f.request(), forgeQueue, forgeSecret, 20) {
				t.Fatal("genuine cookie refused by CheckCookie")
			}
		})
	}
}

func TestSignedTimestamp(t *testing.T) {
	tests := []struct {
		signed, ts string
		ok         bool
	}{
		{"qfqid=1&qfts=5&qfq=q&", "5", true},
		{"qfqid=1&qf%74s=5&", "5", true},
		{"qfqid=1&qfts=5+&", "5 ", true},
		{"qfqid=1&qfts=5&qfts=6&", "", false},
		{"qfqid=1&qfts=5&qf%74s=6&", "", false},
		{"qfqid=1&qfts=5&qfts&", "", false},
		{"qfqid=1&qfts=&", "", false},
		{"qfqid=1&", "", false},
		{"x=1&qfqid=1&qfts=5&", "", false},
		{"", "", false},
		{"qfqid=1&xqfts=5&", "", false},
	}
	for _, tt := range tests {
		// Read as any pass is, and, when it has no escapes, as a usual pass is.
		for _, asWritten := range []bool{false, !hasEscapes(tt.signed, true)} {
			ts := "" // the text signedTimestamp hands its parser
			_, why := signedTimestamp(tt.signed, asWritten, func(s string) (int64, bool) { ts = s; return 0, true })
			if (why == "") != tt.ok || ts != tt.ts {
				t.Errorf("signedTimestamp(%q, %v) = %q, %q; want %q, ok %v", tt.signed, asWritten, ts, why, tt.ts, tt.ok)
			}
		}
	}
	if ts, why := signedTimestamp("qfqid=1&qfts=12&", true, parseDigits); ts != 12 || why != "" {
		t.Errorf("parsed %d, %q", ts, why)
	}
	if _, why := signedTimestamp("qfqid=1&qfts=1x&", false, parseDigits); why != "timestamp not numeric" {
		t.Errorf("a timestamp that is not numeric: %q", why)
	}
}
