package queuefair

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCompileSettings(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		ok   bool
		chk  func(t *testing.T, s *settings)
	}{
		{"empty queues", `{"queues":[]}`, true, func(t *testing.T, s *settings) { mustEqual(t, "queues", len(s.queues), 0) }},
		{"not JSON", `{"queues":[`, false, nil},
		{"trailing data", `{"queues":[]} x`, false, nil},
		{"trailing bracket", `{"queues":[]}]`, false, nil},
		{"trailing white space", "{\"queues\":[]} \t\r\n", true, nil},
		{"not an object", `[1]`, false, nil},
		{"null", `null`, false, nil},
		{"no queues", `{"other":1}`, false, nil},
		{"queues not array", `{"queues":{}}`, false, nil},
		{"queue not object", `{"queues":[1]}`, false, nil},
		{"queue without name", `{"queues":[{"secret":"s"}]}`, false, nil},
		{"name not string", `{"queues":[{"name":5}]}`, false, nil},
		// Malformed rules compile; they fail when a request reaches them, where Python raises
		// (TestMalformedRulesFailWherePythonDoes).
		{"rules not array", `{"queues":[{"name":"q","activation":{"rules":"x"}}]}`, true, func(t *testing.T, s *settings) {
			mustEqual(t, "broken", s.queues[0].rules[0].broken, "rules is a string")
		}},
		{"rule not object", `{"queues":[{"name":"q","activation":{"rules":[1]}}]}`, true, func(t *testing.T, s *settings) {
			mustEqual(t, "broken", s.queues[0].rules[0].broken, "a rule is not an object")
		}},
		{"rule value a number", `{"queues":[{"name":"q","activation":{"rules":[{"value":5}]}}]}`, true, func(t *testing.T, s *settings) {
			mustEqual(t, "valueNotText", s.queues[0].rules[0].valueNotText, true)
			mustEqual(t, "broken", s.queues[0].rules[0].broken, "a rule has no component")
		}},
		// Port: a malformed variant list or entry is skipped.
		{"variantRules not array", `{"queues":[{"name":"q","activation":{"variantRules":{}}}]}`, true, func(t *testing.T, s *settings) {
			mustEqual(t, "variants", len(s.queues[0].variants), 0)
		}},
		{"variant not object", `{"queues":[{"name":"q","activation":{"variantRules":[1,{"variant":"v","rules":[]}]}}]}`, true, func(t *testing.T, s *settings) {
			mustEqual(t, "variants", len(s.queues[0].variants), 1)
		}},
		{"minimal queue", `{"queues":[{"name":"q"}]}`, true, func(t *testing.T, s *settings) {
			q := s.queues[0]
			mustEqual(t, "cookieName", q.cookieName, "QueueFair-Pass-q")
			mustEqual(t, "hasSecret", q.hasSecret, false)
			mustEqual(t, "lifetimeOK", q.lifetimeOK, false)
			mustEqual(t, "dynamicTarget", q.dynamicTarget, "disabled")
			mustEqual(t, "hasRules", q.hasRules, false)
		}},
		{"empty name", `{"queues":[{"name":""},{"name":"q"}]}`, true, func(t *testing.T, s *settings) {
			mustEqual(t, "cookieName", s.queues[0].cookieName, "QueueFair-Pass-") // a name to Python
			mustEqual(t, "queues", len(s.queues), 2)
		}},
		{"null activation", `{"queues":[{"name":"q","activation":null}]}`, true, func(t *testing.T, s *settings) {
			mustEqual(t, "hasRules", s.queues[0].hasRules, false)
		}},
		{"lifetime forms", `{"queues":[{"name":"a","passedLifetimeMinutes":20},{"name":"b","passedLifetimeMinutes":"15"},
			{"name":"c","passedLifetimeMinutes":20.9},{"name":"d","passedLifetimeMinutes":"20.5"},{"name":"e","passedLifetimeMinutes":true},
			{"name":"f","passedLifetimeMinutes":null},{"name":"g","passedLifetimeMinutes":1e300},{"name":"h","passedLifetimeMinutes":1e400},
			{"name":"i","passedLifetimeMinutes":"99999999999999999999"},{"name":"j","passedLifetimeMinutes":-3000000000},
			{"name":"k","passedLifetimeMinutes":2147483648},{"name":"l","passedLifetimeMinutes":-2.9}]}`, true, func(t *testing.T, s *settings) {
			// Beyond an int32, clamped (clampInt); 1e400 is inf to Python's json, whose int() raises.
			want := []struct {
				n  int
				ok bool
			}{{20, true}, {15, true}, {20, true}, {0, false}, {1, true}, {0, false}, {math.MaxInt32, true}, {0, false},
				{math.MaxInt32, true}, {math.MinInt32, true}, {math.MaxInt32, true}, {-2, true}}
			for i, w := range want {
				q := s.queues[i]
				if q.lifetimeMinutes != w.n || q.lifetimeOK != w.ok {
					t.Errorf("queue %s lifetime = %d, %v; want %d, %v", q.name, q.lifetimeMinutes, q.lifetimeOK, w.n, w.ok)
				}
			}
		}},
		{"rules compiled", `{"queues":[{"name":"q","activation":{"rules":[
			{"operator":null,"component":"Path","match":"Contain","value":"/CheckOut","caseSensitive":false,"negate":false},
			{"operator":"Or","component":"Cookie","name":"tier","match":"Exist","value":null,"caseSensitive":"yes","negate":1},
			{"operator":"And","component":"Header","match":"Regex","value":"X"}],
			"variantRules":[{"variant":"v1","rules":[{"component":"Query","match":"Equal","value":"a"}]}]}}]}`, true, func(t *testing.T, s *settings) {
			r := s.queues[0].rules
			mustEqual(t, "rules", len(r), 3)
			mustEqual(t, "lowered", r[0].value, "/checkout")
			mustEqual(t, "component", r[1].component, compCookie)
			mustEqual(t, "cookie", r[1].cookie, "tier")
			mustEqual(t, "truthy caseSensitive", r[1].caseSensitive, true)
			mustEqual(t, "truthy negate", r[1].negate, true)
			mustEqual(t, "null operator", r[0].op, opOther)
			mustEqual(t, "Or", r[1].op, opOr)
			mustEqual(t, "And", r[2].op, opAnd)
			mustEqual(t, "unknown component", r[2].component, compURL)
			mustEqual(t, "unknown match", r[2].match, matchNone)
			mustEqual(t, "variant", s.queues[0].variants[0].name, "v1")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := compileSettings([]byte(tt.doc))
			if (err == nil) != tt.ok {
				t.Fatalf("compileSettings error = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, errMalformed) {
				t.Errorf("error %v is not errMalformed", err)
			}
			if tt.chk != nil {
				tt.chk(t, s)
			}
		})
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

func TestSettingsCachedForLifetime(t *testing.T) {
	r := newRig(t, nil)
	r.stub.json(testSettings, simpleSettings(1))
	mustEqual(t, "first", r.servedVersion(t), 1)
	r.stub.json(testSettings, simpleSettings(2))
	r.clock.Advance(4*time.Minute + 59*time.Second)
	mustEqual(t, "within lifetime", r.servedVersion(t), 1)
	mustEqual(t, "downloads", len(r.stub.urls()), 1)
	r.clock.Advance(time.Second)
	mustEqual(t, "stale: old settings served while refreshing", r.servedVersion(t), 1)
	r.gate.store.inFlight.Wait()
	mustEqual(t, "refreshed", r.servedVersion(t), 2)
	mustEqual(t, "downloads", len(r.stub.urls()), 2)
}

func TestSettingsLifetimeZeroDownloadsEveryRequest(t *testing.T) {
	r := newRig(t, func(c *Config) { c.SettingsFileCacheLifetimeMinutes = 0 })
	r.stub.json(testSettings, simpleSettings(1))
	mustEqual(t, "first", r.servedVersion(t), 1)
	r.stub.json(testSettings, simpleSettings(2))
	mustEqual(t, "second sees the new settings at once", r.servedVersion(t), 2)
	mustEqual(t, "downloads", len(r.stub.urls()), 2)
	r.stub.json(testSettings, `garbage`)
	mustEqual(t, "a failed download keeps the last good", r.servedVersion(t), 2)
}

func TestSettingsLifetimeMinusOneNeverDownloads(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, func(c *Config) { c.SettingsFileCacheLifetimeMinutes = -1; c.SettingsFileCacheLocation = dir })
	r.stub.json(testSettings, simpleSettings(1))
	mustEqual(t, "no cache file: page runs", r.servedVersion(t), 0)
	mustEqual(t, "downloads", len(r.stub.urls()), 0)

	// Another process (a Gate with a normal lifetime) fills the cache folder.
	w := newRig(t, func(c *Config) { c.SettingsFileCacheLocation = dir })
	w.stub.json(testSettings, simpleSettings(7))
	mustEqual(t, "writer", w.servedVersion(t), 7)

	r.clock.Advance(retryAfterFailure)
	mustEqual(t, "uses the cached file, however old", r.servedVersion(t), 7)
	r.clock.Advance(24 * time.Hour)
	mustEqual(t, "still", r.servedVersion(t), 7)
	mustEqual(t, "downloads", len(r.stub.urls()), 0)
}

func TestSettingsFileSharedBetweenProcesses(t *testing.T) {
	dir := t.TempDir()
	a := newRig(t, func(c *Config) { c.SettingsFileCacheLocation = dir })
	a.stub.json(testSettings, simpleSettings(1))
	mustEqual(t, "a", a.servedVersion(t), 1)
	b := newRig(t, func(c *Config) { c.SettingsFileCacheLocation = dir })
	b.stub.json(testSettings, simpleSettings(2))
	mustEqual(t, "b uses a's file", b.servedVersion(t), 1)
	mustEqual(t, "b downloads", len(b.stub.urls()), 0)

	fi, err := os.Stat(a.gate.store.file)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "file mode", fi.Mode().Perm(), os.FileMode(0o600))
	var df diskFile
	data, _ := os.ReadFile(a.gate.store.file)
	if err := json.Unmarshal(data, &df); err != nil || !df.Fetched.Equal(time.Unix(testNow, 0)) {
		t.Errorf("cache file = %s (%v)", data, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.lock")); len(left) != 0 {
		t.Errorf("lock left behind: %v", left)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp*")); len(left) != 0 {
		t.Errorf("temporary file left behind: %v", left)
	}
}

func TestSettingsCorruptFileReplaced(t *testing.T) {
	for _, junk := range []string{"", "{", `{"fetched":"2026-01-01T00:00:00Z"}`, `{"fetched":"x","settings":{}}`, `{"fetched":"2025-11-24T16:00:00Z","settings":{"queues":5}}`} {
		r := newRig(t, nil)
		if err := os.WriteFile(r.gate.store.file, []byte(junk), 0o600); err != nil {
			t.Fatal(err)
		}
		r.stub.json(testSettings, simpleSettings(3))
		mustEqual(t, "served", r.servedVersion(t), 3)
		s, _, err := r.gate.store.readFile()
		if err != nil || len(s.queues) != 1 {
			t.Errorf("after %q the file is still unusable: %v", junk, err)
		}
	}
}

func TestSettingsUnwritableFolder(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o600)
	r := newRig(t, func(c *Config) { c.SettingsFileCacheLocation = filepath.Join(blocker, "sub") })
	r.gate.warnGap = 0 // read every warning
	r.stub.json(testSettings, simpleSettings(1))
	mustEqual(t, "served from memory", r.servedVersion(t), 1)
	mustEqual(t, "served again", r.servedVersion(t), 1)
	mustEqual(t, "downloads", len(r.stub.urls()), 1)
	if !strings.Contains(r.logs.String(), "could not write the settings cache file") {
		t.Errorf("no warning about the cache file:\n%s", r.logs.String())
	}
}

