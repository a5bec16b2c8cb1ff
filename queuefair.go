// Package queuefair is a standard-library-only Go port of the Queue-Fair virtual waiting room
// server-side adapter (the Python module queue_fair_adapter).
//
// On each page request the adapter loads the account's queue settings (cached in memory and in
// a file), matches the request against each queue's activation rules, accepts visitors who
// carry a valid signed Passed Cookie or Passed String, and otherwise asks the Queue-Fair
// adapter server about the visitor ("safe" mode) or sends the visitor to the queue ("simple"
// mode). Any error lets the page run.
//
// Make one Gate with New at start-up, keep it for the life of the process, and call Gate.Check
// at the top of each protected handler, writing the page through the same ResponseWriter:
//
//	gate, err := queuefair.New(queuefair.NewConfig("account-system-name", "account-secret"))
//	if err != nil {
//		log.Fatal(err) // a nil *Gate would let every page run
//	}
//	http.HandleFunc("/checkout", func(w http.ResponseWriter, r *http.Request) {
//		if !gate.Check(w, r) {
//			return // redirected to the queue; write nothing more
//		}
//		renderCheckout(w, r)
//	})
//
// or wrap handlers with Gate.Handler.
//
// A framework that does not hand out an http.ResponseWriter and *http.Request (Fiber, say)
// implements Service, four methods over its own request context, and runs
// gate.NewRequestAdapter(service, queuefair.Request{Scheme, Host, Path (decoded), RawQuery,
// UserAgent, RemoteIP}).IsContinue(ctx) in its middleware: given the request in parts, the
// adapter hands the rules the path where it put it, whatever Host the visitor sends. The
// adapter cleans every value it hands a Service, so the Service only writes them.
//
// The per-request type Adapter mirrors Python's QueueFairAdapter method by method, in the
// Python file's order, so that the two can be read side by side. Comments marked "Port:" are
// where the port differs from Python on purpose; "SPEC n" names a section of
// testdata/SPEC.md, the protocol this package is held to.
package queuefair

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CookieNameBase is Python's QueueFairAdapter.COOKIE_NAME_BASE: a Passed Cookie is named this
// plus the queue's system name.
const CookieNameBase = "QueueFair-Pass-"

// Service is Python's QueueFairService: the four things the adapter asks of the web framework.
// HTTPService is the net/http implementation; implement Service yourself for a framework that
// does not hand out an http.ResponseWriter (Fiber, say), one value per request.
//
// The adapter cleans every value before it calls a Service, whatever the framework (SPEC 11.3):
// no value holds CR, LF or NUL; cookie names hold only HTTP token bytes, cookie values only the
// bytes net/http accepts in a cookie, domains no ';'; a Location is an http or https URL. A
// Service writes them as given. The adapter calls AddHeader("Cache-Control", "no-store,
// max-age=0") before the first cookie it sets for a pass and before any redirect, so every
// header and cookie set before Redirect must go out with the redirect.
type Service interface {
	// SetCookie is Python's setCookie: set cookie name to value on path "/" for
	// lifetimeSeconds, for domain when it is not empty (else for the host only). A lifetime
	// of 0 deletes the cookie (Max-Age=0 on the wire: net/http's MaxAge -1, and Fiber's too,
	// whose 0 means no Max-Age at all). Over HTTPS, add Secure and SameSite=None; never
	// HttpOnly (Queue-Fair's JavaScript may read the cookies).
	SetCookie(name, value string, lifetimeSeconds int, domain string)
	// Redirect is Python's redirect: answer 302 Found with this Location and no page. The
	// adapter then reports false from IsContinue and the caller writes nothing more.
	Redirect(location string)
	// GetCookie is Python's getCookie: the value of the first cookie of that name the browser
	// sent (surrounding double quotes removed), or "" when there is none.
	GetCookie(name string) string
	// AddHeader is Python's addHeader: set (replace) a response header.
	AddHeader(name, value string)
}

// Adapter is the adapter for one request (Python's QueueFairAdapter). Make it with
// Gate.NewAdapter or Gate.NewRequestAdapter and call IsContinue once. It is not safe for
// concurrent use; the Gate that made it is.
type Adapter struct {
	g                 *Gate
	ctx               context.Context
	service           Service
	continuePage      bool
	settings          *settings
	adapterResult     *adapterResult
	adapterQueue      *queue
	passedQueues      [4]string // names; a handful at most, so an array beats a map
	passedCount       int
	passedMore        []string // past four
	uid               string
	hasUID            bool // Python's uid is not None ("" is a uid)
	requestedURL      string
	userAgent         string
	remoteIPAddress   string
	extra             string
	addedCacheControl bool
	d                 bool // debug logging for this request
	dry               bool // Config.DryRun: decide, but send nothing to the visitor
	dryStop           bool // a dry run reached the adapter server: nothing further is known
	decision          Decision
	rule              int    // the rule that settled the last isMatchArray
	checking          string // the queue being checked, for a Decision that fails open
	now               time.Time
	haveNow           bool // now has been read (see clock)

	// The parts of requestedURL that rules test, cut once (see parts).
	domain, path, query string
	haveParts           bool
	urlASCII            bool          // requestedURL is ASCII: its parts need no Unicode lower-casing
	regexpSteps         int64         // what this request's RegExp rules have cost (maxRegexpSteps)
	regexpOver          bool          // the last RegExp rule was over it, and not run (isMatchArray)
	lowered             *loweredTexts // see lower
}

// =============================================================================================
// Python's QueueFairAdapter, method by method, in the order of queue_fair_adapter.py
// (hash and processIdentifier are in hash.go; urlencode and urldecode with Python's standard
// library at the end of hash.go; urlToJSON, settingsURL and the shelve store in settings.go).
// =============================================================================================

// NewAdapter is Python's QueueFairAdapter constructor: the adapter for one request.
//
// requestedURL is the full URL the visitor asked for, as the server routes it: build it with
// AbsoluteURL from the scheme, the host, the decoded path and the raw query string. A URL whose
// path is still percent-encoded as the visitor sent it lets /%63heckout past a /checkout rule
// on a server that decodes before routing (SPEC 11.2). userAgent is the User-Agent header ("" if
// none), remoteIPAddress the visitor's IP. extra, when not empty, is passed to the queue server
// as qfx. A nil Gate gives an Adapter whose IsContinue lets the page run.
func (g *Gate) NewAdapter(service Service, requestedURL, userAgent, remoteIPAddress, extra string) *Adapter {
	a := &Adapter{
		g:               g,
		service:         service,
		continuePage:    true,
		requestedURL:    requestedURL,
		userAgent:       userAgent,
		remoteIPAddress: remoteIPAddress,
		extra:           extra,
	}
	if g != nil {
		// Port: DebugIP debugs that IP only; Python's DEBUG = "ip" is truthy for everyone.
		a.d = g.cfg.Debug || (g.cfg.DebugIP != "" && remoteIPAddress == g.cfg.DebugIP)
		a.dry = g.cfg.DryRun
		a.decision.DryRun = a.dry
	}
	return a
}

// setUIDFromCookie is Python's setUIDFromCookie: the visitor's uid from the
// QueueFair-Store-{account} cookie, whose value is "u:{uid}" (or "u={uid}").
func (a *Adapter) setUIDFromCookie() {
	c := a.service.GetCookie(a.g.uidCookie)
	if c == "" {
		return
	}
	i := strings.IndexByte(c, '=')
	if i < 0 {
		i = strings.IndexByte(c, ':')
	}
	if i < 0 {
		if a.d {
			a.log("separator not found in UID cookie", "cookie", c)
		}
		return
	}
	// Port: a uid this long only serves to make the adapter server refuse the call.
	if len(c)-i-1 > maxUIDBytes {
		if a.d {
			a.log("UID cookie too long: ignored", "bytes", len(c)-i-1)
		}
		return
	}
	a.uid, a.hasUID = c[i+1:], true
	if a.d {
		a.log("UID set from cookie", "uid", a.uid)
	}
}

// checkAndAddCacheControl is Python's checkAndAddCacheControl: once per request, before the
// first Passed Cookie or redirect, forbid caches to keep the response.
func (a *Adapter) checkAndAddCacheControl() {
	if a.addedCacheControl {
		return
	}
	if !a.dry {
		a.service.AddHeader("Cache-Control", "no-store, max-age=0")
	}
	a.addedCacheControl = true
}

// validateQuery is Python's validateQuery: whether the Passed String in the requested URL's
// query is signed with q's secret for this visitor and is recent.
// Port: the signed text, from the last qfqid= to the last qfh=, must come in that order and
// hold the one qfts that is checked (SPEC 11.1); Python reads qfts from anywhere in the query,
// so a fresh unsigned qfts put in front of an expired Passed String would revive it.
func (a *Adapter) validateQuery(q *queue) bool {
	qstr, ok := urlparseQuery(a.requestedURL)
	if !ok {
		return a.fail("the URL does not parse: Python's urlparse raises")
	}
	if a.d {
		a.log("validating Passed String", "query", qstr)
	}
	queryHash, hpos, asWritten, why := passHash(qstr)
	if why != "" {
		return a.fail(why)
	}
	qpos := lastIndex(qstr, "qfqid=")
	if qpos < 0 {
		return a.fail("no queue identifier")
	}
	if qpos > hpos {
		return a.fail("qfh comes before qfqid")
	}
	signed := qstr[qpos:hpos]
	// Port: the spec asks ASCII digits of a Passed String's timestamp; Python's isnumeric() and
	// int() also read other scripts' decimal digits (port-qfts-non-ascii-digits).
	ts, why := signedTimestamp(signed, asWritten, parseDigits)
	if why != "" {
		return a.fail(why)
	}
	now := a.nowSeconds()
	limit := float64(a.g.cfg.QueryTimeLimitSeconds)
	if float64(ts) > now+limit {
		return a.fail("timestamp too late")
	}
	if float64(ts) < now-limit {
		return a.fail("timestamp too early")
	}
	if !q.hasSecret {
		return a.fail("queue has no secret")
	}
	if !q.sign.matches(processIdentifier(a.userAgent), signed, queryHash) {
		return a.fail("failed hash")
	}
	return true
}

