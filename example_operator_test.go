package queuefair_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/queuefair/queuefair"
)

// ExampleGate_Load warms a Gate before the server takes traffic, so that the first visitors
// after a deploy are queued by the settings rather than let through while they load. New
// downloads nothing; Load reads the cache file or downloads now, and says why it could not.
func ExampleGate_Load() {
	qf := newStandIn("safe", "SafeGuard") // the Queue-Fair servers, on a local TLS test server
	defer qf.close()

	cfg := queuefair.NewConfig("demo-shop", "demo-account-secret")
	cfg.FilesServer = qf.host()                 // instead of files.queue-fair.net
	cfg.HTTPClient = qf.srv.Client()            // trusts the stand-in's test certificate
	cfg.SettingsFileCacheLocation = qf.cacheDir // a private folder for the settings cache
	gate, err := queuefair.New(cfg)
	if err != nil {
		panic(err)
	}

	fmt.Printf("after New: source %q\n", gate.Status().Source)
	if err := gate.Load(context.Background()); err != nil {
		fmt.Println("not ready:", err) // serve anyway (pages run unqueued), or fail the readiness probe
	}
	s := gate.Status()
	fmt.Printf("after Load: source %q, %d queue, fresh %v, %d download\n", s.Source, s.Queues, s.Fresh, s.Downloads)

	// A Gate whose account the files server does not know.
	cfg.Account = "no-such-account"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) // quiet: Load says why below
	wrong, _ := queuefair.New(cfg)
	err = wrong.Load(context.Background())
	fmt.Println(errors.Is(err, queuefair.ErrNoSettings), err)
	// Output:
	// after New: source ""
	// after Load: source "download", 1 queue, fresh true, 1 download
	// true queuefair: no settings: settings download: HTTP status 404
}

// ExampleGate_Status serves a health endpoint from a Gate's Status: ready once the Gate holds
// settings, with where they came from and how many queues they have.
func ExampleGate_Status() {
	qf := newStandIn("safe", "SafeGuard")
	defer qf.close()

	cfg := queuefair.NewConfig("demo-shop", "demo-account-secret")
	cfg.FilesServer = qf.host()                 // instead of files.queue-fair.net
	cfg.HTTPClient = qf.srv.Client()            // trusts the stand-in's test certificate
	cfg.SettingsFileCacheLocation = qf.cacheDir // a private folder for the settings cache
	gate, err := queuefair.New(cfg)
	if err != nil {
		panic(err)
	}

	healthz := func(w http.ResponseWriter, r *http.Request) {
		s := gate.Status()
		if s.Source == "" || s.Closed {
			w.WriteHeader(http.StatusServiceUnavailable) // no settings: every page runs unqueued
		}
		json.NewEncoder(w).Encode(map[string]any{
			"source": s.Source, "queues": s.Queues, "fresh": s.Fresh,
			"lastError": s.LastError, "adapterServerDown": s.AdapterServerDown,
		})
	}
	probe := func() {
		rec := httptest.NewRecorder()
		healthz(rec, httptest.NewRequest("GET", "/healthz", nil))
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	probe()
	gate.Load(context.Background())
	probe()
	// Output:
	// 503 {"adapterServerDown":false,"fresh":false,"lastError":"","queues":0,"source":""}
	// 200 {"adapterServerDown":false,"fresh":true,"lastError":"","queues":1,"source":"download"}
}

// ExampleGate_Close stops a Gate at shutdown: its background work ends, its idle connections
// close, and from then on every page runs.
func ExampleGate_Close() {
	qf := newStandIn("simple", "")
	defer qf.close()

	cfg := queuefair.NewConfig("demo-shop", "demo-account-secret")
	cfg.FilesServer = qf.host()                 // instead of files.queue-fair.net
	cfg.HTTPClient = qf.srv.Client()            // trusts the stand-in's test certificate
	cfg.SettingsFileCacheLocation = qf.cacheDir // a private folder for the settings cache
	gate, err := queuefair.New(cfg)
	if err != nil {
		panic(err)
	}

	checkout := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "checkout page") })
	site := httptest.NewServer(gate.Handler(checkout))
	defer site.Close()

	fmt.Println("before Close:")
	newVisitor(qf, site).visit(site.URL + "/checkout")

	gate.Close()
	gate.Close() // again: nothing more happens
	fmt.Println("after Close:")
	newVisitor(qf, site).visit(site.URL + "/checkout")
	fmt.Println("Load:", gate.Load(context.Background()), "- closed:", gate.Status().Closed)
	// Output:
	// before Close:
	//   site /checkout -> 302 to queue-fair /sale [target=site /checkout]
	//   queue-fair /sale [target=site /checkout] -> 302 to site /checkout + Passed String
	//   site /checkout + Passed String -> 302 to site /checkout
	//   site /checkout -> 200 "checkout page"
	// after Close:
	//   site /checkout -> 200 "checkout page"
	// Load: queuefair: gate closed - closed: true
}
