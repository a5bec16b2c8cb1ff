package queuefair

// The operator API: Load (warm start), Status (for a health endpoint), Close, and the
// adapter-server back-off.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewDoesNotDownload(t *testing.T) {
	r := newRig(t, nil)
	r.stub.json(testSettings, simpleSettings(1))
	mustEqual(t, "downloads", len(r.stub.urls()), 0)
	s := r.gate.Status()
	mustEqual(t, "source", s.Source, "")
	mustEqual(t, "downloads counted", s.Downloads, int64(0))
}

func TestLoadWarmStart(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, func(c *Config) { c.SettingsFileCacheLocation = dir })
	r.stub.json(testSettings, simpleSettings(1))
	if err := r.gate.Load(context.Background()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	s := r.gate.Status()
	mustEqual(t, "source", s.Source, SourceDownload)
	mustEqual(t, "queues", s.Queues, 1)
	mustEqual(t, "fresh", s.Fresh, true)
	mustEqual(t, "age", s.Age, time.Duration(0))
	mustEqual(t, "fetched", s.Fetched.Equal(time.Unix(testNow, 0)), true)
	mustEqual(t, "downloads", s.Downloads, int64(1))
	mustEqual(t, "first visitor queued with the loaded settings", r.servedVersion(t), 1)
	if err := r.gate.Load(context.Background()); err != nil {
		t.Fatalf("second Load: %v", err)
	}
	mustEqual(t, "no second download while fresh", len(r.stub.urls()), 1)

	// Another process starting later loads the cache file.
	other := newRig(t, func(c *Config) { c.SettingsFileCacheLocation = dir })
	other.clock.Advance(time.Minute)
	if err := other.gate.Load(context.Background()); err != nil {
		t.Fatalf("Load from the file: %v", err)
	}
	s = other.gate.Status()
	mustEqual(t, "source", s.Source, SourceFile)
	mustEqual(t, "age", s.Age, time.Minute)
	mustEqual(t, "downloads", s.Downloads, int64(0))
}

func TestLoadSaysWhy(t *testing.T) {
	r := newRig(t, nil)
	r.stub.handle(testSettings, func(*http.Request) (*http.Response, error) { return jsonResponse(503, `{}`), nil })
	err := r.gate.Load(context.Background())
	if !errors.Is(err, ErrNoSettings) || !strings.Contains(err.Error(), "HTTP status 503") {
		t.Fatalf("Load = %v", err)
	}
	s := r.gate.Status()
	mustEqual(t, "failures", s.DownloadFailures, int64(1))
	mustEqual(t, "last error", strings.Contains(s.LastError, "503"), true)
	mustEqual(t, "when", s.LastErrorAt.Equal(time.Unix(testNow, 0)), true)
	// Within the back-off a second Load answers at once, without a download.
	if err2 := r.gate.Load(context.Background()); !errors.Is(err2, ErrNoSettings) {
		t.Errorf("second Load = %v", err2)
	}
	mustEqual(t, "downloads", len(r.stub.urls()), 1)

	// With last good settings held, a failed refresh still leaves the Gate ready.
	r.stub.json(testSettings, simpleSettings(1))
	r.clock.Advance(retryAfterFailure)
	if err := r.gate.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.stub.handle(testSettings, func(*http.Request) (*http.Response, error) { return jsonResponse(500, `{}`), nil })
	r.clock.Advance(6 * time.Minute)
	mustEqual(t, "Load with stale settings", r.gate.Load(context.Background()), error(nil))
	s = r.gate.Status()
	mustEqual(t, "stale", s.Fresh, false)
	mustEqual(t, "last error", strings.Contains(s.LastError, "500"), true)
}

func TestLoadEndsWithContext(t *testing.T) {
	files := newSwitchable(t)
	defer files.close()
	r := faultRig(t, files, func(c *Config) { c.ReadTimeout = 5 * time.Second })
	files.setFault(faults["hangs"])
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := r.gate.Load(ctx)
	if !errors.Is(err, ErrNoSettings) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Load = %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Load took %v", took)
	}
	r.gate.Close() // ends the hung download
}

func TestStatusConcurrent(t *testing.T) {
	r := newRig(t, func(c *Config) { c.SettingsFileCacheLifetimeMinutes = 0 })
	r.stub.json(testSettings, simpleSettings(1))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				r.run(checkoutURL, nil)
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				_ = r.gate.Status()
			}
		}()
	}
	wg.Wait()
	r.gate.store.inFlight.Wait()
	s := r.gate.Status()
	mustEqual(t, "source", s.Source, SourceDownload)
	mustEqual(t, "downloads counted", s.Downloads, int64(len(r.stub.urls())))
}

