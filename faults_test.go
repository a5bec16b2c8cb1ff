package queuefair

// Fault injection against real servers: the Queue-Fair files and adapter servers are httptest
// TLS servers (switchable, in testutils_test.go) that misbehave in the ways a sale day brings. Each fault must let the page run
// within ReadTimeout plus a margin, keep the last good settings, be retried later, and leave no
// goroutine behind.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	faultTimeout = time.Second     // ReadTimeout in these tests: room for a TLS download on a busy machine
	faultMargin  = 3 * time.Second // scheduling slack, generous for -race on a busy machine; a drip takes 13 s, a hang for ever
)

// faults are the ways a Queue-Fair server misbehaves, by name; switchable.setFault plays one.
var faults = map[string]fault{
	"404": func(w http.ResponseWriter, _ *http.Request, _ <-chan struct{}) { http.NotFound(w, nil) },
	"500": func(w http.ResponseWriter, _ *http.Request, _ <-chan struct{}) { w.WriteHeader(500) },
	"garbage JSON": func(w http.ResponseWriter, _ *http.Request, _ <-chan struct{}) {
		io.WriteString(w, `{"queues":[{"name":`)
	},
	"truncated body": func(w http.ResponseWriter, _ *http.Request, _ <-chan struct{}) {
		w.Header().Set("Content-Length", "5000")
		io.WriteString(w, `{"queues":[`)
	},
	"50 MB body": func(w http.ResponseWriter, _ *http.Request, _ <-chan struct{}) {
		chunk := []byte(`{"queues":[],"pad":"` + strings.Repeat("x", 1<<20))
		for i := 0; i < 50; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			chunk = chunk[len(chunk)-1<<20:]
		}
	},
	"hangs": func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	},
	"drips a byte a second": func(w http.ResponseWriter, r *http.Request, release <-chan struct{}) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for _, c := range []byte(`{"queues":[]}`) {
			w.Write([]byte{c})
			w.(http.Flusher).Flush()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			case <-release:
				return
			}
		}
	},
	"resets the connection": func(w http.ResponseWriter, _ *http.Request, _ <-chan struct{}) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
			if tcp, ok := tc.NetConn().(*net.TCPConn); ok {
				tcp.SetLinger(0) // close with RST
			}
		}
		conn.Close()
	},
}

// timed runs one /checkout request and returns the settings version that answered it and how
// long it took.
func (r *rig) timed(t *testing.T) (int, time.Duration) {
	start := time.Now()
	v := r.servedVersion(t)
	return v, time.Since(start)
}

func TestRemoteFaultsSettings(t *testing.T) {
	for name, f := range faults {
		t.Run(name, func(t *testing.T) {
			leak := noGoroutineLeak(t)
			func() {
				files := newSwitchable(t)
				defer files.close()
				r := faultRig(t, files, nil)
				r.gate.warnGap = 0 // read every warning

				// At start-up, with nothing cached: the page runs within ReadTimeout.
				files.setFault(f)
				v, took := r.timed(t)
				mustEqual(t, "first request with no settings", v, 0)
				if took > faultTimeout+faultMargin {
					t.Errorf("first request took %v", took)
				}
				r.gate.store.inFlight.Wait() // the request stopped waiting; the download may run on

				// Good settings arrive once the back-off has passed.
				files.serveSettings(simpleSettings(1))
				r.clock.Advance(retryAfterFailure)
				mustEqual(t, "recovered", r.servedVersion(t), 1)

				// They expire and the refresh meets the fault: no request waits for it.
				files.setFault(f)
				r.clock.Advance(6 * time.Minute)
				v, took = r.timed(t)
				mustEqual(t, "stale settings served", v, 1)
				if took > faultTimeout/2 {
					t.Errorf("a request waited %v for the refresh", took)
				}
				start := time.Now()
				r.gate.store.inFlight.Wait()
				if refresh := time.Since(start); refresh > faultTimeout+faultMargin {
					t.Errorf("the failed refresh took %v", refresh)
				}
				mustEqual(t, "last good settings kept", r.servedVersion(t), 1)
				downloads := files.count(faultSettingsPath)

				// A later request retries, after the back-off, and gets the new settings.
				files.serveSettings(simpleSettings(2))
				r.clock.Advance(retryAfterFailure)
				r.servedVersion(t)
				r.gate.store.inFlight.Wait()
				mustEqual(t, "retried", r.servedVersion(t), 2)
				mustEqual(t, "downloads", files.count(faultSettingsPath), downloads+1)
				if !strings.Contains(r.logs.String(), "settings download failed") {
					t.Errorf("no log says why:\n%s", r.logs.String())
				}
			}()
			leak()
		})
	}
}

