// Package jsclient holds wsloop's JavaScript client, wsloop.mjs (see
// README.md beside it), for Go programs that serve it to browsers, such as
// examples/voiceroom. The module itself has no dependencies and no build
// step: this package only embeds the file.
package jsclient

import _ "embed"

// Module is the source of wsloop.mjs, the ES module clients import.
//
//go:embed wsloop.mjs
var Module []byte
