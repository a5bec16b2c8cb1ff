package queuefair

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewConfigDefaults(t *testing.T) {
	c := NewConfig("acct", "secret")
	mustEqual(t, "FilesServer", c.FilesServer, "files.queue-fair.net")
	mustEqual(t, "QueryTimeLimitSeconds", c.QueryTimeLimitSeconds, 300)
	mustEqual(t, "Debug", c.Debug, false)
	mustEqual(t, "ReadTimeout", c.ReadTimeout, 5*time.Second)
	mustEqual(t, "SettingsFileCacheLocation", c.SettingsFileCacheLocation, ".")
	mustEqual(t, "SettingsFileCacheLifetimeMinutes", c.SettingsFileCacheLifetimeMinutes, 5)
	mustEqual(t, "StripPassedString", c.StripPassedString, true)
	mustEqual(t, "AdapterMode", c.AdapterMode, ModeSafe)
	mustEqual(t, "TrustForwardedHeaders", c.TrustForwardedHeaders, false)
	mustEqual(t, "ForwardedHops", c.ForwardedHops, 1)
	mustEqual(t, "QueueWhenAdapterDown", c.QueueWhenAdapterDown, false)
	if _, err := New(c); err != nil {
		t.Fatalf("New(NewConfig) = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string // part of the error; "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"lifetime 0 is kept", func(c *Config) { c.SettingsFileCacheLifetimeMinutes = 0 }, ""},
		{"lifetime -1 is kept", func(c *Config) { c.SettingsFileCacheLifetimeMinutes = -1 }, ""},
		{"simple mode", func(c *Config) { c.AdapterMode = ModeSimple }, ""},
		{"debug IP", func(c *Config) { c.DebugIP = "2001:db8::1" }, ""},
		{"no account", func(c *Config) { c.Account = " " }, "Account is empty"},
		{"placeholder", func(c *Config) { c.Account = "DELETE_THIS" }, "DELETE placeholder"},
		{"no secret", func(c *Config) { c.AccountSecret = "" }, "AccountSecret is empty"},
		{"slash in secret", func(c *Config) { c.AccountSecret = "a/b" }, "must not contain"},
		{"percent in account", func(c *Config) { c.Account = "a%2F" }, "must not contain"},
		{"space in account", func(c *Config) { c.Account = "a b" }, "must not contain"},
		{"user info in files server", func(c *Config) { c.FilesServer = "me@files.example" }, "not a host name"},
		{"bad files server", func(c *Config) { c.FilesServer = "https://files" }, "not a host name"},
		{"negative query limit", func(c *Config) { c.QueryTimeLimitSeconds = -1 }, "QueryTimeLimitSeconds"},
		{"zero read timeout", func(c *Config) { c.ReadTimeout = 0 }, "ReadTimeout"},
		{"no cache folder", func(c *Config) { c.SettingsFileCacheLocation = "" }, "SettingsFileCacheLocation"},
		{"lifetime -2", func(c *Config) { c.SettingsFileCacheLifetimeMinutes = -2 }, "SettingsFileCacheLifetimeMinutes"},
		{"lifetime a year", func(c *Config) { c.SettingsFileCacheLifetimeMinutes = maxLifetimeMinutes }, ""},
		{"lifetime a year and a minute", func(c *Config) { c.SettingsFileCacheLifetimeMinutes = maxLifetimeMinutes + 1 }, "over a year"},
		{"lifetime past a Duration", func(c *Config) { c.SettingsFileCacheLifetimeMinutes = 1e9 }, "over a year"},
		{"bad mode", func(c *Config) { c.AdapterMode = "Safe" }, "AdapterMode"},
		{"bad debug IP", func(c *Config) { c.DebugIP = "true" }, "DebugIP"},
		{"bad queue domain", func(c *Config) { c.QueueDomain = "q.example/x" }, "QueueDomain"},
		{"queue domain", func(c *Config) { c.QueueDomain = "queue.shop.example" }, ""},
		{"trust without hops", func(c *Config) { c.TrustForwardedHeaders = true; c.ForwardedHops = 0 }, "ForwardedHops"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewConfig("acct", "secret")
			c.Logger = discardLogger()
			tt.edit(&c)
			g, err := New(c)
			if tt.want == "" {
				if err != nil || g == nil {
					t.Fatalf("New = %v, %v", g, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrConfig) {
				t.Fatalf("New error = %v, want one about %q wrapping ErrConfig", err, tt.want)
			}
			if g != nil {
				t.Error("New returned a Gate with an error")
			}
		})
	}
}

func TestConfigLiteralRefused(t *testing.T) {
	_, err := New(Config{Account: "a", AccountSecret: "s", FilesServer: "f", ReadTimeout: time.Second, SettingsFileCacheLocation: ".", AdapterMode: ModeSafe})
	if err == nil || !strings.Contains(err.Error(), "NewConfig") {
		t.Fatalf("New(Config literal) = %v, want an error pointing to NewConfig", err)
	}
}

func TestWarnIsRateLimited(t *testing.T) {
	r := newRig(t, nil)
	for i := 0; i < 50; i++ {
		r.gate.warn("queuefair: test warning")
	}
	if n := strings.Count(r.logs.String(), "test warning"); n != 1 {
		t.Errorf("%d warnings written, want 1", n)
	}
	mustEqual(t, "skipped", r.gate.warnSkipped.Load(), int64(49))
	r.gate.warnNext.Store(0) // as if a second had passed
	r.gate.warn("queuefair: test warning")
	if !strings.Contains(r.logs.String(), "skipped=49") {
		t.Errorf("skipped count not reported:\n%s", r.logs.String())
	}
}

func TestSleepContextEndsWithContext(t *testing.T) {
	ctx, cancel := contextWithCancelled()
	defer cancel()
	start := time.Now()
	sleepContext(ctx, time.Hour)
	if time.Since(start) > time.Second {
		t.Error("sleepContext ignored its context")
	}
	sleepContext(ctx, 0)
}