// validateCookieFromQueue is Python's validateCookieFromQueue: validateCookie with q's secret
// and passed lifetime. A queue without a secret or with an unreadable passedLifetimeMinutes
// abandons the check, as Python's exception does.
func (a *Adapter) validateCookieFromQueue(q *queue, cookie string) (bool, error) {
	if !q.secretKey {
		return false, abortf("queue %q has no secret", q.name)
	}
	if !q.lifetimeOK {
		return false, abortf("queue %q has an unreadable passedLifetimeMinutes", q.name)
	}
	if !q.hasSecret {
		return a.fail("queue secret is not text"), nil // Python's hash raises inside its try
	}
	return a.validateCookie(q.sign, q.lifetimeMinutes, cookie), nil
}

// ValidateCookie is Python's validateCookie: whether cookie, the value of a Passed Cookie, is
// signed with secret for this visitor and no older than passedLifetimeMinutes. It is the whole
// check of the hybrid security model; Gate.CheckCookie wraps it for net/http.
func (a *Adapter) ValidateCookie(secret string, passedLifetimeMinutes int, cookie string) bool {
	return a.validateCookie(newSigner(secret), passedLifetimeMinutes, cookie)
}

// validateCookie is ValidateCookie with an already keyed signer.
// Port: the signed text, the cookie up to its last qfh=, must start with qfqid= and hold the
// one qfts that is checked (SPEC 11.1); Python reads qfts from anywhere in the cookie, so a
// visitor who moved the signed text into the User-Agent could keep a pass for ever.
func (a *Adapter) validateCookie(s *signer, passedLifetimeMinutes int, cookie string) bool {
	if a.d {
		a.log("validating cookie", "cookie", cookie)
	}
	mHash, hpos, asWritten, why := passHash(cookie)
	if why != "" {
		return a.fail(why)
	}
	signed := cookie[:hpos]
	if !s.matches(processIdentifier(a.userAgent), signed, mHash) {
		return a.fail("cookie hash mismatch") // never log the expected hash: it is a valid pass
	}
	ts, why := signedTimestamp(signed, asWritten, parseInt) // Python's int() reads a cookie's
	if why != "" {
		return a.fail(why)
	}
	if a.nowSeconds()-float64(ts) > float64(passedLifetimeMinutes)*60 {
		return a.fail("cookie timestamp too old")
	}
	if a.d {
		a.log("cookie validated")
	}
	return true
}

// checkQueryString is Python's checkQueryString: look for a Passed String in the requested URL;
// if valid, set its Passed Cookie and mark the queue passed; if not (and no valid Passed Cookie
// vouches for the visitor), pause a second and send the visitor to the InvalidQuery page.
func (a *Adapter) checkQueryString() error {
	u := a.requestedURL
	if a.d {
		a.log("checking URL for Passed String", "url", u)
	}
	if !strings.Contains(u, "qfqid=") {
		return nil
	}
	i := strings.Index(u, "qfq=")
	if i < 0 {
		return nil
	}
	queueName := u[i+len("qfq="):]
	// Port: with no '&' the name runs to the end of the URL; Python drops its last character.
	if j := strings.IndexByte(queueName, '&'); j >= 0 {
		queueName = queueName[:j]
	}
	if a.d {
		a.log("Passed String names a queue", "queue", queueName)
	}
	for _, q := range a.settings.queues {
		if q.name != queueName {
			continue
		}
		a.checking = q.name
		value := u[strings.Index(u, "qfqid"):]
		if !a.validateQuery(q) {
			// A stale Passed String is fine when a valid Passed Cookie comes with it.
			if c := a.service.GetCookie(q.cookieName); c != "" {
				ok, err := a.validateCookieFromQueue(q, c)
				if err != nil {
					return err
				}
				if ok {
					if a.d {
						a.log("Passed String invalid but Passed Cookie valid", "queue", q.name)
					}
					a.decide(OutcomePassedCookie, q.name)
					return nil
				}
			}
			if !q.hasQueueServer {
				return abortf("queue %q has no queueServer", q.name)
			}
			if a.d {
				a.log("Passed String invalid: to the InvalidQuery page", "queue", q.name)
			}
			a.decide(OutcomeInvalidQuery, q.name)
			a.Redirect("https://"+q.queueServer+"/"+q.name+"?qfError=InvalidQuery", time.Second)
			return nil
		}
		if a.d {
			a.log("Passed String validated", "value", value)
		}
		lifetime, err := q.lifetimeSeconds()
		if err != nil {
			return err
		}
		a.decide(OutcomePassedString, queueName)
		a.setCookie(queueName, value, lifetime, q.cookieDomain)
		if !a.continuePage {
			return nil
		}
		a.markPassed(queueName)
	}
	return nil
}

// gotSettings is Python's gotSettings: the Passed String first, then the queue rules.
func (a *Adapter) gotSettings() error {
	if a.d {
		a.log("got settings", "queues", len(a.settings.queues))
	}
	if err := a.checkQueryString(); err != nil || !a.continuePage {
		return err
	}
	return a.parseSettings()
}

// isMatch is Python's isMatch: whether q's activation rules match this request. An error is
// where Python raises on malformed settings (see rule.broken): the page runs.
func (a *Adapter) isMatch(q *queue) (bool, error) {
	if q == nil {
		return false, nil
	}
	if q.activationBroken != "" {
		return false, abortf("queue %q: %s", q.name, q.activationBroken)
	}
	return a.isMatchArray(q.rules, q.hasRules)
}

// errRegexpBudget has no Python counterpart: a RegExp rule would have taken the request past
// its budget (maxRegexpSteps), and was not run. isMatchArray ends with it; for a queue's rules,
// parseSettings then counts the queue as matched (overRegexpBudget).
var errRegexpBudget = errors.New("RegExp rules would take too long on this request")

// overRegexpBudget has no Python counterpart: q's rules reached a RegExp rule over the
// request's budget. The queue counts as matched, so that no visitor can pad a URL part to skip
// it: one with a pass still passes, and the rest are queued.
func (a *Adapter) overRegexpBudget(q *queue) {
	a.g.warn("queuefair: "+errRegexpBudget.Error()+"; its queue counts as matched", "queue", q.name, "url_bytes", len(a.requestedURL))
}

// isMatchArray is Python's isMatchArray: evaluate rules left to right. The first rule sets the
// state; before each later rule, "And" with a false state or "Or" with a true state decides at
// once; after it, "And" and "Or" combine, and a decided state ends the loop.
func (a *Adapter) isMatchArray(rules []rule, has bool) (bool, error) {
	if !has {
		return false, nil
	}
	state := false
	for i := range rules {
		r := &rules[i]
		if i > 0 {
			if r.noOperator {
				return false, abortf("rule %d has no operator", i+1)
			}
			if r.op == opAnd && !state {
				return false, nil
			}
			if r.op == opOr && state {
				return true, nil
			}
		}
		a.rule = i + 1
		var m bool
		if r.odd {
			var err error
			if m, err = a.isOddRuleMatch(r); err != nil {
				return false, err
			}
			if a.d {
				a.log("rule", "component", r.componentName, "match", m)
			}
		} else if m = a.isRuleMatch(r); a.regexpOver {
			a.regexpOver = false
			return false, errRegexpBudget
		}
		if i == 0 {
			state = m
			continue
		}
		if r.op == opAnd {
			if state = state && m; !state {
				break
			}
		} else if r.op == opOr {
			if state = state || m; state {
				break
			}
		}
	}
	return state, nil
}

// isRuleMatch is Python's isRuleMatch: compare one part of the request with the rule's value.
func (a *Adapter) isRuleMatch(r *rule) bool {
	comp := a.component(r)
	ret := false
	switch r.match {
	case matchEqual:
		ret = equalRule(comp, r.value, r.caseSensitive, a)
	case matchContain:
		ret = comp != "" && containsRule(comp, r.value, r.caseSensitive, a.urlASCII && r.component != compCookie, a)
	case matchExist:
		ret = comp != ""
	case matchEndsWith:
		ret = strings.HasSuffix(r.caseFolded(comp, a), r.value)
	case matchRegExp:
		// Port: a request's RegExp rules run for at most maxRegexpSteps in all (errRegexpBudget).
		if a.regexpSteps += int64(len(comp)+1) * int64(r.reInsts); a.regexpSteps > a.g.regexpBudget {
			a.regexpOver = true
		} else {
			ret = r.re.MatchString(comp)
		}
	}
	if r.negate {
		ret = !ret
	}
	if a.d {
		a.log("rule", "component", r.componentName, "value", r.value, "against", comp, "match", ret)
	}
	return ret
}

// isPassed is Python's isPassed: whether the visitor has passed q already, by an earlier step
// of this request or by a valid Passed Cookie. A Passed Cookie that names q but fails
// validation is deleted.
func (a *Adapter) isPassed(q *queue) (bool, error) {
	if a.isMarked(q.name) {
		if a.d {
			a.log("queue marked as passed already", "queue", q.name)
		}
		return true, nil
	}
	c := a.service.GetCookie(q.cookieName)
	if c == "" {
		if a.d {
			a.log("no Passed Cookie", "queue", q.name)
		}
		return false, nil
	}
	if !strings.Contains(c, q.name) {
		if a.d {
			a.log("Passed Cookie does not name its queue", "queue", q.name)
		}
		return false, nil
	}
	ok, err := a.validateCookieFromQueue(q, c)
	if err != nil {
		return false, err
	}
	if !ok {
		a.decision.CookieDeleted = true
		a.decide(OutcomeCookieRejected, q.name)
		a.setCookie(q.name, "", 0, q.cookieDomain)
		return false, nil
	}
	if a.d {
		a.log("valid Passed Cookie", "queue", q.name)
	}
	a.decide(OutcomePassedCookie, q.name)
	return true, nil
}

