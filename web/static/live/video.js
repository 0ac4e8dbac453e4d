// Video sync. The driver mirrors its player state (playing, position, rate) whenever it
// changes and once a second while playing; the server stamps it with its clock. The
// follower predicts where the driver is now and corrects drift:
//   |drift| > SEEK_AT (3 s)        -> seek (and ignore drift until the seek has landed)
//   |drift| > NUDGE_AT (0.5 s)     -> play a little faster/slower ...
//   ... until |drift| < SETTLE_AT  -> back to the driver's rate (hysteresis: no oscillation)
// Either side buffering pauses both.

export const SEEK_AT = 3.0;
export const NUDGE_AT = 0.5;
export const SETTLE_AT = 0.15;
export const NUDGE = 0.1; // +-10 % playback rate while catching up

// Pure: what the follower should do, given the drift (follower - expected, seconds).
export function correction(drift, nudging, rate = 1) {
  const a = Math.abs(drift);
  if (a > SEEK_AT) return { action: "seek", rate, nudging: false };
  if (a > NUDGE_AT || (nudging && a > SETTLE_AT)) return { action: "nudge", rate: rate * (drift > 0 ? 1 - NUDGE : 1 + NUDGE), nudging: true };
  return { action: "none", rate, nudging: false };
}

export function expectedPosition(state, serverNow) {
  if (!state.playing) return state.position_s;
  return state.position_s + Math.max(0, serverNow - state.ts) * (state.rate || 1);
}

export class VideoSync {
  constructor(video, live) {
    this.video = video;
    this.live = live; // { socket, isDriver(), epoch() , following() }
    this.id = video.dataset.videoId;
    this.remote = null; // the driver's last state
    this.nudging = false;
    this.seekingUntil = 0;
    this.applying = 0; // >0 while we change the player ourselves
    this.remoteBuffering = false;
    const v = video;
    // Capture at the window: on the follower, player events we caused must not be recorded
    // as the follower's own actions (section.js listens on the element itself).
    for (const type of ["play", "pause", "seeking", "seeked", "ratechange"]) {
      window.addEventListener(type, (ev) => {
        if (ev.target !== v) return;
        if (!this.live.isDriver()) { ev.stopImmediatePropagation(); return; }
        // A pause we made because the other side is buffering is not the driver's choice:
        // mirroring it would stop the follower for good.
        if (type !== "seeking" && !this.applying && !(type === "pause" && this.remoteBuffering)) this.broadcast();
      }, true);
    }
    this.sentBuffering = false;
    const buffering = (on) => {
      if (on === this.sentBuffering) return;
      this.sentBuffering = on;
      this.live.socket.ephemeral("buffering", { video_id: this.id, buffering: on });
    };
    v.addEventListener("waiting", () => buffering(true));
    // `playing` may never fire if we were paused meanwhile; having data again is enough.
    for (const type of ["playing", "canplay", "canplaythrough"]) v.addEventListener(type, () => buffering(false));
    this.timer = setInterval(() => this.tick(), 1000);
  }

  state() {
    const v = this.video;
    return { video_id: this.id, playing: !v.paused && !v.ended, position_s: Math.round(v.currentTime * 1000) / 1000, rate: v.playbackRate, buffering: v.readyState < 3 && !v.paused };
  }

  broadcast() {
    if (this.live.isDriver()) this.live.socket.ephemeral("video", this.state(), { epoch: this.live.epoch() });
  }

  tick() {
    if (this.live.isDriver()) { if (!this.video.paused) this.broadcast(); return; }
    this.correct();
  }

  onRemote(m) {
    const p = m.payload;
    if (p.video_id !== this.id) return;
    if (m.type === "buffering") {
      this.remoteBuffering = p.buffering;
      if (p.buffering && !this.video.paused) this.withApplying(() => this.video.pause());
      else if (!p.buffering && (this.live.isDriver() || this.remote?.playing)) this.withApplying(() => this.video.play().catch(() => {}));
      return;
    }
    if (this.live.isDriver() || !this.live.following()) return;
    this.remote = { ...p, ts: m.ts };
    this.correct(true);
  }

  correct(fresh = false) {
    const r = this.remote;
    if (!r || !this.live.following()) return;
    const v = this.video;
    const now = this.live.socket.serverNow();
    const expected = expectedPosition(r, now);
    if (r.playing && v.paused && !this.remoteBuffering) this.withApplying(() => v.play().catch(() => {}));
    if (!r.playing && !v.paused) this.withApplying(() => v.pause());
    if (!r.playing) {
      if (fresh && Math.abs(v.currentTime - expected) > 0.25) this.seek(expected);
      return;
    }
    if (performance.now() < this.seekingUntil) return; // a seek's own latency is not drift
    const c = correction(v.currentTime - expected, this.nudging, r.rate || 1);
    this.nudging = c.nudging;
    if (c.action === "seek") this.seek(expected + 0.2);
    if (Math.abs(v.playbackRate - c.rate) > 1e-3) this.withApplying(() => { v.playbackRate = c.rate; });
  }

  seek(to) {
    const v = this.video;
    this.seekingUntil = performance.now() + 5000;
    v.addEventListener("seeked", () => { this.seekingUntil = performance.now() + 300; }, { once: true });
    this.withApplying(() => { v.currentTime = Math.max(0, to); });
  }

  withApplying(fn) { this.applying++; try { fn(); } finally { setTimeout(() => this.applying--, 0); } }
}
