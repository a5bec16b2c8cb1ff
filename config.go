package queuefair

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Adapter modes, the values of Config.AdapterMode and of a queue's adapterMode.
const (
	// ModeSafe is Python's "safe": ask the Queue-Fair adapter server about each matching visitor.
	ModeSafe = "safe"
	// ModeSimple is Python's "simple": send each matching visitor without a pass to the queue server.
	ModeSimple = "simple"
)

// DefaultFilesServer is Python's default QueueFairConfig.FILES_SERVER.
const DefaultFilesServer = "files.queue-fair.net"

// Config is Python's QueueFairConfig: every setting of the adapter, given once to New.
//
// Start from NewConfig, which fills in the reference's defaults, and change only the fields you
// need; New refuses a Config that did not come from NewConfig, because two zero values here
// mean something drastic (SettingsFileCacheLifetimeMinutes 0 downloads the settings on every
// request, StripPassedString false leaves Passed Strings in visitors' address bars).
// Port: a value given once to New; Python keeps its configuration in mutable class attributes.
type Config struct {
	// Account is Python's ACCOUNT: the account system name from the Queue-Fair portal. Required.
	Account string
	// AccountSecret is Python's ACCOUNT_SECRET: part of the settings URL. Required.
	AccountSecret string
	// FilesServer is Python's FILES_SERVER: the host (and optional port) of the settings file.
	FilesServer string
	// QueryTimeLimitSeconds is Python's QUERY_TIME_LIMIT_SECONDS: a Passed String's timestamp
	// must lie within this many seconds of now, either side. Default 300.
	QueryTimeLimitSeconds int
	// Debug is Python's DEBUG = True: debug logs for every request.
	Debug bool
	// DebugIP is Python's DEBUG = "ip": debug logs only for requests from this client IP.
	DebugIP string
	// ReadTimeout is Python's READ_TIMEOUT: the limit on every network read (settings and
	// adapter server) and on waiting for another process's settings download. Default 5s.
	ReadTimeout time.Duration
	// SettingsFileCacheLocation is Python's SETTINGS_FILE_CACHE_LOCATION: the folder of the
	// on-disk settings cache. It must be writable; keep it outside your web root. Default ".".
	SettingsFileCacheLocation string
	// SettingsFileCacheLifetimeMinutes is Python's SETTINGS_FILE_CACHE_LIFETIME_MINUTES: how long
	// downloaded settings are used before a fresh download. 0 downloads on every request
	// (testing only); -1 never downloads and uses only the file already cached. Default 5.
	SettingsFileCacheLifetimeMinutes int
	// StripPassedString is Python's STRIP_PASSED_STRING: after accepting a Passed String,
	// redirect to the same URL without it. Default true.
	StripPassedString bool
	// AdapterMode is Python's ADAPTER_MODE: ModeSafe (default) or ModeSimple. A queue's own
	// adapterMode setting overrides it.
	AdapterMode string

	// TrustForwardedHeaders has no Python counterpart (views.py tells you to edit the code): when
	// true, Gate.Check takes the scheme from X-Forwarded-Proto and the client IP from
	// X-Forwarded-For, ForwardedHops entries from its right. Only set it when every request
	// reaches this server through your own proxy or CDN, which must set those headers.
	TrustForwardedHeaders bool
	// ForwardedHops has no Python counterpart: how many proxies of yours append to
	// X-Forwarded-For (default 1), when TrustForwardedHeaders is set. The client IP is the
	// entry that many places from the right.
	ForwardedHops int

	// QueueDomain has no Python counterpart (Queue-Fair's newer adapters call it queueDomain):
	// when set, it replaces the host of the adapter server's SendToQueue location, keeping its
	// scheme, port, path and query, for a queue served on your own domain. Empty: unchanged.
	QueueDomain string
	// SendURL has no Python counterpart (Queue-Fair's newer adapters call it sendURL): when
	// true, the adapter-server request carries the requested URL as its url parameter. Default
	// false.
	SendURL bool

	// OnDecision has no Python counterpart: when set, it is called once for every checked
	// request, on the request's goroutine and holding no lock, with the request's context and
	// the Decision (Duration filled in). Feed counters from it (expvar, Prometheus,
	// OpenTelemetry). A panic in it is recovered and logged; the page's answer stands.
	OnDecision func(ctx context.Context, d Decision)
	// DryRun has no Python counterpart: when true the adapter decides everything as usual and
	// reports it (OnDecision, the debug log), but never redirects, never sets or deletes a
	// cookie, never pauses and never calls the adapter server, so every page runs. In safe
	// mode it reports OutcomeWouldConsult where it would have asked the adapter server. For
	// rehearsing rules on live traffic before switching them on.
	DryRun bool
	// QueueWhenAdapterDown has no Python counterpart. After a call to the adapter server fails
	// (a network error, a timeout or a 5xx status; not a 4xx, which a visitor's own request
	// can bring about, and which lets only that request's page run), the Gate skips that
	// server for AdapterBackoff, one request then probes it, and the rest keep skipping it
	// until the probe answers. While it is skipped, safe-mode visitors who need the adapter server run
	// the page at once, as the reference does after its timeout; with QueueWhenAdapterDown
	// they are sent to the queue server instead, as in simple mode. Default false.
	QueueWhenAdapterDown bool

	// HTTPClient has no Python counterpart (the reference calls urllib.request.urlopen): it
	// makes every request to the Queue-Fair servers. Default: a client of its own with a
	// connection pool sized for a busy adapter server.
	HTTPClient *http.Client
	// Now is the clock, Python's time.time. Default time.Now. The settings cache lifetime and
	// the retry back-off run on the monotonic clock, so a step of the wall clock cannot
	// stretch them. The back-off also ends when this clock passes it, and so does the
	// lifetime when Now is set, so a test can move its clock past both. A lock's age is read
	// from the lock file (a wall-clock time), so a lock dated in the future counts as stale.
	Now func() time.Time
	// Sleep pauses a request (the reference's time.sleep). Default: a timer that also ends
	// when ctx does.
	Sleep func(ctx context.Context, d time.Duration)
	// Logger is Python's QueueFairLogger: it receives warnings (at slog.LevelWarn) and, when
	// Debug or DebugIP applies, debug lines (at slog.LevelDebug). Default slog.Default(). It
	// never receives a secret.
	Logger *slog.Logger

	fromNewConfig bool
}