// onMatch is Python's onMatch: for a queue whose rules match, true if the visitor has passed
// it; otherwise consult the adapter (or send to the queue) and return false.
//
// With extra set to ExtraClear (Queue-Fair's newer adapters; the reference lacks it), a visitor
// who passed by a Passed Cookie has it set again to last 20 seconds and is then checked as a
// visitor without a pass, so a site can end a pass once it has been used (after checkout).
func (a *Adapter) onMatch(q *queue) (bool, error) {
	passed, err := a.isPassed(q)
	if err != nil {
		return false, err
	}
	if passed {
		if a.extra != ExtraClear {
			return true, nil
		}
		c := a.service.GetCookie(q.cookieName)
		if c == "" {
			return true, nil // passed earlier in this request, with no cookie to end
		}
		if a.d {
			a.log("extra is CLEAR: the Passed Cookie is cut to 20 seconds", "queue", q.name)
		}
		a.setCookie(q.name, c, clearedCookieSeconds, q.cookieDomain)
	}
	if !a.continuePage {
		return false, nil
	}
	return false, a.consultAdapter(q)
}

// setCookie is Python's setCookie: set the Passed Cookie of queueName (after the Cache-Control
// header); a positive lifetime marks the queue passed and, when StripPassedString is on and the
// URL carries a Passed String, redirects to the URL without it.
func (a *Adapter) setCookie(queueName, value string, lifetimeSeconds int, cookieDomain string) {
	if a.d && lifetimeSeconds <= 0 {
		a.log("deleting Passed Cookie", "queue", queueName)
	} else if a.d {
		a.log("setting Passed Cookie", "queue", queueName, "value", value, "lifetime", lifetimeSeconds)
	}
	a.checkAndAddCacheControl()
	a.setServiceCookie(a.cookieName(queueName), value, lifetimeSeconds, cookieDomain)
	if lifetimeSeconds <= 0 {
		return
	}
	a.markPassed(queueName)
	if !a.g.cfg.StripPassedString {
		return
	}
	if pos := strings.Index(a.requestedURL, "qfqid="); pos >= 0 {
		if a.d {
			a.log("stripping Passed String from URL")
		}
		a.Redirect(cutBefore(a.requestedURL, pos), 0)
	}
}

// log is Python's log: one debug line. Callers check a.d first so that a request without
// debugging builds no arguments.
// Port: slog takes numbers and booleans as they are; Python's string concatenation crashes.
func (a *Adapter) log(msg string, args ...any) {
	a.g.log.Debug("queuefair: "+msg, append(args, "ip", a.remoteIPAddress)...)
}

// Redirect is Python's redirect: after an optional pause, send the visitor to location (with
// Cache-Control: no-store) and stop the page. IsContinue calls it; so may a caller of the
// hybrid model.
// Port: only an http or https location is sent (SPEC 11.3); any other (a requested URL given
// without its scheme, say) lets the page run, with a warning.
func (a *Adapter) Redirect(location string, sleep time.Duration) {
	if !isHTTPURL(location) {
		if a.g != nil {
			a.g.warn("queuefair: refusing to redirect to a location that is not an http or https URL; the page runs", "location", headerSafe(location))
		}
		a.failOpen(ReasonBadAnswer)
		return
	}
	if a.d {
		a.log("redirecting", "location", location, "pause", sleep, "dryRun", a.dry)
	}
	if a.dry {
		a.continuePage = false // the decision stands; nothing reaches the visitor
		return
	}
	if sleep > 0 {
		ctx, pause := a.ctx, sleepContext
		if ctx == nil {
			ctx = context.Background()
		}
		if a.g != nil {
			pause = a.g.sleep
		}
		pause(ctx, sleep)
	}
	a.checkAndAddCacheControl()
	a.service.Redirect(headerSafe(location))
	a.continuePage = false
}

// parseSettings is Python's parseSettings: run through the queues in order. A queue already
// passed is skipped; a matching queue the visitor has not passed is consulted about, and then
// in simple mode (the configured mode, as in Python) no further queue is checked.
func (a *Adapter) parseSettings() error {
	if a.settings == nil || len(a.settings.queues) == 0 {
		if a.d {
			a.log("no queues")
		}
		return nil
	}
	for _, q := range a.settings.queues {
		if a.isMarked(q.name) {
			continue
		}
		a.checking, a.rule = q.name, 0
		matched, err := a.isMatch(q)
		if err == errRegexpBudget {
			a.overRegexpBudget(q)
			matched, err = true, nil
		}
		if err != nil {
			return err
		}
		if !matched {
			if a.d {
				a.log("rules did not match", "queue", q.name)
			}
			continue
		}
		if a.d {
			a.log("rules matched", "queue", q.name, "displayName", q.displayName)
		}
		passed, err := a.onMatch(q)
		if err != nil {
			return err
		}
		if !a.continuePage || a.dryStop {
			return nil
		}
		if !passed {
			if a.g.cfg.AdapterMode == ModeSimple {
				return nil
			}
			continue
		}
		a.markPassed(q.name)
	}
	return nil
}

// consultAdapter is Python's consultAdapter. In safe mode it asks the adapter server about the
// visitor; in simple mode it sends the visitor to the queue server with the requested URL as
// target.
func (a *Adapter) consultAdapter(q *queue) error {
	a.adapterQueue = q
	mode := a.g.cfg.AdapterMode
	if q.hasAdapterMode {
		mode = q.adapterMode
	}
	if a.d {
		a.log("consulting", "queue", q.name, "mode", mode, "url", a.requestedURL)
	}
	if mode == ModeSafe {
		skip, probe := a.g.adapterSkip(q.adapterServer)
		if probe != nil {
			defer a.g.probeEnded(probe)
		}
		if skip && !a.g.cfg.QueueWhenAdapterDown {
			return &abortError{ReasonAdapterDown, "adapter server " + q.adapterServer + " is skipped after a failure"}
		}
		if skip {
			mode = ModeSimple
		}
	}
	if mode != ModeSafe {
		return a.sendToQueueServer(q)
	}
	if !q.hasAdapterServer {
		return abortf("queue %q has no adapterServer", q.name)
	}
	if a.dry {
		if a.d {
			a.log("dry run: would ask the adapter server", "queue", q.name)
		}
		a.decide(OutcomeWouldConsult, q.name)
		a.dryStop = true
		return nil
	}
	var scratch [512]byte
	u := appendStartURL(scratch[:0], q.adapterServer, "/adapter/", q.name, "?ipaddress=")
	u = appendURLEncoded(u, a.remoteIPAddress)
	if a.hasUID {
		u = append(u, "&uid="...)
		// Port: the uid is URL-encoded; Python's unencoded uid can add parameters (a spoofed ipaddress).
		u = appendURLEncoded(u, a.uid)
	}
	u = append(u, "&identifier="...)
	u = appendURLEncoded(u, processIdentifier(a.userAgent))
	if a.g.cfg.SendURL { // Queue-Fair's newer adapters' sendURL; the reference lacks it
		u = append(u, "&url="...)
		u = appendURLEncoded(u, a.requestedURL)
	}
	if len(u) > maxAdapterURLBytes {
		// Port: a User-Agent or uid cookie this long would make the adapter server refuse the
		// request, and a refusal lets the page run; the queue server decides instead.
		a.g.warn("queuefair: adapter-server request too long; sending the visitor to the queue server", "queue", q.name, "bytes", len(u))
		return a.sendToQueueServer(q)
	}
	body, err := a.g.urlToJSON(a.ctx, string(u), maxAdapterBytes)
	a.g.adapterAnswered(a.ctx, q.adapterServer, err)
	if err != nil {
		return &abortError{ReasonAdapterDown, "adapter server: " + err.Error()}
	}
	res, err := parseAdapterResult(body)
	if err != nil {
		return answerf("adapter server answer: %v", err)
	}
	a.adapterResult = res
	return a.gotAdapter()
}

// gotAdapter is Python's gotAdapter: act on the adapter server's answer. A uid is adopted (and
// stored in the uid cookie) unless the visitor already has a different one; SendToQueue
// redirects to the queue; any other action is a pass whose validation becomes the Passed
// Cookie.
func (a *Adapter) gotAdapter() error {
	r, q := a.adapterResult, a.adapterQueue
	// Port: no answer at all lets the page run by design; Python calls an undefined method.
	if r == nil || r.empty {
		if a.d {
			a.log("empty adapter answer")
		}
		a.failOpen(ReasonNoAction)
		return nil
	}
	if r.hasUID {
		if a.hasUID && a.uid != r.uid {
			a.g.warn("queuefair: uid cookie mismatch", "expected", a.uid, "received", r.uid)
		} else {
			if !r.cookieSecondsOK {
				return answerf("adapter answer has a uid but no cookieSeconds")
			}
			a.uid, a.hasUID = r.uid, true
			a.setServiceCookie(a.g.uidCookie, "u:"+r.uid, r.cookieSeconds, q.cookieDomain)
		}
	}
	if !r.hasAction {
		if a.d {
			a.log("adapter answer has no action")
		}
		a.failOpen(ReasonNoAction)
		return nil
	}
	if r.action == "SendToQueue" {
		target := a.requestedURL
		if q.dynamicTarget == "path" {
			if i := strings.IndexByte(target, '?'); i >= 0 {
				target = target[:i]
			}
		}
		params := "target=" + urlencode(target)
		if a.hasUID {
			// Port: qfuid is URL-encoded; Python adds the uid unencoded (a second target).
			params += "&qfuid=" + urlencode(a.uid)
		}
		if !r.hasLocation {
			return answerf("SendToQueue answer has no location")
		}
		// Port: only an http or https location (SPEC 11.3); Python redirects anywhere.
		if !isHTTPURL(r.location) {
			return answerf("SendToQueue location %q is not an http or https URL", headerSafe(r.location))
		}
		loc := r.location
		if a.g.cfg.QueueDomain != "" {
			loc = replaceHost(loc, a.g.cfg.QueueDomain)
		}
		loc += "?" + params
		loc = a.appendVariant(q, loc)
		loc = a.appendExtra(q, loc)
		a.decide(OutcomeSentToQueue, q.name)
		a.Redirect(loc, 0)
		return nil
	}
	if r.action == "CLEAR" { // Queue-Fair's newer adapters; Python wants a validation here
		name := q.name
		if r.hasQueue {
			name = r.queue
		}
		if a.d {
			a.log("adapter answer is CLEAR: the queue is passed for this request", "queue", name)
		}
		a.decide(OutcomeCleared, name)
		a.markPassed(name)
		return nil
	}
	if !r.hasQueue || !r.hasValidation {
		return answerf("adapter answer %q has no queue or validation", r.action)
	}
	lifetime, err := q.lifetimeSeconds()
	if err != nil {
		return err
	}
	a.decide(OutcomeSafeGuard, r.queue)
	a.setCookie(r.queue, urldecode(r.validation), lifetime, q.cookieDomain)
	if !a.continuePage {
		return nil
	}
	a.markPassed(r.queue)
	return nil
}

