package queuefair

// This file is Python's settings half of QueueFairAdapter: the settings document compiled
// once per download into typed, precomputed queues (the reference reads a dict on every
// request), then the store that downloads, caches and shares it. Where each Python name's work
// is done here:
//
//	Python (queue_fair_adapter.py)   Go
//	urlToJSON                        Gate.urlToJSON (the GET), compileSettings (json.loads)
//	settingsURL                      New (Gate.settingsURL), settingsStore.redactedURL for logs
//	optional                         parseQueue (typed fields; a missing cookieDomain is "")
//	loadSettings                     Adapter.loadSettings (queuefair.go), settingsStore.get
//	writeToShelf                     settingsStore.refresh, refreshOnce, writeFile
//	waitForSettings                  settingsStore.acquireLock, adoptFile
//	create                           settingsStore.acquireLock (the lock file)
//	getSettingsLoc, getSettingsLockLoc  newSettingsStore (the file names)
//	shelve.open(..., 'r')            settingsStore.readFile, readTrusted
//
// The Python standard library that settings rely on (int(), bool(), str.lower) is in hash.go.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Size caps on what the Queue-Fair servers send. Real settings files are a few kilobytes and
// adapter answers a few hundred bytes; anything far larger is a fault, not data.
const (
	maxSettingsBytes = 1 << 20
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
	reInsts       int            // its compiled instructions: what it costs a byte it tests
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
	if len(data) > maxSettingsBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", errMalformed, maxSettingsBytes)
	}
	doc, err := jsonLoads(onlyQueues(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
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
	var budget patternBudget
	for i, item := range list {
		q, err := parseQueue(item, &budget)
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

// onlyQueues has no Python counterpart: it bounds the memory a settings document can cost.
// Decoding a value into Go's generic JSON types costs up to some fifty times its size in
// memory, so the top-level keys other than "queues", which the adapter never reads, are
// dropped before that decoding (as raw bytes, at their own size). A document that is not an
// object is returned as it is, for compileSettings to refuse in its own words.
func onlyQueues(data []byte) []byte {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil || top == nil {
		return data
	}
	raw, ok := top["queues"]
	if !ok {
		return []byte("{}")
	}
	return append(append([]byte(`{"queues":`), raw...), '}')
}

// parseQueue reads one queue. Its typed fields replace Python's QueueFairAdapter.optional
// (a missing cookieDomain is "").
func parseQueue(item any, budget *patternBudget) (*queue, error) {
	m, ok := item.(map[string]any)
	if !ok {
		return nil, errors.New("not an object")
	}
	name, ok := m["name"].(string) // "" is a name to Python, as any other
	if !ok {
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
	// Port: a missing dynamicTarget counts as "disabled" (SPEC 8); Python's SendToQueue raises.
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
		q.rules, q.hasRules = parseRules(rules, budget)
	}
	// Port: Python crashes on any variant rule; here a malformed variant list or entry is
	// skipped, so that it cannot stop the queue itself from working.
	vr, _ := actMap["variantRules"].([]any)
	for _, v := range vr {
		if vm, ok := v.(map[string]any); ok {
			vt := variant{}
			vt.name, _ = vm["variant"].(string)
			vt.rules, vt.hasRules = parseRules(vm["rules"], budget)
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
func parseRules(v any, budget *patternBudget) ([]rule, bool) {
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
		rules = append(rules, parseRule(m, budget))
	}
	return rules, true
}

// The bounds on the RegExp patterns of one settings document (a port feature; the reference
// has none). Go's regexp runs in time linear in the text it tests times the size of the
// compiled program, and a program's memory grows with its instructions and the ranges of its
// character classes; without bounds, a broken or hostile files server could send 1 MiB of
// patterns such as \pL{1000} that take gigabytes and seconds to compile, and then seconds to
// run on each long URL. Real patterns are a few dozen instructions.
const (
	maxPatternBytes = 1 << 10 // the text of one pattern
	maxPatternInsts = 1000    // the compiled instructions of one pattern
	maxPatternRunes = 1 << 14 // the range bounds of its character classes, counted per instruction
	maxRegexpInsts  = 20000   // instructions of all the patterns of a document, refused ones included
	maxRegexpRunes  = 1 << 18 // range bounds of all of them

	// maxRegexpSteps bounds what one request's RegExp rules cost in all: each costs its
	// instructions times the bytes it tests (plus one). A rule that would take the request
	// past it is not run, and its queue counts as matched (errRegexpBudget). Ten
	// 50-instruction rules on an 8 KiB URL cost a quarter of it, and spending it all takes
	// about 0.3 s of CPU (BenchmarkRegExpBudgetSpent).
	maxRegexpSteps = 1 << 24
)

// patternBudget is what the RegExp patterns of one settings document have used of the bounds
// above. A pattern that does not fit never matches, as one that does not compile.
type patternBudget struct{ insts, runes int }

// compile compiles pattern if it fits in what is left of b. Every pattern parsed is charged,
// refused or not, so that a document's patterns cost at most the bounds in all, and once they
// are spent no further pattern is even parsed.
func (b *patternBudget) compile(pattern string) (re *regexp.Regexp, insts int, err error) {
	spent := func() error {
		return fmt.Errorf("the settings' patterns are over %d instructions or %d class ranges in all", maxRegexpInsts, maxRegexpRunes)
	}
	if len(pattern) > maxPatternBytes {
		return nil, 0, fmt.Errorf("longer than %d bytes", maxPatternBytes)
	}
	if b.insts >= maxRegexpInsts || b.runes >= maxRegexpRunes {
		return nil, 0, spent()
	}
	parsed, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, 0, err
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return nil, 0, err
	}
	runes := 0
	for i := range prog.Inst {
		runes += len(prog.Inst[i].Rune)
	}
	b.insts += len(prog.Inst)
	b.runes += runes
	if len(prog.Inst) > maxPatternInsts || runes > maxPatternRunes {
		return nil, 0, fmt.Errorf("%d instructions and %d class ranges compiled, over %d or %d", len(prog.Inst), runes, maxPatternInsts, maxPatternRunes)
	}
	if b.insts > maxRegexpInsts || b.runes > maxRegexpRunes {
		return nil, 0, spent()
	}
	re, err = regexp.Compile(pattern)
	return re, len(prog.Inst), err
}

// brokenRule stands for an entry of a rules list that is not a rule at all: Python raises on
// it as soon as it is reached, reading its operator or its component.
func brokenRule(why string) rule {
	return rule{odd: true, broken: why, noOperator: true}
}

// componentNames and matchNames are the names settings give rule components and matches, at
// the index of the value parseRule turns them into. They are read, never written.
var (
	componentNames = [...]string{compDomain: "Domain", compPath: "Path", compQuery: "Query", compCookie: "Cookie"}
	matchNames     = [...]string{matchEqual: "Equal", matchContain: "Contain", matchExist: "Exist", matchEndsWith: "EndsWith", matchRegExp: "RegExp"}
)

// nameIndex is the index of v in names when v is one of them (never the empty name at 0).
func nameIndex(names []string, v any) (int, bool) {
	s, ok := v.(string)
	if !ok || s == "" {
		return 0, false
	}
	for i, n := range names {
		if n == s {
			return i, true
		}
	}
	return 0, false
}

// parseRule reads one rule, noting each key Python reads with rule[...] that is missing. A
// RegExp pattern is compiled within budget.
func parseRule(m map[string]any, budget *patternBudget) rule {
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
	if c, ok := nameIndex(componentNames[:], compValue); ok {
		r.component = component(c)
	} else if _, ok := m["component"]; ok {
		r.unknown = fmt.Sprintf("component %s compares the whole URL", jsonText(compValue))
	}
	if r.component == compCookie {
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
	}
	r.value, r.valueNotText = "", true
	if v, ok := need("value").(string); ok {
		r.value, r.valueNotText = v, false
	}
	matchValue := need("match")
	if mk, ok := nameIndex(matchNames[:], matchValue); ok {
		r.match = matchKind(mk)
	} else if _, ok := m["match"]; ok && r.unknown == "" {
		r.unknown = fmt.Sprintf("match %s never matches", jsonText(matchValue))
	}
	badPattern := false
	if r.match == matchRegExp && !r.valueNotText {
		pattern := r.value
		if !truthy(m["caseSensitive"]) {
			pattern = "(?i)" + pattern // not the pattern lower-cased: that would turn \D into \d
		}
		re, insts, err := budget.compile(pattern)
		if err != nil {
			r.match, badPattern = matchNone, true
			r.unknown = fmt.Sprintf("RegExp %s does not compile here (%v) and never matches", jsonText(r.value), err)
		}
		r.re, r.reInsts = re, insts
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

// settingsStore holds the settings in memory for every request of the process and keeps the
// file cache. Requests read the current settings with one atomic load; at most one download
// runs at a time in the process, and a lock file keeps processes sharing the cache folder from
// downloading together. It is safe for concurrent use.
//
// Time: every deadline it keeps in memory (freshness, the retry back-off, a refresh's age)
// runs on the monotonic clock, so a step of the wall clock cannot stretch one. The back-off
// also ends when the Gate's clock passes it, and so does freshness when Config.Now is set
// (tests replace the clock). Times read from disk (a download time, a lock's date) count as
// stale when they lie in the future.
type settingsStore struct {
	g    *Gate
	cur  atomic.Pointer[loaded]
	file string // the cache file
	lock string // the lock file

	ttl       time.Duration // the cache lifetime; negative: for ever
	retryWait time.Duration // the back-off after a failed refresh

	ctx    context.Context // ended by Gate.Close: stops a refresh under way
	cancel context.CancelFunc

	mu        sync.Mutex // guards the fields below
	flight    *flight
	retryWall time.Time     // no refresh before this instant of the Gate's clock...
	retryMono time.Duration // ...and of the monotonic clock (either ends the back-off)
	lastErr   error
	lastErrAt time.Time
	inFlight  sync.WaitGroup // refreshes under way, for tests and Close

	downloads, failures atomic.Int64
}

// Where settings in memory came from, the values of Status.Source.
const (
	// SourceDownload has no Python counterpart: the settings were downloaded by this Gate.
	SourceDownload = "download"
	// SourceFile has no Python counterpart: the settings were read from the cache file, written
	// by this process or another sharing the folder.
	SourceFile = "file"
)

// loaded is one set of settings: Python's shelf entry d['time'] and d['settings'], compiled.
type loaded struct {
	s       *settings
	fetched time.Time // the download time, as recorded (for Status)
	source  string    // SourceDownload or SourceFile
	// base is a reading of the Gate's clock, moved back by the settings' age when they were
	// loaded (for Status's Age).
	base time.Time
	// freshUntil is base plus the lifetime, in Unix nanoseconds of the Gate's clock (Python's
	// `time.time() - d['time'] < SETTINGS_FILE_CACHE_LIFETIME_MINUTES * 60`).
	freshUntil int64
	// expired is set by a timer on the monotonic clock when the lifetime has passed, so that
	// neither a test clock nor a step back of the wall clock can keep settings fresh longer.
	expired atomic.Bool
	timer   *time.Timer
}

// freshAt reports whether l is fresh at now: the timer has not fired and now is within the
// lifetime. Status reports it beside the Age it computes from now; it holds after Close too,
// which stops the timer.
func (l *loaded) freshAt(now time.Time) bool {
	return !l.expired.Load() && now.UnixNano() < l.freshUntil
}

// fresh reports whether l may be used without a refresh: one atomic load on the path of every
// request. Under the default clock the monotonic timer alone decides, and clock is not called,
// so a request that checks no pass reads no clock (the wall clock's `time.time() -
// d['time']` of Python is the same lifetime, measured without a step of the clock in it).
// Under Config.Now, clock is read and judged by freshAt as well, so a test that moves its
// clock past the lifetime sees the settings stale.
func (st *settingsStore) fresh(l *loaded, clock func() time.Time) bool {
	if st.g.cfg.Now == nil {
		return !l.expired.Load()
	}
	return l.freshAt(clock())
}

// newLoaded stamps settings downloaded age ago (at fetched) with their freshness deadline.
func (st *settingsStore) newLoaded(s *settings, fetched time.Time, age time.Duration, source string) *loaded {
	l := &loaded{s: s, fetched: fetched, source: source, base: st.g.now().Add(-age), freshUntil: math.MaxInt64}
	if st.ttl >= 0 {
		l.freshUntil = l.base.Add(st.ttl).UnixNano()
		if left := st.ttl - age; left > 0 {
			l.timer = time.AfterFunc(left, func() { l.expired.Store(true) })
		} else {
			l.expired.Store(true)
		}
	}
	return l
}

// put makes l the settings in use, and stops the expiry timer of those it replaces.
func (st *settingsStore) put(l *loaded) {
	if old := st.cur.Swap(l); old != nil && old.timer != nil {
		old.timer.Stop()
	}
}

// flight is one refresh under way; done closes when it ends.
type flight struct {
	done  chan struct{}
	start time.Duration // on the monotonic clock
}

// diskFile is the JSON written to the cache file.
type diskFile struct {
	Fetched  time.Time       `json:"fetched"`
	Settings json.RawMessage `json:"settings"`
}

// Bounds of the settings store's work on disk.
const (
	// maxDiskBytes caps what is read of the cache file: the settings plus the wrapper.
	maxDiskBytes = maxSettingsBytes + 4<<10
	// tempMaxAge is the age past which a temporary cache file is taken as left behind by a
	// process that died while writing, and removed.
	tempMaxAge = 5 * time.Minute
	// clockSkew is how far in the future a lock file's date may be before it counts as stale
	// (file systems stamp times coarsely).
	clockSkew = time.Second
)

// newSettingsStore names the cache file and the lock file: Python's getSettingsLoc and
// getSettingsLockLoc. Port: the name holds the account and a hash of the files server and the
// account, so that accounts, and Gates pointed at different files servers, can share a folder
// without reading each other's settings; the account secret is not part of it.
func newSettingsStore(g *Gate) *settingsStore {
	sum := sha256.Sum256([]byte(g.cfg.FilesServer + "\x00" + g.cfg.Account))
	base := "queue-fair-settings-" + safeFileName(g.cfg.Account) + "-" + hex.EncodeToString(sum[:6])
	dir := g.cfg.SettingsFileCacheLocation
	ttl := time.Duration(g.cfg.SettingsFileCacheLifetimeMinutes) * time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	return &settingsStore{
		g: g, file: filepath.Join(dir, base+".json"), lock: filepath.Join(dir, base+".lock"),
		ttl: ttl, retryWait: retryAfterFailure, ctx: ctx, cancel: cancel,
	}
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

// get is Python's loadSettings: the settings to use for a request whose time clock gives (read
// only when needed), or nil when none can be had (the page runs). Fresh settings come from
// memory without a lock. Stale settings are returned at once while one refresh runs in the
// background. With no settings in memory, or with lifetime 0, the request waits for the
// refresh, at most ReadTimeout and until ctx ends.
func (st *settingsStore) get(ctx context.Context, clock func() time.Time) *settings {
	l := st.cur.Load()
	if l != nil && st.fresh(l, clock) {
		return l.s
	}
	f := st.startRefresh(l, clock())
	if l != nil && st.ttl > 0 {
		return l.s // stale, but nobody waits for the refresh
	}
	if f != nil {
		t := time.NewTimer(st.g.cfg.ReadTimeout)
		select {
		case <-f.done:
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	if l = st.cur.Load(); l != nil {
		return l.s
	}
	return nil
}

// flightLimit is how long a refresh can take (the wait for the lock, then the download, each
// bounded by ReadTimeout, and the file work); one older than that is stuck (in a file
// operation the kernel never ends) and no longer stops another from starting.
func (st *settingsStore) flightLimit() time.Duration {
	return 2*st.g.cfg.ReadTimeout + 5*time.Second
}

// startRefresh starts a refresh unless one is running (it returns that one), a recent failure
// says to wait, the Gate is closed, or the settings in use are no longer seen, the ones its
// caller found wanting: a refresh has replaced them since, and ended, between the caller's
// look and this lock (it returns nil, and the caller loads them again).
// Port: one download at a time per process; Python downloads again for every request that
// sees the lock.
func (st *settingsStore) startRefresh(seen *loaded, now time.Time) *flight {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.cur.Load() != seen {
		return nil
	}
	mono := st.g.mono()
	if f := st.flight; f != nil {
		if mono-f.start < st.flightLimit() {
			return f
		}
		st.g.warn("queuefair: a settings refresh is stuck; starting another", "after", mono-f.start)
		st.flight = nil
	}
	if st.ctx.Err() != nil || now.Before(st.retryWall) && mono < st.retryMono {
		return nil
	}
	f := &flight{done: make(chan struct{}), start: mono}
	st.flight = f
	st.inFlight.Add(1)
	go st.refresh(f)
	return f
}

// refresh is Python's writeToShelf and waitForSettings: settings from the cache file when
// another process has refreshed it, else a download under the lock file, saved for the others.
// It is detached from any one request: a visitor who leaves does not cancel it for the rest;
// ReadTimeout bounds each of its waits, and Gate.Close ends it.
func (st *settingsStore) refresh(f *flight) {
	defer st.inFlight.Done()
	err := errors.New("settings refresh panicked")
	defer func() {
		if p := recover(); p != nil {
			st.g.warn("queuefair: settings refresh panicked; the last good settings stay", "panic", fmt.Sprint(p))
		}
		st.mu.Lock()
		if err != nil {
			wait := st.retryWait
			if st.ttl >= 0 && st.ttl < wait {
				wait = st.ttl
			}
			st.retryWall = st.g.now().Add(wait)
			st.retryMono = st.g.mono() + wait
			st.lastErr, st.lastErrAt = err, st.g.now()
		}
		if st.flight == f {
			st.flight = nil
		}
		st.mu.Unlock()
		close(f.done)
	}()
	err = st.refreshOnce()
}

// errNoCacheFile is the refresh error with lifetime -1 and no usable cache file.
var errNoCacheFile = errors.New("SettingsFileCacheLifetimeMinutes is -1 and no usable settings file is cached")

// refreshOnce does the work of refresh: nil when usable, fresh settings are now in memory,
// else why not.
func (st *settingsStore) refreshOnce() error {
	g := st.g
	st.checkFolder()
	if st.adoptFile() {
		return nil
	}
	// Port: lifetime -1 never downloads; Python's still does.
	if st.ttl < 0 {
		g.warn("queuefair: "+errNoCacheFile.Error()+"; pages run unqueued", "file", st.file)
		return errNoCacheFile
	}
	if err := os.MkdirAll(filepath.Dir(st.file), 0o700); err != nil {
		g.warn("queuefair: cannot create the settings cache folder; settings stay in memory", "error", err)
	}
	release, adopted := st.acquireLock()
	defer release()
	if adopted { // another process downloaded while we waited
		return nil
	}
	if err := st.ctx.Err(); err != nil {
		return ErrClosed
	}
	// The download has a ReadTimeout of its own, whatever the wait for the lock took.
	ctx, cancel := context.WithTimeout(st.ctx, g.cfg.ReadTimeout)
	defer cancel()
	st.downloads.Add(1)
	body, err := g.urlToJSON(ctx, g.settingsURL, maxSettingsBytes)
	var s *settings
	if err == nil {
		s, err = compileSettings(body)
	}
	if err != nil {
		st.failures.Add(1)
		if st.cur.Load() == nil {
			// Port: the last good settings stay; a failed download leaves Python with none.
			st.adoptAnyFile() // stale, but better than none
		}
		msg := "queuefair: settings download failed; the last good settings stay in use"
		if st.cur.Load() == nil {
			msg = "queuefair: settings download failed; with no settings yet, pages run unqueued"
		}
		g.warn(msg, "url", st.redactedURL(), "error", err)
		return fmt.Errorf("settings download: %w", err)
	}
	if len(s.unknown) > 0 {
		g.warn("queuefair: the settings hold rules this adapter cannot evaluate as written", "rules", strings.Join(s.unknown, "; "))
	}
	now := g.now()
	st.put(st.newLoaded(s, now, 0, SourceDownload))
	if g.cfg.Debug {
		g.log.Debug("queuefair: downloaded settings", "queues", len(s.queues))
	}
	if err := st.writeFile(body, now); err != nil {
		g.warn("queuefair: could not write the settings cache file; settings stay in memory", "error", err)
	}
	return nil
}

// redactedURL is the settings URL without the account secret, for logs.
func (st *settingsStore) redactedURL() string {
	return strings.Replace(st.g.settingsURL, "/"+st.g.cfg.AccountSecret+"/", "/<secret>/", 1)
}

// checkFolder warns when others may write the cache folder: they could plant settings, or
// delete and replace the file this Gate writes.
func (st *settingsStore) checkFolder() {
	fi, err := os.Stat(filepath.Dir(st.file))
	if err != nil || !hasOwner(fi) {
		return
	}
	if fi.Mode().Perm()&0o002 != 0 {
		st.g.warn("queuefair: the settings cache folder is writable by other users; make it private (chmod 700)", "folder", filepath.Dir(st.file))
	}
}

// adoptFile loads the cache file into memory if it is fresh and newer than memory.
func (st *settingsStore) adoptFile() bool {
	s, fetched, err := st.readFile()
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			st.g.warn("queuefair: ignoring the settings cache file", "file", st.file, "error", err)
		}
		return false
	}
	age, ok := st.age(fetched)
	if st.ttl < 0 {
		age = 0 // lifetime -1: the cached file is used whatever its date
	} else if !ok || age >= st.ttl {
		return false
	}
	if l := st.cur.Load(); l != nil && !fetched.After(l.fetched) {
		return false
	}
	st.put(st.newLoaded(s, fetched, age, SourceFile))
	return true
}

// age is how long ago, on the Gate's clock, a download time read from disk lies; false when
// it lies in the future (a planted file, or a clock stepped back): such settings are stale.
func (st *settingsStore) age(fetched time.Time) (time.Duration, bool) {
	age := st.g.now().Round(0).Sub(fetched)
	return age, age >= 0
}

// adoptAnyFile loads the cache file, however old, when memory has nothing.
func (st *settingsStore) adoptAnyFile() {
	s, fetched, err := st.readFile()
	if err != nil {
		return
	}
	age, ok := st.age(fetched)
	if !ok {
		age = max(st.ttl, 0) // dated in the future: stale
	}
	l := st.newLoaded(s, fetched, age, SourceFile)
	if !st.cur.CompareAndSwap(nil, l) && l.timer != nil {
		l.timer.Stop()
	}
}

// readFile is Python's shelve.open(getSettingsLoc(), 'r') and its reads: the cached settings
// and their download time. A corrupt or untrusted file is an error (and is replaced at the
// next download).
func (st *settingsStore) readFile() (*settings, time.Time, error) {
	data, err := readTrusted(st.file, maxDiskBytes)
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

// readTrusted reads at most limit bytes of the file name, if it is a regular file that this
// process may trust: not a symbolic link, a FIFO or a device (whose open can block for ever),
// owned by this user and writable by nobody else, where the platform has owners and modes.
// The file is checked before it is opened, and the file opened must be the one checked.
func readTrusted(name string, limit int64) ([]byte, error) {
	fi, err := os.Lstat(name)
	if err != nil {
		return nil, err
	}
	if err := trusted(fi); err != nil {
		return nil, err
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi2, err := f.Stat(); err != nil || !os.SameFile(fi, fi2) {
		return nil, errors.New("the file changed while it was opened")
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}

// trusted says why a file, as Lstat describes it, is not one to read settings from, or nil.
func trusted(fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	if uid, ok := fileOwner(fi); ok {
		if me := os.Geteuid(); me >= 0 && uid != uint64(me) {
			return fmt.Errorf("owned by user %d, not by this process's user %d", uid, me)
		}
		if fi.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("writable by group or others (mode %v)", fi.Mode().Perm())
		}
	}
	return nil
}

// hasOwner reports whether the platform gives files a numeric owner and Unix modes.
func hasOwner(fi os.FileInfo) bool {
	_, ok := fileOwner(fi)
	return ok
}

// fileOwner is the numeric owner of a file where the platform has one (its Stat_t's Uid),
// found without naming a platform's types so that the package builds everywhere.
func fileOwner(fi os.FileInfo) (uint64, bool) {
	v := reflect.ValueOf(fi.Sys())
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return 0, false
	}
	if uid := v.FieldByName("Uid"); uid.IsValid() && uid.CanUint() {
		return uid.Uint(), true
	}
	return 0, false
}

// writeFile is the write half of Python's writeToShelf, made atomic: a temporary file in the
// same folder, mode 0600 (it holds queue secrets), synced, then renamed over the cache file,
// so a reader sees the old file or the new one, never part of one. Temporary files that a
// process killed while writing left behind are removed.
// Port: one JSON file, mode 0600, written atomically; Python uses a shelve database.
func (st *settingsStore) writeFile(body []byte, fetched time.Time) error {
	st.removeOldTemps()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep the file no larger than the settings plus the wrapper
	if err := enc.Encode(diskFile{Fetched: fetched.Round(0), Settings: json.RawMessage(body)}); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(st.file), filepath.Base(st.file)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	if err = tmp.Chmod(0o600); err == nil {
		if _, err = tmp.Write(buf.Bytes()); err == nil {
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

// removeOldTemps removes this cache file's temporary files older than tempMaxAge (by the
// real clock, which stamps files).
func (st *settingsStore) removeOldTemps() {
	names, _ := filepath.Glob(st.file + ".tmp*")
	for _, name := range names {
		if fi, err := os.Lstat(name); err == nil && time.Since(fi.ModTime()) > tempMaxAge {
			if err := os.Remove(name); err == nil && st.g.cfg.Debug {
				st.g.log.Debug("queuefair: removed a temporary settings file left behind", "file", name)
			}
		}
	}
}

// acquireLock is Python's create(getSettingsLockLoc()) and waitForSettings: it takes the lock
// file, waiting up to ReadTimeout (a deadline of its own, not the download's) for another
// process that holds it, and taking over a stale lock (see lockIsStale) or one still held
// after the wait. adopted reports that the other process's fresh download was loaded from the
// file meanwhile, so there is nothing left to do. Without a lock (an unwritable folder) the
// download goes ahead alone.
//
// Port: no flock. The standard library has no portable file lock, and this package keeps to
// it; a lock whose owner died is judged by its date instead.
func (st *settingsStore) acquireLock() (release func(), adopted bool) {
	g := st.g
	noop := func() {}
	ctx, cancel := context.WithTimeout(st.ctx, g.cfg.ReadTimeout)
	defer cancel()
	polls := int(g.cfg.ReadTimeout / lockPoll)
	tookOver := false
	for i := 0; ; i++ {
		if st.ctx.Err() != nil {
			return noop, false
		}
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
			g.warn("queuefair: cannot take the settings lock file; downloading without it", "error", err)
			return noop, false
		}
		if i >= polls || ctx.Err() != nil || st.lockIsStale() {
			if g.cfg.Debug {
				g.log.Debug("queuefair: taking over a stale settings lock", "file", st.lock)
			}
			os.Remove(st.lock)
			tookOver = true
			continue
		}
		g.sleep(ctx, lockPoll)
		if _, err := os.Lstat(st.lock); errors.Is(err, os.ErrNotExist) && st.adoptFile() {
			return noop, true
		}
	}
}

// lockIsStale reports whether the lock file's owner cannot be at work: a lock older than
// twice ReadTimeout (its owner would have finished), dated in the future (planted, or written
// before the clock stepped back), not a regular file (a symbolic link, dangling or not),
// unreadable, or not this user's. Its date is the one written in it (on the Gate's clock)
// and its modification time (on the real clock); either can make it stale.
// Port: a lock dated in the future, or not a regular file of this user, is stale at once.
func (st *settingsStore) lockIsStale() bool {
	fi, err := os.Lstat(st.lock)
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	if trusted(fi) != nil {
		return true
	}
	limit := 2 * st.g.cfg.ReadTimeout
	if age := time.Since(fi.ModTime()); age > limit || age < -clockSkew {
		return true
	}
	data, err := readTrusted(st.lock, 256)
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	var pid, nanos int64
	if _, err := fmt.Sscanf(string(data), "%d %d", &pid, &nanos); err != nil {
		return false // half-written by a process that may be alive: its age decides
	}
	age := st.g.now().Round(0).Sub(time.Unix(0, nanos))
	return age > limit || age < -clockSkew
}

// close stops the background work: a refresh under way ends at its next step, the expiry
// timer stops, and close waits (at most ReadTimeout) for the refresh to end.
func (st *settingsStore) close() {
	st.cancel()
	if l := st.cur.Load(); l != nil && l.timer != nil {
		l.timer.Stop()
	}
	done := make(chan struct{})
	go func() { st.inFlight.Wait(); close(done) }()
	t := time.NewTimer(st.g.cfg.ReadTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// lastError is the last refresh failure and when it happened.
func (st *settingsStore) lastError() (time.Time, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.lastErrAt, st.lastErr
}

// errStatus is a non-2xx answer from a Queue-Fair server.
type errStatus int

// Error says which status came back.
func (e errStatus) Error() string { return "HTTP status " + strconv.Itoa(int(e)) }

// jsonLoads is the decoding half of Python's urlToJSON (json.loads): body must hold one JSON
// value and nothing after it but white space, which json.loads refuses as "Extra data".
// Numbers stay json.Number, for pythonInt to read as Python's int() would.
func jsonLoads(body []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if len(bytes.TrimLeft(body[d.InputOffset():], " \t\r\n")) != 0 {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// urlToJSON is Python's QueueFairAdapter.urlToJSON, minus the JSON decoding: the body of a GET
// of rawURL, bounded by ctx, refused unless the status is 2xx and the body at most limit bytes.
func (g *Gate) urlToJSON(ctx context.Context, rawURL string, limit int64) ([]byte, error) {
	// Port: every read is bounded by ReadTimeout and the request's context; Python's has no timeout.
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