func TestSettingsFailuresKeepLastGoodAndBackOff(t *testing.T) {
	faults := map[string]func(*http.Request) (*http.Response, error){
		"500":        func(*http.Request) (*http.Response, error) { return jsonResponse(500, `{}`), nil },
		"404":        func(*http.Request) (*http.Response, error) { return jsonResponse(404, simpleSettings(9)), nil },
		"300":        func(*http.Request) (*http.Response, error) { return jsonResponse(300, simpleSettings(9)), nil },
		"199":        func(*http.Request) (*http.Response, error) { return jsonResponse(199, simpleSettings(9)), nil },
		"garbage":    func(*http.Request) (*http.Response, error) { return jsonResponse(200, `<html>`), nil },
		"truncated":  func(*http.Request) (*http.Response, error) { return jsonResponse(200, simpleSettings(9)[:40]), nil },
		"wrong type": func(*http.Request) (*http.Response, error) { return jsonResponse(200, `{"queues":"none"}`), nil },
		"too large": func(*http.Request) (*http.Response, error) {
			return jsonResponse(200, `{"queues":[],"pad":"`+strings.Repeat("x", maxSettingsBytes)+`"}`), nil
		},
		"refused": func(*http.Request) (*http.Response, error) { return nil, errors.New("connection refused") },
	}
	for name, fault := range faults {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, nil)
			r.stub.json(testSettings, simpleSettings(1))
			mustEqual(t, "first", r.servedVersion(t), 1)
			r.stub.handle(testSettings, fault)
			r.clock.Advance(6 * time.Minute)
			mustEqual(t, "stale kept", r.servedVersion(t), 1)
			r.gate.store.inFlight.Wait()
			mustEqual(t, "last good kept", r.servedVersion(t), 1)
			r.gate.store.inFlight.Wait()
			mustEqual(t, "downloads during back-off", len(r.stub.urls()), 2)
			r.stub.json(testSettings, simpleSettings(2))
			r.clock.Advance(retryAfterFailure)
			r.servedVersion(t)
			r.gate.store.inFlight.Wait()
			mustEqual(t, "retried later", r.servedVersion(t), 2)
			if !strings.Contains(r.logs.String(), "settings download failed; the last good settings stay in use") {
				t.Errorf("failure not logged:\n%s", r.logs.String())
			}
		})
	}
}

