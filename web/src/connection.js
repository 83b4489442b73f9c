// Socket.IO connection to Rasa's socketio channel (bot.channels.socketio). The server chooses the
// conversation id and sends a signed copy (`session_token`); the client keeps that copy and sends
// it in `session_request` to continue the same conversation after a reload. A kiosk's QR code
// carries a single-use hand-over token instead (`handover`), asked for with `handover_request`.
import { io } from "socket.io-client";

export class ChatConnection {
  /**
   * @param {{server: string, path?: string, surface?: "widget"|"kiosk", sessionToken?: string|null, handover?: string|null,
   *          onMessage: (m: object) => void, onSession?: (id: string) => void,
   *          onToken?: (token: string) => void, onEnded?: (e: object) => void,
   *          onStatus?: (s: "connecting"|"online"|"offline") => void}} options
   */
  constructor(options) {
    this.options = options;
    this.sessionId = null;
    this.sessionToken = options.sessionToken || null;
    this.handover = options.handover || null;
    this.confirmed = false;
    this.queue = [];
    this.socket = null;
  }

  connect() {
    const { server, path = "/socket.io", onMessage, onSession, onToken, onEnded, onStatus } = this.options;
    onStatus?.("connecting");
    const socket = io(server, { path, transports: ["websocket", "polling"], reconnectionDelayMax: 10000 });
    this.socket = socket;
    socket.on("connect", () => {
      this.confirmed = false;
      const request = { session_token: this.sessionToken };
      if (this.handover) request.handover = this.handover;
      this.handover = null; // single use: a reconnect continues with the signed id instead
      socket.emit("session_request", request);
    });
    socket.on("session_token", (token) => {
      if (typeof token !== "string" || !token) return;
      this.sessionToken = token;
      onToken?.(token);
    });
    socket.on("session_confirm", (id) => {
      const sessionId = typeof id === "string" ? id : id && id.session_id;
      if (!sessionId) return;
      this.sessionId = sessionId;
      this.confirmed = true;
      onSession?.(sessionId);
      onStatus?.("online");
      const pending = this.queue.splice(0);
      pending.forEach((text) => this.send(text));
    });
    // The conversation moved to another device (a kiosk's QR hand-over): this one is over.
    socket.on("session_ended", (event) => {
      this.confirmed = false;
      this.sessionId = null;
      this.sessionToken = null;
      onEnded?.(event || {});
    });
    socket.on("handover_token", (token) => {
      const waiting = this.handoverWaiters || [];
      this.handoverWaiters = [];
      waiting.forEach((resolve) => resolve(typeof token === "string" ? token : null));
    });
    socket.on("bot_uttered", (message) => onMessage(message || {}));
    socket.on("disconnect", () => onStatus?.("offline"));
    socket.on("connect_error", () => onStatus?.("offline"));
  }

  /** A single-use, short-lived token that hands this conversation to another device (null if not connected). */
  requestHandover(timeoutMs = 10000) {
    if (!this.socket || !this.confirmed) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.handoverWaiters = [...(this.handoverWaiters || []), resolve];
      setTimeout(() => resolve(null), timeoutMs);
      this.socket.emit("handover_request", {});
    });
  }

  /** Sends a user message (text or a /intent payload); queued until the session is confirmed. */
  send(text) {
    if (!this.socket || !this.confirmed) {
      this.queue.push(text);
      return;
    }
    const message = { message: text, session_id: this.sessionId };
    // Which page sent it (widget or kiosk, both on socket.io): the staff analytics show them apart.
    if (this.options.surface) message.metadata = { surface: this.options.surface };
    this.socket.emit("user_uttered", message);
  }

  /** Ends this connection; a new ChatConnection with no session token starts a new conversation. */
  close() {
    this.queue = [];
    if (this.socket) {
      this.socket.removeAllListeners();
      this.socket.disconnect();
      this.socket = null;
    }
  }
}
