package queuefair_test

import (
	"context"
	"encoding/json"
	"fmt"
	"go/format"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/queuefair/queuefair"
)

// The README's code blocks are held to what they claim:
//
//   - a ```go block is compiled (and vetted) against this checkout, in a throwaway module with a
//     replace directive, offline. A block that starts with "package" is a complete file, built
//     as it is. Any other ```go block is a fragment: top-level declarations (its first line of
//     code starts with func, type, var or const) go into a file of their own; statements go
//     into the body of func(gate *queuefair.Gate, w http.ResponseWriter, r *http.Request), the
//     names a handler has. A fragment's imports are added from the packages it names (see
//     fragmentImports); a block that needs more is written as a complete program.
//   - a ```go fiber-v2 or ```go fiber-v3 block is the Fiber recipe, which needs Fiber and so
//     cannot be built here: it must equal testdata/fiber/v2/fiber.go or v3/fiber.go, which
//     testdata/fiber/check.sh builds against Fiber (with the network).
//   - a ```json block must be valid JSON; TestReadmeFormats feeds the settings and adapter
//     answers to a Gate.
//
// Any other ```go... block fails, so that a block cannot escape its check by its label.

// readmeBlock is one fenced code block of README.md.
type readmeBlock struct {
	info, text string
	line       int // of the opening fence
}

func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []readmeBlock
	var cur *readmeBlock
	for i, line := range strings.SplitAfter(string(data), "\n") {
		if strings.HasPrefix(line, "```") {
			if cur == nil {
				cur = &readmeBlock{info: strings.TrimSpace(strings.TrimPrefix(line, "```")), line: i + 1}
			} else {
				blocks = append(blocks, *cur)
				cur = nil
			}
			continue
		}
		if cur != nil {
			cur.text += line
		}
	}
	if cur != nil {
		t.Fatalf("README.md: the code block opened on line %d is never closed", cur.line)
	}
	return blocks
}

// fragmentImports are the packages a fragment may use without a complete program.
var fragmentImports = map[string]string{
	"fmt": "fmt", "io": "io", "log": "log", "slog": "log/slog", "strings": "strings",
	"time": "time", "context": "context", "hmac": "crypto/hmac", "sha256": "crypto/sha256",
	"hex": "encoding/hex", "expvar": "expvar", "json": "encoding/json", "utf8": "unicode/utf8",
}

var declStart = regexp.MustCompile(`^(func|type|var|const)\b`)

// goFile is the Go file that compiles block b: the block itself, or the fragment wrapped.
func goFile(b readmeBlock) string {
	if strings.HasPrefix(b.text, "package ") {
		return b.text
	}
	var imports []string
	for name, path := range fragmentImports {
		if regexp.MustCompile(`\b` + name + `\.`).MatchString(b.text) {
			imports = append(imports, fmt.Sprintf("%q", path))
		}
	}
	head := "package fragment\n\nimport (\n\t\"net/http\"\n\n\t\"github.com/queuefair/queuefair\"\n\t" +
		strings.Join(imports, "\n\t") + "\n)\n\n"
	code := ""
	for _, l := range strings.Split(b.text, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "//") {
			code = l
			break
		}
	}
	if declStart.MatchString(code) {
		return head + b.text + "\nvar _ http.Handler\nvar _ *queuefair.Gate\n"
	}
	return head + "func fragment(gate *queuefair.Gate, w http.ResponseWriter, r *http.Request) {\n" + b.text + "}\n"
}

func TestReadmeGoBlocksCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the README's Go blocks, which go vet compiles in a throwaway module")
	}
	goBin := goTool()
	if goBin == "" {
		t.Fatal("no go command found (GOROOT/bin/go or go on PATH) to compile the README's Go blocks")
	}
	repo, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := fmt.Sprintf("module readmecheck\n\ngo 1.22\n\nrequire github.com/queuefair/queuefair v0.0.0\n\nreplace github.com/queuefair/queuefair => %q\n", repo)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	where := map[string]int{} // package folder -> README line
	n := 0
	for _, b := range readmeBlocks(t) {
		switch {
		case b.info == "go":
		case b.info == "go fiber-v2" || b.info == "go fiber-v3":
			continue // TestReadmeFiberRecipes
		case strings.HasPrefix(b.info, "go"):
			t.Errorf("README.md line %d: a ```%s block is neither compiled nor compared: label it go, go fiber-v2 or go fiber-v3", b.line, b.info)
			continue
		default:
			continue
		}
		if strings.HasPrefix(b.text, "package ") {
			if formatted, err := format.Source([]byte(b.text)); err == nil && string(formatted) != b.text {
				t.Errorf("README.md line %d: the program is not gofmt-ed; gofmt would write:\n%s", b.line, formatted)
			}
		}
		n++
		pkg := fmt.Sprintf("block%02d", n)
		where[pkg] = b.line
		if err := os.Mkdir(filepath.Join(dir, pkg), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, pkg, "readme.go"), []byte(goFile(b)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if n < 3 {
		t.Fatalf("found %d ```go blocks in README.md, want the Quick start and more", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "vet", "./...")
	cmd.Dir = dir
	// Offline: the only module is this checkout, through the replace directive.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		var lines []string
		for pkg, line := range where {
			lines = append(lines, fmt.Sprintf("%s is the block at README.md line %d", pkg, line))
		}
		t.Fatalf("the README's Go blocks do not compile: %v\n%s\n%s", err, out, strings.Join(lines, "\n"))
	}
}

func TestReadmeFiberRecipes(t *testing.T) {
	found := map[string]bool{}
	for _, b := range readmeBlocks(t) {
		v, ok := strings.CutPrefix(b.info, "go fiber-")
		if !ok {
			continue
		}
		found[v] = true
		want, err := os.ReadFile(filepath.Join("testdata", "fiber", v, "fiber.go"))
		if err != nil {
			t.Fatalf("README.md line %d: %v", b.line, err)
		}
		if b.text != string(want) {
			t.Errorf("README.md line %d: the Fiber %s recipe differs from testdata/fiber/%s/fiber.go (which check.sh builds); copy the file into the README", b.line, v, v)
		}
	}
	if !found["v2"] || !found["v3"] {
		t.Errorf("README.md has Fiber recipes for %v, want v2 and v3", found)
	}
}

// jsonBlocks are the README's ```json blocks, each checked to be JSON.
func jsonBlocks(t *testing.T) []string {
	var out []string
	for _, b := range readmeBlocks(t) {
		if b.info != "json" {
			continue
		}
		if !json.Valid([]byte(b.text)) {
			t.Errorf("README.md line %d: not valid JSON:\n%s", b.line, b.text)
		}
		out = append(out, b.text)
	}
	return out
}

// recordingService records what the adapter asks of it, in order.
type recordingService struct{ calls []string }

func (s *recordingService) SetCookie(name, value string, lifetimeSeconds int, domain string) {
	s.calls = append(s.calls, fmt.Sprintf("SetCookie %s=%s %d", name, value, lifetimeSeconds))
}
func (s *recordingService) Redirect(location string) { s.calls = append(s.calls, "Redirect "+location) }
func (s *recordingService) GetCookie(string) string  { return "" }
func (s *recordingService) AddHeader(name, value string) {
	s.calls = append(s.calls, "AddHeader "+name+": "+value)
}

// TestReadmeFormats gives a Gate the README's settings document and adapter answers, and checks
// that they do what the README says: the settings queue /checkout, SendToQueue redirects with
// target and qfuid and stores the uid, and SafeGuard's validation becomes the Passed Cookie,
// percent-decoded.
func TestReadmeFormats(t *testing.T) {
	blocks := jsonBlocks(t)
	if len(blocks) != 3 {
		t.Fatalf("README.md has %d ```json blocks, want 3: the settings, SendToQueue and SafeGuard", len(blocks))
	}
	settings, sendToQueue, safeGuard := blocks[0], blocks[1], blocks[2]
	for _, tt := range []struct {
		answer string
		want   []string
	}{
		{sendToQueue, []string{
			"SetCookie QueueFair-Store-my-account=u:visitor-1 86400",
			"AddHeader Cache-Control: no-store, max-age=0",
			"Redirect https://my-account.queue-fair.net/my-queue?target=http%3A%2F%2Fshop.example%2Fcheckout&qfuid=visitor-1",
		}},
		{safeGuard, []string{
			"SetCookie QueueFair-Store-my-account=u:visitor-1 86400",
			"AddHeader Cache-Control: no-store, max-age=0",
			"SetCookie QueueFair-Pass-my-queue=qfqid=...&qfh=... 1200",
		}},
	} {
		var standIn *httptest.Server
		standIn = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/my-account/my-account-secret/queue-fair-settings.json":
				io.WriteString(w, strings.Replace(settings, "adapter.queue-fair.net", strings.TrimPrefix(standIn.URL, "https://"), 1))
			case "/adapter/my-queue":
				if r.URL.RawQuery != "ipaddress=203.0.113.9&identifier=Mozilla%2F5.0+ReadmeTest" {
					t.Errorf("adapter server asked %s", r.URL)
				}
				io.WriteString(w, tt.answer)
			default:
				http.NotFound(w, r)
			}
		}))
		cfg := queuefair.NewConfig("my-account", "my-account-secret")
		cfg.FilesServer = strings.TrimPrefix(standIn.URL, "https://")
		cfg.HTTPClient = standIn.Client()
		cfg.SettingsFileCacheLocation = t.TempDir()
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		gate, err := queuefair.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		svc := &recordingService{}
		cont := gate.NewAdapter(svc, "http://shop.example/checkout", "Mozilla/5.0 ReadmeTest", "203.0.113.9", "").IsContinue(context.Background())
		standIn.Close()
		if got, want := strings.Join(svc.calls, "\n"), strings.Join(tt.want, "\n"); got != want {
			t.Errorf("with the README's answer %s\ncalls:\n%s\nwant:\n%s", tt.answer, got, want)
		}
		if wantCont := !strings.Contains(tt.answer, "SendToQueue"); cont != wantCont {
			t.Errorf("with the README's answer %s: IsContinue = %v, want %v", tt.answer, cont, wantCont)
		}
		// A page outside the rules is not queued.
		other := &recordingService{}
		if !gate.NewAdapter(other, "http://shop.example/products", "Mozilla/5.0 ReadmeTest", "203.0.113.9", "").IsContinue(context.Background()) || len(other.calls) > 0 {
			t.Errorf("/products: calls %q, want the page to run untouched", other.calls)
		}
	}
}