// appendVariant is Python's appendVariant: add qfv={variant} when a variant rule matches.
func (a *Adapter) appendVariant(q *queue, loc string) string {
	v, ok := a.getVariant(q)
	if !ok {
		return loc
	}
	if a.d {
		a.log("found variant", "variant", v)
	}
	return loc + querySep(loc) + "qfv=" + urlencode(v)
}

// appendExtra is Python's appendExtra: add qfx={extra} when the caller gave one.
func (a *Adapter) appendExtra(_ *queue, loc string) string {
	if a.extra == "" {
		return loc
	}
	return loc + querySep(loc) + "qfx=" + urlencode(a.extra)
}

// getVariant is Python's getVariant: the name of the first variant whose rules match.
// Port: Python reads the variant as an object attribute and crashes (the visitor gets in);
// this reads the JSON fields, and a variant whose rules cannot be evaluated is skipped rather
// than letting the visitor in.
func (a *Adapter) getVariant(q *queue) (string, bool) {
	for i := range q.variants {
		v := &q.variants[i]
		matched, err := a.isMatchArray(v.rules, v.hasRules)
		if err != nil { // errRegexpBudget included: such a variant is not chosen
			if a.d {
				a.log("variant skipped", "variant", v.name, "error", err.Error())
			}
			continue
		}
		if matched {
			return v.name, true
		}
	}
	return "", false
}

// loadSettings is Python's loadSettings: the settings for this request from the Gate's cache
// (see settingsStore.get), or nil when none can be had.
func (a *Adapter) loadSettings() {
	a.settings = a.g.store.get(a.ctx, a.clock)
	if a.settings == nil {
		a.g.warn("queuefair: no settings available; the page runs unqueued")
	}
}

// IsContinue runs the adapter for this request and reports whether the page should run (it is
// Python's isContinue). False means the adapter has redirected the visitor through the Service and
// the page must not run. It never panics: any failure lets the page run. ctx bounds the
// network calls and the pause of this request.
func (a *Adapter) IsContinue(ctx context.Context) (cont bool) {
	if a == nil || a.g == nil || a.g.closed.Load() {
		return true
	}
	if ctx == nil {
		ctx = context.Background()
	}
	a.ctx = ctx
	var start time.Time
	if a.g.cfg.OnDecision != nil {
		start = time.Now()
	}
	defer func() {
		if p := recover(); p != nil {
			a.g.warn("queuefair: adapter panicked; the page runs", "panic", fmt.Sprint(p))
			a.failOpen(ReasonPanic)
			cont = a.continuePage
		}
		a.decision.Continue = cont
		if a.dry {
			cont = true
		}
		if a.g.cfg.OnDecision != nil {
			a.g.report(ctx, a.decision, start)
		}
	}()
	if a.d {
		a.log("adapter starting", "url", a.requestedURL)
	}
	a.setUIDFromCookie()
	a.loadSettings()
	if a.settings == nil {
		a.failOpen(ReasonNoSettings)
		return true
	}
	if err := a.gotSettings(); err != nil {
		if a.d {
			a.log("the page runs unchecked", "error", err.Error())
		}
		a.g.warn("queuefair: the page runs unchecked", "error", err.Error())
		a.failOpen(reasonOf(err))
		return a.continuePage // true unless a redirect already went out
	}
	if a.d {
		a.log("adapter ending", "continue", a.continuePage, "outcome", a.decision.Outcome.String())
	}
	return a.continuePage
}

// =============================================================================================
// Python's QueueFairDjangoService (queue_fair_django_service.py), for net/http
// =============================================================================================

// HTTPService is the Service for net/http, one per request: it reads cookies from r and writes
// cookies, headers and redirects to w, so write the page through the same w. Gate.Check makes
// one for you; make your own with NewHTTPService to call NewAdapter yourself. It is Python's
// QueueFairDjangoService.
//
// The Adapter cleans every value before it calls a Service; HTTPService cleans again (a scan
// of each value, no allocation when it is clean) because its methods are exported and may be
// called directly.
type HTTPService struct {
	w      http.ResponseWriter
	r      *http.Request
	secure bool
	now    func() time.Time
}

// NewHTTPService returns the Service for one net/http request. secure says whether the visitor
// reached the site over HTTPS, through any proxy of yours (r.TLS != nil, or X-Forwarded-Proto
// from a proxy you trust); it makes the cookies Secure and SameSite=None. It is Python's
// QueueFairDjangoService constructor, where secure is Django's request.is_secure().
func NewHTTPService(w http.ResponseWriter, r *http.Request, secure bool) *HTTPService {
	return &HTTPService{w: w, r: r, secure: secure, now: time.Now}
}

// SetCookie is Python's QueueFairDjangoService.setCookie: path "/", Max-Age and a matching
// Expires (lifetime 0 deletes: Max-Age=0), the domain when given, not HttpOnly (the queue's
// JavaScript may read it), and Secure with SameSite=None over HTTPS.
func (s *HTTPService) SetCookie(name, value string, lifetimeSeconds int, domain string) {
	c := &http.Cookie{Name: name, Value: cookieSafe(value), Path: "/", Domain: domain, Secure: s.secure}
	if lifetimeSeconds > 0 {
		c.MaxAge = lifetimeSeconds
		c.Expires = s.now().Add(time.Duration(lifetimeSeconds) * time.Second).UTC()
	} else {
		c.MaxAge = -1 // net/http writes Max-Age=0
		c.Expires = time.Unix(0, 0).UTC()
	}
	if s.secure {
		c.SameSite = http.SameSiteNoneMode
	}
	http.SetCookie(s.w, c)
}

// Redirect is Python's QueueFairDjangoService.redirect: 302 with Location, after every header
// the adapter set.
func (s *HTTPService) Redirect(location string) {
	s.w.Header().Set("Location", headerSafe(location))
	s.w.WriteHeader(http.StatusFound)
}

// GetCookie is Python's QueueFairDjangoService.getCookie: the first cookie of that name the
// browser sent (surrounding quotes removed), or "".
func (s *HTTPService) GetCookie(name string) string {
	return cookieValue(s.r.Header, name)
}

// AddHeader is Python's QueueFairDjangoService.addHeader: set a response header.
func (s *HTTPService) AddHeader(name, value string) {
	s.w.Header().Set(name, headerSafe(value))
}

// =============================================================================================
// views.py's checkQueueFair, for net/http
// =============================================================================================

// Check runs the adapter for r and reports whether the page may run (it is views.py's
// checkQueueFair for net/http). On false the adapter has already written a redirect to w:
// return without writing more. On true, write the page through the same w so that the
// adapter's cookies reach the visitor. It never panics; any failure lets the page run.
//
// On a nil Gate (New failed, or a package-level gate shadowed by "gate, err :=" in main) the
// page runs, and every call warns through slog.Default: a nil Gate has nowhere to remember that
// it warned already, and a waiting room that silently queues no one is worse than a loud log.
// Port: a request without a User-Agent is checked with ""; Python raises, skipping the queue.
func (g *Gate) Check(w http.ResponseWriter, r *http.Request) bool {
	return g.CheckExtra(w, r, "")
}

// CheckExtra is Check (views.py's checkQueueFair) with the reference's extra: when not empty
// it is passed to the queue server as qfx, and ExtraClear ends a used pass (see ExtraClear),
// for example on the page that confirms an order.
func (g *Gate) CheckExtra(w http.ResponseWriter, r *http.Request, extra string) (cont bool) {
	if g == nil {
		slog.Default().Warn(nilGateWarning, "call", "Check")
		return true
	}
	defer func() {
		if p := recover(); p != nil {
			g.warn("queuefair: Check panicked; the page runs", "panic", fmt.Sprint(p))
			cont = true
		}
	}()
	var a Adapter
	g.httpAdapter(&a, w, r, extra)
	return a.IsContinue(r.Context())
}

// Handler is Check as net/http middleware: next runs only when the visitor may see the page (the
// reference has no middleware; views.py calls checkQueueFair in each view).
//
// On a nil Gate it warns once, through slog.Default, when it is called (as a program starts),
// and returns next itself: every page runs, unqueued, without a warning per request.
func (g *Gate) Handler(next http.Handler) http.Handler {
	if g == nil {
		slog.Default().Warn(nilGateWarning, "call", "Handler")
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.Check(w, r) {
			next.ServeHTTP(w, r)
		}
	})
}

