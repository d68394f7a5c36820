package codec

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"strconv"

	"github.com/gobwas/httphead"
)

// DefaultMaxRequestSize is the request head limit ParseRequest applies when
// it is given maxSize <= 0.
const DefaultMaxRequestSize = 8 << 10

// Request is a WebSocket upgrade request parsed in place by ParseRequest.
// Every []byte aliases the input and is valid only until the caller
// discards it (in a gnet OnTraffic callback: until the callback returns or
// the bytes are discarded, whichever comes first). Header values are
// trimmed of surrounding spaces and tabs. A header that is absent is nil.
//
// A Request is a plain value: parse into one that the connection or the
// event loop owns, so that nothing is allocated per handshake.
type Request struct {
	// Method is the request method, e.g. "GET".
	Method []byte
	// URI is the request target as sent, e.g. "/ws?auth_body=x".
	URI []byte
	// Path is URI up to the first '?'. For an absolute-form target
	// ("http://host/ws?x") it is the path after the authority.
	Path []byte
	// Query is URI after the first '?', nil when there is no '?'. It is raw:
	// not unescaped.
	Query []byte
	// ProtoMajor and ProtoMinor are the HTTP version, 1 and 1 for HTTP/1.1.
	ProtoMajor, ProtoMinor int

	// Host is the Host header.
	Host []byte
	// Origin is the Origin header. Check does not look at it: origin policy
	// belongs to the server.
	Origin []byte
	// Key is the Sec-WebSocket-Key header.
	Key []byte
	// Version is the Sec-WebSocket-Version header.
	Version []byte
	// Protocol is the first Sec-WebSocket-Protocol header (a comma-separated
	// list of subprotocols); ForEachHeader sees every one.
	Protocol []byte
	// Upgrade is the first Upgrade header.
	Upgrade []byte
	// Connection is the first Connection header.
	Connection []byte

	// Header is the raw header block: every header line with its CRLF,
	// without the request line and without the empty line that ends the
	// head. HeaderValue and ForEachHeader read it.
	Header []byte

	// dup has a bit set for each single-valued header (Host, Key, Version)
	// that occurred more than once, and for the headers that announce a
	// request body.
	dup uint8
}

const (
	dupHost uint8 = 1 << iota
	dupKey
	dupVersion
	hasBody // a Transfer-Encoding header, or a Content-Length other than 0
)

// ParseRequest parses the HTTP/1.x request head at the start of b into r,
// in place and without allocating.
//
// It returns the length of the head including the final CRLFCRLF; bytes
// after it (a pipelined first frame) are not consumed. It returns (0, nil)
// when b does not yet hold a complete head: call again with the same bytes
// plus whatever arrived since. ParseRequest keeps no state between calls
// and rescans b each time; maxSize bounds that, so a head trickled in one
// byte at a time costs a few milliseconds in all at the default limit.
// It returns ErrRequestTooLarge as soon as len(b) >= maxSize and the first
// maxSize bytes hold no complete head (so a caller whose buffer holds
// exactly maxSize bytes is never left waiting), and ErrMalformedRequest
// when the head (or, before it is complete, its request line) is not valid
// HTTP/1.x; maxSize <= 0 means DefaultMaxRequestSize.
//
// ParseRequest only parses: call r.Check to decide whether the request is a
// valid WebSocket upgrade. Every call resets *r; after an error or (0, nil)
// its contents are unspecified.
//
// Must be called on the connection's event loop. b is not modified; r
// aliases it.
func ParseRequest(b []byte, r *Request, maxSize int) (n int, err error) {
	*r = Request{}
	if maxSize <= 0 {
		maxSize = DefaultMaxRequestSize
	}
	lim := b
	if len(lim) > maxSize {
		lim = lim[:maxSize]
	}
	end := bytes.Index(lim, crlfcrlf)
	if end < 0 {
		// Only what lies within the limit is looked at, so that feeding
		// the same bytes in any chunks gives the same first verdict.
		if !plausibleRequestStart(lim, r) {
			return 0, ErrMalformedRequest
		}
		if len(b) >= maxSize {
			return 0, ErrRequestTooLarge
		}
		return 0, nil
	}
	n = end + len(crlfcrlf)
	head := b[:end+2] // every line with its CRLF

	nl := bytes.IndexByte(head, '\n')
	if !parseRequestLine(head[:nl+1], r) {
		return 0, ErrMalformedRequest
	}
	r.Header = head[nl+1:]
	for rest := r.Header; len(rest) > 0; {
		nl = bytes.IndexByte(rest, '\n') // found: head ends in "\r\n"
		k, v, ok := parseHeaderLine(rest[:nl+1])
		if !ok {
			return 0, ErrMalformedRequest
		}
		rest = rest[nl+1:]
		r.setHeader(k, v)
	}
	return n, nil
}

