package queuefair

// The settings store against an attacker who can write the cache folder, and against a wall
// clock that steps: each test runs with real time at a small scale (ReadTimeout of a few
// hundred milliseconds, real sleeps) where the fault depends on time.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const storeTimeout = 200 * time.Millisecond // ReadTimeout in these tests

// lockTimeout is ReadTimeout in TestLockThatLooksAliveDoesNotWedge: it bounds the TLS download
// too, so it must leave room for a slow handshake on a busy machine.
const lockTimeout = 2 * time.Second

// realTimeRig is a Gate whose files server is srv (serving simpleSettings(1)), with a short
// ReadTimeout and real sleeps; its clock is still the rig's fake one unless edit changes it.
func realTimeRig(t *testing.T, srv *switchable, edit func(*Config)) *rig {
	t.Helper()
	srv.serveSettings(simpleSettings(1))
	return faultRig(t, srv, func(c *Config) {
		c.ReadTimeout = storeTimeout
		c.Sleep = nil // real pauses, ended by their context
		if edit != nil {
			edit(c)
		}
	})
}

// TestLockThatLooksAliveDoesNotWedge: a lock file that the old code judged alive (dated in
// the future, garbage with a future modification time, a dangling symbolic link, a directory,
// or a fresh lock never released) made the wait for it spend the download's deadline, so no
// download ever started. Now such a lock is stale, or is taken over after ReadTimeout, and the
// download gets a ReadTimeout of its own.
func TestLockThatLooksAliveDoesNotWedge(t *testing.T) {
	future := time.Unix(testNow, 0).Add(time.Hour)
	plant := map[string]func(t *testing.T, lock string){
		"dated in the future": func(t *testing.T, lock string) {
			os.WriteFile(lock, []byte(fmt.Sprintf("1 %d\n", future.UnixNano())), 0o600)
		},
		"garbage with a future modification time": func(t *testing.T, lock string) {
			os.WriteFile(lock, []byte("garbage"), 0o600)
			later := time.Now().Add(time.Hour)
			os.Chtimes(lock, later, later)
		},
		"a dangling symbolic link": func(t *testing.T, lock string) {
			if err := os.Symlink(filepath.Join(filepath.Dir(lock), "nowhere"), lock); err != nil {
				t.Skip("no symbolic links here:", err)
			}
		},
		"a directory (unreadable as a lock)": func(t *testing.T, lock string) {
			os.Mkdir(lock, 0o700)
		},
		"owned by another user": func(t *testing.T, lock string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give a file away")
			}
			os.WriteFile(lock, []byte(fmt.Sprintf("1 %d\n", time.Unix(testNow, 0).UnixNano())), 0o600)
			os.Chown(lock, 65534, 65534)
		},
		"fresh, and never released": func(t *testing.T, lock string) {
			os.WriteFile(lock, []byte(fmt.Sprintf("1 %d\n", time.Unix(testNow, 0).UnixNano())), 0o600)
		},
	}
	for name, f := range plant {
		t.Run(name, func(t *testing.T) {
			files := newSwitchable(t)
			defer files.close()
			var polls atomic.Int32 // pauses between looks at the lock: a stale one needs none
			r := realTimeRig(t, files, func(c *Config) {
				c.ReadTimeout = lockTimeout
				c.Sleep = func(ctx context.Context, d time.Duration) {
					polls.Add(1)
					sleepContext(ctx, d)
				}
			})
			f(t, r.gate.store.lock)
			start := time.Now()
			v := r.servedVersion(t)
			if took := time.Since(start); took > lockTimeout+faultMargin {
				t.Errorf("the first request waited %v", took)
			}
			r.gate.store.inFlight.Wait()
			if v == 0 {
				v = r.servedVersion(t) // a lock that is waited for: the download follows the wait
			}
			mustEqual(t, "served", v, 1)
			mustEqual(t, "downloads", files.count(faultSettingsPath), 1)
			if name != "fresh, and never released" {
				mustEqual(t, "pauses waiting for a stale lock", polls.Load(), int32(0))
			} else if polls.Load() == 0 {
				t.Error("a fresh lock was not waited for")
			}
		})
	}
}