// CheckCookie reports whether r carries a valid Passed Cookie for queueName, signed with
// queueSecret for this visitor and younger than passedLifetimeMinutes; if not, it redirects
// to the queue's InvalidCookie page and returns false. It downloads no settings and calls no
// Queue-Fair server: use it where Queue-Fair's client-side JavaScript does the queueing (the
// hybrid security model). It is that branch of views.py's checkQueueFair.
func (g *Gate) CheckCookie(w http.ResponseWriter, r *http.Request, queueName, queueSecret string, passedLifetimeMinutes int) (cont bool) {
	if g == nil {
		return true
	}
	var start time.Time
	if g.cfg.OnDecision != nil {
		start = time.Now()
	}
	var a Adapter
	g.httpAdapter(&a, w, r, "")
	defer func() {
		if p := recover(); p != nil {
			g.warn("queuefair: CheckCookie panicked; the page runs", "panic", fmt.Sprint(p))
			a.failOpen(ReasonPanic)
			cont = true
		}
		a.decision.Continue = cont
		if a.dry {
			cont = true
		}
		if g.cfg.OnDecision != nil {
			g.report(r.Context(), a.decision, start)
		}
	}()
	a.ctx = r.Context()
	if a.ValidateCookie(queueSecret, passedLifetimeMinutes, a.service.GetCookie(CookieNameBase+queueName)) {
		a.decide(OutcomePassedCookie, queueName)
		return true
	}
	a.decide(OutcomeCookieRejected, queueName)
	a.Redirect("https://"+g.cfg.Account+".queue-fair.net/"+queueName+"?qfError=InvalidCookie", 0)
	return a.continuePage
}

// AbsoluteURL is Django's request.build_absolute_uri(), the URL the reference's views.py gives
// the adapter, for any Go framework: scheme "://" host, then path, the request's decoded path
// (net/http's URL.Path; "/" when empty), re-escaped as Django's escape_uri_path does (every
// byte but letters, digits and /:@&+$,-_.!~*'() as %XX), then "?" and rawQuery, the query
// exactly as the visitor sent it, when it is not empty.
//
// Rules then see the path the server routes, so /%63heckout meets the /checkout rules, while
// the Passed String signature is checked over the raw query it was made for (SPEC 11.2).
// Port: a host byte that RFC 3986 does not allow in a host and port ('/', '?', '#', '@', '%',
// spaces, controls, non-ASCII) is written as %XX, so that a Host a visitor chose (Django
// refuses such a host) cannot end the host early and move the path the rules see.
//
// NewAdapter cuts the URL into the parts rules test the way the reference does, which a host
// that "https://" already holds ("h", "tp") or an empty one still misleads: where the host is
// the visitor's (a Host or X-Forwarded-Host header), give the parts to NewRequestAdapter
// instead, as Gate.Check does.
func AbsoluteURL(scheme, host, path, rawQuery string) string {
	return absoluteURL(scheme, escapeHost(host), path, rawQuery)
}

// Request is a request as NewRequestAdapter takes it: the parts a framework hands out (no
// Python counterpart; views.py gives the reference Django's request).
type Request struct {
	Scheme    string // "https" or "http"
	Host      string // the Host header as sent, port included
	Path      string // the decoded path, as the server routes it
	RawQuery  string // the query exactly as the visitor sent it, without the '?'
	UserAgent string // the User-Agent header, "" when there is none
	RemoteIP  string // the visitor's IP address
	Extra     string // the reference's extra (see NewAdapter)
}

// NewRequestAdapter is NewAdapter for a request given in parts, which is what views.py's
// checkQueueFair does with Django's request (no Python counterpart of its own). The requested
// URL is AbsoluteURL(r.Scheme, r.Host, r.Path, r.RawQuery), and the rules see the domain, the
// path and the query where AbsoluteURL put them instead of cutting them out of the URL again,
// so no Host a visitor sends can move the path a Path rule tests (SPEC 11.2). Gate.Check uses
// it; an integration over another framework should too.
func (g *Gate) NewRequestAdapter(service Service, r Request) *Adapter {
	a := new(Adapter)
	g.requestAdapter(a, service, &r)
	return a
}

// requestAdapter is NewRequestAdapter into a.
func (g *Gate) requestAdapter(a *Adapter, service Service, r *Request) {
	host := escapeHost(r.Host)
	*a = *g.NewAdapter(service, absoluteURL(r.Scheme, host, r.Path, r.RawQuery), r.UserAgent, r.RemoteIP, r.Extra)
	a.setRequestParts(len(r.Scheme)+len("://"), host)
}

// absoluteURL is AbsoluteURL for a host escapeHost has already escaped.
func absoluteURL(scheme, host, path, rawQuery string) string {
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	clean := true
	for i := 0; i < len(path) && clean; i++ {
		clean = djangoPathSafe(path[i])
	}
	if clean && rawQuery == "" {
		return scheme + "://" + host + path
	}
	if clean {
		return scheme + "://" + host + path + "?" + rawQuery
	}
	b := make([]byte, 0, len(scheme)+3+len(host)+3*len(path)+1+len(rawQuery))
	b = append(append(append(b, scheme...), "://"...), host...)
	b = appendEscaped(b, path, djangoPathByte)
	if rawQuery != "" {
		b = append(append(b, '?'), rawQuery...)
	}
	return string(b)
}

// escapeHost is host with every byte outside hostByte written as %XX, without allocating
// when there is none.
func escapeHost(host string) string {
	if hostClean(host) {
		return host
	}
	return string(appendEscaped(make([]byte, 0, 3*len(host)), host, hostByte))
}

// hostClean reports whether every byte of host is a hostByte: eight classes and-ed together
// per test, as a Host header is checked on every request.
func hostClean(host string) bool {
	i := 0
	for ; i+8 <= len(host); i += 8 {
		h := host[i : i+8]
		if byteClass[h[0]]&byteClass[h[1]]&byteClass[h[2]]&byteClass[h[3]]&
			byteClass[h[4]]&byteClass[h[5]]&byteClass[h[6]]&byteClass[h[7]]&hostByte == 0 {
			return false
		}
	}
	for ; i < len(host); i++ {
		if byteClass[host[i]]&hostByte == 0 {
			return false
		}
	}
	return true
}

// appendEscaped appends s to b with every byte outside class written as %XX.
func appendEscaped(b []byte, s string, class uint8) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		if c := s[i]; byteClass[c]&class != 0 {
			b = append(b, c)
		} else {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return b
}

// =============================================================================================
// Helpers with no Python twin
// They make the twins above work in Go, or close a hole in the reference (SPEC 10-11).
// =============================================================================================

// --- Failing open, and the Decision a request reports

// errAbort wraps the failures that end a request early with the page running, where Python
// raises and isContinue's except clause returns True.
var errAbort = errors.New("queuefair: request check abandoned")

// abortError is an errAbort with the Reason a Decision reports for it.
type abortError struct {
	reason Reason
	msg    string
}

// Error says that the check was abandoned, and why.
func (e *abortError) Error() string { return errAbort.Error() + ": " + e.msg }

// Is makes every abortError an errAbort for errors.Is.
func (e *abortError) Is(target error) bool { return target == errAbort }

// abortf builds an errAbort for malformed settings (ReasonBadSettings).
func abortf(format string, args ...any) error {
	return &abortError{ReasonBadSettings, fmt.Sprintf(format, args...)}
}

// answerf builds an errAbort for an unusable adapter-server answer (ReasonBadAnswer).
func answerf(format string, args ...any) error {
	return &abortError{ReasonBadAnswer, fmt.Sprintf(format, args...)}
}

// reasonOf is the Reason a Decision reports for err.
func reasonOf(err error) Reason {
	var ae *abortError
	if errors.As(err, &ae) {
		return ae.reason
	}
	return ReasonBadSettings
}

// decide records outcome o for queue as this request's decision so far (the last one stands).
func (a *Adapter) decide(o Outcome, queue string) {
	a.decision.Outcome, a.decision.Queue, a.decision.Reason = o, queue, ReasonNone
	a.decision.Rule = 0
	if o != OutcomePassedString && o != OutcomeInvalidQuery {
		a.decision.Rule = a.rule
	}
}

// failOpen records that the check ended early with the page running, and why, naming the
// queue being checked then (if any) and its deciding rule.
func (a *Adapter) failOpen(r Reason) {
	a.decision.Outcome, a.decision.Reason = OutcomeFailedOpen, r
	a.decision.Queue, a.decision.Rule = a.checking, 0
	if a.checking != "" {
		a.decision.Rule = a.rule
	}
}

// Decision has no Python counterpart: what IsContinue decided for this request and why.
func (a *Adapter) Decision() Decision {
	if a == nil {
		return Decision{Continue: true}
	}
	return a.decision
}

// --- Passes: what validateQuery, validateCookie, setCookie and parseSettings lean on

// fail logs why a validation failed (when debugging) and returns false.
func (a *Adapter) fail(why string) bool {
	if a.d {
		a.log(why)
	}
	return false
}

// nowSeconds is Python's time.time(), on the Gate's clock.
func (a *Adapter) nowSeconds() float64 {
	return float64(a.clock().UnixNano()) / 1e9
}

// clock is the time of this request: the Gate's clock, read at most once per request, and only
// when something needs it (a pass's age, settings that are stale or kept by Config.Now), so
// every check of one request is judged at the same instant.
func (a *Adapter) clock() time.Time {
	if !a.haveNow {
		if a.g != nil {
			a.now = a.g.now()
		} else {
			a.now = time.Now()
		}
		a.haveNow = true
	}
	return a.now
}

// lifetimeSeconds is Python's int(queue['passedLifetimeMinutes']) * 60.
func (q *queue) lifetimeSeconds() (int, error) {
	if !q.lifetimeOK {
		return 0, abortf("queue %q has an unreadable passedLifetimeMinutes", q.name)
	}
	if q.lifetimeMinutes > math.MaxInt32/60 { // Port: clamped as clampInt says why
		return math.MaxInt32, nil
	}
	if q.lifetimeMinutes < math.MinInt32/60 {
		return math.MinInt32, nil
	}
	return q.lifetimeMinutes * 60, nil
}

// ExtraClear is the extra (NewAdapter's last argument, or Gate.CheckExtra's) that ends a
// visitor's pass once it has been used, as Queue-Fair's newer adapters do (the reference lacks
// it): a valid Passed Cookie is set again to last 20 seconds, and the visitor is then checked
// as one without a pass, with qfx=CLEAR on any redirect to the queue.
const ExtraClear = "CLEAR"

