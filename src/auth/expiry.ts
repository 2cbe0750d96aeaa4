/**
 * Token lifetime of one connection: `warn` fires `leadMs` before expiry (at once when less is
 * left), `expire` at expiry plus `graceMs` (the clock tolerance the token was accepted within, so a
 * token let in just past `exp` is not closed at once). Rescheduled on refresh.
 *
 * One Node timer per connection and no closure: the hooks are shared by every connection of a
 * namespace and get the connection as an argument, and delays are rounded up to whole seconds
 * (Node keeps one timer list per distinct delay, so connections whose tokens have the same
 * lifetime share one). A warning or close comes at most a second late. Timers are unref'd so they
 * never hold the process open, and lifetimes past setTimeout's 24.8-day cap are handled.
 */
export interface ExpiryHooks<T> {
  readonly leadMs: number;
  readonly graceMs: number;
  warn(target: T, expiresAt: number): void;
  expire(target: T): void;
}

/** Where a connection keeps its expiry (`expiresAt` in ms, null for a token without `exp`). */
export interface Expiring {
  expiresAt: number | null;
  expiryTimer?: NodeJS.Timeout | undefined;
}

const MAX_DELAY = 2_147_483_647;
const GRAIN_MS = 1000;

/** (Re)schedules the warning and the close of `state.expiresAt`; clears them when it is null. */
export function scheduleExpiry<T>(target: T, state: Expiring, hooks: ExpiryHooks<T>): void {
  clearExpiry(state);
  if (state.expiresAt === null) return;
  at(state.expiresAt - hooks.leadMs, onWarn, target, state, hooks);
}

export function clearExpiry(state: Expiring): void {
  clearTimeout(state.expiryTimer);
  state.expiryTimer = undefined;
}

type Phase<T> = (target: T, state: Expiring, hooks: ExpiryHooks<T>) => void;

function at<T>(when: number, phase: Phase<T>, target: T, state: Expiring, hooks: ExpiryHooks<T>): void {
  const delay = Math.max(0, Math.ceil((when - Date.now()) / GRAIN_MS) * GRAIN_MS);
  // Past setTimeout's cap: wake up at the cap and schedule the rest.
  state.expiryTimer =
    delay > MAX_DELAY
      ? setTimeout(scheduleExpiry, MAX_DELAY, target, state, hooks)
      : setTimeout(phase, delay, target, state, hooks);
  state.expiryTimer.unref();
}

function onWarn<T>(target: T, state: Expiring, hooks: ExpiryHooks<T>): void {
  const expiresAt = state.expiresAt;
  if (expiresAt === null) return;
  hooks.warn(target, expiresAt);
  at(expiresAt + hooks.graceMs, onExpire, target, state, hooks);
}

function onExpire<T>(target: T, state: Expiring, hooks: ExpiryHooks<T>): void {
  state.expiryTimer = undefined;
  hooks.expire(target);
}