// TestFIFOAtCachePathDoesNotHang: opening a FIFO for reading blocks until a writer comes. The
// cache file must be a regular file, checked before it is opened.
func TestFIFOAtCachePathDoesNotHang(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no FIFOs")
	}
	files := newSwitchable(t)
	defer files.close()
	r := realTimeRig(t, files, nil)
	r.gate.warnGap = 0
	fifo := r.gate.store.file
	if err := exec.Command("mkfifo", fifo).Run(); err != nil {
		t.Skip("mkfifo:", err)
	}
	t.Cleanup(func() { // free any reader the code under test left blocked on it, until it ends
		stop := make(chan struct{})
		go func() {
			for {
				if w, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil {
					w.Close()
				}
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		r.gate.store.inFlight.Wait()
		close(stop)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	rec := newRecorder(nil)
	ok := r.gate.NewAdapter(rec, checkoutURL, testUA, testIP, "").IsContinue(ctx)
	if took := time.Since(start); took > storeTimeout+faultMargin {
		t.Fatalf("the request took %v", took)
	}
	mustEqual(t, "queued with downloaded settings", ok, false)
	if !strings.Contains(r.logs.String(), "not a regular file") {
		t.Errorf("no warning about the FIFO:\n%s", r.logs.String())
	}
}

// TestStartupWaitBoundedByReadTimeout: a request at start-up waits for the settings at most
// ReadTimeout, even with a context that never ends and a refresh that takes longer (here a
// lock that is waited for, then the download).
func TestStartupWaitBoundedByReadTimeout(t *testing.T) {
	files := newSwitchable(t)
	defer files.close()
	r := realTimeRig(t, files, nil)
	os.WriteFile(r.gate.store.lock, []byte(fmt.Sprintf("1 %d\n", time.Unix(testNow, 0).UnixNano())), 0o600)
	start := time.Now()
	mustEqual(t, "page runs", r.servedVersion(t), 0)
	if took := time.Since(start); took < storeTimeout/2 || took > storeTimeout+faultMargin {
		t.Errorf("the request waited %v, want about %v", took, storeTimeout)
	}
}

// plantCache writes a cache file with settings version v downloaded at fetched, mode perm.
func plantCache(t *testing.T, name string, v int, fetched time.Time, perm os.FileMode) {
	t.Helper()
	data := fmt.Sprintf(`{"fetched":%q,"settings":%s}`, fetched.UTC().Format(time.RFC3339Nano), simpleSettings(v))
	os.Remove(name)
	if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, perm); err != nil {
		t.Fatal(err)
	}
}

// TestCacheFileTrust: a planted cache file is not used: not one dated in the future, not one
// others may write, not a symbolic link, not one another user owns. The settings are
// downloaded instead.
func TestCacheFileTrust(t *testing.T) {
	now := time.Unix(testNow, 0)
	cases := map[string]func(t *testing.T, file string){
		"downloaded 100 years from now": func(t *testing.T, file string) {
			plantCache(t, file, 9, now.AddDate(100, 0, 0), 0o600)
		},
		"writable by others": func(t *testing.T, file string) {
			plantCache(t, file, 9, now, 0o666)
		},
		"writable by the group": func(t *testing.T, file string) {
			plantCache(t, file, 9, now, 0o620)
		},
		"a symbolic link": func(t *testing.T, file string) {
			real := file + ".elsewhere"
			plantCache(t, real, 9, now, 0o600)
			if err := os.Symlink(real, file); err != nil {
				t.Skip("no symbolic links here:", err)
			}
		},
		"owned by another user": func(t *testing.T, file string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give a file away")
			}
			plantCache(t, file, 9, now, 0o600)
			os.Chown(file, 65534, 65534)
		},
	}
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			if runtime.GOOS == "windows" && name != "downloaded 100 years from now" {
				t.Skip("no Unix owners and modes")
			}
			r := newRig(t, nil)
			r.stub.json(testSettings, simpleSettings(1))
			plant(t, r.gate.store.file)
			mustEqual(t, "downloaded, not planted", r.servedVersion(t), 1)
			mustEqual(t, "downloads", len(r.stub.urls()), 1)
		})
	}
	t.Run("a trusted file is used", func(t *testing.T) {
		r := newRig(t, nil)
		r.stub.json(testSettings, simpleSettings(1))
		plantCache(t, r.gate.store.file, 9, now.Add(-time.Minute), 0o600)
		mustEqual(t, "from the file", r.servedVersion(t), 9)
		mustEqual(t, "downloads", len(r.stub.urls()), 0)
	})
	t.Run("with lifetime -1 a trusted file is used whatever its date", func(t *testing.T) {
		r := newRig(t, func(c *Config) { c.SettingsFileCacheLifetimeMinutes = -1 })
		plantCache(t, r.gate.store.file, 9, now.Add(time.Hour), 0o600)
		mustEqual(t, "from the file", r.servedVersion(t), 9)
		mustEqual(t, "downloads", len(r.stub.urls()), 0)
	})
	t.Run("a folder others may write is warned about", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("no Unix modes")
		}
		r := newRig(t, nil)
		os.Chmod(r.dir, 0o777)
		r.stub.json(testSettings, simpleSettings(1))
		mustEqual(t, "served", r.servedVersion(t), 1)
		if !strings.Contains(r.logs.String(), "writable by other users") {
			t.Errorf("no warning:\n%s", r.logs.String())
		}
	})
}