// NewConfig returns Python's QueueFairConfig defaults for the given account system name and
// account secret.
func NewConfig(account, accountSecret string) Config {
	return Config{
		Account:                          account,
		AccountSecret:                    accountSecret,
		FilesServer:                      DefaultFilesServer,
		QueryTimeLimitSeconds:            300,
		ReadTimeout:                      5 * time.Second,
		SettingsFileCacheLocation:        ".",
		SettingsFileCacheLifetimeMinutes: 5,
		StripPassedString:                true,
		AdapterMode:                      ModeSafe,
		ForwardedHops:                    1,
		fromNewConfig:                    true,
	}
}

// maxLifetimeMinutes caps the settings cache lifetime at a year, far below where minutes
// overflow a time.Duration (and would read as "always stale").
const maxLifetimeMinutes = 366 * 24 * 60

// ErrConfig is wrapped by every error New returns for a bad Config: Python's ValueError for a
// bad account, raised on every request there and once, up front, here.
var ErrConfig = errors.New("queuefair: bad config")

// validate has no single Python counterpart: it is the checks Python makes late (loadSettings
// raising on the DELETE placeholder) or never, made once, up front.
func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
	}
	switch {
	case !c.fromNewConfig:
		return bad("build the Config with NewConfig so that the reference defaults apply")
	case strings.TrimSpace(c.Account) == "":
		return bad("Account is empty: set the account system name from the Queue-Fair portal")
	// Port: refused here, once; Python raises on every request.
	case strings.Contains(c.Account, "DELETE"):
		return bad("Account %q still holds the DELETE placeholder: set your account system name", c.Account)
	case strings.TrimSpace(c.AccountSecret) == "":
		return bad("AccountSecret is empty: set the account secret from the Queue-Fair portal")
	case strings.ContainsAny(c.Account+c.AccountSecret, "/?#%\\ \t\r\n"):
		return bad("Account and AccountSecret must not contain '/', '?', '#', '%%', '\\' or spaces")
	case c.FilesServer == "" || strings.ContainsAny(c.FilesServer, "/?#@ \t\r\n"):
		return bad("FilesServer %q is not a host name", c.FilesServer)
	case c.QueryTimeLimitSeconds < 0:
		return bad("QueryTimeLimitSeconds is negative")
	case c.ReadTimeout <= 0:
		return bad("ReadTimeout must be positive")
	case c.SettingsFileCacheLocation == "":
		return bad("SettingsFileCacheLocation is empty (use \".\" for the working folder)")
	case c.SettingsFileCacheLifetimeMinutes < -1:
		return bad("SettingsFileCacheLifetimeMinutes must be -1, 0 or positive")
	case c.SettingsFileCacheLifetimeMinutes > maxLifetimeMinutes:
		return bad("SettingsFileCacheLifetimeMinutes is over a year; use -1 to never download")
	case c.AdapterMode != ModeSafe && c.AdapterMode != ModeSimple:
		return bad("AdapterMode %q is neither %q nor %q", c.AdapterMode, ModeSafe, ModeSimple)
	case strings.ContainsAny(c.QueueDomain, "/?#@:; \t\r\n"):
		return bad("QueueDomain %q is not a host name", c.QueueDomain)
	case c.DebugIP != "" && net.ParseIP(c.DebugIP) == nil:
		return bad("DebugIP %q is not an IP address", c.DebugIP)
	case c.TrustForwardedHeaders && c.ForwardedHops < 1:
		return bad("ForwardedHops must be at least 1 when TrustForwardedHeaders is set")
	}
	return nil
}