func TestNilGateOperatorAPI(t *testing.T) {
	var g *Gate
	if err := g.Load(context.Background()); !errors.Is(err, ErrNoSettings) {
		t.Errorf("Load = %v", err)
	}
	mustEqual(t, "status closed", g.Status().Closed, true)
	mustEqual(t, "close", g.Close(), error(nil))
}

func TestCloseStopsEverything(t *testing.T) {
	leak := noGoroutineLeak(t)
	var closedConns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, simpleSettings(1))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closedConns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	r := newRig(t, func(c *Config) {
		c.FilesServer = strings.TrimPrefix(srv.URL, "https://")
		c.HTTPClient = srv.Client()
		c.ReadTimeout = storeTimeout
		c.SettingsFileCacheLifetimeMinutes = 0
	})
	mustEqual(t, "queued before Close", r.servedVersion(t), 1)
	mustEqual(t, "open connections closed before Close", closedConns.Load(), int32(0))

	mustEqual(t, "Close", r.gate.Close(), error(nil))
	mustEqual(t, "Close again", r.gate.Close(), error(nil))
	deadline := time.Now().Add(2 * time.Second)
	for closedConns.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	mustEqual(t, "idle connection closed", closedConns.Load(), int32(1))
	ok, calls := r.run(checkoutURL, nil)
	mustEqual(t, "page runs after Close", ok, true)
	mustEqual(t, "calls", len(calls), 0)
	if err := r.gate.Load(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Load after Close = %v", err)
	}
	mustEqual(t, "status", r.gate.Status().Closed, true)
	srv.Close()
	leak()
}

func TestCloseEndsARefreshUnderWay(t *testing.T) {
	files := newSwitchable(t)
	defer files.close()
	r := faultRig(t, files, func(c *Config) { c.ReadTimeout = 5 * time.Second })
	files.setFault(faults["hangs"])
	done := make(chan struct{})
	go func() { r.servedVersion(t); close(done) }()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	r.gate.Close()
	r.gate.store.inFlight.Wait()
	if took := time.Since(start); took > time.Second {
		t.Errorf("the refresh ended %v after Close", took)
	}
	<-done
}

// adapterRig is a Gate in safe mode whose adapter server is srv. Its ReadTimeout is generous,
// so that a loaded machine (the race detector, a busy CI runner) cannot turn an answer into a
// timeout; tests that time out on purpose set a short one.
func adapterRig(t *testing.T, srv *switchable, edit func(*Config)) *rig {
	r := newRig(t, func(c *Config) {
		c.HTTPClient = srv.srv.Client()
		c.ReadTimeout = 10 * time.Second
		if edit != nil {
			edit(c)
		}
	})
	r.gate.adapterBackoff = AdapterBackoff // "during the back-off" holds however slow the machine
	settings := settingsJSON(queueJSON("a", "", `,"adapterServer":"`+srv.host()+`","queueServer":"q.example"`))
	if err := r.gate.store.writeFile([]byte(settings), r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAdapterServerBackoff: with the adapter server down, one request waits for it; the
// requests during the back-off run their page at once without calling it; after the back-off
// one request probes it while the others still skip it; once it answers, it is used again.
func TestAdapterServerBackoff(t *testing.T) {
	const readTimeout = time.Second
	adapter := newSwitchable(t)
	defer adapter.close()
	r := adapterRig(t, adapter, func(c *Config) { c.ReadTimeout = readTimeout })
	adapter.setFault(faults["hangs"])

	start := time.Now()
	ok, _ := r.run(checkoutURL, nil)
	mustEqual(t, "page runs", ok, true)
	if took := time.Since(start); took < readTimeout {
		t.Errorf("the first request took %v: did it ask?", took)
	}
	mustEqual(t, "status", r.gate.Status().AdapterServerDown, true)
	start = time.Now()
	for i := 0; i < 10; i++ {
		ok, calls := r.run(checkoutURL, nil)
		mustEqual(t, "page runs during the back-off", ok, true)
		mustEqual(t, "calls", len(calls), 0)
	}
	// One request that waited for the hung server would take readTimeout.
	if took := time.Since(start); took >= readTimeout {
		t.Errorf("ten requests during the back-off took %v", took)
	}
	mustEqual(t, "adapter calls", adapter.count("/adapter/a"), 1)

	// The server recovers, slowly: after the back-off, one request probes it; the rest,
	// meanwhile, still skip it. The probe's answer waits until the other nine have run.
	const others = 9
	nineRan := make(chan struct{})
	adapter.set(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-nineRan:
		case <-req.Context().Done():
			return
		}
		fmt.Fprint(w, `{"action":"SendToQueue","location":"https://q.example/a"}`)
	})
	r.gate.outage.Store(&adapterOutage{host: r.gate.outage.Load().host, until: r.gate.mono()}) // the back-off ends now
	var wg sync.WaitGroup
	var queued, skipped atomic.Int32
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _ := r.run(checkoutURL, nil)
			if !ok {
				queued.Add(1)
			} else if skipped.Add(1) == others {
				close(nineRan)
			}
		}()
	}
	wg.Wait()
	mustEqual(t, "probes", adapter.count("/adapter/a"), 2)
	mustEqual(t, "queued by the probe's answer", queued.Load(), int32(1))
	mustEqual(t, "status", r.gate.Status().AdapterServerDown, false)
	ok, _ = r.run(checkoutURL, nil)
	mustEqual(t, "used again", ok, false)
	mustEqual(t, "adapter calls", adapter.count("/adapter/a"), 3)
}