// steppingClock is a wall clock without monotonic readings (as a real one looks after a
// step) that a test can step back.
type steppingClock struct{ back atomic.Int64 }

func (c *steppingClock) Now() time.Time {
	return time.Now().Round(0).Add(-time.Duration(c.back.Load()))
}

// TestClockStepBack: after the wall clock steps back an hour, the settings still expire after
// their lifetime, and the back-off after a failure still ends after its length: both are
// kept on the monotonic clock too. (The lifetime and back-off are shortened to real-time
// scale here.)
func TestClockStepBack(t *testing.T) {
	t.Run("freshness", func(t *testing.T) {
		clk := &steppingClock{}
		files := newSwitchable(t)
		defer files.close()
		r := realTimeRig(t, files, func(c *Config) { c.Now = clk.Now; c.ReadTimeout = 5 * time.Second })
		r.gate.store.ttl = 300 * time.Millisecond
		mustEqual(t, "loaded", r.servedVersion(t), 1)
		files.serveSettings(simpleSettings(2))
		clk.back.Store(int64(time.Hour))
		waitExpired(t, r.gate.store)
		r.servedVersion(t) // stale: served, and a refresh starts
		r.gate.store.inFlight.Wait()
		mustEqual(t, "refreshed after the lifetime, despite the step", r.servedVersion(t), 2)
	})
	t.Run("back-off", func(t *testing.T) {
		clk := &steppingClock{}
		files := newSwitchable(t)
		defer files.close()
		r := realTimeRig(t, files, func(c *Config) { c.Now = clk.Now; c.ReadTimeout = 5 * time.Second })
		r.gate.store.retryWait = 200 * time.Millisecond
		files.setFault(faults["500"])
		mustEqual(t, "no settings", r.servedVersion(t), 0)
		r.gate.store.inFlight.Wait()
		clk.back.Store(int64(time.Hour))
		files.serveSettings(simpleSettings(1))
		mustEqual(t, "within the back-off", r.servedVersion(t), 0)
		mustEqual(t, "downloads within the back-off", files.count(faultSettingsPath), 1)
		time.Sleep(300 * time.Millisecond)
		mustEqual(t, "retried after the back-off, despite the step", r.servedVersion(t), 1)
	})
	t.Run("a cache file written before the step", func(t *testing.T) {
		clk := &steppingClock{}
		files := newSwitchable(t)
		defer files.close()
		r := realTimeRig(t, files, func(c *Config) { c.Now = clk.Now })
		plantCache(t, r.gate.store.file, 9, clk.Now(), 0o600)
		clk.back.Store(int64(time.Hour))
		mustEqual(t, "a download time in the future is stale", r.servedVersion(t), 1)
	})
}

