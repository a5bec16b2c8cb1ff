package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// printer writes whole lines to stdout, one goroutine at a time.
type printer struct{ mu sync.Mutex }

func (p *printer) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

// visitorHeader names the walk's visitors in their requests; a real browser is "browser".
const visitorHeader = "X-Demo-Visitor"

// logged wraps a server's handler so that each request it answers is printed as one line,
// before the answer leaves: who asked (from, or the visitor), which server, what, the answer
// and the cookies. Holding the answer back until the line is out keeps the lines in the order
// the hops happen.
func (d *demo) logged(from, role string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" { // browsers ask every server for one: not a hop
			http.NotFound(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		who := from
		if who == "" {
			if who = r.Header.Get(visitorHeader); who == "" {
				who = "browser"
			}
		}
		what := d.describe(r.URL.RequestURI(), role)
		var sent []string
		for _, c := range r.Cookies() {
			sent = append(sent, c.Name)
		}
		if len(sent) > 0 && role == "site" { // the queue page ignores the site's cookies
			sort.Strings(sent)
			what += " [cookies: " + strings.Join(sent, ", ") + "]"
		}
		d.out.line("%-7s -> %-7s GET %s => %s", who, role, what, d.answer(role, rec))
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

// roles names the demo's servers by their hosts.
func (d *demo) roles() map[string]string {
	return map[string]string{
		host(d.siteURL):       "site",
		host(d.files.URL):     "files",
		host(d.adapter.URL):   "adapter",
		host(d.queue.URL):     "queue",
		host(d.queuePage.URL): "queue",
	}
}

// describe shows a URL with its host named by role (relative URLs are on the server role), a
// target decoded and described in turn, and a Passed String named, not printed: it holds a
// timestamp and a hash, which change on every run.
func (d *demo) describe(rawURL, role string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	// The settings file's path holds the account secret, which a log must not show.
	out := strings.Replace(u.Path, "/"+accountSecret+"/", "/<account secret>/", 1)
	if u.Host != "" {
		who := d.roles()[u.Host]
		if who == "" {
			who = u.Host
		}
		if who != role {
			out = who + " " + out
		}
		if u.Scheme == "https" && who == "queue" {
			out = "https " + out
		}
	}
	var params []string
	pass := ""
	for _, kv := range strings.Split(u.RawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			continue
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		switch k {
		case "qfqid", "qfts", "qfa", "qfh":
		case "qfq":
			pass = v
		case "qfpt":
			pass += " " + v
		case "target":
			params = append(params, "target=<"+d.describe(v, "")+">")
		default:
			params = append(params, k+"="+v)
		}
	}
	if len(params) > 0 {
		out += "?" + strings.Join(params, "&")
	}
	if pass != "" {
		out += " +PassedString(" + pass + ")"
	}
	return out
}

var titleRE = regexp.MustCompile(`<title>([^<]*)</title>`)

// answer sums up a response: its status, where it redirects, what it says, and the cookies it
// sets or deletes.
func (d *demo) answer(role string, rec *httptest.ResponseRecorder) string {
	out := fmt.Sprint(rec.Code)
	body := rec.Body.Bytes()
	switch {
	case rec.Code == http.StatusFound:
		out += " to " + d.describe(rec.Header().Get("Location"), role)
	case role == "files":
		var s struct{ Queues []struct{ Name string } }
		json.Unmarshal(body, &s)
		var names []string
		for _, q := range s.Queues {
			names = append(names, q.Name)
		}
		out += " settings with queues " + strings.Join(names, ", ")
	case role == "adapter":
		var a struct{ UID, Action, Location, Queue string }
		json.Unmarshal(body, &a)
		out += " " + a.Action
		if a.Location != "" {
			out += " to " + d.describe(a.Location, role)
		}
		if a.Queue != "" {
			out += " with a pass for " + a.Queue
		}
		out += ", uid " + a.UID
	case titleRE.Match(body):
		out += " page " + fmt.Sprintf("%q", titleRE.FindSubmatch(body)[1])
	default:
		out += " " + fmt.Sprintf("%q", bytes.TrimSpace(body))
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "" && role == "site" {
		out += " (Cache-Control: " + cc + ")"
	}
	for _, c := range (&http.Response{Header: rec.Header()}).Cookies() {
		if c.MaxAge < 0 {
			out += "; deletes " + c.Name
			continue
		}
		v := c.Value
		if strings.Contains(v, "qfqid=") {
			q, _ := url.ParseQuery(v)
			v = "<" + q.Get("qfpt") + " pass for " + q.Get("qfq") + ">"
		}
		out += fmt.Sprintf("; sets %s=%s for %d s", c.Name, v, c.MaxAge)
	}
	return out
}
