package queuefair

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Environment of the child processes of TestTwoProcessesRefreshTogether.
const (
	envChild = "QUEUEFAIR_TEST_CHILD"
	envDir   = "QUEUEFAIR_TEST_DIR"
	envHost  = "QUEUEFAIR_TEST_FILES"
	envCert  = "QUEUEFAIR_TEST_CERT"
	envStart = "QUEUEFAIR_TEST_START"
)

// TestTwoProcessesRefreshTogether starts two copies of this test binary that share a cache
// folder and ask for settings at the same moment, with a slow files server. The lock file must
// keep them to one download, and a reader watching the cache file must never see anything but
// no file or a whole, valid one.
func TestTwoProcessesRefreshTogether(t *testing.T) {
	if os.Getenv(envChild) != "" {
		t.Skip("this is a child process")
	}
	var downloads atomic.Int32
	files := newSwitchable(t)
	defer files.close()
	files.set(func(w http.ResponseWriter, r *http.Request) {
		downloads.Add(1)
		time.Sleep(300 * time.Millisecond) // long enough for both to reach the lock
		io.WriteString(w, simpleSettings(4))
	})
	dir := t.TempDir()
	certFile := filepath.Join(dir, "files-server.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: files.srv.Certificate().Raw})
	if err := os.WriteFile(certFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	cacheDir := filepath.Join(dir, "cache")

	// The watcher: every read of the cache file is either "no file yet" or valid settings.
	stop := make(chan struct{})
	var watched sync.WaitGroup
	var reads, bad atomic.Int32
	cacheFile := func() string { // the children's cache file: a Gate with their Config names it
		cfg := NewConfig(testAccount, testSecret)
		cfg.FilesServer = files.host()
		cfg.SettingsFileCacheLocation = cacheDir
		g, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return g.store.file
	}()
	watched.Add(1)
	go func() {
		defer watched.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			data, err := os.ReadFile(cacheFile)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			reads.Add(1)
			var df diskFile
			if err != nil || json.Unmarshal(data, &df) != nil {
				bad.Add(1)
				continue
			}
			if _, err := compileSettings(df.Settings); err != nil {
				bad.Add(1)
			}
		}
	}()

	start := time.Now().Add(500 * time.Millisecond)
	var children sync.WaitGroup
	outputs := make([]string, 2)
	for i := range outputs {
		children.Add(1)
		go func(i int) {
			defer children.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestChildRefresh$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), envChild+"=1", envDir+"="+cacheDir, envHost+"="+files.host(),
				envCert+"="+certFile, envStart+"="+strconv.FormatInt(start.UnixNano(), 10))
			out, err := cmd.CombinedOutput()
			outputs[i] = string(out)
			if err != nil {
				t.Errorf("child %d: %v\n%s", i, err, out)
			}
		}(i)
	}
	children.Wait()
	close(stop)
	watched.Wait()

	for i, out := range outputs {
		if !strings.Contains(out, "served version 4") {
			t.Errorf("child %d did not get the settings:\n%s", i, out)
		}
	}
	mustEqual(t, "downloads for two processes", downloads.Load(), int32(1))
	mustEqual(t, "partial or invalid cache files seen", bad.Load(), int32(0))
	if reads.Load() == 0 {
		t.Error("the watcher never saw the cache file")
	}
	t.Logf("watcher read the cache file %d times, all valid", reads.Load())
}

// TestChildRefresh is one of the processes TestTwoProcessesRefreshTogether starts; on its own
// it skips.
func TestChildRefresh(t *testing.T) {
	if os.Getenv(envChild) == "" {
		t.Skip("run by TestTwoProcessesRefreshTogether")
	}
	pemBytes, err := os.ReadFile(os.Getenv(envCert))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	cfg := NewConfig(testAccount, testSecret)
	cfg.FilesServer = os.Getenv(envHost)
	cfg.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	cfg.SettingsFileCacheLocation = os.Getenv(envDir)
	cfg.Logger = discardLogger()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	startNanos, _ := strconv.ParseInt(os.Getenv(envStart), 10, 64)
	time.Sleep(time.Until(time.Unix(0, startNanos)))
	rec := newRecorder(nil)
	g.NewAdapter(rec, checkoutURL, testUA, testIP, "").IsContinue(context.Background())
	var v int
	if n := len(rec.calls); n > 0 {
		fmt.Sscanf(rec.calls[n-1].Location, "https://v%d.example", &v)
	}
	t.Logf("served version %d", v)
}