// TestDefaultClockLifetime: under the default clock (Config.Now unset) a request reads no
// clock to judge its settings; the timer on the monotonic clock alone ends their lifetime.
// (The lifetime is shortened to real-time scale here.)
func TestDefaultClockLifetime(t *testing.T) {
	files := newSwitchable(t)
	defer files.close()
	r := realTimeRig(t, files, func(c *Config) { c.Now = nil; c.ReadTimeout = 5 * time.Second })
	r.gate.store.ttl = time.Second
	mustEqual(t, "loaded", r.servedVersion(t), 1)
	files.serveSettings(simpleSettings(2))
	mustEqual(t, "within the lifetime", r.servedVersion(t), 1)
	mustEqual(t, "downloads within the lifetime", files.count(faultSettingsPath), 1)
	waitExpired(t, r.gate.store)
	r.servedVersion(t) // stale: served, and a refresh starts
	r.gate.store.inFlight.Wait()
	mustEqual(t, "refreshed after the lifetime", r.servedVersion(t), 2)

	// Close stops the timer; Status still reports the settings stale once their lifetime ends.
	r.gate.Close()
	time.Sleep(r.gate.store.ttl + 100*time.Millisecond)
	mustEqual(t, "fresh a lifetime after Close", r.gate.Status().Fresh, false)
}

// waitExpired waits, in real time, until the timer of st's settings marks them expired; it
// fails the test if that takes five seconds longer than their lifetime.
func waitExpired(t *testing.T, st *settingsStore) {
	t.Helper()
	deadline := time.Now().Add(st.ttl + 5*time.Second)
	for !st.cur.Load().expired.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("settings not expired %v after their lifetime", 5*time.Second)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOldTempFilesRemoved: temporary files that killed writers left behind, and that hold
// queue secrets, are removed at the next write once a few minutes old; a new one (a writer at
// work) is left alone.
func TestOldTempFilesRemoved(t *testing.T) {
	r := newRig(t, nil)
	old, young := r.gate.store.file+".tmp111", r.gate.store.file+".tmp222"
	for _, name := range []string{old, young} {
		os.WriteFile(name, []byte(`{"secret":"s"}`), 0o600)
	}
	then := time.Now().Add(-tempMaxAge - time.Minute)
	os.Chtimes(old, then, then)
	r.stub.json(testSettings, simpleSettings(1))
	mustEqual(t, "served", r.servedVersion(t), 1)
	r.gate.store.inFlight.Wait()
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old temporary file still there: %v", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("young temporary file removed: %v", err)
	}
}

// TestCacheFileNamedByFilesServerAndAccount: a Gate pointed at another files server does not
// read the first one's cache file, and the name never holds the account secret.
func TestCacheFileNamedByFilesServerAndAccount(t *testing.T) {
	dir := t.TempDir()
	a := newRig(t, func(c *Config) { c.SettingsFileCacheLocation = dir })
	a.stub.json(testSettings, simpleSettings(1))
	mustEqual(t, "a", a.servedVersion(t), 1)
	b := newRig(t, func(c *Config) { c.SettingsFileCacheLocation = dir; c.FilesServer = "files.example.net" })
	b.stub.json("https://files.example.net/shopco/a1b2c3d4-acct-secret/queue-fair-settings.json", simpleSettings(2))
	mustEqual(t, "b downloads its own", b.servedVersion(t), 2)
	if a.gate.store.file == b.gate.store.file {
		t.Errorf("same cache file %s", a.gate.store.file)
	}
	for _, name := range []string{a.gate.store.file, b.gate.store.file, a.gate.store.lock} {
		if strings.Contains(name, testSecret) {
			t.Errorf("%s holds the secret", name)
		}
	}
	c := newRig(t, func(c *Config) { c.SettingsFileCacheLocation = dir; c.AccountSecret = "rotated" })
	mustEqual(t, "a new secret, same account and server: same file", c.gate.store.file, a.gate.store.file)
}