var crlfcrlf = []byte("\r\n\r\n")

// plausibleRequestStart reports whether b, an incomplete head, can still
// become a request: the method so far is a token, and a complete request
// line parses. A TLS ClientHello or other garbage fails on its first byte.
func plausibleRequestStart(b []byte, r *Request) bool {
	if nl := bytes.IndexByte(b, '\n'); nl >= 0 {
		return parseRequestLine(b[:nl+1], r)
	}
	for i, c := range b {
		if c == ' ' {
			return i > 0
		}
		if !httphead.OctetTypes[c].IsToken() {
			return false
		}
	}
	return true
}

// parseRequestLine parses line, which ends in '\n', into r's Method, URI,
// Path, Query and protocol version.
func parseRequestLine(line []byte, r *Request) bool {
	line, ok := trimCRLF(line)
	if !ok || !noCTL(line) {
		return false
	}
	rl, ok := httphead.ParseRequestLine(line)
	if !ok {
		return false
	}
	r.Method, r.URI = rl.Method, rl.URI
	r.ProtoMajor, r.ProtoMinor = rl.Version.Major, rl.Version.Minor

	path := rl.URI
	if q := bytes.IndexByte(path, '?'); q >= 0 {
		path, r.Query = path[:q], path[q+1:]
	}
	if len(path) > 0 && path[0] != '/' {
		// Absolute form: skip "scheme://authority".
		if i := bytes.Index(path, []byte("://")); i > 0 {
			path = path[i+3:]
			if j := bytes.IndexByte(path, '/'); j >= 0 {
				path = path[j:]
			} else {
				path = path[len(path):]
			}
		}
	}
	r.Path = path
	return true
}

// parseHeaderLine validates one header line, which ends in '\n', and
// returns its trimmed name and value.
func parseHeaderLine(line []byte) (k, v []byte, ok bool) {
	line, ok = trimCRLF(line)
	if !ok || len(line) == 0 || line[0] == ' ' || line[0] == '\t' || !noCTL(line) {
		// A leading space is obsolete line folding (RFC 7230 §3.2.4).
		return nil, nil, false
	}
	k, v, ok = httphead.ParseHeaderLine(line)
	// No whitespace between the name and the colon (RFC 7230 §3.2.4).
	if !ok || len(k) == 0 || line[len(k)] != ':' {
		return nil, nil, false
	}
	return k, v, true
}

// trimCRLF cuts the CRLF off line, which ends in '\n'; a bare LF fails.
func trimCRLF(line []byte) ([]byte, bool) {
	n := len(line)
	if n < 2 || line[n-2] != '\r' {
		return nil, false
	}
	return line[:n-2], true
}

// noCTL reports whether line has no control character but HTAB.
func noCTL(line []byte) bool {
	for _, c := range line {
		if httpCTL[c] {
			return false
		}
	}
	return true
}

// httpCTL marks the control characters a request line or header line may
// not hold: all of them but HTAB.
var httpCTL = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = c != '\t'
	}
	t[0x7f] = true
	return t
}()

func (r *Request) setHeader(k, v []byte) {
	switch len(k) {
	case len("host"):
		if asciiEqualFold(k, "host") {
			if r.Host != nil {
				r.dup |= dupHost
			}
			r.Host = v
		}
	case len("origin"):
		if asciiEqualFold(k, "origin") && r.Origin == nil {
			r.Origin = v
		}
	case len("upgrade"):
		if asciiEqualFold(k, "upgrade") && r.Upgrade == nil {
			r.Upgrade = v
		}
	case len("connection"):
		if asciiEqualFold(k, "connection") && r.Connection == nil {
			r.Connection = v
		}
	case len("sec-websocket-key"): // and len("transfer-encoding")
		if asciiEqualFold(k, "sec-websocket-key") {
			if r.Key != nil {
				r.dup |= dupKey
			}
			r.Key = v
		} else if asciiEqualFold(k, "transfer-encoding") {
			r.dup |= hasBody
		}
	case len("content-length"):
		if asciiEqualFold(k, "content-length") && !allZeros(v) {
			r.dup |= hasBody
		}
	case len("sec-websocket-version"):
		if asciiEqualFold(k, "sec-websocket-version") {
			if r.Version != nil {
				r.dup |= dupVersion
			}
			r.Version = v
		}
	case len("sec-websocket-protocol"):
		if asciiEqualFold(k, "sec-websocket-protocol") && r.Protocol == nil {
			r.Protocol = v
		}
	}
}

