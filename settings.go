package queuefair

// This file is Python's settings half of QueueFairAdapter: settingsURL, urlToJSON, the shelve
// store (loadSettings, waitForSettings, writeToShelf, create, getSettingsLoc,
// getSettingsLockLoc), plus what the reference leaves implicit: turning the downloaded JSON
// into typed, precomputed queues once per download instead of reading a dict on every request.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Size caps on what the Queue-Fair servers send. Real settings files are a few kilobytes and
// adapter answers a few hundred bytes; anything far larger is a fault, not data.
const (
	maxSettingsBytes = 4 << 20
	maxAdapterBytes  = 64 << 10
	// retryAfterFailure is how soon a failed settings download (or, with lifetime -1, a missing
	// cache file) is tried again; never more often than the cache lifetime allows.
	retryAfterFailure = 10 * time.Second
	// lockPoll is how often a process waiting for another's download looks again.
	lockPoll = 50 * time.Millisecond
)

// settings is the parsed queue-fair-settings.json (Python's self.settings dict), compiled.
type settings struct {
	queues []*queue
	// unknown names each rule whose component or match this package does not know (newer
	// Queue-Fair adapters write kinds the reference lacks), for one warning per download.
	unknown []string
}

// queue is one entry of settings["queues"]; Python reads these fields from a dict on each use.
type queue struct {
	name, displayName string
	cookieName        string // QueueFair-Pass-{name}
	secret            string
	hasSecret         bool    // secret is text; Python fails every validation otherwise
	secretKey         bool    // the queue has a "secret" key (Python's KeyError otherwise)
	sign              *signer // keyed with secret; nil without one
	lifetimeMinutes   int     // passedLifetimeMinutes, as Python's int() reads it
	lifetimeOK        bool
	queueServer       string
	hasQueueServer    bool // queueServer is text, even "" (Python builds https:///... from it)
	adapterServer     string
	hasAdapterServer  bool
	adapterMode       string // "safe" or anything else (simple), when hasAdapterMode
	hasAdapterMode    bool   // else the configured AdapterMode applies
	cookieDomain      string
	dynamicTarget     string
	hasDynamicTarget  bool   // the key is there (Python's KeyError on SendToQueue otherwise)
	rules             []rule // activation.rules
	hasRules          bool
	activationBroken  string    // why Python's isMatch raises on this queue's activation, if it does
	variants          []variant // activation.variantRules
}

// component is the part of the request a rule looks at.
type component uint8

const (
	compURL component = iota // an unknown component: Python compares the whole URL
	compDomain
	compPath
	compQuery
	compCookie
)

// matchKind is a rule's "match".
type matchKind uint8

const (
	matchNone matchKind = iota // unknown: never matches
	matchEqual
	matchContain
	matchExist
	// The two matches the reference lacks and Queue-Fair's newer adapters have (the edge
	// adapters and .NET: RegExp; Akamai: EndsWith).
	matchEndsWith
	matchRegExp
)

// rule is one activation rule, with its value lower-cased once for case-insensitive rules.
type rule struct {
	// The fields every evaluation reads come first, small ones together.
	op            operator
	component     component
	match         matchKind
	caseSensitive bool
	negate        bool
	odd           bool           // broken, or valueNotText with Contain: see Adapter.isOddRuleMatch
	noOperator    bool           // no "operator" key: raises when the rule is not the first
	noCookie      bool           // a Cookie rule whose name is a number, boolean or null: never set
	valueNotText  bool           // "value" is null, a number, ...: an Equal is false, a Contain raises
	value         string         // lower-cased unless caseSensitive
	re            *regexp.Regexp // a RegExp rule's pattern, compiled once per download
	cookie        string         // the cookie name of a Cookie rule
	componentName string         // for logs

	// Where Python would raise on reading this rule (a missing key, or a value that is not
	// text), the error is kept for the moment Python would reach it: a rule that is never
	// evaluated never fails, as in the reference.
	broken string // why evaluating this rule raises; "" if it does not

	unknown string // a component or match this package does not know, and what it does instead
}

// operator is a rule's "operator": Python tests it against "And" and "Or" and ignores anything
// else (null included).
type operator uint8

const (
	opOther operator = iota
	opAnd
	opOr
)

// variant is one entry of activation.variantRules.
type variant struct {
	name     string
	rules    []rule
	hasRules bool
}