// TestProbeWithoutACallIsGivenBack: once the back-off is over, the request that takes the probe
// must learn whether the adapter server is up. One that never asks it (a dry run, a User-Agent
// too long to send) or whose visitor leaves gives the probe back, so the next request probes.
// Before, a visitor could hold the probe and keep a recovered server skipped, every page
// running, for ReadTimeout and a second more.
func TestProbeWithoutACallIsGivenBack(t *testing.T) {
	left, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range []struct {
		name  string
		dry   bool
		ua    string
		ctx   context.Context
		calls int // the prober's calls to the adapter server
	}{
		{"too long to send", false, strings.Repeat("A", 9000), context.Background(), 0},
		{"a dry run", true, testUA, context.Background(), 0},
		{"the visitor left", false, testUA, left, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
			r.stub.json(adapterURL("q"), `{"action":"SendToQueue","location":"https://shopco.queue-fair.net/q"}`)
			if err := r.gate.Load(context.Background()); err != nil {
				t.Fatal(err)
			}
			r.gate.outage.Store(&adapterOutage{host: "adapter.queue-fair.net", until: r.gate.mono() - 1}) // just over
			r.gate.cfg.DryRun = tt.dry
			r.gate.NewAdapter(newRecorder(nil), checkoutURL, tt.ua, testIP, "").IsContinue(tt.ctx)
			r.gate.cfg.DryRun = false
			mustEqual(t, "the prober's calls", r.stub.count(adapterURL("q")), tt.calls)
			ok, _ := r.run(checkoutURL, nil)
			mustEqual(t, "the next visitor is queued by the adapter server's answer", ok, false)
			mustEqual(t, "calls", r.stub.count(adapterURL("q")), tt.calls+1)
			mustEqual(t, "status", r.gate.Status().AdapterServerDown, false)
		})
	}
}

// TestAdapterServerBackoffNotForRefusals: a 4xx answer lets that one request's page run and
// switches the adapter server off for no one else, since a visitor can bring one about; a
// 5xx starts the back-off, and a 4xx to the probe after it ends it (the server is up).
func TestAdapterServerBackoffNotForRefusals(t *testing.T) {
	for _, tt := range []struct {
		status int
		down   bool
	}{{400, false}, {403, false}, {404, false}, {414, false}, {429, false}, {499, false}, {500, true}, {502, true}, {503, true}} {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			adapter := newSwitchable(t)
			defer adapter.close()
			r := adapterRig(t, adapter, nil)
			// The server refuses the attacker's User-Agent only.
			adapter.set(func(w http.ResponseWriter, req *http.Request) {
				if req.URL.Query().Get("identifier") == "odd" {
					w.WriteHeader(tt.status)
					return
				}
				fmt.Fprint(w, `{"action":"SendToQueue","location":"https://q.example/a"}`)
			})
			if !r.gate.NewAdapter(newRecorder(nil), checkoutURL, "odd", testIP, "").IsContinue(context.Background()) {
				t.Fatal("the refused request was not let through")
			}
			mustEqual(t, "status", r.gate.Status().AdapterServerDown, tt.down)
			ok, _ := r.run(checkoutURL, nil)
			mustEqual(t, "the next visitor runs the page (skipped server)", ok, tt.down)
		})
	}
	adapter := newSwitchable(t)
	defer adapter.close()
	r := adapterRig(t, adapter, nil)
	r.gate.adapterBackoff = 20 * time.Millisecond
	adapter.setFault(faults["500"])
	r.run(checkoutURL, nil)
	mustEqual(t, "down after a 500", r.gate.Status().AdapterServerDown, true)
	adapter.setFault(faults["404"])
	time.Sleep(r.gate.adapterBackoff)
	r.run(checkoutURL, nil)
	mustEqual(t, "up after a 404 to the probe", r.gate.Status().AdapterServerDown, false)
}

