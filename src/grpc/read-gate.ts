// Back-pressure from what a stream's client sent to its reading: while too many of its requests,
// or answers to them, wait on this member, the client is not read (HTTP/2 flow control then holds
// the rest on its side), as etcd's stream loops stop receiving while their channels are full.

/** Pauses `stream` once `pauseAt` things wait, resumes it once they are down to half. */
export class ReadGate {
  private waiting = 0;
  private paused = false;

  constructor(
    private readonly stream: { pause(): unknown; resume(): unknown },
    private readonly pauseAt: number,
  ) {}

  /** One more thing waits (a request received, an answer queued). */
  add(): void {
    if (++this.waiting >= this.pauseAt && !this.paused) {
      this.paused = true;
      this.stream.pause();
    }
  }

  /** One thing stopped waiting (handled, sent). */
  done(): void {
    if (--this.waiting <= this.pauseAt / 2 && this.paused) {
      this.paused = false;
      this.stream.resume();
    }
  }
}