// Gate is the long-lived, concurrency-safe value a site keeps for the life of the process. It
// has no single Python counterpart: it owns what Python keeps in QueueFairConfig's class
// attributes and its shelve file (the configuration, the settings cache) plus the HTTP client,
// and it makes the per-request Adapter (Python's QueueFairAdapter). Its methods Check,
// CheckExtra, Handler and CheckCookie are views.py's checkQueueFair for net/http. Load, Status
// and Close, which no Queue-Fair adapter has, are for operators: a warm start, a health
// snapshot, a clean stop.
//
// A nil *Gate (New failed) lets every page run.
type Gate struct {
	cfg         Config
	client      *http.Client
	now         func() time.Time
	sleep       func(ctx context.Context, d time.Duration)
	log         *slog.Logger
	store       *settingsStore
	uidCookie   string // QueueFair-Store-{Account}
	settingsURL string // Python's settingsURL(); the secret inside is never logged

	warnNext    atomic.Int64 // unix nanos before which warnings are counted, not written
	warnSkipped atomic.Int64
	warnGap     time.Duration // one warning per warnGap (a second); 0 in tests that read every one

	epoch          time.Time // the origin of mono
	closed         atomic.Bool
	outage         atomic.Pointer[adapterOutage]
	adapterBackoff time.Duration // AdapterBackoff; tests shorten it
	regexpBudget   int64         // maxRegexpSteps; tests shorten it
}

// AdapterBackoff has no Python counterpart: how long a Gate skips an adapter server after a
// call to it failed (see Config.QueueWhenAdapterDown).
const AdapterBackoff = 5 * time.Second

// ErrClosed has no Python counterpart: Gate.Load returns it after Gate.Close.
var ErrClosed = errors.New("queuefair: gate closed")

// ErrNoSettings has no Python counterpart: it is wrapped by Gate.Load's error when the Gate
// holds no settings (and so lets every page run), with the reason.
var ErrNoSettings = errors.New("queuefair: no settings")

