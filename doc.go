// Package wsloop is a WebSocket server for very many concurrent connections.
// The server lives in package server, the binary in cmd/wsloop; see
// README.md. This root package holds only repository-wide tests.
package wsloop