// errMalformed marks settings that cannot be used at all; the last good settings stay.
var errMalformed = errors.New("malformed settings")

// compileSettings has no single Python counterpart (json.loads plus the dict reads scattered over
// the adapter): it checks and compiles a settings document. Structure that Python would trip
// over on every request (not an object, no queues array, a queue without a name) makes the
// whole document malformed. Inside a queue, a field is read the way Python's truthiness and
// int() read it; a missing key or a value Python cannot use is remembered and fails the
// request only where Python's would raise (see rule.broken): one odd rule does not cost the
// whole document, and a rule no request reaches never fails.
func compileSettings(data []byte) (*settings, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if d.More() {
		return nil, fmt.Errorf("%w: data after the JSON value", errMalformed)
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a JSON object", errMalformed)
	}
	list, ok := top["queues"].([]any)
	if !ok {
		return nil, fmt.Errorf("%w: no queues array", errMalformed)
	}
	s := &settings{queues: make([]*queue, 0, len(list))}
	for i, item := range list {
		q, err := parseQueue(item)
		if err != nil {
			return nil, fmt.Errorf("%w: queue %d: %v", errMalformed, i, err)
		}
		s.queues = append(s.queues, q)
		s.unknown = appendUnknown(s.unknown, q.name, "rule", q.rules)
		for _, v := range q.variants {
			s.unknown = appendUnknown(s.unknown, q.name, "variant "+strconv.Quote(v.name)+" rule", v.rules)
		}
	}
	return s, nil
}

// appendUnknown adds to list a line for each rule of queue that holds an unknown kind.
func appendUnknown(list []string, queue, what string, rules []rule) []string {
	for i := range rules {
		if rules[i].unknown != "" {
			list = append(list, fmt.Sprintf("queue %q %s %d: %s", queue, what, i+1, rules[i].unknown))
		}
	}
	return list
}

// parseQueue reads one queue. Its typed fields replace Python's QueueFairAdapter.optional
// (a missing cookieDomain is "").
func parseQueue(item any) (*queue, error) {
	m, ok := item.(map[string]any)
	if !ok {
		return nil, errors.New("not an object")
	}
	name, ok := m["name"].(string)
	if !ok || name == "" {
		return nil, errors.New("no name")
	}
	q := &queue{name: name, cookieName: CookieNameBase + name, dynamicTarget: "disabled"}
	q.displayName, _ = m["displayName"].(string)
	_, q.secretKey = m["secret"]
	if q.secret, q.hasSecret = m["secret"].(string); q.hasSecret {
		q.sign = newSigner(q.secret)
	}
	q.lifetimeMinutes, q.lifetimeOK = pythonInt(m["passedLifetimeMinutes"])
	q.queueServer, q.hasQueueServer = m["queueServer"].(string)
	q.adapterServer, q.hasAdapterServer = m["adapterServer"].(string)
	// Python: a queue's adapterMode key, whatever its value, replaces the configured mode, and
	// anything but "safe" is simple.
	_, q.hasAdapterMode = m["adapterMode"]
	q.adapterMode, _ = m["adapterMode"].(string)
	q.cookieDomain, _ = m["cookieDomain"].(string)
	_, q.hasDynamicTarget = m["dynamicTarget"]
	if dt, ok := m["dynamicTarget"].(string); ok {
		q.dynamicTarget = dt
	}
	act, ok := m["activation"]
	if !ok {
		return q, nil // no activation: no match
	}
	actMap, ok := act.(map[string]any)
	if !ok {
		q.activationBroken = activationProblem(act)
		return q, nil
	}
	if rules, ok := actMap["rules"]; ok {
		q.rules, q.hasRules = parseRules(rules)
	}
	// Port: Python crashes on any variant rule; here a malformed variant list or entry is
	// skipped, so that it cannot stop the queue itself from working.
	vr, _ := actMap["variantRules"].([]any)
	for _, v := range vr {
		if vm, ok := v.(map[string]any); ok {
			vt := variant{}
			vt.name, _ = vm["variant"].(string)
			vt.rules, vt.hasRules = parseRules(vm["rules"])
			q.variants = append(q.variants, vt)
		}
	}
	return q, nil
}