// allZeros reports whether v is a Content-Length of 0 ("0", "00", ...).
func allZeros(v []byte) bool {
	for _, c := range v {
		if c != '0' {
			return false
		}
	}
	return len(v) > 0
}

// asciiEqualFold reports whether b equals s, ASCII case-insensitively. s must be
// lower case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// HeaderValue returns the value of the first header named name (ASCII
// case-insensitive), trimmed; nil when there is none. It does not allocate.
//
// Must be called on the connection's event loop, while the parsed bytes are
// valid.
func (r *Request) HeaderValue(name string) []byte {
	for rest := r.Header; len(rest) > 0; {
		var k, v []byte
		k, v, rest = nextHeader(rest)
		if len(k) == len(name) && asciiEqualFoldAny(k, name) {
			return v
		}
	}
	return nil
}

// ForEachHeader calls fn with the name and trimmed value of every header
// line, in order, until fn returns false. Repeated headers are seen once
// each. It does not allocate unless fn escapes.
//
// Must be called on the connection's event loop; name and value are valid
// only until fn returns.
func (r *Request) ForEachHeader(fn func(name, value []byte) bool) {
	for rest := r.Header; len(rest) > 0; {
		var k, v []byte
		k, v, rest = nextHeader(rest)
		if k != nil && !fn(k, v) {
			return
		}
	}
}

// nextHeader splits the first line off a header block that ParseRequest
// validated.
func nextHeader(h []byte) (k, v, rest []byte) {
	nl := bytes.IndexByte(h, '\n')
	if nl < 1 {
		return nil, nil, nil
	}
	k, v, _ = httphead.ParseHeaderLine(h[:nl-1])
	return k, v, h[nl+1:]
}