func TestSettingsNoneAtAllFailsOpenFast(t *testing.T) {
	r := newRig(t, nil)
	mustEqual(t, "page runs", r.servedVersion(t), 0)
	if logs := r.logs.String(); !strings.Contains(logs, "with no settings yet, pages run unqueued") || strings.Contains(logs, "last good") {
		t.Errorf("the warning should say there are no settings yet:\n%s", logs)
	}
	mustEqual(t, "page runs again", r.servedVersion(t), 0)
	mustEqual(t, "one download during back-off", len(r.stub.urls()), 1)
	r.stub.json(testSettings, simpleSettings(1))
	r.clock.Advance(retryAfterFailure)
	mustEqual(t, "recovered", r.servedVersion(t), 1)
}

func TestSettingsOneDownloadForManyRequests(t *testing.T) {
	r := newRig(t, nil)
	release := make(chan struct{})
	var downloads atomic.Int32
	r.stub.handle(testSettings, func(*http.Request) (*http.Response, error) {
		downloads.Add(1)
		<-release
		return jsonResponse(200, simpleSettings(1)), nil
	})
	const n = 300
	var started, done sync.WaitGroup
	results := make(chan bool, n)
	for i := 0; i < n; i++ {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			ok, _ := r.run(checkoutURL, nil)
			results <- ok
		}()
	}
	started.Wait()
	close(release)
	done.Wait()
	close(results)
	for ok := range results {
		if ok {
			t.Fatal("a request ran the page although settings came")
		}
	}
	mustEqual(t, "downloads", downloads.Load(), int32(1))
}