// TestEveryDifferenceHasAPortComment: each row of the README's table of differences from the
// reference has a "// Port:" comment on a line of its own in the code that makes it, so an
// auditor who reads the table can find each one. The test counts both, and lists the comments
// if they fall short.
func TestEveryDifferenceHasAPortComment(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	start := strings.Index(s, "## Differences from the Python reference")
	end := strings.Index(s[start:], "Where the reference left something open")
	if start < 0 || end < 0 {
		t.Fatal("README.md has no differences table")
	}
	rows := 0
	for _, line := range strings.Split(s[start:start+end], "\n") {
		if strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| reference") {
			rows++
		}
	}
	var ports []string
	for _, f := range []string{"queuefair.go", "hash.go", "settings.go", "config.go"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "// Port:") {
				ports = append(ports, fmt.Sprintf("%s:%d", f, i+1))
			}
		}
	}
	if rows < 15 || len(ports) < rows {
		t.Errorf("%d differences in the README, %d Port: comments: %v", rows, len(ports), ports)
	}
}

// TestSpecSectionsCited: testdata/SPEC.md is the protocol the comments cite as "SPEC n" or
// "SPEC n.m"; every section cited exists there, and the copy is the shared original when that
// sits beside the checkout (as in CI).
func TestSpecSectionsCited(t *testing.T) {
	spec, err := os.ReadFile(filepath.Join("testdata", "SPEC.md"))
	if err != nil {
		t.Fatal(err)
	}
	if shared, err := os.ReadFile(filepath.Join("..", "shared", "SPEC.md")); err == nil && string(shared) != string(spec) {
		t.Error("testdata/SPEC.md differs from ../shared/SPEC.md: copy the shared one")
	}
	sections := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#{2,3} (\d+(?:\.\d+)?)[. ]`).FindAllStringSubmatch(string(spec), -1) {
		sections[m[1]] = true
	}
	cite := regexp.MustCompile(`SPEC (\d+(?:\.\d+)?)(?:-(\d+))?`)
	files, _ := filepath.Glob("*.go")
	cited := 0
	for _, f := range append(files, "README.md") {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range cite.FindAllStringSubmatch(string(src), -1) {
			for _, s := range m[1:] {
				if s != "" && !sections[s] {
					t.Errorf("%s cites %q, which testdata/SPEC.md has no section %s for", f, m[0], s)
				}
			}
			cited++
		}
	}
	if len(sections) < 10 || cited < 10 {
		t.Errorf("%d sections, %d citations: the patterns no longer find them", len(sections), cited)
	}
}
