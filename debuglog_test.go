package queuefair

import (
	"bytes"
	"log/slog"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// debugMessages is the sequence of debug messages (without the "queuefair: " prefix) in logs.
func debugMessages(logs string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`level=DEBUG msg="queuefair: ([^"]*)"`).FindAllStringSubmatch(logs, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestDebugLogTellsOneStory holds the README's description of the debug log: for a request,
// one line to start and one to end, one for the settings, one for the Passed String check, one
// per rule tested, one per queue for its result, and one for each check, consult, cookie and
// redirect, each naming the queue by its system name.
func TestDebugLogTellsOneStory(t *testing.T) {
	rules := `[{"operator":null,"component":"Path","match":"Contain","value":"/checkout","caseSensitive":false,"negate":false},
		{"operator":"And","component":"Cookie","name":"member","match":"Exist","value":"","caseSensitive":false,"negate":true}]`
	r := newRig(t, func(c *Config) { c.Debug = true; c.AdapterMode = ModeSimple })
	r.stub.json(testSettings, settingsJSON(queueJSON("q", rules, `,"displayName":"Big Sale"`)))
	r.run(checkoutURL, map[string]string{"QueueFair-Pass-q": "qfqid=1&qfq=q&qfts=1&qfh=00"})
	want := []string{
		"adapter starting",
		"got settings",
		"checking URL for Passed String",
		"rule", "rule",
		"rules matched",
		"validating cookie",
		"cookie hash mismatch",
		"deleting Passed Cookie",
		"consulting",
		"redirecting",
		"adapter ending",
	}
	got := debugMessages(r.logs.String())
	if len(got) > 0 && got[1] == "downloaded settings" {
		got = append(got[:1], got[2:]...) // the download's own line, once per download
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("debug messages:\n got %q\nwant %q\n%s", got, want, r.logs.String())
	}
	for _, line := range strings.Split(r.logs.String(), "\n") {
		if strings.Contains(line, "queue=") && !strings.Contains(line, "queue=q ") && !strings.HasSuffix(line, "queue=q") {
			t.Errorf("a line names the queue otherwise: %s", line)
		}
		if line != "" && !strings.Contains(line, "downloaded settings") && !strings.Contains(line, "ip="+testIP) {
			t.Errorf("a line without the client IP: %s", line)
		}
	}
}

// TestInvalidQueryIsLogged: the InvalidQuery redirect says why in the debug log.
func TestInvalidQueryIsLogged(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Debug = true })
	r.stub.json(testSettings, settingsJSON(queueJSON("q", "", "")))
	r.run(checkoutURL+"?"+passToken("wrong", testUA, "q", testNow), nil)
	got := debugMessages(r.logs.String())
	if !strings.Contains(strings.Join(got, "|"), "failed hash|Passed String invalid: to the InvalidQuery page|redirecting") {
		t.Errorf("debug messages %q", got)
	}
}

// TestDebugWithQuietLoggerWarnsAtNew: Debug set with a Logger that drops debug lines (the
// default slog logger is at Info) warns once, at New, instead of printing nothing.
func TestDebugWithQuietLoggerWarnsAtNew(t *testing.T) {
	for _, tt := range []struct {
		name  string
		edit  func(*Config)
		level slog.Level
		warn  bool
	}{
		{"Debug, Info logger", func(c *Config) { c.Debug = true }, slog.LevelInfo, true},
		{"DebugIP, Info logger", func(c *Config) { c.DebugIP = testIP }, slog.LevelInfo, true},
		{"Debug, Debug logger", func(c *Config) { c.Debug = true }, slog.LevelDebug, false},
		{"no Debug, Info logger", func(c *Config) {}, slog.LevelInfo, false},
	} {
		var buf bytes.Buffer
		cfg := NewConfig(testAccount, testSecret)
		cfg.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.level}))
		tt.edit(&cfg)
		if _, err := New(cfg); err != nil {
			t.Fatal(err)
		}
		mustEqual(t, tt.name, strings.Contains(buf.String(), "drops debug lines"), tt.warn)
	}
}