// clearedCookieSeconds is how long a Passed Cookie lives after ExtraClear.
const clearedCookieSeconds = 20

// cutBefore is Python's loc[0:pos - 1]: the URL without the Passed String and the '?' or '&'
// before it (and, as in Python, without its last character when pos is 0).
func cutBefore(u string, pos int) string {
	end := pos - 1
	if end < 0 {
		end += len(u)
	}
	if end < 0 {
		end = 0
	}
	return u[:end]
}

// cookieName is COOKIE_NAME_BASE + queueName, without building it for known queues.
func (a *Adapter) cookieName(queueName string) string {
	if a.settings != nil {
		for _, q := range a.settings.queues {
			if q.name == queueName {
				return q.cookieName
			}
		}
	}
	return CookieNameBase + queueName
}

// markPassed is Python's `self.passedQueues[name] = True`.
func (a *Adapter) markPassed(name string) {
	switch {
	case a.isMarked(name):
	case a.passedCount < len(a.passedQueues):
		a.passedQueues[a.passedCount] = name
		a.passedCount++
	default:
		a.passedMore = append(a.passedMore, name)
	}
}

// isMarked is Python's `name in self.passedQueues`.
func (a *Adapter) isMarked(name string) bool {
	if a.passedCount == 0 {
		return false // the usual case: nothing passed yet
	}
	for _, n := range a.passedQueues[:a.passedCount] {
		if n == name {
			return true
		}
	}
	for _, n := range a.passedMore {
		if n == name {
			return true
		}
	}
	return false
}

// maxUIDBytes caps the uid read from the visitor's cookie: real uids are a few dozen bytes.
const maxUIDBytes = 256

// --- Rules: the branches of isRuleMatch. The parts of the URL are cut once per request
// (cutParts, the usual shape in one pass) and, for any other shape, step by step as Python's
// isRuleMatch does (domainOf, pathAfter, queryComponent); FuzzComponents holds the two
// together. equalRule and containsRule are Python's == and find after lower(), comparing
// ASCII in place.

// component is the first half of Python's isRuleMatch: the part of the request that rule r
// looks at (Domain, Path, Query, a Cookie, or else the whole URL).
func (a *Adapter) component(r *rule) string {
	switch r.component {
	case compDomain:
		return a.parts().domain
	case compPath:
		return a.parts().path
	case compQuery:
		return a.parts().query
	case compCookie:
		if r.noCookie {
			return ""
		}
		return a.service.GetCookie(r.cookie)
	}
	return a.requestedURL
}

// caseFolded is comp lower-cased as Python's str.lower does (through a.lower), unless the rule
// is case sensitive.
func (r *rule) caseFolded(comp string, a *Adapter) string {
	if r.caseSensitive {
		return comp
	}
	return a.lower(comp)
}

// lower is pythonLower for the rules of this request: every text it lowers is kept, so that a
// part of the request with non-ASCII text is lowered once, however many case-insensitive rules
// test it (a visitor's 1 MB query of "é" against 20 rules was lowered 20 times, half a second
// of CPU). The texts are the parts rules test: the domain, path, query and URL, and the
// cookies the rules name, so nothing needs to be let go; past maxLoweredTexts of them (a
// settings file that names that many cookies) the rest are lowered each time. The keep is
// allocated on first use: ASCII requests seldom lower. A nil a keeps nothing (the tests of
// equalRule and containsRule).
func (a *Adapter) lower(s string) string {
	if a == nil {
		return pythonLower(s)
	}
	k := a.lowered
	if k == nil {
		k = new(loweredTexts)
		a.lowered = k
	}
	for i := range k.in {
		if k.in[i] == s { // the same text: its bytes are not compared again
			return k.out[i]
		}
	}
	out := pythonLower(s)
	if len(k.in) < maxLoweredTexts {
		k.in, k.out = append(k.in, s), append(k.out, out)
	}
	return out
}

// loweredTexts is what Adapter.lower keeps: the texts it lowered, and their lower case.
type loweredTexts struct {
	in, out []string
}

// maxLoweredTexts bounds what Adapter.lower keeps, and the time it takes to look there.
const maxLoweredTexts = 64

// isOddRuleMatch is isRuleMatch for a rule that Python cannot evaluate in full (rule.odd): it
// fails where Python raises: at once for a broken rule, and for a Contain whose value is not
// text, when the component is not empty (Python's comp.find(value)).
func (a *Adapter) isOddRuleMatch(r *rule) (bool, error) {
	if r.broken != "" {
		return false, abortf("%s", r.broken)
	}
	if a.component(r) != "" {
		return false, abortf("a rule's value is not text")
	}
	return r.negate, nil // an empty component contains nothing
}

// parts returns a with the requested URL cut into the components rules test, once per
// request (small enough to inline: it runs for every rule).
func (a *Adapter) parts() *Adapter {
	if !a.haveParts {
		a.cutParts()
	}
	return a
}

// cutParts is the Domain, Path and Query branches of Python's isRuleMatch, for one URL. The
// usual URL, "http(s)://host[:port][/path][?query][#fragment]" with no other "://" before its
// query and a host that does not also occur inside the scheme, is cut in one pass, which also
// notes whether the URL is ASCII; any other goes through domainOf and pathAfter, which follow
// Python step by step (FuzzComponents holds the two to the same answers).
func (a *Adapter) cutParts() {
	u := a.requestedURL
	a.haveParts = true
	if off := schemeLen(u); off > 0 {
		var seen byte // every byte of u read one by one, or-ed: below 0x80 while all are ASCII
		i := plainWords(u, off, lowBits*'?', lowBits*'#', lowBits*'/', lowBits*':')
		for ; i < len(u); i++ { // the host ends at the first '?', '#', '/' or ':'
			c := u[i]
			if c == '?' || c == '#' || c == '/' || c == ':' {
				break
			}
			seen |= c
		}
		host := u[off:i]
		start, end := i, len(u) // the path is u[start:end], port included
		for i = plainWords(u, i, lowBits*'?', lowBits*'#', lowBits*':', lowBits*':'); i < len(u); i++ {
			c := u[i]
			if c == '?' || c == '#' {
				end = i
				break
			} else if c == ':' && strings.HasPrefix(u[i+1:], "//") {
				end = -1 // another scheme before the query: Python's replacements apply
				break
			}
			seen |= c
		}
		if host != "" && end >= 0 && !hostInScheme(u, off, host) {
			if u[start:end] == "" || u[start] != ':' { // a port is the rare case: left to pathAfter
				a.domain, a.path = host, u[start:end]
				if a.path == "" {
					a.path = "/"
				}
				switch {
				case end == len(u):
					a.query = "" // no '?' in the URL: the scheme, host and path have none
				case u[end] == '?':
					a.query = u[end+1:] // the first '?' of the URL: the scheme and host have none
				default:
					a.query = queryComponent(u) // a '#' first: any '?' is in the fragment
				}
				a.urlASCII = seen < 0x80 && isASCII(u[end:])
				return
			}
		}
	}
	a.urlASCII = isASCII(u)
	a.domain = domainOf(u)
	a.path = pathAfter(u, a.domain)
	a.query = queryComponent(u)
}

// hostInScheme reports whether host also occurs starting in the first off bytes of u (its
// scheme), where Python's url.find(domain) would find it first (as in "https://h/x"). Such an
// occurrence lies inside the scheme before its last '/', since a host holds no '/': a host as
// long as the scheme cannot.
func hostInScheme(u string, off int, host string) bool {
	if len(host) >= off {
		return false
	}
	for j := 0; j < off; j++ {
		if u[j] == host[0] && strings.HasPrefix(u[j:], host) {
			return true
		}
	}
	return false
}

// domainOf is the Domain branch of Python's isRuleMatch, line for line: cutParts takes it
// only for URLs of an unusual shape, and FuzzComponents holds the two to the same answer.
func domainOf(u string) string {
	comp := strings.ReplaceAll(u, "http://", "")
	comp = strings.ReplaceAll(comp, "https://", "")
	comp, _, _ = strings.Cut(comp, "?")
	comp, _, _ = strings.Cut(comp, "#")
	comp, _, _ = strings.Cut(comp, "/")
	comp, _, _ = strings.Cut(comp, ":")
	return comp
}

// schemeLen is the length of a leading "https://" or "http://", or 0.
func schemeLen(u string) int {
	switch {
	case strings.HasPrefix(u, "https://"):
		return len("https://")
	case strings.HasPrefix(u, "http://"):
		return len("http://")
	}
	return 0
}

// indexHostEnd is the index of the first '?', '#', '/' or ':' in s, or len(s).
func indexHostEnd(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '?', '#', '/', ':':
			return i
		}
	}
	return len(s)
}

// pathAfter is the Path branch of Python's isRuleMatch, line for line, for the URL u whose
// domain d (domainOf(u)) is known: cutParts takes it only for URLs of an unusual shape.
func pathAfter(u, d string) string {
	comp := pySliceFrom(u, strings.Index(u, d)+len(d))
	if strings.HasPrefix(comp, ":") {
		if i := strings.IndexByte(comp, '/'); i != -1 {
			comp = comp[i:]
		} else {
			comp = ""
		}
	}
	if i := strings.IndexByte(comp, '#'); i != -1 {
		comp = comp[:i]
	}
	if i := strings.IndexByte(comp, '?'); i != -1 {
		comp = comp[:i]
	}
	if comp == "" {
		comp = "/"
	}
	return comp
}

// pySliceFrom is Python's s[i:]: a negative i counts from the end, and i is clamped to s.
func pySliceFrom(s string, i int) string {
	if i < 0 {
		i = max(i+len(s), 0)
	}
	return s[min(i, len(s)):]
}

// queryComponent is the Query branch of Python's isRuleMatch: the text after the first '?'
// (fragment included, as Python does), or "".
func queryComponent(u string) string {
	i := strings.IndexByte(u, '?')
	if i < 0 || u == "?" {
		return ""
	}
	return u[i+1:]
}

