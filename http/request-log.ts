/** What the HTTP front tells about each finished exchange: the access log, the metrics, or both. */
export interface RequestLog {
  write(method: string, url: string, status: number, ms: number, actor: number | undefined): void;
  /** Writes out what is buffered (before exit). */
  flush(): void;
}

/** Both logs see every exchange; either may be absent. */
export function teeLog(a: RequestLog | undefined, b: RequestLog | undefined): RequestLog | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return {
    write(method, url, status, ms, actor) {
      a.write(method, url, status, ms, actor);
      b.write(method, url, status, ms, actor);
    },
    flush() {
      a.flush();
      b.flush();
    },
  };
}