// TestSettingsWaitEndsWithRequestContext: a request at start-up whose context has ended stops
// waiting for the download at once, not after ReadTimeout.
func TestSettingsWaitEndsWithRequestContext(t *testing.T) {
	r := newRig(t, func(c *Config) { c.ReadTimeout = 2 * time.Second })
	release := make(chan struct{})
	r.stub.handle(testSettings, func(req *http.Request) (*http.Response, error) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
		return nil, errors.New("hung")
	})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	mustEqual(t, "page runs", r.gate.NewAdapter(newRecorder(nil), checkoutURL, testUA, testIP, "").IsContinue(ctx), true)
	if took := time.Since(start); took > time.Second {
		t.Errorf("the request waited %v, past its context", took)
	}
}

func TestSettingsLockHeldByAnotherProcess(t *testing.T) {
	r := newRig(t, nil)
	st := r.gate.store
	os.WriteFile(st.lock, []byte(fmt.Sprintf("99999 %d\n", time.Unix(testNow, 0).UnixNano())), 0o600)
	// The other process finishes while we wait: it writes the file and drops its lock.
	var once sync.Once
	r.gate.sleep = func(context.Context, time.Duration) {
		once.Do(func() {
			other := newRig(t, func(c *Config) { c.SettingsFileCacheLocation = r.dir })
			other.stub.json(testSettings, simpleSettings(5))
			other.gate.store.lock = st.lock + ".other" // it holds the real one, in this story
			other.run(checkoutURL, nil)
			os.Remove(st.lock)
		})
	}
	mustEqual(t, "adopted the other's download", r.servedVersion(t), 5)
	mustEqual(t, "downloads", len(r.stub.urls()), 0)
}