// equalRule is Python's `comp == test` after lower-casing both when the rule is not case
// sensitive (value is already lower-cased). ASCII text is compared in place; text with other
// bytes is lower-cased as Python does (a.lower), which can change its length.
func equalRule(comp, value string, caseSensitive bool, a *Adapter) bool {
	if caseSensitive {
		return comp == value
	}
	if comp == value && isASCII(value) {
		return true // value is lower case, so comp is too: the loop below would agree
	}
	if len(comp) != len(value) {
		return !isASCII(comp) && a.lower(comp) == value
	}
	for i := 0; i < len(comp); i++ {
		c := comp[i]
		if c >= 0x80 {
			return a.lower(comp) == value
		}
		if lowerASCII(c) != value[i] {
			return false // the text before i is ASCII, so lower-casing keeps this byte here
		}
	}
	return true
}

// containsRule is Python's `comp.find(test) != -1` after lower-casing both when the rule is
// not case sensitive (value is already lower-cased, and UTF-8 as it comes from JSON). One pass
// compares with ASCII letters folded: such a match is a match in the lower-cased comp, since
// it starts on a character and lower-casing leaves lower-case text as it is. Only when there
// is none and comp has non-ASCII bytes, whose lower case could match, is a lower-cased copy
// searched, lower-cased as Python does (a.lower); compASCII says that comp is known to have none.
// That pass costs up to len(value) steps a byte of comp: a long value against a long comp
// (a visitor's query) searches the lower-cased copy instead, which costs a few.
func containsRule(comp, value string, caseSensitive, compASCII bool, a *Adapter) bool {
	if caseSensitive {
		return strings.Contains(comp, value)
	}
	n := len(value)
	if n == 0 {
		return true
	}
	if n > foldedValueMax && len(comp) > foldedTextMax {
		return strings.Contains(a.lower(comp), value)
	}
	first := value[0]
	for i := 0; i+n <= len(comp); i++ {
		if lowerASCII(comp[i]) != first {
			continue
		}
		j := 1
		for j < n && lowerASCII(comp[i+j]) == value[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return !compASCII && !isASCII(comp) && strings.Contains(a.lower(comp), value)
}

// containsRule compares in place when the value is at most foldedValueMax bytes, or the
// component at most foldedTextMax: at most 32 steps a byte, or a million in all.
const (
	foldedValueMax = 32
	foldedTextMax  = 2048
)

// plainWords is a fast path for the byte loops of cutParts: from i, it steps over each run of
// eight ASCII bytes of s that holds none of the bytes a, b, c and d (each given repeated across
// a word, as lowBits*'?'), and returns where the loop should go on one byte at a time. It may
// only skip bytes that the loop would step over.
func plainWords(s string, i int, a, b, c, d uint64) int {
	for ; i+8 <= len(s); i += 8 {
		w := word(s[i:])
		if w&highBits != 0 || hasByte(w, a) || hasByte(w, b) || hasByte(w, c) || hasByte(w, d) {
			break
		}
	}
	return i
}

// Bytes of every lane of a 64-bit word, for the eight-at-a-time scans.
const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// word is the first eight bytes of s as one little-endian word (one load, once compiled).
func word(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// hasByte reports whether any byte of w is the byte that c repeats (lowBits*b): a byte of w^c
// is zero exactly where w holds it, and subtracting one from each byte borrows into a high bit
// that was clear only through a zero byte.
func hasByte(w, c uint64) bool {
	x := w ^ c
	return (x-lowBits)&^x&highBits != 0
}

// hasLess reports whether any byte of w is below n (n at most 0x80), for a w whose bytes are all
// below 0x80: subtracting n from each byte then borrows into a high bit only below n.
func hasLess(w uint64, n byte) bool {
	return (w-lowBits*uint64(n))&^w&highBits != 0
}

// hasAbove reports whether any byte of w is above n (n below 0x80): a byte with its high bit
// set is, and adding 0x7f-n to the low seven bits of the others carries into the high bit, and
// never further, exactly above n.
func hasAbove(w uint64, n byte) bool {
	return ((w&^highBits)+lowBits*uint64(0x7f-n)|w)&highBits != 0
}

// isASCII reports whether s has only ASCII bytes, eight at a time.
func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if word(s[i:])&highBits != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// --- The adapter server and the queue server: URLs and answers

// sendToQueueServer is the simple-mode half of Python's consultAdapter: send the visitor to
// the queue server with the requested URL as target.
func (a *Adapter) sendToQueueServer(q *queue) error {
	if !q.hasQueueServer {
		return abortf("queue %q has no queueServer", q.name)
	}
	var scratch [512]byte
	u := appendStartURL(scratch[:0], q.queueServer, "/", q.name, "?target=")
	loc := string(appendURLEncoded(u, a.requestedURL))
	loc = a.appendVariant(q, loc)
	loc = a.appendExtra(q, loc)
	a.decide(OutcomeSentToQueue, q.name)
	a.Redirect(loc, 0)
	return nil
}

// maxAdapterURLBytes caps an adapter-server request URL: common front ends refuse request
// lines over 8 KiB, and real ones are a few hundred bytes.
const maxAdapterURLBytes = 8 << 10

// appendStartURL appends "https://{host}{path}{name}{query}" to dst: the start of both
// Queue-Fair URLs.
func appendStartURL(dst []byte, host, path, name, query string) []byte {
	dst = append(dst, "https://"...)
	dst = append(dst, host...)
	dst = append(dst, path...)
	dst = append(dst, name...)
	return append(dst, query...)
}

// adapterResult is the adapter server's JSON answer (Python's self.adapterResult dict).
type adapterResult struct {
	empty                       bool // {}: Python's `not self.adapterResult`
	uid                         string
	hasUID                      bool
	cookieSeconds               int
	cookieSecondsOK             bool
	action                      string
	hasAction                   bool
	queue, location, validation string
	hasQueue, hasLocation       bool
	hasValidation               bool
}

// parseAdapterResult reads an adapter server answer as Python's gotAdapter reads the value
// json.loads gives it. A JSON object is the usual answer; a uid that is not a string is an
// error (Python's string concatenation raises). Any other JSON value is read by nonObjectAnswer.
func parseAdapterResult(body []byte) (*adapterResult, error) {
	v, err := jsonLoads(body)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nonObjectAnswer(v)
	}
	r := &adapterResult{empty: len(m) == 0}
	if v, ok := m["uid"]; ok {
		if r.uid, r.hasUID = v.(string); !r.hasUID {
			return nil, errors.New("uid is not a string")
		}
	}
	r.cookieSeconds, r.cookieSecondsOK = pythonInt(m["cookieSeconds"])
	if v, ok := m["action"]; ok {
		r.hasAction = true
		r.action, _ = v.(string) // not a string: some other action, as in Python
	}
	r.queue, r.hasQueue = m["queue"].(string)
	r.location, r.hasLocation = m["location"].(string)
	r.validation, r.hasValidation = m["validation"].(string)
	return r, nil
}

// nonObjectAnswer is gotAdapter's reading of an answer that is JSON but not an object, which
// Python tests with `not result`, `'uid' in result` and `'action' in result` before it indexes
// it. null is no answer at all (consultAdapter's `js is None`): an error, as Python's call of
// an undefined method is. A false value (0, false, "", []) is as empty as {}. In a list,
// `in` looks for an element "uid" or "action", in text for those letters: without them the
// answer has no action, and with them Python's indexing raises, as does `in` on a number or
// true.
func nonObjectAnswer(v any) (*adapterResult, error) {
	switch t := v.(type) {
	case nil:
		return nil, errors.New("null answer")
	case bool:
		if !t {
			return &adapterResult{empty: true}, nil
		}
	case json.Number:
		if f, _ := strconv.ParseFloat(t.String(), 64); f == 0 {
			return &adapterResult{empty: true}, nil // 0, -0, 0.0, 1e-999
		}
	case string:
		if t == "" {
			return &adapterResult{empty: true}, nil
		}
		if !strings.Contains(t, "uid") && !strings.Contains(t, "action") {
			return &adapterResult{}, nil
		}
	case []any:
		if len(t) == 0 {
			return &adapterResult{empty: true}, nil
		}
		for _, e := range t {
			if e == "uid" || e == "action" {
				return nil, errors.New("not a JSON object")
			}
		}
		return &adapterResult{}, nil
	}
	return nil, errors.New("not a JSON object")
}

// replaceHost is the queueDomain step of Queue-Fair's newer adapters: loc with the host after
// its "//" replaced by domain, keeping the scheme, any port, the path and the query. A loc
// without "//" is returned as it is.
func replaceHost(loc, domain string) string {
	i := strings.Index(loc, "//")
	if i < 0 {
		return loc
	}
	i += 2
	end := len(loc)
	if j := strings.IndexAny(loc[i:], ":/?#"); j >= 0 {
		end = i + j
	}
	return loc[:i] + domain + loc[end:]
}

// isHTTPURL reports whether u starts with http:// or https:// (in any case): the only places a
// redirect may send a visitor (no javascript:, data: or scheme-relative //host).
func isHTTPURL(u string) bool {
	for _, p := range [...]string{"https://", "http://"} {
		if len(u) >= len(p) && strings.EqualFold(u[:len(p)], p) {
			return true
		}
	}
	return false
}

// querySep is "&" when loc has a query already, else "?".
func querySep(loc string) string {
	if strings.IndexByte(loc, '?') >= 0 {
		return "&"
	}
	return "?"
}

// --- What a Service is handed: values made safe for any framework (SPEC 11.3)

// setServiceCookie hands a cookie to the Service with every part made safe first, whichever
// framework implements it (SPEC 11.3): the name holds only token bytes, the value only bytes
// net/http accepts in a cookie value, the domain no byte that could end the attribute. Queue
// names, uids and validations come from settings and adapter-server answers, and the reference
// passes them on as they are.
// Port: every value is made safe here; Python hands its service values as they came.
func (a *Adapter) setServiceCookie(name, value string, lifetimeSeconds int, domain string) {
	if a.dry {
		return
	}
	a.service.SetCookie(cookieNameSafe(name), cookieSafe(value), lifetimeSeconds, cookieAttrSafe(domain))
}

// cookieSafe drops the bytes net/http would drop from a cookie value (it would also log each
// time, which a visitor could use to flood the log).
func cookieSafe(v string) string { return keepBytes(v, cookieValueByte, cookieWords(v)) }

// cookieWords is a fast path for cookieSafe (FuzzServiceValues holds it to the byte table):
// the length of the run of whole eight-byte words at the start of v whose bytes net/http all
// keeps in a cookie value (0x20-0x7E but '"', ';' and '\\'). A Passed Cookie is a few hundred
// such bytes.
func cookieWords(v string) int {
	i := 0
	for ; i+8 <= len(v); i += 8 {
		w := word(v[i:])
		if hasAbove(w, 0x7e) || hasLess(w, 0x20) ||
			hasByte(w, lowBits*'"') || hasByte(w, lowBits*';') || hasByte(w, lowBits*'\\') {
			break
		}
	}
	return i
}

// validCookieByte reports whether net/http keeps byte c in a cookie value.
func validCookieByte(c byte) bool { return byteClass[c]&cookieValueByte != 0 }

// cookieNameSafe keeps only the bytes of an HTTP token (RFC 9110 tchar), all a cookie name may
// hold.
func cookieNameSafe(v string) string { return keepBytes(v, tokenByteClass, 0) }

// tokenByte reports whether c may stand in an HTTP token.
func tokenByte(c byte) bool { return byteClass[c]&tokenByteClass != 0 }

// cookieAttrSafe keeps the printable ASCII bytes of a cookie attribute value but ';', which
// would start another attribute.
func cookieAttrSafe(v string) string { return keepBytes(v, cookieAttrByte, 0) }

// headerSafe removes CR, LF and NUL so that no input can start a header of its own. The usual
// value has none, which three vectorised searches find faster than a loop.
func headerSafe(v string) string {
	if strings.IndexByte(v, '\r') < 0 && strings.IndexByte(v, '\n') < 0 && strings.IndexByte(v, 0) < 0 {
		return v
	}
	return keepBytes(v, headerByte, 0)
}

// The classes of bytes a value handed to a Service may keep, as bits of byteClass, and the
// bytes urlencode keeps as they are.
const (
	cookieValueByte uint8 = 1 << iota // net/http's cookie value: 0x20-0x7E but '"', ';', '\\'
	tokenByteClass                    // an HTTP token: letters, digits and !#$%&'*+-.^_`|~
	cookieAttrByte                    // 0x21-0x7E but ';'
	headerByte                        // anything but CR, LF and NUL
	unreservedByte                    // quote_plus keeps it: letters, digits and -._~
	djangoPathByte                    // escape_uri_path keeps it: letters, digits and /:@&+$,-_.!~*'()
	hostByte                          // RFC 3986 host and port: letters, digits, -._~!$&'()*+,;=:[]
)

// byteClass holds each byte's classes, so that a value is checked with one table load a byte
// and no call. It is computed once and never written.
var byteClass = func() (t [256]uint8) {
	for i := range t {
		c := byte(i)
		if 0x20 <= c && c < 0x7f && c != '"' && c != ';' && c != '\\' {
			t[i] |= cookieValueByte
		}
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			t[i] |= tokenByteClass
		}
		if 0x20 < c && c < 0x7f && c != ';' {
			t[i] |= cookieAttrByte
		}
		if c != '\r' && c != '\n' && c != 0 {
			t[i] |= headerByte
		}
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			t[i] |= unreservedByte
		}
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("/:@&+$,-_.!~*'()", c) >= 0 {
			t[i] |= djangoPathByte
		}
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~!$&'()*+,;=:[]", c) >= 0 {
			t[i] |= hostByte
		}
	}
	return t
}()

