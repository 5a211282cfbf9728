package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// The browser tests drive the console in Chromium. Where no Chromium is installed (only Go)
// they skip, unless $DUROHOST_REQUIRE_BROWSER is 1 (CI sets it): then they fail. They save
// their screenshots in $DUROHOST_SCREENSHOTS, or in the test's temporary directory (printed
// with -v); -update-screenshot also writes the README's, ui/screenshot.png.
var updateScreenshot = flag.Bool("update-screenshot", false, "write the console screenshot of the README (server/ui/screenshot.png)")

// browser returns the path of a Chromium (or Chrome) to drive, or skips the test.
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("DUROHOST_REQUIRE_BROWSER") == "1" {
		t.Fatal("no chromium on PATH and DUROHOST_REQUIRE_BROWSER=1: install it (Debian: apt-get install chromium)")
	}
	t.Skip("no chromium on PATH: the console's browser tests are skipped (Debian: apt-get install chromium; DUROHOST_REQUIRE_BROWSER=1 makes this a failure)")
	return ""
}

// page is a browser tab on a test server's console.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string // where screenshots go
}

// newPage opens a tab of the browser at path bin on the console of e.
func newPage(t *testing.T, e *env, bin string) *page {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.WindowSize(1280, 860))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run its sandbox as root
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	dir := os.Getenv("DUROHOST_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	must(t, os.MkdirAll(dir, 0o755))
	// The first action starts the browser, which lives as long as the context it runs in:
	// bctx, not one of do's shorter ones.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 860)); err != nil {
		t.Fatal(err)
	}
	return &page{t: t, ctx: bctx, base: e.url + "/ui/", dir: dir}
}

// do runs actions in the tab (within 20 s: an action waits for the element it needs),
// failing the test on an error.
func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		html, _ := chromedp.Run(p.ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		p.t.Fatalf("%v\npage: %s", err, html)
	}
}

