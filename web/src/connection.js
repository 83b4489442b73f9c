// Socket.IO connection to Rasa's socketio channel (bot.channels.socketio): one session id per
// conversation, sent in `session_request` so Rasa keeps the conversation across page reloads.
import { io } from "socket.io-client";

export class ChatConnection {
  /**
   * @param {{server: string, path?: string, sessionId?: string|null,
   *          onMessage: (m: object) => void, onSession?: (id: string) => void,
   *          onStatus?: (s: "connecting"|"online"|"offline") => void}} options
   */
  constructor(options) {
    this.options = options;
    this.sessionId = options.sessionId || null;
    this.confirmed = false;
    this.queue = [];
    this.socket = null;
  }

  connect() {
    const { server, path = "/socket.io", onMessage, onSession, onStatus } = this.options;
    onStatus?.("connecting");
    const socket = io(server, { path, transports: ["websocket", "polling"], reconnectionDelayMax: 10000 });
    this.socket = socket;
    socket.on("connect", () => {
      this.confirmed = false;
      socket.emit("session_request", { session_id: this.sessionId });
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
    socket.on("bot_uttered", (message) => onMessage(message || {}));
    socket.on("disconnect", () => onStatus?.("offline"));
    socket.on("connect_error", () => onStatus?.("offline"));
  }

  /** Sends a user message (text or a /intent payload); queued until the session is confirmed. */
  send(text) {
    if (!this.socket || !this.confirmed) {
      this.queue.push(text);
      return;
    }
    this.socket.emit("user_uttered", { message: text, session_id: this.sessionId });
  }

  /** Ends this connection; a new ChatConnection with no session id starts a new conversation. */
  close() {
    this.queue = [];
    if (this.socket) {
      this.socket.removeAllListeners();
      this.socket.disconnect();
      this.socket = null;
    }
  }
}