func TestSettingsStaleLockTakenOver(t *testing.T) {
	r := newRig(t, nil)
	os.WriteFile(r.gate.store.lock, []byte(fmt.Sprintf("1 %d\n", time.Unix(testNow, 0).Add(-time.Hour).UnixNano())), 0o600)
	r.stub.json(testSettings, simpleSettings(1))
	mustEqual(t, "served", r.servedVersion(t), 1)
	mustEqual(t, "no waiting", len(r.sleeps.seconds()), 0)
	if _, err := os.Stat(r.gate.store.lock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock still there: %v", err)
	}
}

func TestSettingsLockNeverReleased(t *testing.T) {
	r := newRig(t, nil)
	os.WriteFile(r.gate.store.lock, []byte(fmt.Sprintf("1 %d\n", time.Unix(testNow, 0).UnixNano())), 0o600)
	r.stub.json(testSettings, simpleSettings(1))
	mustEqual(t, "served after the wait", r.servedVersion(t), 1)
	waited := time.Duration(len(r.sleeps.seconds())) * lockPoll
	mustEqual(t, "waited ReadTimeout", waited, 5*time.Second)
}

func TestSettingsHalfWrittenLockJudgedByAge(t *testing.T) {
	r := newRig(t, nil)
	os.WriteFile(r.gate.store.lock, []byte("12"), 0o600)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(r.gate.store.lock, old, old)
	mustEqual(t, "stale", r.gate.store.lockIsStale(), true)
	os.Chtimes(r.gate.store.lock, time.Now(), time.Now())
	mustEqual(t, "fresh", r.gate.store.lockIsStale(), false)
}

func TestRedactedURL(t *testing.T) {
	r := newRig(t, nil)
	mustEqual(t, "redacted", r.gate.store.redactedURL(), "https://files.queue-fair.net/shopco/<secret>/queue-fair-settings.json")
}

func TestSafeFileName(t *testing.T) {
	mustEqual(t, "name", safeFileName("shop.co/../x"), "shop_co____x")
}
