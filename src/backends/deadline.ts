/**
 * Time bounds on promises, for calls that must not hang on a stalled peer (a frozen Redis, a
 * connection that never answers). The promise itself runs on; only the wait is bounded.
 */

/**
 * `promise`, or a rejection with `message` after `ms`; a rejection of the promise after that is
 * handled (not left unhandled).
 *
 * @example
 * await bounded(redis.connect(), 2000, 'connect unanswered');
 */
export function bounded<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

/**
 * Whether `promise` settled, either way, within `ms`.
 *
 * @example
 * if (!(await settlesWithin(backend.close(), 1000))) log.warn('the backend did not close in time');
 */
export function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    promise.then(done, done);
  });
}
