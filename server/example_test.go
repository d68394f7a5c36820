package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsloop/wsloop/protocol"
	"github.com/wsloop/wsloop/server"
)

// Embedding wsloop: a Router with an application command and a middleware,
// served on a free port, called by a WebSocket client.
func Example() {
	r := server.NewRouter()
	r.Use(func(next server.HandlerFunc) server.HandlerFunc {
		return func(c *server.Context) {
			c.Set("app", "demo") // request-scoped value for the handler
			next(c)
		}
	})
	r.Handle("greet", func(c *server.Context) {
		var req struct {
			Name string `json:"name"`
		}
		if err := c.Bind(&req); err != nil || req.Name == "" {
			c.Fail(protocol.StatusBadRequest, "name required")
			return
		}
		app, _ := c.Get("app")
		c.OK(struct {
			Greeting string `json:"greeting"`
			App      string `json:"app"`
		}{"hello " + req.Name, app.(string)})
	})

	srv, err := server.New(server.Config{
		Addr:   "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, r)
	if err != nil {
		panic(err)
	}
	if err := srv.Listen(); err != nil {
		panic(err)
	}
	go srv.Serve()
	<-srv.Ready()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()

	c, _, err := websocket.DefaultDialer.Dial("ws://"+srv.Addr().String()+"/ws", nil)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	_, welcome, _ := c.ReadMessage() // {"cmd":"welcome","data":{"sid":"…","ping_interval":15}}
	fmt.Println(string(welcome[:len(`{"cmd":"welcome"`)]))

	c.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"greet","seqno":"1","data":{"name":"ann"}}`))
	_, reply, _ := c.ReadMessage()
	fmt.Println(string(reply))

	c.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"greet","seqno":"2","data":{}}`))
	_, reply, _ = c.ReadMessage()
	fmt.Println(string(reply))
	// Output:
	// {"cmd":"welcome"
	// {"cmd":"greet","seqno":"1","status":0,"msg":"ok","data":{"greeting":"hello ann","app":"demo"}}
	// {"cmd":"greet","seqno":"2","status":400,"msg":"name required"}
}