// activationProblem is what Python's isMatch does with an activation that is not an object:
// `'rules' in activation` raises for null, numbers and booleans, and finds "rules" in a string
// or list, whose ['rules'] then raises. "" means no match.
func activationProblem(act any) string {
	switch x := act.(type) {
	case string:
		if strings.Contains(x, "rules") {
			return "activation is a string"
		}
		return ""
	case []any:
		for _, e := range x {
			if e == "rules" {
				return "activation is a list"
			}
		}
		return ""
	}
	return "activation is not an object"
}

// parseRules reads a rules list as Python's isMatchArray walks it. Null is "no rules" (never a
// match); an empty string or object holds no rules; any other value that is not a list, and
// any entry that is not an object, is a rule that raises when it is reached.
func parseRules(v any) ([]rule, bool) {
	var list []any
	switch x := v.(type) {
	case nil:
		return nil, false
	case []any:
		list = x
	case string:
		if x != "" {
			return []rule{brokenRule("rules is a string")}, true
		}
	case map[string]any:
		if len(x) > 0 {
			return []rule{brokenRule("rules is an object")}, true
		}
	default:
		return []rule{brokenRule("rules is not a list")}, true
	}
	rules := make([]rule, 0, len(list))
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			rules = append(rules, brokenRule("a rule is not an object"))
			continue
		}
		rules = append(rules, parseRule(m))
	}
	return rules, true
}

// brokenRule stands for an entry of a rules list that is not a rule at all: Python raises on
// it as soon as it is reached, reading its operator or its component.
func brokenRule(why string) rule {
	return rule{odd: true, broken: why, noOperator: true}
}

// parseRule reads one rule, noting each key Python reads with rule[...] that is missing.
func parseRule(m map[string]any) rule {
	var r rule
	need := func(key string) any {
		v, ok := m[key]
		if !ok && r.broken == "" {
			r.broken = "a rule has no " + key
		}
		return v
	}
	op, ok := m["operator"]
	switch op {
	case "And":
		r.op = opAnd
	case "Or":
		r.op = opOr
	}
	r.noOperator = !ok
	compValue := need("component")
	r.componentName, _ = compValue.(string)
	switch r.componentName {
	case "Domain":
		r.component = compDomain
	case "Path":
		r.component = compPath
	case "Query":
		r.component = compQuery
	case "Cookie":
		r.component = compCookie
		switch name := need("name").(type) {
		case string:
			r.cookie = name
		case []any, map[string]any: // Python's `name in request.COOKIES` raises: unhashable
			if r.broken == "" {
				r.broken = "a cookie rule's name is a list or object"
			}
		default: // a number, boolean or null names no cookie
			r.noCookie = true
		}
	default:
		if _, ok := m["component"]; ok {
			r.unknown = fmt.Sprintf("component %s compares the whole URL", jsonText(compValue))
		}
	}
	r.value, r.valueNotText = "", true
	if v, ok := need("value").(string); ok {
		r.value, r.valueNotText = v, false
	}
	badPattern := false
	switch match := need("match"); match {
	case "Equal":
		r.match = matchEqual
	case "Contain":
		r.match = matchContain
	case "Exist":
		r.match = matchExist
	case "EndsWith":
		r.match = matchEndsWith
	case "RegExp":
		r.match = matchRegExp
		if r.valueNotText {
			break
		}
		pattern := r.value
		if !truthy(m["caseSensitive"]) {
			pattern = "(?i)" + pattern // not the pattern lower-cased: that would turn \D into \d
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			r.match, badPattern = matchNone, true
			r.unknown = fmt.Sprintf("RegExp %s does not compile here (%v) and never matches", jsonText(r.value), err)
			break
		}
		r.re = re
	default:
		if _, ok := m["match"]; ok && r.unknown == "" {
			r.unknown = fmt.Sprintf("match %s never matches", jsonText(match))
		}
	}
	r.caseSensitive = truthy(need("caseSensitive"))
	r.negate = truthy(need("negate")) && !badPattern // a bad pattern never matches, negated or not
	if !r.caseSensitive {
		if r.valueNotText && r.broken == "" {
			r.broken = "a rule's value is not text" // Python's value.lower()
		}
		r.value = pythonLower(r.value)
	}
	if r.valueNotText && (r.match == matchEqual || r.match == matchEndsWith || r.match == matchRegExp) {
		r.match = matchNone // Python's comp == value is false for a value that is not text
	}
	r.odd = r.broken != "" || r.valueNotText && r.match == matchContain
	return r
}

