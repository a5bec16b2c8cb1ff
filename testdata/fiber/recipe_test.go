package yourapp

// The recipe's check, shared by both Fiber versions: a Gate in simple mode whose settings come
// from a local TLS stand-in, and a protected /checkout that four visits walk through.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/queuefair/queuefair"
)

const ua = "Mozilla/5.0 (X11; Linux x86_64) FiberRecipe/1.0"

func newGate(t *testing.T) *queuefair.Gate {
	files := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"queues":[{"name":"sale","displayName":"Sale","secret":"sale-secret","passedLifetimeMinutes":20,
			"queueServer":"queue.example","adapterServer":"adapter.example","adapterMode":"simple","dynamicTarget":"disabled",
			"activation":{"rules":[{"operator":null,"component":"Path","match":"Equal","value":"/checkout","caseSensitive":false,"negate":false}]}}]}`)
	}))
	t.Cleanup(files.Close)
	cfg := queuefair.NewConfig("acct", "acct-secret")
	cfg.FilesServer = strings.TrimPrefix(files.URL, "https://")
	cfg.HTTPClient = files.Client()
	cfg.SettingsFileCacheLocation = t.TempDir()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	gate, err := queuefair.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return gate
}

func pass(ts int64) string {
	signed := fmt.Sprintf("qfqid=q1&qfts=%d&qfa=acct&qfq=sale&qfpt=Queue&", ts)
	m := hmac.New(sha256.New, []byte("sale-secret"))
	io.WriteString(m, ua+signed)
	return signed + "qfh=" + hex.EncodeToString(m.Sum(nil))
}

// walk runs four visits through do, which serves a request with the Fiber app.
func walk(t *testing.T, do func(*http.Request) *http.Response) {
	get := func(target, cookie string) *http.Response {
		req := httptest.NewRequest("GET", target, nil)
		req.Header.Set("User-Agent", ua)
		if cookie != "" {
			req.Header.Set("Cookie", "QueueFair-Pass-sale="+cookie)
		}
		return do(req)
	}
	passCookie := func(resp *http.Response) *http.Cookie {
		for _, c := range resp.Cookies() {
			if c.Name == "QueueFair-Pass-sale" {
				return c
			}
		}
		return nil
	}
	// A new visitor is sent to the queue, uncached.
	resp := get("http://shop.example/checkout", "")
	if resp.StatusCode != 302 || !strings.HasPrefix(resp.Header.Get("Location"), "https://queue.example/sale?target=http%3A%2F%2Fshop.example%2Fcheckout") ||
		resp.Header.Get("Cache-Control") != "no-store, max-age=0" {
		t.Fatalf("new visitor: %d, Location %q, Cache-Control %q", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Cache-Control"))
	}
	// An encoded path meets the rules of the path it decodes to.
	resp = get("http://shop.example/%63heckout", "")
	if resp.StatusCode != 302 || !strings.HasPrefix(resp.Header.Get("Location"), "https://queue.example/sale?target=http%3A%2F%2Fshop.example%2Fcheckout") {
		t.Fatalf("encoded path: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A Host the visitor sent in X-Forwarded-Host cannot move the path the rules see.
	for _, host := range []string{"x?", "x#", "x/", "s", "tp"} {
		req := httptest.NewRequest("GET", "http://shop.example/checkout", nil)
		req.Header.Set("User-Agent", ua)
		req.Header.Set("X-Forwarded-Host", host)
		if resp := do(req); resp.StatusCode != 302 {
			t.Fatalf("X-Forwarded-Host %q: %d, not queued", host, resp.StatusCode)
		}
	}
	// Back with a Passed String: Passed Cookie set, redirected to the URL without it.
	resp = get("http://shop.example/checkout?"+pass(time.Now().Unix()), "")
	c := passCookie(resp)
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "http://shop.example/checkout" || c == nil || c.MaxAge != 1200 || c.Path != "/" {
		t.Fatalf("Passed String: %d, Location %q, Set-Cookie %q", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Values("Set-Cookie"))
	}
	// A tampered Passed Cookie is deleted, and the visitor queued again.
	resp = get("http://shop.example/checkout", strings.Replace(c.Value, "qfts=1", "qfts=2", 1))
	d := passCookie(resp)
	if resp.StatusCode != 302 || d == nil || !(d.MaxAge < 0 || (!d.Expires.IsZero() && d.Expires.Before(time.Now()))) {
		t.Fatalf("tampered cookie: %d, Set-Cookie %q", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
	// The Passed Cookie lets the visitor in.
	resp = get("http://shop.example/checkout", c.Value)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "checkout page" {
		t.Fatalf("Passed Cookie: %d %q", resp.StatusCode, body)
	}
}
