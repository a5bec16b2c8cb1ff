package yourapp

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/queuefair/queuefair"
)

// FiberService is queuefair's Service over one Fiber v2 request.
type FiberService struct{ C *fiber.Ctx }

// SetCookie sets a cookie on path "/" for lifetimeSeconds; 0 deletes it.
func (s FiberService) SetCookie(name, value string, lifetimeSeconds int, domain string) {
	c := &fiber.Cookie{Name: name, Value: value, Path: "/", Domain: domain}
	if lifetimeSeconds > 0 {
		c.MaxAge = lifetimeSeconds
		c.Expires = time.Now().Add(time.Duration(lifetimeSeconds) * time.Second)
	} else {
		c.MaxAge = -1               // Max-Age=0 (recent fasthttp); Fiber's 0 means no Max-Age
		c.Expires = time.Unix(0, 0) // and an Expires in the past (older fasthttp)
	}
	if s.C.Protocol() == "https" {
		c.Secure, c.SameSite = true, fiber.CookieSameSiteNoneMode
	}
	s.C.Cookie(c)
}

// Redirect answers 302 with this Location.
func (s FiberService) Redirect(location string) { _ = s.C.Redirect(location, fiber.StatusFound) }

// GetCookie is the request's cookie of that name, or "".
func (s FiberService) GetCookie(name string) string { return s.C.Cookies(name) }

// AddHeader sets a response header.
func (s FiberService) AddHeader(name, value string) { s.C.Set(name, value) }

// QueueFair is Fiber v2 middleware: the next handler runs only when the adapter lets the
// visitor through; otherwise the adapter has answered with a redirect.
func QueueFair(gate *queuefair.Gate) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !gate.NewRequestAdapter(FiberService{c}, request(c)).IsContinue(c.UserContext()) {
			return nil
		}
		return c.Next()
	}
}

// request is the request as the adapter takes it: fasthttp's decoded path (so /%63heckout
// meets the /checkout rules), the raw query string (the Passed String's signature covers it),
// and the Host header as sent: not c.Hostname(), which may come from a visitor's
// X-Forwarded-Host.
func request(c *fiber.Ctx) queuefair.Request {
	u := c.Context().URI()
	return queuefair.Request{
		Scheme: c.Protocol(), Host: string(c.Request().Host()),
		Path: string(u.Path()), RawQuery: string(u.QueryString()),
		UserAgent: c.Get(fiber.HeaderUserAgent), RemoteIP: c.IP(),
	}
}
