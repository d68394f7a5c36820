// Type declarations for wsloop.mjs, the wsloop WebSocket client.

/** The data of the welcome push the server sends on every new connection. */
export interface Welcome {
  /** Session id: 32 hex digits, opaque. */
  sid: string;
  /** Seconds between the client's pings. */
  ping_interval: number;
  /** Present when the server requires signed pings (--heartbeat-secret). */
  online_token?: string;
  [key: string]: unknown;
}

/** Payload of the "$close" event: fired whenever a socket closes. */
export interface CloseInfo {
  /** The close code: 1000, 1001, 1006 (no close frame), 1008, 1009, 1011, 1013, 4xxx... */
  code: number;
  /** The close reason: "token required", "server shutting down", "ping timeout"... */
  reason: string;
  wasClean: boolean;
  /** Whether the client will try to reconnect. The last $close of a session has false. */
  willReconnect: boolean;
}

/** Payload of the "$reconnecting" event: a reconnect attempt is scheduled. */
export interface ReconnectingInfo {
  /** 1 for the first attempt after a drop. */
  attempt: number;
  /** Milliseconds until the attempt. */
  delay: number;
  /** Code and reason of the close that caused it. */
  code: number;
  reason: string;
}

/** Payload of the "$reconnect" event: a new session is up and the rooms were joined again. */
export interface ReconnectInfo {
  welcome: Welcome;
  /** Attempts it took. */
  attempt: number;
  /** Rooms the server refused (forgotten) or that could not be re-joined (kept). */
  failedRooms: Array<{ room: string; error: Error }>;
}

/** A push as received: {cmd, data}. */
export interface PushMessage<T = any> {
  cmd: string;
  data: T;
  [key: string]: unknown;
}

/** Lifecycle events and their payloads. */
export interface WsloopEvents {
  $open: Welcome;
  $close: CloseInfo;
  $reconnecting: ReconnectingInfo;
  $reconnect: ReconnectInfo;
  /** WebSocket errors, refused pings, failed re-joins, listeners that threw, malformed messages. */
  $error: Error;
}

export type WsloopEventName = keyof WsloopEvents;

export type WsloopState = 'closed' | 'connecting' | 'open' | 'reconnecting' | 'closing';

/** Computes the sign of a signed ping: hex(HMAC-SHA256(secret, onlineToken + "." + sid + "." + timestamp)). */
export type SignFunction = (onlineToken: string, sid: string, timestamp: number) => string | Promise<string>;

export interface ReconnectOptions {
  /** Delay before the first attempt, in ms. Default 500. */
  minDelay?: number;
  /** Largest delay, in ms. Default 30000. */
  maxDelay?: number;
  /** Growth of the delay per failed attempt. Default 2. */
  factor?: number;
  /** Random spread, as a fraction of the delay (0.3: +-30%). Default 0.3. */
  jitter?: number;
  /** Attempts after a drop before giving up. Default Infinity. */
  maxAttempts?: number;
}

/** The part of a WebSocket constructor the client uses (browsers', `ws`'s, Node 22's). */
export interface WebSocketConstructor {
  new (url: string): any;
}

export interface WsloopClientOptions {
  /** JWT sent as the `token` query parameter; a function is called before every connection attempt. */
  token?: string | (() => string | Promise<string>);
  /** WebSocket implementation. Default globalThis.WebSocket (Node < 22: pass the `ws` package's). */
  WebSocket?: WebSocketConstructor;
  /** Request timeout in ms; also bounds the wait for the welcome and for a ping's reply. Default 10000. */
  requestTimeout?: number;
  /** Signs pings when the welcome carries an online_token. See hmacSign. */
  sign?: SignFunction;
  /** Backoff of automatic reconnection, or false for none. */
  reconnect?: ReconnectOptions | false;
  /** Whether to reconnect after a close the client did not ask for. Default: defaultShouldReconnect. */
  shouldReconnect?: (code: number, reason: string) => boolean;
}

export interface RequestOptions {
  /** Timeout in ms, instead of the client's requestTimeout. */
  timeout?: number;
}

export interface PublishOptions extends RequestOptions {
  /** User or session id: only its connections in the room get the message ("ptp"). */
  to?: string;
}

/** Reply data of join. */
export interface JoinReply {
  room: string;
  count: number;
}

/** Reply data of members. */
export interface MembersReply {
  room: string;
  count: number;
  conns: number;
  members: Array<{ user: string; conns: number; meta?: unknown; anonymous?: boolean }>;
}

/**
 * What requests reject with. status is the reply's status when the server
 * refused, or 0 when no reply came: msg "timeout", "not connected",
 * "connection closed" (code and reason then tell the close).
 */
export class WsloopError extends Error {
  constructor(status: number, msg: string, cmd?: string, close?: { code?: number; reason?: string });
  readonly name: 'WsloopError';
  status: number;
  msg: string;
  cmd: string | undefined;
  code?: number;
  reason?: string;
}

/** Reconnect unless code is 1008 (policy: tokens, heartbeat signs) or 4000-4999. */
export function defaultShouldReconnect(code: number, reason: string): boolean;

/** A SignFunction computing the sign with WebCrypto from the heartbeat secret (UTF-8 if a string). */
export function hmacSign(secret: string | ArrayBuffer | ArrayBufferView): (onlineToken: string, sid: string, timestamp: number) => Promise<string>;

export class WsloopClient {
  constructor(url: string | URL, options?: WsloopClientOptions);

  readonly state: WsloopState;
  /** Session id of the latest welcome; null before the first. */
  readonly sid: string | null;
  /** Ping interval in seconds of the latest welcome; null before the first. */
  readonly pingInterval: number | null;
  /** online_token of the latest welcome; null without a heartbeat secret. */
  readonly onlineToken: string | null;
  /** The latest welcome; null before the first. */
  readonly welcome: Welcome | null;
  /** Rooms joined and not left: re-joined after every reconnect. */
  readonly rooms: string[];

  /** Resolves with the welcome; rejects if the first attempt closes before it. */
  connect(): Promise<Welcome>;
  /** Resolves with the reply's data; rejects with WsloopError. */
  request<T = any>(cmd: string, data?: unknown, options?: RequestOptions): Promise<T>;
  /** Joins room and remembers it (with meta) for reconnects. */
  join(room: string, meta?: unknown): Promise<JoinReply>;
  /** Leaves room and forgets it. */
  leave(room: string): Promise<void>;
  /** Publishes to everyone in room, or only to options.to. */
  publish(room: string, payload: unknown, options?: PublishOptions): Promise<void>;
  /** Sends to every connection of a user (or one session by sid). */
  send(to: string, payload: unknown, options?: RequestOptions): Promise<void>;
  /** Presence of room. */
  members(room: string, options?: RequestOptions): Promise<MembersReply>;

  /** Subscribes to a lifecycle event. Returns the unsubscribe function. */
  on<E extends WsloopEventName>(event: E, listener: (payload: WsloopEvents[E]) => unknown): () => void;
  /** Subscribes to pushes of cmd ("message", "enter_room", "exit_room", "welcome", application pushes). */
  on<T = any>(cmd: string, listener: (data: T, message: PushMessage<T>) => unknown): () => void;
  off<E extends WsloopEventName>(event: E, listener: (payload: WsloopEvents[E]) => unknown): void;
  off(cmd: string, listener: (data: any, message: PushMessage) => unknown): void;

  /** Closes (code 1000 or 3000-4999), stops reconnecting, forgets rooms. Resolves once closed. */
  close(code?: number, reason?: string): Promise<void>;
}

export default WsloopClient;
