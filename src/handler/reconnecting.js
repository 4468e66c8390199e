// tower-sse: an EventSource that comes back after the browser gives up.
//
// A browser reconnects by itself when a stream ends, but treats an answer other than
// `200 text/event-stream` (a proxy's 502 or 503 while the server restarts) as final:
// the EventSource closes for good. `ReconnectingEventSource` then opens a new one after
// a backoff, passing the last event id it saw as the `lastEventId` query parameter
// (a new EventSource cannot send `Last-Event-ID`), so the server resumes after it.
//
//   const source = new ReconnectingEventSource("/events");
//   source.addEventListener("message", (e) => show(e.data));
//   source.addEventListener("reset", () => reload()); // events were lost: start over
//   source.close();
//
// Options (second argument): withCredentials (false), minDelay (1000 ms), maxDelay
// (30000 ms). Events: every type listened for, plus "open", "error", "reset" and
// "reopen" (detail: the delay in ms before the next attempt); `onmessage`, `onopen`,
// `onerror`, `onreset` work as on EventSource. `lastEventId`, `readyState`, `url` are
// readable. Unlike a bare EventSource, a 204 does not stop it: call `close()` (for
// example on a named event the server sends) to stop.
// No dependencies; works as a classic script or pasted into a module.
(function (global) {
  "use strict";

  class ReconnectingEventSource extends EventTarget {
    constructor(url, options) {
      super();
      const o = options || {};
      this.url = new URL(url, global.location.href).href;
      this.withCredentials = !!o.withCredentials;
      this.minDelay = o.minDelay > 0 ? o.minDelay : 1000;
      this.maxDelay = o.maxDelay > 0 ? o.maxDelay : 30000;
      this.lastEventId = "";
      this.onmessage = this.onopen = this.onerror = this.onreset = null;
      this._types = new Set(["message", "reset"]);
      this._failures = 0;
      this._timer = null;
      this._closed = false;
      this._source = null;
      this._open();
    }

    // CONNECTING (0) while a reopen waits, as during the browser's own retries.
    get readyState() {
      if (this._closed) return 2;
      if (this._timer !== null || !this._source) return 0;
      return this._source.readyState;
    }

    addEventListener(type, listener, options) {
      super.addEventListener(type, listener, options);
      if (!this._types.has(type) && !["open", "error", "reopen"].includes(type)) {
        this._types.add(type);
        if (this._source) this._listen(this._source, type);
      }
    }

    close() {
      this._closed = true;
      clearTimeout(this._timer);
      if (this._source) this._source.close();
    }

    _target() {
      if (!this.lastEventId) return this.url;
      const url = new URL(this.url);
      url.searchParams.set("lastEventId", this.lastEventId);
      return url.href;
    }

    _listen(source, type) {
      source.addEventListener(type, (e) => {
        if (source !== this._source) return;
        this.lastEventId = e.lastEventId;
        const copy = new MessageEvent(type, {
          data: e.data, lastEventId: e.lastEventId, origin: e.origin,
        });
        this._emit(copy, type);
      });
    }

    _emit(event, type) {
      const handler = this["on" + type];
      if (typeof handler === "function") handler.call(this, event);
      this.dispatchEvent(event);
    }

    _open() {
      const source = new EventSource(this._target(), { withCredentials: this.withCredentials });
      this._source = source;
      this._types.forEach((type) => this._listen(source, type));
      source.onopen = () => {
        this._failures = 0;
        this._emit(new Event("open"), "open");
      };
      source.onerror = () => {
        if (source !== this._source) return;
        this._emit(new Event("error"), "error");
        // CONNECTING: the browser retries by itself. CLOSED: it gave up.
        if (source.readyState === EventSource.CLOSED && !this._closed) this._reopen();
      };
    }

    _reopen() {
      const ceiling = Math.min(this.maxDelay, this.minDelay * 2 ** Math.min(this._failures, 16));
      // Full jitter above half the delay, so that a restarted server's clients spread.
      const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
      this._failures += 1;
      this._emit(new CustomEvent("reopen", { detail: delay }), "reopen");
      this._timer = setTimeout(() => {
        this._timer = null;
        if (!this._closed) this._open();
      }, delay);
    }
  }

  ReconnectingEventSource.CONNECTING = 0;
  ReconnectingEventSource.OPEN = 1;
  ReconnectingEventSource.CLOSED = 2;
  global.ReconnectingEventSource = ReconnectingEventSource;
})(typeof window !== "undefined" ? window : globalThis);
