package main

import (
	"embed"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"

	jsclient "github.com/wsloop/wsloop/clients/js"
	"github.com/wsloop/wsloop/httpapi"
	"github.com/wsloop/wsloop/protocol"
)

//go:embed static
var static embed.FS

// routes is the web server: the page, the login, the end point and the
// current room of a user.
func (v *voiceroom) routes() (http.Handler, error) {
	mux := http.NewServeMux()
	page, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	mux.Handle("GET /", http.FileServerFS(page))
	mux.Handle("GET /wsloop.mjs", clientModule())
	ep, err := httpapi.EndPointHandler(v.srv, "")
	if err != nil {
		return nil, err
	}
	mux.Handle("GET /api/websocket/end_point", ep)
	mux.HandleFunc("POST /api/login", v.login)
	mux.HandleFunc("GET /api/user/current_room", v.currentRoom)
	return mux, nil
}

// envelope is the web API's answer: {"code":0,"message":"ok","data":…}.
type envelope struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

func answer(w http.ResponseWriter, status int, msg string, data any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	code := 0
	if status != http.StatusOK {
		code = status
	}
	_ = json.NewEncoder(w).Encode(envelope{Code: code, Message: msg, Data: data})
}

type loginRequest struct {
	UserID         string `json:"user_id"`
	Nickname       string `json:"nickname"`
	Sex            int    `json:"sex"`
	AvatarURL      string `json:"avatar_url"`
	AvatarSmallURL string `json:"avatar_small_url"`
}

// login: a DEMO login. It trusts the user_id it is given (a real
// application checks a password, a session cookie, an OAuth code…), then
// does what a real one would: it signs a connection token (sub = user_id,
// meta = the profile, exp) with the library's own authentication, and
// hands the client the WebSocket URL with it, and the heartbeat key its
// pings are signed with (the voice-room protocol ships that key in its
// apps).
func (v *voiceroom) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<10))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		answer(w, http.StatusBadRequest, "the body must be a JSON object with user_id and nickname", nil)
		return
	}
	if msg := protocol.CheckName("user_id", req.UserID, 64); msg != "" {
		answer(w, http.StatusBadRequest, msg, nil)
		return
	}
	if req.Nickname == "" {
		req.Nickname = req.UserID
	}
	if len(req.Nickname) > 64 || len(req.AvatarURL) > 1024 || len(req.AvatarSmallURL) > 1024 {
		answer(w, http.StatusBadRequest, "nickname or avatar URL too long", nil)
		return
	}
	now := v.cfg.Clock.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": req.UserID,
		"iat": now.Unix(),
		"exp": now.Add(v.cfg.TokenTTL).Unix(),
		"meta": map[string]any{"nickname": req.Nickname, "sex": req.Sex,
			"avatar_url": req.AvatarURL, "avatar_small_url": req.AvatarSmallURL},
	}).SignedString(v.cfg.JWTSecret)
	if err != nil {
		answer(w, http.StatusInternalServerError, "cannot sign the token", nil)
		return
	}
	answer(w, http.StatusOK, "ok", map[string]any{
		"token":            tok,
		"ws_url":           v.wsURL(r) + "?token=" + url.QueryEscape(tok),
		"heartbeat_secret": string(v.cfg.PingSecret),
		"expires_in":       int64(v.cfg.TokenTTL / time.Second),
	})
}

// wsURL is where the page's clients connect: the WebSocket port on the
// host the page was loaded from.
func (v *voiceroom) wsURL(r *http.Request) string {
	_, port, _ := net.SplitHostPort(v.srv.Addr().String())
	host := r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		host = h
	}
	if host == "" {
		host = "localhost"
	}
	return "ws://" + net.JoinHostPort(host, port) + v.srv.Config().Path
}

// currentRoom: GET /api/user/current_room?user_id=… → the room the user
// is in, "" when it is in none (it left, or its connection was dropped).
func (v *voiceroom) currentRoom(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user_id")
	if user == "" {
		answer(w, http.StatusBadRequest, "user_id required", nil)
		return
	}
	answer(w, http.StatusOK, "ok", map[string]string{"current_room_id": v.app.currentRoom(user)})
}

// clientModule serves the JavaScript client (clients/js/wsloop.mjs).
func clientModule() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(jsclient.Module)
	})
}