// TestAdapterServerBackoffNotForVisitorsWhoLeave: a request whose own context ends is not a
// sign that the adapter server is down.
func TestAdapterServerBackoffNotForVisitorsWhoLeave(t *testing.T) {
	adapter := newSwitchable(t)
	defer adapter.close()
	r := adapterRig(t, adapter, nil)
	r.gate.Load(context.Background())
	adapter.setFault(faults["hangs"])
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	r.gate.NewAdapter(newRecorder(nil), checkoutURL, testUA, testIP, "").IsContinue(ctx)
	mustEqual(t, "status", r.gate.Status().AdapterServerDown, false)
}

// TestQueueWhenAdapterDown: with the option set, visitors are sent to the queue server
// during the back-off, as in simple mode.
func TestQueueWhenAdapterDown(t *testing.T) {
	adapter := newSwitchable(t)
	defer adapter.close()
	r := adapterRig(t, adapter, func(c *Config) { c.QueueWhenAdapterDown = true })
	adapter.setFault(faults["500"])
	ok, _ := r.run(checkoutURL, nil)
	mustEqual(t, "the failing request runs its page, as in the reference", ok, true)
	ok, calls := r.run(checkoutURL, nil)
	mustEqual(t, "queued during the back-off", ok, false)
	want := "https://q.example/a?target=" + urlencode(checkoutURL)
	if len(calls) == 0 || calls[len(calls)-1].Location != want {
		t.Errorf("calls %v, want a redirect to %s", calls, want)
	}
	mustEqual(t, "adapter calls", adapter.count("/adapter/a"), 1)
}

// TestNoRefreshRightAfterOne: a request that found no settings, and reaches startRefresh only
// after a refresh has put some and ended, starts no second download. (The 300 requests of
// TestSettingsOneDownloadForManyRequests met this now and then on a loaded machine.)
func TestNoRefreshRightAfterOne(t *testing.T) {
	r := newRig(t, nil)
	st := r.gate.store
	r.stub.json(testSettings, simpleSettings(1))
	seen := st.cur.Load() // nil: this request finds no settings, and is then delayed
	if err := r.gate.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "refresh started", st.startRefresh(seen, r.clock.Now()) == nil, true)
	st.inFlight.Wait()
	mustEqual(t, "downloads", st.downloads.Load(), int64(1))
	mustEqual(t, "served", r.servedVersion(t), 1)
}

// TestStuckRefreshDoesNotBlockTheNext: a refresh older than its worst case (stuck in a file
// operation the kernel never ends, say) no longer stops another from starting.
func TestStuckRefreshDoesNotBlockTheNext(t *testing.T) {
	r := newRig(t, nil)
	st := r.gate.store
	stuck := &flight{done: make(chan struct{}), start: r.gate.mono()}
	st.flight = stuck
	r.stub.json(testSettings, simpleSettings(1))
	mustEqual(t, "a young refresh is joined", st.startRefresh(nil, r.clock.Now()), stuck)
	stuck.start -= st.flightLimit()
	if f := st.startRefresh(nil, r.clock.Now()); f == nil || f == stuck {
		t.Fatalf("startRefresh = %v, want a new refresh", f)
	}
	st.inFlight.Wait()
	mustEqual(t, "served by the new refresh", r.servedVersion(t), 1)
}

func TestStatusJSON(t *testing.T) {
	r := newRig(t, nil)
	r.stub.json(testSettings, simpleSettings(1))
	r.gate.Load(context.Background())
	b, err := json.Marshal(r.gate.Status())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"source":"download"`, `"queues":1`, `"fresh":true`, `"downloads":1`, `"closed":false`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
}

// TestSimpleModeQueueDuringAdapterOutage: a simple-mode queue never asks the adapter server,
// so a back-off on that server (started by a safe-mode queue) does not touch its visitors.
func TestSimpleModeQueueDuringAdapterOutage(t *testing.T) {
	r := newRig(t, nil)
	tickets := `[{"operator":null,"component":"Path","match":"Contain","value":"/tickets","caseSensitive":false,"negate":false}]`
	r.stub.json(testSettings, settingsJSON(queueJSON("a", "", `,"adapterMode":"safe"`), queueJSON("b", tickets, `,"adapterMode":"simple"`)))
	r.stub.handle(adapterURL("a"), func(*http.Request) (*http.Response, error) { return jsonResponse(500, `{}`), nil })
	if err := r.gate.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ok, _ := r.run(checkoutURL, nil)
	mustEqual(t, "the failing safe-mode request runs its page", ok, true)
	mustEqual(t, "adapter server skipped", r.gate.Status().AdapterServerDown, true)
	ok, calls := r.run("https://shop.example.com/tickets", nil)
	mustEqual(t, "the simple-mode queue still queues", ok, false)
	if len(calls) != 2 || !strings.HasPrefix(calls[1].Location, "https://shopco.queue-fair.net/b?target=") {
		t.Errorf("calls %v", calls)
	}
}