// asciiEqualFoldAny is asciiEqualFold for an s of any case.
func asciiEqualFoldAny(b []byte, s string) bool {
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// QueryValue returns the value of the first query parameter named name, or
// nil when there is none; a parameter without '=' has an empty, non-nil
// value. Both the name match and the value are raw: nothing is
// percent-decoded and '+' is not a space, so compare against the encoded
// name and unescape the value (url.QueryUnescape) if it may be encoded. It
// does not allocate.
//
// Must be called on the connection's event loop, while the parsed bytes are
// valid.
func (r *Request) QueryValue(name string) []byte {
	for rest := r.Query; rest != nil; {
		param := rest
		if i := bytes.IndexByte(rest, '&'); i >= 0 {
			param, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		key, value := param, param[len(param):]
		if i := bytes.IndexByte(param, '='); i >= 0 {
			key, value = param[:i], param[i+1:]
		}
		if string(key) == name {
			return value
		}
	}
	return nil
}

// HandshakeError is a rejected upgrade: the HTTP status, a short reason
// sent as the plain-text body, and extra header lines. AppendReject writes
// it as a response. Check returns it as a value, unwrapped: match it with
// errors.AsType[HandshakeError], which unlike errors.As does not allocate.
type HandshakeError struct {
	// Status is the HTTP status code, e.g. 400.
	Status int
	// Reason is the response body, e.g. "missing or invalid Host header".
	Reason string
	// Header holds extra header lines, each ending in CRLF, e.g.
	// "Sec-WebSocket-Version: 13\r\n"; empty for none.
	Header string
}

// Error returns "codec: handshake rejected: <status> <reason>".
func (e HandshakeError) Error() string {
	return "codec: handshake rejected: " + strconv.Itoa(e.Status) + " " + e.Reason
}

// ErrNotUpgrade is what Check returns for a well-formed HTTP/1.1 GET that
// does not ask for an upgrade: a plain HTTP request, which a server may
// answer itself (server.Server.HandlePlain) instead of refusing it.
var ErrNotUpgrade error = HandshakeError{Status: 400, Reason: "not a WebSocket upgrade request"}

// The rejections Check returns, converted to error once so that returning
// them does not allocate.
var (
	errMethodNotAllowed error = HandshakeError{Status: 405, Reason: "method not allowed", Header: "Allow: GET\r\n"}
	errHTTPVersion      error = HandshakeError{Status: 400, Reason: "HTTP/1.1 or later required"}
	errRequestTarget    error = HandshakeError{Status: 400, Reason: "invalid request target"}
	errHost             error = HandshakeError{Status: 400, Reason: "missing or invalid Host header"}
	errNotUpgrade       error = ErrNotUpgrade
	errVersion          error = HandshakeError{Status: 426, Reason: "unsupported Sec-WebSocket-Version", Header: "Sec-WebSocket-Version: 13\r\n"}
	errKey              error = HandshakeError{Status: 400, Reason: "missing or invalid Sec-WebSocket-Key"}
	errUpgradeOther     error = HandshakeError{Status: 400, Reason: "ambiguous upgrade: Upgrade names a protocol other than websocket"}
	errBody             error = HandshakeError{Status: 400, Reason: "an upgrade request must not have a body"}
)

// Check reports whether r is a valid WebSocket upgrade request (RFC 6455
// §4.2.1). It returns nil, or a HandshakeError to answer with AppendReject,
// checking in this order:
//
//   - method not GET: 405, with "Allow: GET";
//   - HTTP version below 1.1, or above 1.x: 400;
//   - a target whose path does not start with '/': 400;
//   - Host missing, repeated, or not a host[:port]: 400;
//   - no "websocket" in Upgrade or no "upgrade" in Connection (ASCII
//     case-insensitive, in comma-separated lists over any number of
//     lines): 400, which is the answer to a plain HTTP request;
//   - an Upgrade header (any of them) that names another protocol too
//     ("websocket, h2c", or a second Upgrade line "h2c"): 400, since which
//     protocol the connection speaks next would be ambiguous;
//   - a Content-Length other than 0, or any Transfer-Encoding: 400; a GET
//     upgrade has no body, and its bytes would be read as WebSocket frames;
//   - Sec-WebSocket-Version missing, repeated or not 13: 426, with
//     "Sec-WebSocket-Version: 13";
//   - Sec-WebSocket-Key missing, repeated or not the base64 of 16 bytes: 400.
//
// Origin, Path and subprotocols are the server's policy, not checked here.
// Check does not allocate.
//
// Must be called on the connection's event loop, while the parsed bytes are
// valid.
func (r *Request) Check() error {
	switch {
	case string(r.Method) != "GET":
		return errMethodNotAllowed
	case r.ProtoMajor != 1 || r.ProtoMinor < 1:
		return errHTTPVersion
	case len(r.Path) == 0 || r.Path[0] != '/':
		return errRequestTarget
	case r.dup&dupHost != 0 || !validHost(r.Host):
		return errHost
	case !r.isUpgrade():
		return errNotUpgrade
	case r.upgradesOther():
		return errUpgradeOther
	case r.dup&hasBody != 0:
		return errBody
	case r.dup&dupVersion != 0 || string(r.Version) != "13":
		return errVersion
	case r.dup&dupKey != 0 || !validKey(r.Key):
		return errKey
	}
	return nil
}

// isUpgrade reports whether the Upgrade headers name "websocket" and the
// Connection headers name "upgrade".
func (r *Request) isUpgrade() bool {
	if r.Upgrade == nil || r.Connection == nil {
		return false
	}
	var upgrade, connection bool
	for rest := r.Header; len(rest) > 0 && !(upgrade && connection); {
		var k, v []byte
		k, v, rest = nextHeader(rest)
		switch {
		case !upgrade && asciiEqualFold(k, "upgrade"):
			upgrade = hasProduct(v, "websocket")
		case !connection && asciiEqualFold(k, "connection"):
			httphead.ScanTokens(v, func(t []byte) bool {
				connection = asciiEqualFold(t, "upgrade")
				return !connection
			})
		}
	}
	return upgrade && connection
}

// upgradesOther reports whether an Upgrade header names a protocol other
// than websocket.
func (r *Request) upgradesOther() bool {
	for rest := r.Header; len(rest) > 0; {
		var k, v []byte
		k, v, rest = nextHeader(rest)
		if !asciiEqualFold(k, "upgrade") {
			continue
		}
		for len(v) > 0 {
			elem := v
			if i := bytes.IndexByte(v, ','); i >= 0 {
				elem, v = v[:i], v[i+1:]
			} else {
				v = nil
			}
			if elem = bytes.Trim(elem, " \t"); len(elem) > 0 && !asciiEqualFold(elem, "websocket") {
				return true
			}
		}
	}
	return false
}

// hasProduct reports whether the comma-separated Upgrade list v holds
// product (lower case), ASCII case-insensitively. It splits on commas
// itself because Upgrade elements may carry a version ("h2c/1"), which
// httphead.ScanTokens rejects as a separator inside an element.
func hasProduct(v []byte, product string) bool {
	for len(v) > 0 {
		elem := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			elem, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if asciiEqualFold(bytes.Trim(elem, " \t"), product) {
			return true
		}
	}
	return false
}

// validHost reports whether h is a non-empty host[:port] made of the
// characters RFC 3986 allows in an authority without userinfo.
func validHost(h []byte) bool {
	if len(h) == 0 {
		return false
	}
	for _, c := range h {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '%', c == ':', c == '[', c == ']':
		case c == '!', c == '$', c == '&', c == '\'', c == '(', c == ')',
			c == '*', c == '+', c == ',', c == ';', c == '=':
		default:
			return false
		}
	}
	return true
}

// validKey reports whether key is the base64 encoding of 16 bytes.
func validKey(key []byte) bool {
	if len(key) != 24 {
		return false
	}
	var buf [18]byte // base64.StdEncoding.DecodedLen(24)
	n, err := base64.StdEncoding.Decode(buf[:], key)
	return err == nil && n == 16
}

// acceptGUID is the GUID RFC 6455 §1.3 appends to the key.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AppendAcceptKey appends the Sec-WebSocket-Accept value for key: the
// base64 of the SHA-1 of key and the RFC 6455 GUID, 28 bytes. A client uses
// it to verify a server's answer. It does not allocate when dst has room
// and key is at most 64 bytes.
//
// Safe for concurrent use.
func AppendAcceptKey(dst, key []byte) []byte {
	var buf [64 + len(acceptGUID)]byte
	var sum [sha1.Size]byte
	if len(key) <= 64 {
		in := append(buf[:0], key...)
		sum = sha1.Sum(append(in, acceptGUID...))
	} else {
		h := sha1.New()
		h.Write(key)
		h.Write([]byte(acceptGUID))
		h.Sum(sum[:0])
	}
	return base64.StdEncoding.AppendEncode(dst, sum[:])
}

// AppendAccept appends the whole "101 Switching Protocols" response that
// accepts an upgrade request with Sec-WebSocket-Key key (Request.Key, after
// Check). It does not allocate when dst has room (AcceptSize bytes).
//
// Safe for concurrent use.
func AppendAccept(dst, key []byte) []byte {
	dst = append(dst, acceptHead...)
	dst = AppendAcceptKey(dst, key)
	return append(dst, "\r\n\r\n"...)
}

const acceptHead = "HTTP/1.1 101 Switching Protocols\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: Upgrade\r\n" +
	"Sec-WebSocket-Accept: "

// AcceptSize is the length of the response AppendAccept appends.
const AcceptSize = len(acceptHead) + 28 + len("\r\n\r\n")

// AppendReject appends a complete HTTP/1.1 response for e: the status line,
// "Content-Type: text/plain; charset=utf-8", Content-Length,
// "Connection: close", e.Header as given, and e.Reason as the body. A
// Status outside 100..999 is written as 500. The caller closes the
// connection after writing it.
//
// Safe for concurrent use.
func AppendReject(dst []byte, e HandshakeError) []byte {
	return appendResponse(dst, e.Status, "text/plain; charset=utf-8", e.Header, e.Reason)
}

// AppendResponse appends a whole HTTP/1.1 response that closes the
// connection: status line, Content-Type, Content-Length, Connection: close,
// then body. A status outside 100..999 is sent as 500; contentType must be
// one header value (no CR or LF).
func AppendResponse(dst []byte, status int, contentType string, body []byte) []byte {
	return appendResponse(dst, status, contentType, "", body)
}

func appendResponse[B string | []byte](dst []byte, status int, contentType, header string, body B) []byte {
	if status < 100 || status > 999 {
		status = 500
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, httpStatusText(status)...)
	dst = append(dst, "\r\nContent-Type: "...)
	dst = append(dst, contentType...)
	dst = append(dst, "\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\nConnection: close\r\n"...)
	dst = append(dst, header...)
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}

// httpStatusText is the reason phrase for the statuses a WebSocket endpoint
// answers with; empty (which HTTP allows) for others.
func httpStatusText(status int) string {
	switch status {
	case 200:
		return "OK"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 413:
		return "Content Too Large"
	case 426:
		return "Upgrade Required"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	}
	return ""
}
