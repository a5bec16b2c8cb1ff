package yourapp

import (
	"net/http"
	"testing"

	"github.com/gofiber/fiber/v3"
)

func TestRecipe(t *testing.T) {
	app := fiber.New()
	app.Use(QueueFair(newGate(t)))
	app.Get("/checkout", func(c fiber.Ctx) error { return c.SendString("checkout page") })
	walk(t, func(req *http.Request) *http.Response {
		resp, err := app.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	})
}