// New validates cfg and returns a Gate, or an error wrapping ErrConfig. It has no single
// Python counterpart: the Gate holds the configuration, settings store and HTTP client that
// the reference keeps in class state.
func New(cfg Config) (*Gate, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g := &Gate{cfg: cfg, client: cfg.HTTPClient, now: cfg.Now, sleep: cfg.Sleep, log: cfg.Logger}
	if g.client == nil {
		g.client = newHTTPClient()
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.sleep == nil {
		g.sleep = sleepContext
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	g.epoch = time.Now()
	g.warnGap = time.Second
	g.adapterBackoff = AdapterBackoff
	g.regexpBudget = maxRegexpSteps
	g.uidCookie = "QueueFair-Store-" + cfg.Account
	g.settingsURL = "https://" + cfg.FilesServer + "/" + cfg.Account + "/" + cfg.AccountSecret + "/queue-fair-settings.json"
	g.store = newSettingsStore(g)
	if (cfg.Debug || cfg.DebugIP != "") && !g.log.Enabled(context.Background(), slog.LevelDebug) {
		g.log.Warn("queuefair: Debug or DebugIP is set, but the Logger drops debug lines, so none will show; give Config.Logger a handler with Level slog.LevelDebug")
	}
	return g, nil
}

// warn writes a warning, at most one a second per Gate, so that a fault hit by every request
// of a busy site (an unreachable adapter server, say) does not flood the log; the next warning
// written says how many were skipped. Debug lines are not limited.
func (g *Gate) warn(msg string, args ...any) {
	now := time.Now().UnixNano() // real time even under a test clock: this paces output
	next := g.warnNext.Load()
	if now < next || !g.warnNext.CompareAndSwap(next, now+int64(g.warnGap)) {
		g.warnSkipped.Add(1)
		return
	}
	if n := g.warnSkipped.Swap(0); n > 0 {
		args = append(args, "skipped", n)
	}
	g.log.Warn(msg, args...)
}

// report hands d, with the time since start, to Config.OnDecision, recovering a panic in it.
func (g *Gate) report(ctx context.Context, d Decision, start time.Time) {
	defer func() {
		if p := recover(); p != nil {
			g.warn("queuefair: OnDecision panicked", "panic", fmt.Sprint(p))
		}
	}()
	d.Duration = time.Since(start)
	g.cfg.OnDecision(ctx, d)
}

// newHTTPClient has no Python counterpart (urllib opens a connection per call): a client whose
// pool keeps enough idle connections to the adapter server for a busy site.
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.ResponseHeaderTimeout = 0 // every call carries a context deadline instead
	return &http.Client{Transport: t}
}

// sleepContext is Python's time.sleep, ended early when ctx ends.
func sleepContext(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Outcome is what the adapter decided for one request, as a Decision reports it. It has no
// Python counterpart (the reference only returns isContinue's bool). The names its String
// method returns are stable: graph them.
type Outcome uint8

// The outcomes of a checked request. When one request meets several (a Passed Cookie for one
// queue, then a redirect for another), the last one is reported.
const (
	// OutcomeNoMatch: no queue's activation rules matched; the page runs. "no_match"
	OutcomeNoMatch Outcome = iota
	// OutcomePassedCookie: a valid Passed Cookie let the visitor through. With ExtraClear, the
	// cookie is cut to 20 seconds, and if the URL still carries a Passed String (a stale one,
	// which the cookie covered) the visitor is redirected to the URL without it, so Continue
	// is false. "passed_cookie"
	OutcomePassedCookie
	// OutcomePassedString: a valid Passed String let the visitor through; its Passed Cookie
	// was set (and, with StripPassedString, the visitor redirected to the URL without it).
	// "passed_string"
	OutcomePassedString
	// OutcomeSafeGuard: the adapter server let the visitor through (SafeGuard, or any action
	// but SendToQueue and CLEAR) and its pass became the Passed Cookie. "safeguard"
	OutcomeSafeGuard
	// OutcomeCleared: the adapter server answered CLEAR: passed for this request, no cookie.
	// "cleared"
	OutcomeCleared
	// OutcomeSentToQueue: the visitor was redirected to the queue. "sent_to_queue"
	OutcomeSentToQueue
	// OutcomeInvalidQuery: a Passed String failed its check; the visitor was sent to the
	// queue's InvalidQuery page. "passed_string_rejected"
	OutcomeInvalidQuery
	// OutcomeCookieRejected: a Passed Cookie failed its check and was deleted, and nothing
	// decided after that. From Gate.CheckCookie: the visitor had no valid Passed Cookie (or
	// none) and was sent to the InvalidCookie page, with nothing deleted, as in the reference.
	// "cookie_rejected"
	OutcomeCookieRejected
	// OutcomeWouldConsult: in a dry run in safe mode, the adapter would have asked the adapter
	// server about the visitor; what it would have answered is not known. "would_consult"
	OutcomeWouldConsult
	// OutcomeFailedOpen: the check ended early and the page runs; Reason says why.
	// "failed_open"
	OutcomeFailedOpen
)

var outcomeNames = [...]string{
	OutcomeNoMatch:        "no_match",
	OutcomePassedCookie:   "passed_cookie",
	OutcomePassedString:   "passed_string",
	OutcomeSafeGuard:      "safeguard",
	OutcomeCleared:        "cleared",
	OutcomeSentToQueue:    "sent_to_queue",
	OutcomeInvalidQuery:   "passed_string_rejected",
	OutcomeCookieRejected: "cookie_rejected",
	OutcomeWouldConsult:   "would_consult",
	OutcomeFailedOpen:     "failed_open",
}

// String is the outcome's stable snake_case name. It has no Python counterpart.
func (o Outcome) String() string { return stableName(outcomeNames[:], int(o)) }

// stableName is names[i], or "unknown" past the end of names.
func stableName(names []string, i int) string {
	if i < len(names) {
		return names[i]
	}
	return "unknown"
}

// Reason says why a check failed open (OutcomeFailedOpen). It has no Python counterpart: the
// reference's isContinue catches every exception alike.
type Reason uint8

// The reasons a check fails open.
const (
	// ReasonNone: the check did not fail open. ""
	ReasonNone Reason = iota
	// ReasonNoSettings: no settings could be had (first start with the files server down, say).
	// "no_settings"
	ReasonNoSettings
	// ReasonBadSettings: a queue or rule the request reached is malformed, where the reference
	// raises. "bad_settings"
	ReasonBadSettings
	// ReasonAdapterDown: the adapter server could not be reached, timed out or answered
	// non-2xx. "adapter_down"
	ReasonAdapterDown
	// ReasonBadAnswer: the adapter server's answer is not usable (not JSON, a field missing, a
	// location that is not http or https). "bad_answer"
	ReasonBadAnswer
	// ReasonNoAction: the adapter server answered without an action. "no_action"
	ReasonNoAction
	// ReasonPanic: a panic inside the adapter or its Service was recovered. "panic"
	ReasonPanic
)

var reasonNames = [...]string{
	ReasonNone:        "",
	ReasonNoSettings:  "no_settings",
	ReasonBadSettings: "bad_settings",
	ReasonAdapterDown: "adapter_down",
	ReasonBadAnswer:   "bad_answer",
	ReasonNoAction:    "no_action",
	ReasonPanic:       "panic",
}

// String is the reason's stable snake_case name ("" for ReasonNone). It has no Python
// counterpart.
func (r Reason) String() string { return stableName(reasonNames[:], int(r)) }

// Decision is what the adapter decided for one request and why. It has no Python counterpart.
// Read it with Adapter.Decision after IsContinue, or receive it in Config.OnDecision for every
// checked request (Gate.Check, Handler, CheckExtra and CheckCookie included).
type Decision struct {
	// Outcome is what happened.
	Outcome Outcome
	// Reason says why, for OutcomeFailedOpen.
	Reason Reason
	// Queue is the system name of the queue that decided ("" for OutcomeNoMatch, and for a
	// failure before any queue was reached).
	Queue string
	// Rule is the 1-based index of the activation rule that settled Queue's match (0 when no
	// rule decided, as for a Passed String, which is checked before the rules).
	Rule int
	// CookieDeleted reports that a Passed Cookie failed its check and was deleted on the way,
	// whatever was decided after.
	CookieDeleted bool
	// Continue is whether the page runs. In a dry run it is whether the page would have run:
	// IsContinue itself then always reports true.
	Continue bool
	// DryRun reports that Config.DryRun was on: nothing was sent to the visitor.
	DryRun bool
	// Duration is how long the check took; it is measured only when Config.OnDecision is set.
	Duration time.Duration
}

// mono is the time since the Gate was made, on the monotonic clock: wall-clock steps and
// Config.Now do not move it.
func (g *Gate) mono() time.Duration { return time.Since(g.epoch) }

// Load has no Python counterpart (the reference loads settings on the first request): a warm
// start. It reads the settings cache file, or downloads the settings, now, so that the first
// visitors after a deploy are not let through unqueued while settings load; call it before
// the server takes traffic, or from a readiness probe. It returns nil when the Gate holds
// settings afterwards (fresh ones, or the last good ones when a refresh failed: Status says
// which), and otherwise an error wrapping ErrNoSettings and the reason. It waits for the
// refresh until ctx ends; the refresh itself is bounded by ReadTimeout for the lock and again
// for the download. After a failure, calls within the retry back-off (10 s) return at once.
// After Close it returns ErrClosed. New never downloads: only Load or a request does.
func (g *Gate) Load(ctx context.Context) error {
	if g == nil {
		return fmt.Errorf("%w: nil Gate", ErrNoSettings)
	}
	if g.closed.Load() {
		return ErrClosed
	}
	st := g.store
	l := st.cur.Load()
	if l != nil && st.fresh(l, g.now) {
		return nil
	}
	if f := st.startRefresh(l, g.now()); f != nil {
		select {
		case <-f.done:
		case <-ctx.Done():
		}
	}
	if st.cur.Load() != nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrNoSettings, err)
	}
	if g.closed.Load() {
		return ErrClosed
	}
	if _, err := st.lastError(); err != nil {
		return fmt.Errorf("%w: %w", ErrNoSettings, err)
	}
	return ErrNoSettings
}