// jsonText is v written back as JSON, for a log line.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil || len(b) > 64 {
		return "(a value too long to show)"
	}
	return string(b)
}

// truthy is Python's bool() of a JSON value.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// pythonInt is Python's int() of a JSON value as the adapter uses it on passedLifetimeMinutes
// and cookieSeconds: numbers truncate, numeric strings parse, booleans are 0 or 1.
func pythonInt(v any) (int, bool) {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return clampInt(n)
		}
		f, err := x.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return clampInt(int64(f))
	case string:
		n, ok := parseInt(x)
		if !ok {
			return 0, false
		}
		return clampInt(n)
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// clampInt refuses values whose use as seconds or minutes would overflow.
func clampInt(n int64) (int, bool) {
	if n > math.MaxInt32 || n < math.MinInt32 {
		return 0, false
	}
	return int(n), true
}

// settingsStore holds the settings in memory for every request of the process and keeps the
// file cache. Requests read the current settings with one atomic load; at most one download
// runs at a time in the process, and a lock file keeps processes sharing the cache folder from
// downloading together. It is safe for concurrent use.
type settingsStore struct {
	g    *Gate
	cur  atomic.Pointer[loaded]
	file string // the cache file
	lock string // the lock file

	mu       sync.Mutex // guards flight and retryAt
	flight   *flight
	retryAt  time.Time
	inFlight sync.WaitGroup // refreshes under way, for tests
}

// loaded is one set of settings, the time they were downloaded, and the time (Unix
// nanoseconds) until which requests use them without a refresh: Python's
// `time.time() - d['time'] < SETTINGS_FILE_CACHE_LIFETIME_MINUTES * 60`.
type loaded struct {
	s          *settings
	fetched    time.Time
	freshUntil int64
}

// newLoaded stamps settings fetched at t with their freshness deadline.
func (st *settingsStore) newLoaded(s *settings, fetched time.Time) *loaded {
	until := int64(math.MaxInt64) // lifetime -1: always fresh
	if st.g.cfg.SettingsFileCacheLifetimeMinutes >= 0 {
		until = fetched.Add(st.lifetime()).UnixNano()
	}
	return &loaded{s: s, fetched: fetched, freshUntil: until}
}

// flight is one refresh under way; done closes when it ends.
type flight struct{ done chan struct{} }

// diskFile is the JSON written to the cache file.
type diskFile struct {
	Fetched  time.Time       `json:"fetched"`
	Settings json.RawMessage `json:"settings"`
}

// newSettingsStore names the cache file and the lock file: Python's getSettingsLoc and
// getSettingsLockLoc, one pair per account so that accounts can share a folder.
func newSettingsStore(g *Gate) *settingsStore {
	base := "queue-fair-settings-" + safeFileName(g.cfg.Account)
	dir := g.cfg.SettingsFileCacheLocation
	return &settingsStore{g: g, file: filepath.Join(dir, base+".json"), lock: filepath.Join(dir, base+".lock")}
}

// safeFileName keeps an account name usable as part of a file name.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// lifetime is SETTINGS_FILE_CACHE_LIFETIME_MINUTES as a duration.
func (st *settingsStore) lifetime() time.Duration {
	return time.Duration(st.g.cfg.SettingsFileCacheLifetimeMinutes) * time.Minute
}

// get is Python's loadSettings: the settings to use for this request, or nil when none can be
// had (the page runs). Fresh settings come from memory without a lock. Stale settings are
// returned at once while one refresh runs in the background. With no settings in memory, or
// with lifetime 0, the request waits for the refresh, at most until ctx ends.
func (st *settingsStore) get(ctx context.Context) *settings {
	now := st.g.now()
	l := st.cur.Load()
	if l != nil && now.UnixNano() < l.freshUntil {
		return l.s
	}
	f := st.startRefresh(now)
	if l != nil && st.g.cfg.SettingsFileCacheLifetimeMinutes > 0 {
		return l.s // stale, but nobody waits for the refresh
	}
	if f != nil {
		select {
		case <-f.done:
		case <-ctx.Done():
		}
	}
	if l = st.cur.Load(); l != nil {
		return l.s
	}
	return nil
}

// startRefresh starts a refresh unless one is running (it returns that one) or a recent
// failure says to wait (it returns nil).
func (st *settingsStore) startRefresh(now time.Time) *flight {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.flight != nil {
		return st.flight
	}
	if now.Before(st.retryAt) {
		return nil
	}
	f := &flight{done: make(chan struct{})}
	st.flight = f
	st.inFlight.Add(1)
	go st.refresh(f)
	return f
}

