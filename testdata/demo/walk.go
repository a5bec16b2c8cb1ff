package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

// walkUA is the walk's browser. A pass is signed for the User-Agent, so it must stay the same.
const walkUA = "Mozilla/5.0 (X11; Linux x86_64) queuefair-demo-walk/1.0"

// walker is one scripted visitor: a cookie jar and a name that the hop lines show.
type walker struct {
	name   string
	client *http.Client
	d      *demo
}

func (d *demo) visitor(name string) *walker {
	jar, _ := cookiejar.New(nil)
	return &walker{name: name, d: d, client: &http.Client{
		Jar:           jar,
		Transport:     d.transport(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var refreshRE = regexp.MustCompile(`<meta http-equiv="refresh" content="(\d+);url=([^"]+)">`)

// visit goes to path on the site and follows redirects and the queue page's refresh, as a
// browser does, until a page that stays (the servers print each hop).
func (v *walker) visit(path string) error {
	next := v.d.siteURL + path
	for hop := 0; hop < 10; hop++ {
		req, err := http.NewRequest("GET", next, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", walkUA)
		req.Header.Set(visitorHeader, v.name)
		resp, err := v.client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var to string
		if resp.StatusCode == http.StatusFound {
			to = resp.Header.Get("Location")
		} else if m := refreshRE.FindSubmatch(body); m != nil {
			v.d.out.line("%-7s    waits %s s on the queue page (the walk does not really wait)", v.name, m[1])
			to = strings.ReplaceAll(string(m[2]), "&amp;", "&")
		} else {
			return nil
		}
		u, err := req.URL.Parse(to)
		if err != nil {
			return err
		}
		next = u.String()
	}
	return fmt.Errorf("%s: too many hops", v.name)
}

// tamperCookie spoils the visitor's Passed Cookie for queue q, as the site's /tamper does.
func (v *walker) tamperCookie(q string) {
	site, _ := url.Parse(v.d.siteURL)
	for _, c := range v.client.Jar.Cookies(site) {
		if c.Name == "QueueFair-Pass-"+q {
			v.client.Jar.SetCookies(site, []*http.Cookie{{Name: c.Name, Value: tamper(c.Value), Path: "/"}})
		}
	}
}

// walk runs the scripted visitors through the site, one after another.
func (d *demo) walk() error {
	ann, bob := d.visitor("ann"), d.visitor("bob")
	steps := []struct {
		title string
		run   func() error
	}{
		{`1. ann visits /basket. The queue "basket" is quiet: the adapter server answers SafeGuard, and the adapter stores the pass it sends as her Passed Cookie.`,
			func() error { return ann.visit("/basket") }},
		{`2. bob visits /checkout. The queue "sale" is busy: the adapter server answers SendToQueue; the queue page counts down, then sends him back with a Passed String, which the adapter checks, stores as his Passed Cookie and strips from the address.`,
			func() error { return bob.visit("/checkout") }},
		{`3. bob returns to /checkout: his Passed Cookie is valid, so the page runs with no call to any Queue-Fair server.`,
			func() error { return bob.visit("/checkout") }},
		{`4. bob edits his Passed Cookie to claim a later time: its signature no longer matches, so the adapter deletes it and he queues again.`,
			func() error { bob.tamperCookie("sale"); return bob.visit("/checkout") }},
	}
	d.out.line("queuefair demo walk: who -> which server, what => the answer; cookies sent [..] and set (;)")
	for _, s := range steps {
		d.out.line("\n== %s", s.title)
		if err := s.run(); err != nil {
			return err
		}
	}
	d.out.line("\nwalk done")
	return nil
}
