/**
 * Token lifetime of one connection: `warn` fires `leadMs` before expiry (at once when less is
 * left), `expire` at expiry plus `graceMs` (the clock tolerance the token was accepted within, so a
 * token let in just past `exp` is not closed at once). Rescheduled on refresh. Timers are unref'd so they never hold the
 * process open, and long lifetimes are handled past setTimeout's 24.8-day cap.
 */
export interface ExpiryTimer {
  schedule(expiresAt: number | null): void;
  clear(): void;
}

const MAX_DELAY = 2_147_483_647;

export function createExpiryTimer(
  leadMs: number,
  warn: (expiresAt: number) => void,
  expire: () => void,
  graceMs = 0,
): ExpiryTimer {
  let timer: NodeJS.Timeout | undefined;

  function at(when: number, fn: () => void): void {
    const delay = when - Date.now();
    timer = setTimeout(delay > MAX_DELAY ? () => at(when, fn) : fn, Math.max(0, Math.min(delay, MAX_DELAY)));
    timer.unref();
  }

  return {
    schedule(expiresAt) {
      clearTimeout(timer);
      if (expiresAt === null) return;
      at(expiresAt - leadMs, () => {
        warn(expiresAt);
        at(expiresAt + graceMs, expire);
      });
    },
    clear() {
      clearTimeout(timer);
    },
  };
}