// refresh is Python's writeToShelf and waitForSettings: settings from the cache file when
// another process has refreshed it, else a download under the lock file, saved for the others.
// It is detached from any one request: a visitor who leaves does not cancel it for the rest;
// ReadTimeout bounds it.
func (st *settingsStore) refresh(f *flight) {
	defer st.inFlight.Done()
	ok := false
	defer func() {
		if p := recover(); p != nil {
			st.g.log.Warn("queuefair: settings refresh panicked; the last good settings stay", "panic", fmt.Sprint(p))
		}
		st.mu.Lock()
		if !ok {
			wait := retryAfterFailure
			if lt := st.lifetime(); lt >= 0 && lt < wait {
				wait = lt
			}
			st.retryAt = st.g.now().Add(wait)
		}
		st.flight = nil
		st.mu.Unlock()
		close(f.done)
	}()
	ok = st.refreshOnce()
}

// refreshOnce does the work of refresh and reports whether usable settings are now in memory
// and fresh.
func (st *settingsStore) refreshOnce() bool {
	g := st.g
	if st.adoptFile() {
		return true
	}
	if g.cfg.SettingsFileCacheLifetimeMinutes < 0 {
		g.log.Warn("queuefair: SettingsFileCacheLifetimeMinutes is -1 and no usable settings file is cached; pages run unqueued", "file", st.file)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.ReadTimeout)
	defer cancel()
	if err := os.MkdirAll(filepath.Dir(st.file), 0o700); err != nil {
		g.log.Warn("queuefair: cannot create the settings cache folder; settings stay in memory", "error", err)
	}
	release, adopted := st.acquireLock(ctx)
	defer release()
	if adopted { // another process downloaded while we waited
		return true
	}
	body, err := g.urlToJSON(ctx, g.settingsURL, maxSettingsBytes)
	var s *settings
	if err == nil {
		s, err = compileSettings(body)
	}
	if err != nil {
		g.log.Warn("queuefair: settings download failed; the last good settings stay in use", "url", st.redactedURL(), "error", err)
		if st.cur.Load() == nil {
			st.adoptAnyFile() // stale, but better than none
		}
		return false
	}
	if len(s.unknown) > 0 {
		g.warn("queuefair: the settings hold rules this adapter cannot evaluate as written", "rules", strings.Join(s.unknown, "; "))
	}
	now := g.now()
	st.cur.Store(st.newLoaded(s, now))
	if g.cfg.Debug {
		g.log.Debug("queuefair: downloaded settings", "queues", len(s.queues))
	}
	if err := st.writeFile(body, now); err != nil {
		g.log.Warn("queuefair: could not write the settings cache file; settings stay in memory", "error", err)
	}
	return true
}

// redactedURL is the settings URL without the account secret, for logs.
func (st *settingsStore) redactedURL() string {
	return strings.Replace(st.g.settingsURL, "/"+st.g.cfg.AccountSecret+"/", "/<secret>/", 1)
}

// adoptFile loads the cache file into memory if it is fresh and newer than memory.
func (st *settingsStore) adoptFile() bool {
	s, fetched, err := st.readFile()
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			st.g.log.Warn("queuefair: ignoring the settings cache file", "file", st.file, "error", err)
		}
		return false
	}
	fileLoaded := st.newLoaded(s, fetched)
	if st.g.now().UnixNano() >= fileLoaded.freshUntil {
		return false
	}
	if l := st.cur.Load(); l != nil && !fetched.After(l.fetched) {
		return false
	}
	st.cur.Store(fileLoaded)
	return true
}

// adoptAnyFile loads the cache file, however old, when memory has nothing.
func (st *settingsStore) adoptAnyFile() {
	if s, fetched, err := st.readFile(); err == nil {
		st.cur.CompareAndSwap(nil, st.newLoaded(s, fetched))
	}
}