func TestRemoteFaultsAdapter(t *testing.T) {
	for name, f := range faults {
		t.Run(name, func(t *testing.T) {
			leak := noGoroutineLeak(t)
			func() {
				adapter := newSwitchable(t)
				defer adapter.close()
				r := newRig(t, func(c *Config) { c.HTTPClient = adapter.srv.Client(); c.ReadTimeout = faultTimeout })
				r.gate.adapterBackoff = 20 * time.Millisecond
				r.gate.warnGap = 0
				r.stub = nil
				settings := settingsJSON(queueJSON("a", "", `,"adapterServer":"`+adapter.host()+`"`), queueJSON("b", "", `,"adapterServer":"`+adapter.host()+`"`))
				if err := r.gate.store.writeFile([]byte(settings), r.clock.Now()); err != nil {
					t.Fatal(err)
				}
				adapter.setFault(f)
				start := time.Now()
				ok, calls := r.run(checkoutURL, nil)
				took := time.Since(start)
				mustEqual(t, "page runs", ok, true)
				if len(calls) != 0 {
					t.Errorf("calls %v", calls)
				}
				if took > faultTimeout+faultMargin {
					t.Errorf("request took %v", took)
				}
				mustEqual(t, "queue b not consulted after a's failure", adapter.count("/adapter/b"), 0)
				mustEqual(t, "consulted", adapter.count("/adapter/a"), 1)

				// After the back-off (TestAdapterServerBackoff), the next request asks again,
				// and a good answer works.
				adapter.set(func(w http.ResponseWriter, r *http.Request) {
					fmt.Fprintf(w, `{"action":"SendToQueue","location":"https://q.example/%s"}`, strings.TrimPrefix(r.URL.Path, "/adapter/"))
				})
				time.Sleep(r.gate.adapterBackoff)
				ok, _ = r.run(checkoutURL, nil)
				mustEqual(t, "queued once the adapter answers", ok, false)
				mustEqual(t, "asked again", adapter.count("/adapter/a"), 2)
				if !strings.Contains(r.logs.String(), "adapter server") {
					t.Errorf("no log says why:\n%s", r.logs.String())
				}
			}()
			leak()
		})
	}
}

// TestStaleSettingsNeverWait is the sale-day case: settings expire while the files server
// hangs, and a thousand visitors arrive. None waits for the refresh, and there is one download.
func TestStaleSettingsNeverWait(t *testing.T) {
	files := newSwitchable(t)
	defer files.close()
	r := faultRig(t, files, func(c *Config) { c.ReadTimeout = time.Minute }) // outlasts the 1,000 requests, however slow
	files.serveSettings(simpleSettings(1))
	mustEqual(t, "loaded", r.servedVersion(t), 1)

	hung := make(chan struct{})
	files.set(func(w http.ResponseWriter, req *http.Request) {
		<-hung
		io.WriteString(w, simpleSettings(2))
	})
	r.clock.Advance(6 * time.Minute)

	const visitors = 1000
	var slowest atomic.Int64
	var wrong atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < visitors; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			ok, calls := r.run(checkoutURL, nil)
			took := int64(time.Since(start))
			for {
				old := slowest.Load()
				if took <= old || slowest.CompareAndSwap(old, took) {
					break
				}
			}
			if ok || !strings.HasPrefix(calls[len(calls)-1].Location, "https://v1.example") {
				wrong.Add(1)
			}
		}()
	}
	wg.Wait()
	close(hung)
	r.gate.store.inFlight.Wait()
	t.Logf("slowest of %d requests during a hung refresh: %v", visitors, time.Duration(slowest.Load()))
	if d := time.Duration(slowest.Load()); d > 5*time.Second { // one that waited would take until close(hung)
		t.Errorf("slowest request took %v: some request waited for the refresh", d)
	}
	mustEqual(t, "requests not served the stale settings", wrong.Load(), int32(0))
	mustEqual(t, "downloads", files.count(faultSettingsPath), 2)
	mustEqual(t, "refreshed", r.servedVersion(t), 2)
}

// TestThousandFirstRequestsOneDownload: at start-up, 1,000 concurrent requests share one
// download.
func TestThousandFirstRequestsOneDownload(t *testing.T) {
	files := newSwitchable(t)
	defer files.close()
	r := faultRig(t, files, func(c *Config) { c.ReadTimeout = time.Minute })
	gate := make(chan struct{})
	files.set(func(w http.ResponseWriter, req *http.Request) {
		<-gate
		io.WriteString(w, simpleSettings(1))
	})
	var wg sync.WaitGroup
	var ran atomic.Int32
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := r.run(checkoutURL, nil); ok {
				ran.Add(1)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them pile up on the one download
	close(gate)
	wg.Wait()
	mustEqual(t, "downloads", files.count(faultSettingsPath), 1)
	mustEqual(t, "requests that missed the settings", ran.Load(), int32(0))
}

func TestMissingCacheFolderIsCreated(t *testing.T) {
	files := newSwitchable(t)
	defer files.close()
	r := faultRig(t, files, nil)
	r.gate.store.file = strings.Replace(r.gate.store.file, r.dir, r.dir+"/new/cache", 1)
	r.gate.store.lock = strings.Replace(r.gate.store.lock, r.dir, r.dir+"/new/cache", 1)
	files.serveSettings(simpleSettings(1))
	mustEqual(t, "served", r.servedVersion(t), 1)
	r.gate.store.inFlight.Wait() // the file is written after the request has its settings
	if _, _, err := r.gate.store.readFile(); err != nil {
		t.Errorf("cache file not written in the new folder: %v", err)
	}
}