// Status has no Python counterpart: a snapshot of a Gate's settings and its Queue-Fair
// servers, for operators. It is a plain value, safe to copy, log or encode as JSON.
type Status struct {
	// Source is where the settings in use came from: SourceDownload, SourceFile, or "" when
	// the Gate holds none (every page runs unqueued).
	Source string `json:"source"`
	// Fetched is when the settings in use were downloaded (by this process, or by the one
	// that wrote the cache file); zero without settings.
	Fetched time.Time `json:"fetched"`
	// Age is how long ago that was.
	Age time.Duration `json:"age"`
	// Fresh reports that the settings are within SettingsFileCacheLifetimeMinutes; stale
	// settings are still used while a refresh runs or after it failed.
	Fresh bool `json:"fresh"`
	// Queues is the number of queues in the settings.
	Queues int `json:"queues"`
	// Downloads counts this Gate's settings downloads, DownloadFailures those that failed
	// (no answer, an error status, too large, or malformed).
	Downloads        int64 `json:"downloads"`
	DownloadFailures int64 `json:"downloadFailures"`
	// LastError is the last failed refresh's reason ("" if none failed), LastErrorAt when;
	// both stay after a later refresh succeeds (Fresh and Fetched say that).
	LastError   string    `json:"lastError"`
	LastErrorAt time.Time `json:"lastErrorAt"`
	// AdapterServerDown reports that an adapter server is being skipped after a failure (see
	// Config.QueueWhenAdapterDown).
	AdapterServerDown bool `json:"adapterServerDown"`
	// Closed reports that Close was called: every page runs.
	Closed bool `json:"closed"`
}