// readFile is Python's shelve.open(getSettingsLoc(), 'r') and its reads: the cached settings
// and their download time. A corrupt file is an error (and is replaced at the next download).
func (st *settingsStore) readFile() (*settings, time.Time, error) {
	f, err := os.Open(st.file)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSettingsBytes+1024))
	if err != nil {
		return nil, time.Time{}, err
	}
	var df diskFile
	if err := json.Unmarshal(data, &df); err != nil {
		return nil, time.Time{}, fmt.Errorf("corrupt cache file: %v", err)
	}
	if df.Fetched.IsZero() || len(df.Settings) == 0 {
		return nil, time.Time{}, errors.New("corrupt cache file: no time or no settings")
	}
	s, err := compileSettings(df.Settings)
	if err != nil {
		return nil, time.Time{}, err
	}
	return s, df.Fetched, nil
}

// writeFile is the write half of Python's writeToShelf, made atomic: a temporary file in the
// same folder, mode 0600 (it holds queue secrets), synced, then renamed over the cache file,
// so a reader sees the old file or the new one, never part of one.
func (st *settingsStore) writeFile(body []byte, fetched time.Time) error {
	data, err := json.Marshal(diskFile{Fetched: fetched, Settings: json.RawMessage(body)})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(st.file), filepath.Base(st.file)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	if err = tmp.Chmod(0o600); err == nil {
		if _, err = tmp.Write(data); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, st.file)
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// acquireLock is Python's create(getSettingsLockLoc()) and waitForSettings: it takes the lock
// file, waiting up to ReadTimeout for another process that holds it, and taking over a lock
// older than twice ReadTimeout (its owner died) or one still held after the wait. adopted
// reports that the other process's fresh download was loaded from the file meanwhile, so there
// is nothing left to do. Without a lock (an unwritable folder) the download goes ahead alone.
func (st *settingsStore) acquireLock(ctx context.Context) (release func(), adopted bool) {
	g := st.g
	noop := func() {}
	polls := int(g.cfg.ReadTimeout / lockPoll)
	tookOver := false
	for i := 0; ; i++ {
		f, err := os.OpenFile(st.lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			fmt.Fprintf(f, "%d %d\n", os.Getpid(), g.now().UnixNano())
			f.Close()
			release = func() { os.Remove(st.lock) }
			if i > 0 && st.adoptFile() { // the holder finished just before we took over
				release()
				return noop, true
			}
			return release, false
		}
		if !errors.Is(err, os.ErrExist) || tookOver {
			g.log.Warn("queuefair: cannot take the settings lock file; downloading without it", "error", err)
			return noop, false
		}
		if i >= polls || st.lockIsStale() {
			if g.cfg.Debug {
				g.log.Debug("queuefair: taking over a stale settings lock", "file", st.lock)
			}
			os.Remove(st.lock)
			tookOver = true
			continue
		}
		g.sleep(ctx, lockPoll)
		if ctx.Err() != nil {
			return noop, false
		}
		if _, err := os.Stat(st.lock); errors.Is(err, os.ErrNotExist) && st.adoptFile() {
			return noop, true
		}
	}
}

// lockIsStale reports whether the lock file is older than twice ReadTimeout: its owner would
// have finished by then, so it died.
func (st *settingsStore) lockIsStale() bool {
	data, err := os.ReadFile(st.lock)
	if err != nil {
		return false
	}
	var pid, nanos int64
	if _, err := fmt.Sscanf(string(data), "%d %d", &pid, &nanos); err == nil {
		return st.g.now().Sub(time.Unix(0, nanos)) > 2*st.g.cfg.ReadTimeout
	}
	fi, err := os.Stat(st.lock) // half-written by a process that died: judge by its age
	return err == nil && time.Since(fi.ModTime()) > 2*st.g.cfg.ReadTimeout
}

// errStatus is a non-2xx answer from a Queue-Fair server.
type errStatus int

// Error says which status came back.
func (e errStatus) Error() string { return "HTTP status " + strconv.Itoa(int(e)) }

// urlToJSON is Python's QueueFairAdapter.urlToJSON, minus the JSON decoding: the body of a GET
// of rawURL, bounded by ctx, refused unless the status is 2xx and the body at most limit bytes.
func (g *Gate) urlToJSON(ctx context.Context, rawURL string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.ReadTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, and the settings URL holds the account secret
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, errStatus(resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("answer larger than %d bytes", limit)
	}
	// Port (SPEC 11.4): a UTF-8 byte-order mark is skipped, as Python's json.loads skips it
	// in bytes; Go's decoder would refuse the whole body.
	return bytes.TrimPrefix(body, []byte("\xEF\xBB\xBF")), nil
}