// TestEveryWarningRateLimited: five requests in a few milliseconds that each meet several
// faults (no settings, an unusable cache folder, a failed download) write one warning.
func TestEveryWarningRateLimited(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o600)
	r := newRig(t, func(c *Config) {
		c.SettingsFileCacheLocation = filepath.Join(blocker, "sub")
		c.SettingsFileCacheLifetimeMinutes = 0 // a refresh for every request
	})
	r.stub.handle(testSettings, func(*http.Request) (*http.Response, error) { return jsonResponse(500, `{}`), nil })
	start := time.Now()
	for i := 0; i < 5; i++ {
		r.servedVersion(t)
	}
	r.gate.store.inFlight.Wait()
	if time.Since(start) > 900*time.Millisecond {
		t.Skip("too slow a machine to stay within one second")
	}
	mustEqual(t, "refreshes", len(r.stub.urls()), 5)
	mustEqual(t, "WARN lines", strings.Count(r.logs.String(), "level=WARN"), 1)
}

// TestSettingsMemoryBounded measures the memory one settings document can cost. Everything
// allocated while compiling it bounds from above how far it can raise the heap.
func TestSettingsMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates tens of megabytes")
	}
	pad := func(prefix, item, suffix string) []byte {
		n := (maxSettingsBytes - len(prefix) - len(suffix)) / (len(item) + 1)
		return []byte(prefix + strings.Repeat(item+",", n-1) + item + suffix)
	}
	allocated := func(doc []byte) (uint64, error) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := compileSettings(doc)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc, err
	}
	const mb = 1 << 20
	for _, tt := range []struct {
		name  string
		doc   []byte
		limit uint64
	}{
		// The case: an unknown top-level key full of {}. It is never decoded.
		{"{} in an unknown top-level key", pad(`{"queues":[],"pad":[`, `{}`, `]}`), 4 * mb},
		// Inside a queue every value is decoded; this is the worst we found.
		{"{} in an unknown key of a queue", pad(`{"queues":[{"name":"q","pad":[`, `{}`, `]}]}`), 128 * mb},
		{"empty rules", pad(`{"queues":[{"name":"q","activation":{"rules":[`, `{}`, `]}}]}`), 128 * mb},
		{"numbers in a queue", pad(`{"queues":[{"name":"q","pad":[`, `0`, `]}]}`), 128 * mb},
		// RegExp patterns that compile large: bounded by patternBudget (without it, the first
		// took 1.2 GB of live heap and 7 s to compile).
		{`RegExp \pL{1000}`, pad(`{"queues":[{"name":"q","activation":{"rules":[`, ruleJSON("Path", "RegExp", `\pL{1000}`, true, false), `]}}]}`), 32 * mb},
		{`RegExp [\pL] 200 times`, pad(`{"queues":[{"name":"q","activation":{"rules":[`, ruleJSON("Path", "RegExp", strings.Repeat(`[\pL]`, 200), false, false), `]}}]}`), 32 * mb},
		{"RegExp a{500}", pad(`{"queues":[{"name":"q","activation":{"rules":[`, ruleJSON("Path", "RegExp", `a{500}`, true, false), `]}}]}`), 32 * mb},
	} {
		n, err := allocated(tt.doc)
		t.Logf("%s (%d bytes): %.1f MB allocated, error %v", tt.name, len(tt.doc), float64(n)/mb, err)
		if n > tt.limit {
			t.Errorf("%s: %d bytes allocated, over %d", tt.name, n, tt.limit)
		}
	}
	big := append(pad(`{"queues":[],"pad":[`, `{}`, `]}`), strings.Repeat(" ", 16)...)
	if n, err := allocated(big); err == nil || n > mb {
		t.Errorf("a document over the cap: error %v, %d bytes allocated", err, n)
	}
}