// keepBytes is v without the bytes outside class, without allocating when it has none. The
// first from bytes of v are known to be in class.
func keepBytes(v string, class uint8, from int) string {
	i := from
	for i < len(v) && byteClass[v[i]]&class != 0 {
		i++
	}
	if i == len(v) {
		return v
	}
	b := []byte(v[:i])
	for ; i < len(v); i++ {
		if byteClass[v[i]]&class != 0 {
			b = append(b, v[i])
		}
	}
	return string(b)
}

// --- net/http: reading the request

// cookieValue is the value of the first cookie named name in the request's Cookie headers, as
// Django reads them: the first ';'-separated part whose text before its first '=', white space
// trimmed, is name (cookiePart). Rather than split a header of many cookies into parts, it
// searches each line for name and judges only the parts that hold it: a part that matches
// holds name, and parts are met in order, so the answer is the plain loop's (cookieValuePlain;
// FuzzCookieLookup holds the two together). After a part that does not match, the search goes
// on from the next part, so each byte is read a bounded number of times, however many times
// a hostile header repeats name.
func cookieValue(h http.Header, name string) string {
	if name == "" || strings.IndexByte(name, ';') >= 0 {
		return cookieValuePlain(h, name) // an occurrence could span parts
	}
	for _, line := range h["Cookie"] {
		for off := 0; off <= len(line); { // line[off:] starts a part
			i := strings.Index(line[off:], name)
			if i < 0 {
				break
			}
			i += off
			start := off + strings.LastIndexByte(line[off:i], ';') + 1
			end := len(line)
			if j := strings.IndexByte(line[i:], ';'); j >= 0 {
				end = i + j
			}
			if v, ok := cookiePart(line[start:end], name); ok {
				return v
			}
			off = end + 1
		}
	}
	return ""
}

// cookieValuePlain is cookieValue part by part, every part of every line in turn.
func cookieValuePlain(h http.Header, name string) string {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			if v, ok := cookiePart(part, name); ok {
				return v
			}
		}
	}
	return ""
}

// cookiePart reads one ';'-separated part of a Cookie header: the cookie's value (white space
// trimmed, surrounding double quotes removed) when the part's name is name.
func cookiePart(part, name string) (string, bool) {
	k, v, ok := strings.Cut(part, "=")
	if !ok || strings.TrimSpace(k) != name {
		return "", false
	}
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return v, true
}

// nilGateWarning is the warning of a nil Gate, which lets every page run unqueued.
const nilGateWarning = "queuefair: nil *Gate: the page runs unqueued (did New fail, or does a `gate, err :=` shadow the Gate your handlers use?)"

// httpAdapter is the prologue of Check and CheckCookie: it makes *a the Adapter for a net/http
// request, with its scheme and client IP (see requestOrigin), an HTTPService, and the rule parts
// of the URL it builds. It fills the caller's Adapter so that the Adapter stays on the caller's
// stack.
func (g *Gate) httpAdapter(a *Adapter, w http.ResponseWriter, r *http.Request, extra string) {
	scheme, ip := g.requestOrigin(r)
	svc := &HTTPService{w: w, r: r, secure: scheme == "https", now: g.now}
	ua := "" // r.UserAgent(), without canonicalising a key that already is canonical
	if v := r.Header["User-Agent"]; len(v) > 0 {
		ua = v[0]
	}
	g.requestAdapter(a, svc, &Request{
		Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		UserAgent: ua, RemoteIP: ip, Extra: extra,
	})
}

// requestOrigin is the scheme and client IP of r: from the connection, or, with
// TrustForwardedHeaders, from X-Forwarded-Proto and X-Forwarded-For.
func (g *Gate) requestOrigin(r *http.Request) (scheme, ip string) {
	scheme = "http"
	if r.TLS != nil {
		scheme = "https"
	}
	ip = r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ip = host
	}
	if !g.cfg.TrustForwardedHeaders {
		return scheme, ip
	}
	if p := strings.ToLower(strings.TrimSpace(firstField(r.Header.Get("X-Forwarded-Proto")))); p == "https" || p == "http" {
		scheme = p
	}
	var hops []string
	for _, line := range r.Header.Values("X-Forwarded-For") {
		for _, f := range strings.Split(line, ",") {
			if f = strings.TrimSpace(f); f != "" {
				hops = append(hops, f)
			}
		}
	}
	if n := len(hops) - g.cfg.ForwardedHops; n >= 0 && n < len(hops) {
		if parsed := net.ParseIP(hops[n]); parsed != nil {
			ip = parsed.String()
		}
	}
	return scheme, ip
}

// firstField is the text before the first comma.
func firstField(s string) string {
	f, _, _ := strings.Cut(s, ",")
	return f
}

// djangoPathSafe reports whether escape_uri_path (Python's quote with safe="/:@&+$,-_.!~*'()")
// keeps byte c as it is.
func djangoPathSafe(c byte) bool { return byteClass[c]&djangoPathByte != 0 }

// setRequestParts gives the rules the parts of a requested URL that requestAdapter built with
// absoluteURL, whose escaped host starts at hostStart, instead of cutting them out again the way
// Python's isRuleMatch does (cutParts). Cutting text searches for the host, so a Host header the
// visitor chose ("h", which "https://" holds, or none at all) could move the path a Path rule
// sees; here the parts come from where AbsoluteURL put them. For every other host they are
// what cutParts finds (TestConformanceThroughCheck): the domain is the host as sent, without
// its port, and the query the raw query.
func (a *Adapter) setRequestParts(hostStart int, host string) {
	u := a.requestedURL
	pathStart := hostStart + len(host)
	pathEnd := strings.IndexByte(u[pathStart:], '?')
	if pathEnd < 0 {
		pathEnd = len(u)
	} else {
		pathEnd += pathStart
		a.query = u[pathEnd+1:]
	}
	a.path = u[pathStart:pathEnd]
	a.domain = host[:indexHostEnd(host)] // as sent, trailing dot included: as the server routes it
	a.urlASCII = isASCII(u)
	a.haveParts = true
}