// until waits (up to 20 s) for a JavaScript expression to be true.
func (p *page) until(what, expr string) {
	p.t.Helper()
	if _, err := chromedp.Run(p.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		html, _ := chromedp.Run(p.ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		p.t.Fatalf("waiting for %s (%s): %v\npage: %s", what, expr, err, html)
	}
}

// eval returns the value of a JavaScript expression.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// screenshot saves the page as name.png and returns its bytes.
func (p *page) screenshot(name string) []byte {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(p.dir, name+".png")
	must(p.t, os.WriteFile(path, png, 0o644))
	p.t.Logf("screenshot %s", path)
	return png
}

func (p *page) signIn(token string) {
	p.t.Helper()
	p.do(chromedp.Navigate(p.base), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#signin button[type=submit]")))
	p.until("the instance list", `document.querySelector("#instances") !== null`)
}

// openInstance shows the page of instance id and waits for it (the previous page may have
// the same elements).
func (p *page) openInstance(id string) {
	p.t.Helper()
	p.open("#/instance/" + id)
	p.until("the page of "+id, fmt.Sprintf(`document.querySelector("#instance-id") !== null && document.querySelector("#instance-id").textContent === %q`, id))
}

// open shows a hash route of the console (#/instance/ID, #/modules, ...).
func (p *page) open(route string) {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q", route)))
}

func TestConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not with -short")
	}
	bin := browser(t)
	ro := NewToken("a", "console-reader")
	ro.Role = RoleRead
	e := newEnv(t, WithTokens(ro))
	// flaky fails twice, then succeeds: the retry orchestration calls it with a retry policy
	// (durable timers of 1 s and 2 s between the attempts).
	var flakyMu sync.Mutex
	flakyCalls := 0
	must(t, e.h.RegisterActivity("flaky", func(context.Context, []byte) ([]byte, error) {
		flakyMu.Lock()
		defer flakyMu.Unlock()
		if flakyCalls++; flakyCalls <= 2 {
			return nil, errors.New("card processor unavailable")
		}
		return []byte(`{"charged": "42.00 EUR"}`), nil
	}))
	e.upload(tokA, "features", "1", goGuest(t))
	retried := e.start(tokA, "retry", "payment-7f3a", nil)
	e.upload(tokB, "features", "1", goGuest(t))
	e.wait(tokA, e.start(tokA, "hello", "greeting-1", "Ada"))
	e.wait(tokA, e.start(tokA, "sequence", "order-2041", 4))
	e.wait(tokA, e.start(tokA, "timer", "reminder-7", 30))
	e.wait(tokA, e.start(tokA, "child", "parent-1", nil))
	e.wait(tokA, e.start(tokA, "continue", "counter", 0))
	e.wait(tokA, retried)
	running := e.start(tokA, "event", "approval-17", nil)
	e.waitFor(tokA, running, "running", func(m map[string]any) bool { return m["status"] == "running" })
	e.start(tokA, "event", "approval-18", nil)
	e.wait(tokB, e.start(tokB, "hello", "of-b", "x")) // another namespace: never shown to a

	p := newPage(t, e, bin)

	if !t.Run("sign in", func(t *testing.T) {
		p.t = t
		p.do(chromedp.Navigate(p.base), chromedp.WaitVisible(chromedp.CSS("#token")),
			chromedp.SendKeys(chromedp.CSS("#token"), "wrong"), chromedp.Click(chromedp.CSS("#signin button[type=submit]")))
		p.until("the refusal", `document.querySelector("#signin-error").textContent.includes("Unknown token")`)
		p.signIn(tokA)
		if got := eval[string](p, `document.querySelector("#role").textContent`); got != "write" {
			t.Errorf("role shown %q, want write", got)
		}
	}) {
		return
	}

	if !t.Run("list", func(t *testing.T) {
		p.t = t
		p.until("the instances", `document.querySelectorAll("#instances tr[data-id]").length === 9`)
		if eval[bool](p, `!!document.querySelector('#instances tr[data-id="of-b"]')`) {
			t.Error("namespace a's list shows namespace b's instance")
		}
		p.screenshot("list-laptop")
		// Filter by status, then by name and prefix.
		p.do(chromedp.SetValue(chromedp.CSS("#f-status"), "running"), chromedp.Click(chromedp.CSS("#filters button[type=submit]")))
		p.until("the running ones", `[...document.querySelectorAll("#instances tr[data-id]")].map(r => r.dataset.id).sort().join() === "approval-17,approval-18"`)
		p.open("#/instances?prefix=order")
		p.until("the prefix filter", `[...document.querySelectorAll("#instances tr[data-id]")].map(r => r.dataset.id).join() === "order-2041"`)
		p.open("#/instances?name=timer")
		p.until("the name filter", `[...document.querySelectorAll("#instances tr[data-id]")].map(r => r.dataset.id).join() === "reminder-7"`)
	}) {
		return
	}

	if !t.Run("paging and auto-refresh", func(t *testing.T) {
		p.t = t
		// Page size 25: 30 more instances make two pages.
		for i := range 30 {
			e.start(tokA, "hello", fmt.Sprintf("bulk-%02d", i), "x")
		}
		p.open("#/instances?prefix=bulk")
		p.until("a first full page", `document.querySelectorAll("#instances tr[data-id]").length === 25 && !document.querySelector("#next").disabled`)
		p.do(chromedp.Click(chromedp.CSS("#next")))
		p.until("the second page", `document.querySelectorAll("#instances tr[data-id]").length === 5 && document.querySelector("#next").disabled`)
		p.do(chromedp.Click(chromedp.CSS("#prev")))
		p.until("the first page again", `document.querySelectorAll("#instances tr[data-id]").length === 25`)
		// An instance started meanwhile appears without a reload.
		p.open("#/instances?prefix=late")
		p.until("an empty list", `document.querySelector("#instances .empty") !== null`)
		e.start(tokA, "hello", "late-1", "x")
		p.until("the new instance, by auto-refresh", `document.querySelector('#instances tr[data-id="late-1"]') !== null`)
	}) {
		return
	}

	if !t.Run("instance and timeline", func(t *testing.T) {
		p.t = t
		p.openInstance("order-2041")
		p.until("the timeline", `document.querySelectorAll('#timeline .row[data-kind="activity"]').length === 4`)
		if got := eval[string](p, `document.querySelector("#output").textContent`); !strings.Contains(got, "step-3") {
			t.Errorf("output shown %q", got)
		}
		if n := eval[int](p, `document.querySelectorAll("#events tbody tr").length`); n < 10 {
			t.Errorf("%d raw events shown", n)
		}
		if !eval[bool](p, `document.querySelector("#download") !== null && document.querySelector("#events-more") === null`) {
			t.Error("no download button, or a short history said to be cut")
		}
		p.screenshot("instance-laptop")
		// Retries: failed attempts in red, the timers between them.
		p.openInstance("payment-7f3a")
		p.until("the attempts and timers", `document.querySelectorAll('#timeline .row[data-kind="activity"]').length === 3 &&
			document.querySelectorAll('#timeline .row[data-kind="activity"] .seg.failed').length === 2 &&
			document.querySelectorAll('#timeline .row[data-kind="timer"]').length === 2`)
		if got := eval[string](p, `[...document.querySelectorAll('#timeline .row[data-kind="activity"] small')].map(s => s.textContent).join()`); got != "retry 1,retry 2" {
			t.Errorf("retries named %q, want retry 1,retry 2", got)
		}
		png := p.screenshot("retries-laptop")
		if *updateScreenshot {
			must(t, os.WriteFile(filepath.Join("ui", "screenshot.png"), png, 0o644))
		}
		// Children are links.
		p.openInstance("parent-1")
		p.until("the child's row", `document.querySelector('#timeline .row[data-kind="child"] a') !== null`)
		p.do(chromedp.Click(chromedp.CSS(`#timeline .row[data-kind="child"] a`)))
		p.until("the child's page", `document.querySelector("#instance-id") && document.querySelector("#instance-id").textContent !== "parent-1"`)
		// The executions of an instance that continued as new.
		p.openInstance("counter")
		p.until("its four executions", `document.querySelectorAll("#executions a").length === 4`)
		p.do(chromedp.Click(chromedp.CSS(`#executions a[href$="execution=1"]`)))
		p.until("the first execution's events", `location.hash.endsWith("execution=1") && [...document.querySelectorAll("#events td.kind")].some(td => td.textContent === "execution_continued_as_new")`)
		// A timer and its wait.
		p.openInstance("reminder-7")
		p.until("the timer", `document.querySelector('#timeline .row[data-kind="timer"]') !== null`)
	}) {
		return
	}

	if !t.Run("phone", func(t *testing.T) {
		p.t = t
		p.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		p.open("#/instances")
		p.until("the list", `document.querySelectorAll("#instances tr[data-id]").length > 0`)
		p.screenshot("list-phone")
		p.openInstance("order-2041")
		p.until("the timeline", `document.querySelectorAll('#timeline .row[data-kind="activity"]').length === 4`)
		p.screenshot("instance-phone")
		if w := eval[int](p, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
			t.Errorf("the instance page is %d px wider than a phone's screen", w)
		}
		p.do(chromedp.EmulateViewport(1280, 860))
	}) {
		return
	}

	if !t.Run("dark", func(t *testing.T) {
		p.t = t
		dark := func(on bool) {
			var features []*emulation.MediaFeature
			if on {
				features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}
			}
			p.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
				_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: features})
				return err
			}))
		}
		dark(true)
		defer dark(false)
		p.openInstance("payment-7f3a")
		p.until("the dark page", `document.querySelector("#timeline") && getComputedStyle(document.body).backgroundColor === "rgb(18, 21, 27)"`)
		p.screenshot("instance-dark")
	}) {
		return
	}

	if !t.Run("raise event and cancel", func(t *testing.T) {
		p.t = t
		p.openInstance("approval-17")
		p.until("the actions", `document.querySelector("#act-raise") !== null`)
		p.do(chromedp.Click(chromedp.CSS("#act-raise")), chromedp.WaitVisible(chromedp.CSS("#event-name")),
			chromedp.SendKeys(chromedp.CSS("#event-name"), "approve"), chromedp.SendKeys(chromedp.CSS("#event-data"), `{"by": "console"}`),
			chromedp.Click(chromedp.CSS("#action-form button[type=submit]")))
		p.until("the completed instance", `document.querySelector('.title [data-status="completed"]') !== null`)
		if got := e.wait(tokA, "approval-17"); got["status"] != "completed" {
			t.Errorf("after the event: %v", got)
		}

		p.openInstance("approval-18")
		p.until("the cancel button", `document.querySelector("#act-cancel") !== null`)
		p.do(chromedp.Click(chromedp.CSS("#act-cancel")), chromedp.WaitVisible(chromedp.CSS("#cancel-reason")),
			chromedp.SendKeys(chromedp.CSS("#cancel-reason"), "not needed"), chromedp.Click(chromedp.CSS("#action-form button[type=submit]")))
		p.until("the cancelled instance", `document.querySelector('.title [data-status="cancelled"]') !== null`)
		if got := e.wait(tokA, "approval-18"); got["status"] != "cancelled" {
			t.Errorf("after cancel: %v", got)
		}
		p.screenshot("cancelled")
	}) {
		return
	}

	if !t.Run("start", func(t *testing.T) {
		p.t = t
		p.open("#/instances")
		p.until("the start button", `document.querySelector("#act-start") !== null`)
		p.do(chromedp.Click(chromedp.CSS("#act-start")), chromedp.WaitVisible(chromedp.CSS("#start-name")),
			chromedp.SetValue(chromedp.CSS("#start-name"), "hello"), chromedp.SendKeys(chromedp.CSS("#start-id"), "from-console"),
			chromedp.SendKeys(chromedp.CSS("#start-input"), `"Console`), chromedp.Click(chromedp.CSS("#start-form button[type=submit]")))
		p.until("the refusal of bad JSON", `document.querySelector("#start-form .error").textContent.includes("not valid JSON")`)
		p.do(chromedp.SendKeys(chromedp.CSS("#start-input"), `"`), chromedp.Click(chromedp.CSS("#start-form button[type=submit]")))
		p.until("the new instance's page", `location.hash === "#/instance/from-console"`)
		p.until("its output", `document.querySelector("#output") && document.querySelector("#output").textContent.includes("Hello, Console!")`)
	}) {
		return
	}

	if !t.Run("delete", func(t *testing.T) {
		p.t = t
		p.openInstance("greeting-1")
		p.until("the delete button", `document.querySelector("#act-delete") !== null`)
		p.do(chromedp.Click(chromedp.CSS("#act-delete")), chromedp.Click(chromedp.CSS("#action-form button[type=submit]")))
		p.until("the list", `location.hash === "#/instances" && document.querySelector("#instances") !== null`)
		e.expect(tokA, "GET", "/v1/instances/greeting-1", nil, http.StatusNotFound, CodeInstanceNotFound)
	}) {
		return
	}

	if !t.Run("modules", func(t *testing.T) {
		p.t = t
		p.open("#/modules")
		p.until("the module", `[...document.querySelectorAll("#modules tbody tr")].some(r => r.textContent.includes("features"))`)
		p.screenshot("modules")
	}) {
		return
	}

	if !t.Run("read token", func(t *testing.T) {
		p.t = t
		p.do(chromedp.Click(chromedp.CSS("#signout")))
		p.until("the sign-in form", `document.querySelector("#token") !== null`)
		p.signIn("console-reader")
		if got := eval[string](p, `document.querySelector("#role").textContent`); got != "read" {
			t.Errorf("role shown %q, want read", got)
		}
		e.start(tokA, "event", "approval-19", nil)
		p.openInstance("approval-19")
		p.until("the instance page", `document.querySelector("#instance-id") !== null && document.querySelector("#timeline") !== null`)
		if eval[bool](p, `!!document.querySelector("#actions, #act-cancel, #act-delete, #act-raise, #act-enqueue")`) {
			t.Error("a read token is shown write actions")
		}
		p.open("#/instances")
		p.until("the list", `document.querySelectorAll("#instances tr[data-id]").length > 0`)
		if eval[bool](p, `!!document.querySelector("#act-start")`) {
			t.Error("a read token is shown the start button")
		}
		p.openInstance("approval-19")
		p.until("the instance page", `document.querySelector("#instance-id") !== null`)
		p.screenshot("read-only")
	}) {
		return
	}
}

