package queuefair_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDemoWalk runs the README's demo, "go run ./testdata/demo -walk", and checks that its
// transcript still shows each visitor's hops, so that the demo cannot rot. Everything it
// starts listens on 127.0.0.1.
func TestDemoWalk(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the demo walk, which builds and runs go run ./testdata/demo -walk")
	}
	goBin := goTool()
	if goBin == "" {
		t.Fatal("no go command found (GOROOT/bin/go or go on PATH) to run the demo")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "run", "./testdata/demo", "-walk")
	cmd.Env = append(os.Environ(), "GOPROXY=off") // the demo needs no module but this one
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go run ./testdata/demo -walk: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	transcript := string(out)
	if stderr.Len() > 0 {
		t.Errorf("the walk wrote to stderr (a warning from the adapter?):\n%s", stderr.String())
	}
	// Key lines, in the order they must appear. Ports never show: servers are named by role.
	want := []string{
		"== 1. ann visits /basket.",
		"site    -> files   GET /demo-shop/<account secret>/queue-fair-settings.json => 200 settings with queues basket, sale",
		"site    -> adapter GET /adapter/basket?ipaddress=127.0.0.1&identifier=Mozilla/5.0 (X11; Linux x86_64) queuefair-demo-walk/1.0 => 200 SafeGuard with a pass for basket, uid visitor-1",
		`ann     -> site    GET /basket => 200 page "Basket" (Cache-Control: no-store, max-age=0); sets QueueFair-Store-demo-shop=u:visitor-1 for 86400 s; sets QueueFair-Pass-basket=<SafeGuard pass for basket> for 1200 s`,

		"== 2. bob visits /checkout.",
		"site    -> adapter GET /adapter/sale?ipaddress=127.0.0.1&identifier=Mozilla/5.0 (X11; Linux x86_64) queuefair-demo-walk/1.0 => 200 SendToQueue to queue /sale, uid visitor-2",
		"bob     -> site    GET /checkout => 302 to queue /sale?target=<site /checkout>&qfuid=visitor-2 (Cache-Control: no-store, max-age=0); sets QueueFair-Store-demo-shop=u:visitor-2 for 86400 s",
		`bob     -> queue   GET /sale?target=<site /checkout>&qfuid=visitor-2 => 200 page "Big Sale: queue"`,
		"bob        waits 5 s on the queue page",
		"bob     -> queue   GET /sale/front?target=<site /checkout> => 302 to site /checkout +PassedString(sale Queue)",
		"bob     -> site    GET /checkout +PassedString(sale Queue) [cookies: QueueFair-Store-demo-shop] => 302 to /checkout (Cache-Control: no-store, max-age=0); sets QueueFair-Pass-sale=<Queue pass for sale> for 1200 s",
		`bob     -> site    GET /checkout [cookies: QueueFair-Pass-sale, QueueFair-Store-demo-shop] => 200 page "Big Sale"`,

		"== 3. bob returns to /checkout",
		`bob     -> site    GET /checkout [cookies: QueueFair-Pass-sale, QueueFair-Store-demo-shop] => 200 page "Big Sale"`,

		"== 4. bob edits his Passed Cookie",
		"site    -> adapter GET /adapter/sale?ipaddress=127.0.0.1&uid=visitor-2&identifier=Mozilla/5.0 (X11; Linux x86_64) queuefair-demo-walk/1.0 => 200 SendToQueue to queue /sale, uid visitor-2",
		"bob     -> site    GET /checkout [cookies: QueueFair-Pass-sale, QueueFair-Store-demo-shop] => 302 to queue /sale?target=<site /checkout>&qfuid=visitor-2 (Cache-Control: no-store, max-age=0); deletes QueueFair-Pass-sale; sets QueueFair-Store-demo-shop=u:visitor-2 for 86400 s",
		"bob     -> site    GET /checkout +PassedString(sale Queue) [cookies: QueueFair-Store-demo-shop] => 302 to /checkout",
		`bob     -> site    GET /checkout [cookies: QueueFair-Pass-sale, QueueFair-Store-demo-shop] => 200 page "Big Sale"`,
		"walk done",
	}
	rest := transcript
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("the walk's transcript lacks, at this point, the line\n  %s\ntranscript:\n%s", w, transcript)
		}
		rest = rest[i+len(w):]
	}
	// The README's excerpt of the walk is what the walk prints.
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, excerpt, _ := strings.Cut(string(readme), "```text\n")
	excerpt, _, _ = strings.Cut(excerpt, "```")
	if excerpt == "" {
		t.Error("README.md has no ```text excerpt of the walk")
	}
	for _, line := range strings.Split(strings.TrimSpace(excerpt), "\n") {
		line, _, _ = strings.Cut(line, " [...]") // an elided end
		if !strings.Contains(transcript, line) {
			t.Errorf("README.md's excerpt of the walk has a line the walk does not print:\n  %s", line)
		}
	}
	// Step 3 is a single hop: a valid Passed Cookie means no Queue-Fair server is asked.
	_, step3, _ := strings.Cut(transcript, "== 3.")
	step3, _, _ = strings.Cut(step3, "== 4.")
	if n := strings.Count(step3, " -> "); n != 1 {
		t.Errorf("step 3 made %d hops, want 1 (the page, with no call to Queue-Fair):\n%s", n, step3)
	}
	// The settings are downloaded once, and cached, for the whole walk.
	if n := strings.Count(transcript, "-> files"); n != 1 {
		t.Errorf("settings downloaded %d times, want 1:\n%s", n, transcript)
	}
}
