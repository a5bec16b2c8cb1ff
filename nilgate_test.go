package queuefair

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

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
