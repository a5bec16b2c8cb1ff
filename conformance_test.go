package queuefair

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
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
	Continue bool      `json:"continue"`
	Calls    []call    `json:"calls"`
	Fetches  []string  `json:"fetches"`
	Sleeps   []float64 `json:"sleeps"`
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

// TestConformance runs every recorded scenario: same decision, same Service calls in the same
// order, same URLs fetched, same pauses. specExpect, where present, replaces expect.
func TestConformance(t *testing.T) {
	vectors := loadVectors(t)
	if len(vectors) < 380 {
		t.Fatalf("found %d conformance scenarios, want the 100+ in testdata/conformance and the 280+ in testdata/recorded", len(vectors))
	}
	names := make([]string, 0, len(vectors))
	for n := range vectors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		v := vectors[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runVector(t, v)
		})
	}
}

func runVector(t *testing.T, v vector) {
	want := v.Expect
	if v.SpecExpect != nil {
		want = v.SpecExpect
	}
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
	if err != nil { // a bad account: the program keeps a nil Gate, which lets every page run
		t.Logf("New refused the config (%v): running with a nil Gate", err)
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

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