// TestConsoleAssets: the console's files are served without a token, with a policy that
// allows nothing from elsewhere.
func TestConsoleAssets(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ path, ctype string }{
		{"/ui/", "text/html"}, {"/ui/console.js", "text/javascript"}, {"/ui/console.css", "text/css"}, {"/ui/favicon.svg", "image/svg+xml"},
	} {
		r := e.expect("", "GET", c.path, nil, http.StatusOK, "")
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, c.ctype) {
			t.Errorf("%s: Content-Type %q, want %s", c.path, ct, c.ctype)
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			!strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe-") {
			t.Errorf("%s: Content-Security-Policy %q", c.path, csp)
		}
		for header, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
			if got := r.header.Get(header); got != want {
				t.Errorf("%s: %s %q, want %q", c.path, header, got, want)
			}
		}
	}
	r := e.call("", "GET", "/ui", nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "console.js") {
		t.Errorf("/ui: %d (the redirect to /ui/ should lead to the console)", r.status)
	}
	e.expect("", "GET", "/ui/nothing.js", nil, http.StatusNotFound, "")
	// Nothing is loaded from elsewhere.
	for _, name := range []string{"index.html", "console.js", "console.css"} {
		b, err := os.ReadFile(filepath.Join("ui", name))
		must(t, err)
		for _, ref := range []string{"http://", "https://", "//cdn", "@import"} {
			if strings.Contains(string(b), ref) {
				t.Errorf("ui/%s refers to %s", name, ref)
			}
		}
	}
}