// Status has no Python counterpart: the state of the Gate's settings and adapter server, for
// a health endpoint or a log line. It does no input or output and takes one short lock, so it
// is cheap, and it is safe to call from any goroutine, as often as a /healthz endpoint is hit.
func (g *Gate) Status() Status {
	if g == nil {
		return Status{Closed: true}
	}
	st := g.store
	s := Status{
		Downloads:        st.downloads.Load(),
		DownloadFailures: st.failures.Load(),
		Closed:           g.closed.Load(),
	}
	if at, err := st.lastError(); err != nil {
		s.LastError, s.LastErrorAt = err.Error(), at
	}
	if o := g.outage.Load(); o != nil {
		s.AdapterServerDown = true
	}
	if l := st.cur.Load(); l != nil {
		now := g.now()
		s.Source, s.Fetched, s.Queues = l.source, l.fetched, len(l.s.queues)
		s.Age = now.Sub(l.base)
		s.Fresh = l.freshAt(now)
	}
	return s
}

// Close has no Python counterpart: it stops the Gate's background work (a settings refresh
// under way ends, waiting at most ReadTimeout for it; the freshness timer stops) and closes
// the HTTP client's idle connections. Afterwards every page runs, Load returns ErrClosed and
// nothing is downloaded. It is safe to call more than once, and from any goroutine; it always
// returns nil.
func (g *Gate) Close() error {
	if g == nil || !g.closed.CompareAndSwap(false, true) {
		return nil
	}
	g.store.close()
	g.client.CloseIdleConnections()
	return nil
}