// TestOversizedDownloadRefused: a settings body over the 1 MiB cap is a failed download.
func TestOversizedDownloadRefused(t *testing.T) {
	r := newRig(t, nil)
	r.stub.json(testSettings, `{"queues":[],"pad":"`+strings.Repeat("x", maxSettingsBytes)+`"}`)
	mustEqual(t, "page runs", r.servedVersion(t), 0)
	mustEqual(t, "failures", r.gate.Status().DownloadFailures, int64(1))
	if !strings.Contains(r.gate.Status().LastError, "larger than 1048576 bytes") {
		t.Errorf("last error %q", r.gate.Status().LastError)
	}
}

// BenchmarkCompileSettings reports, as B/op, everything one compile of a settings document
// allocates: a real-sized one, and the worst 1 MiB document found (empty rules).
func BenchmarkCompileSettings(b *testing.B) {
	worst := `{"queues":[{"name":"q","activation":{"rules":[` + strings.Repeat(`{},`, (maxSettingsBytes-60)/3) + `{}]}}]}`
	for _, bb := range []struct{ name, doc string }{{"real", benchSettings()}, {"worst1MiB", worst}} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := compileSettings([]byte(bb.doc)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFreshnessCountsTheFilesAge: under the default clock the expiry timer alone judges
// freshness, so settings adopted from a file already old by most of the lifetime must go stale
// when the rest of it has passed, not a whole lifetime later. Real time, small scale: a
// one-second lifetime, a file 900 ms old.
func TestFreshnessCountsTheFilesAge(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Now = nil })
	st := r.gate.store
	st.ttl = time.Second
	start := time.Now()
	l := st.newLoaded(&settings{}, start.Add(-900*time.Millisecond), 900*time.Millisecond, SourceFile)
	defer l.timer.Stop()
	for !l.expired.Load() && time.Since(start) < 2*time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	if took := time.Since(start); took > 700*time.Millisecond {
		t.Errorf("stale after %v, want about 100ms (the lifetime left)", took)
	}
	if st.fresh(l, time.Now) {
		t.Error("still fresh")
	}
}

// TestFailedDownloadAdoptsStaleFile: at start-up, when the download fails, a cache file older
// than the lifetime is used rather than none (stale, but better than every page running
// unqueued); with settings already in memory, those stay.
func TestFailedDownloadAdoptsStaleFile(t *testing.T) {
	r := newRig(t, nil)
	now := time.Unix(testNow, 0)
	plantCache(t, r.gate.store.file, 9, now.Add(-time.Hour), 0o600)
	r.stub.handle(testSettings, func(*http.Request) (*http.Response, error) { return jsonResponse(500, `{}`), nil })
	mustEqual(t, "served from the stale file", r.servedVersion(t), 9)
	mustEqual(t, "downloads", len(r.stub.urls()), 1)
	if strings.Contains(r.logs.String(), "pages run unqueued") {
		t.Errorf("warned that pages run unqueued:\n%s", r.logs.String())
	}

	r2 := newRig(t, func(c *Config) { c.SettingsFileCacheLocation = r.dir })
	r2.stub.json(testSettings, simpleSettings(3))
	mustEqual(t, "downloaded", r2.servedVersion(t), 3)
	plantCache(t, r2.gate.store.file, 9, now.Add(-time.Hour), 0o600)
	r2.stub.handle(testSettings, func(*http.Request) (*http.Response, error) { return jsonResponse(500, `{}`), nil })
	r2.clock.Advance(6 * time.Minute)
	r2.servedVersion(t)
	r2.gate.store.inFlight.Wait()
	mustEqual(t, "the settings in memory stay", r2.servedVersion(t), 3)
}