// TestConsoleHostileContent: what a tenant's guest writes (instance IDs, children's IDs,
// outputs, failure messages, event names) and what a link holds is shown as text by the
// console: no markup of it becomes an element, no link of it leaves the console's routes, and
// a malformed route is an error on the page, not a dead one. What a guest makes large (a long
// history, many turns) and a slow server cost the console bounded work: a long history is not
// downloaded again at each change, a huge one is drawn, refreshes never pile up.
func TestConsoleHostileContent(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not with -short")
	}
	bin := browser(t)
	e := newEnv(t)
	const markup = `<img src=x onerror="window.__pwned=1"><svg onload=window.__pwned=2>`
	must(t, e.h.RegisterActivity("fails", func(context.Context, []byte) ([]byte, error) {
		return nil, errors.New(`"'>` + markup)
	}))
	e.upload(tokA, "features", "1", goGuest(t))
	hello := e.start(tokA, "hello", `'"><img src=x onerror=window.__pwned=3>`, markup)
	e.wait(tokA, url.PathEscape(hello))
	parent := e.start(tokA, "child_named", "parent-h", "javascript:window.__pwned=4")
	e.wait(tokA, parent)
	failed := e.start(tokA, "activity_fail", "failed-h", nil)
	e.wait(tokA, failed)
	waiting := e.start(tokA, "event", "waiting-h", nil)
	e.waitFor(tokA, waiting, "running", func(m map[string]any) bool { return m["status"] == "running" })
	e.expect(tokA, "POST", "/v1/instances/waiting-h/events/"+url.PathEscape(`<svg onload=window.__pwned=5>`), "1", http.StatusAccepted, "")

	p := newPage(t, e, bin)
	p.signIn(tokA)
	// clean: nothing the guests wrote became an element or ran, every link stays in the console.
	clean := func(where string) {
		t.Helper()
		if bad := eval[string](p, `[...document.querySelectorAll("main img, main svg, main script, main iframe, main object, main embed")].map(e => e.outerHTML).join()`); bad != "" {
			t.Errorf("%s: elements made of guest data: %s", where, bad)
		}
		if eval[bool](p, `window.__pwned !== undefined`) {
			t.Errorf("%s: guest data ran as script", where)
		}
		if bad := eval[string](p, `[...document.querySelectorAll("a[href]")].map(a => a.getAttribute("href")).filter(h => !h.startsWith("#/") && h !== "#").join()`); bad != "" {
			t.Errorf("%s: links out of the console: %s", where, bad)
		}
	}
	p.until("the list", `document.querySelectorAll("#instances tr[data-id]").length === 5`)
	if !eval[bool](p, fmt.Sprintf(`[...document.querySelectorAll("#instances td.id")].some(td => td.textContent === %q)`, hello)) {
		t.Errorf("the list does not show the ID %q as text", hello)
	}
	clean("list")

	p.open("#/instance/" + url.PathEscape(hello))
	p.until("the page of "+hello, fmt.Sprintf(`document.querySelector("#instance-id") && document.querySelector("#instance-id").textContent === %q && document.querySelector("#timeline") !== null`, hello))
	if got := eval[string](p, `document.querySelector("#output").textContent`); !strings.Contains(got, "<img src=x onerror=") || !strings.Contains(got, "<svg onload=window.__pwned=2>") {
		t.Errorf("output shown %q, want the markup as text", got)
	}
	if got := eval[string](p, `document.title`); !strings.HasPrefix(got, hello) {
		t.Errorf("title %q, want the ID as text", got)
	}
	clean("an instance")

	p.openInstance(parent)
	p.until("the child's row", `document.querySelector('#timeline .row[data-kind="child"] a') !== null`)
	clean("a parent whose child's ID is a javascript: URL")
	p.do(chromedp.Click(chromedp.CSS(`#timeline .row[data-kind="child"] a`)))
	p.until("the child's page", `document.querySelector("#instance-id") && document.querySelector("#instance-id").textContent === "javascript:window.__pwned=4"`)
	clean("the child")

	p.openInstance(failed)
	p.until("the failure", `document.querySelector("#output") && document.querySelector("#output").textContent.includes("<img")`)
	p.do(chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("#events details").forEach(d => d.open = true)`))
	clean("a failure")

	p.openInstance(waiting)
	p.until("the event's row", `[...document.querySelectorAll('#timeline .row[data-kind="event"] .label')].some(l => l.textContent.includes("<svg"))`)
	clean("an event")

	// A running instance with a long history is not downloaded again at each of its changes:
	// a note offers to reload it.
	for k := range 2010 {
		e.expect(tokA, "POST", fmt.Sprintf("/v1/instances/waiting-h/events/noise-%d", k), "1", http.StatusAccepted, "")
	}
	e.waitFor(tokA, waiting, "2010 more events", func(m map[string]any) bool {
		r := e.expect(tokA, "GET", "/v1/instances/waiting-h/history", nil, http.StatusOK, "").obj(t)
		h, _ := r["history"].(map[string]any)
		evs, _ := h["events"].([]any)
		return len(evs) > 2000 // the console's MAX_EVENTS
	})
	p.openInstance(waiting)
	p.until("the long history", `document.querySelector("#events-more") !== null`)
	p.do(chromedp.Evaluate[chromedp.Void](`(() => {
		window.__histories = 0;
		const f = window.fetch;
		window.fetch = (u, o) => { if (String(u).includes("/history")) window.__histories++; return f(u, o); };
	})()`))
	e.expect(tokA, "POST", "/v1/instances/waiting-h/events/noise-last", "1", http.StatusAccepted, "")
	p.until("the note of new events", `document.querySelector("#changed") !== null && !document.querySelector("#changed").hidden`)
	if n := eval[int](p, `window.__histories`); n != 0 {
		t.Errorf("the long history was downloaded again %d times", n)
	}
	p.do(chromedp.Click(chromedp.CSS("#reload")))
	p.until("the reload", `window.__histories === 1 && document.querySelector("#events-more") !== null`)

	// A history of 300,000 events (a host's MaxEvents may be that high) is drawn: at most 500
	// rows and one turn tick per 0.1% of the axis.
	drawn := eval[string](p, `(() => {
		const t = Date.parse("2026-01-01T00:00:00Z"), events = [];
		for (let i = 0; i < 100000; i++) {
			const time = new Date(t + i * 1000).toISOString();
			events.push({ id: 3 * i + 1, kind: "turn_started", time },
				{ id: 3 * i + 2, kind: "activity_scheduled", name: "a", time },
				{ id: 3 * i + 3, kind: "activity_completed", ref: 3 * i + 2, time });
		}
		try {
			const tl = timeline(events, { status: "completed" });
			return tl.querySelectorAll(".timeline .seg.turn").length + " ticks, " + tl.querySelectorAll('.row[data-kind="activity"]').length + " rows";
		} catch (e) { return String(e); }
	})()`)
	var ticks, rows int
	if _, err := fmt.Sscanf(drawn, "%d ticks, %d rows", &ticks, &rows); err != nil || ticks < 100 || ticks > 1001 || rows != 500 {
		t.Errorf("the timeline of a huge history: %s; want at most 1001 ticks and 500 rows", drawn)
	}

	// A malformed route (a bad %-escape in a link) shows an error.
	p.open("#/instance/%E0%A4%A")
	p.until("the error", `document.querySelector("main .error") !== null`)
	clean("a malformed route")

	// The auto-refresh never piles requests onto a server that does not answer: with its
	// interval shortened to 20 ms and the list's requests left unanswered after the first, 20
	// ticks send one refresh.
	p.do(chromedp.Evaluate[chromedp.Void](`(() => {
		window.__ticks = 0; window.__lists = 0;
		const si = window.setInterval;
		window.setInterval = (f, ms) => si(() => { window.__ticks++; f(); }, 20);
		const f = window.fetch;
		window.fetch = (u, o) => {
			if (String(u).startsWith("/v1/instances?") && ++window.__lists > 1) return new Promise(() => {});
			return f(u, o);
		};
	})()`))
	p.open("#/instances")
	p.until("20 ticks of the auto-refresh", `window.__ticks >= 20`)
	if n := eval[int](p, `window.__lists`); n != 2 {
		t.Errorf("%d list requests (the page's and its refreshes), want 2: a refresh is sent while the previous one is unanswered", n)
	}
}