// adapterOutage is an adapter server being skipped after a failure, until a point on the
// monotonic clock.
type adapterOutage struct {
	host  string
	until time.Duration // on the monotonic clock; a probe's outage lasts while it is under way
}

// adapterSkip has no Python counterpart: it reports whether a request should skip the adapter
// server host because a call to it failed less than the back-off ago. Once the back-off is
// over, the first request to ask probes the server (false, with its probe record); the others
// keep skipping it until the probe answers, or for ReadTimeout and a second if it never does.
// A prober must hand its record to probeEnded when it is done.
func (g *Gate) adapterSkip(host string) (skip bool, probe *adapterOutage) {
	o := g.outage.Load()
	if o == nil || o.host != host {
		return false, nil
	}
	now := g.mono()
	if now < o.until {
		return true, nil
	}
	probe = &adapterOutage{host: host, until: now + g.cfg.ReadTimeout + time.Second}
	if !g.outage.CompareAndSwap(o, probe) {
		return true, nil
	}
	return false, probe
}

// probeEnded has no Python counterpart: a request that took the probe (adapterSkip) is done.
// If the server's answer or failure has not replaced the probe (adapterAnswered), the request
// never learnt whether the server is up: it made no call (a dry run, a request too long to
// send) or its visitor left. Then the back-off is over again, and the next request probes:
// otherwise a visitor could hold the probe, and keep a recovered server skipped for everyone.
func (g *Gate) probeEnded(probe *adapterOutage) {
	if probe == nil {
		return
	}
	g.outage.CompareAndSwap(probe, &adapterOutage{host: probe.host})
}

// adapterAnswered has no Python counterpart: it records how a call to the adapter server host
// went. A failure starts (or restarts) the back-off, unless the request's own context ended
// it; an answer ends any back-off for that host. A 4xx status is an answer: the server is up
// and refused this one request, which runs its page, and a visitor can bring one about (an
// odd User-Agent or uid), so it must not switch the queue off for everyone else.
func (g *Gate) adapterAnswered(ctx context.Context, host string, err error) {
	o := g.outage.Load()
	if st := errStatus(0); errors.As(err, &st) && st >= 400 && st < 500 {
		err = nil
	}
	if err == nil {
		if o != nil && o.host == host && g.outage.CompareAndSwap(o, nil) {
			g.warn("queuefair: the adapter server answers again", "server", host)
		}
		return
	}
	if ctx.Err() != nil {
		return // the visitor left, or the caller's deadline passed: not the server's fault
	}
	g.outage.Store(&adapterOutage{host: host, until: g.mono() + g.adapterBackoff})
	g.warn("queuefair: adapter server failed; skipping it for the back-off", "server", host, "backoff", g.adapterBackoff, "error", err)
}
