/**
 * A small typed event emitter that runs in browsers and Node alike (no `node:events`). A handler
 * that throws does not stop the others: the error goes to `onHandlerError`.
 */

/** Event names and their handlers' signatures, e.g. `{ connected: (info: { url: string }) => void }`. */
export type EventMap<E> = { [K in keyof E]: (...args: never[]) => void };

type Loose = (...args: unknown[]) => void;

/** A `once` handler's wrapper knows the handler it runs, so that `off(event, handler)` finds it. */
type Once = Loose & { listener?: unknown };

export class Emitter<E extends EventMap<E>> {
  private readonly handlers = new Map<keyof E, Set<E[keyof E]>>();

  constructor(private readonly onHandlerError: (err: unknown) => void = rethrowLater) {}

  /**
   * Adds a handler; returns a function that removes it.
   *
   * @example
   * const off = client.on('connected', () => console.log('up'));
   * off();
   */
  on<K extends keyof E>(event: K, handler: E[K]): () => void {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(handler);
    return () => this.off(event, handler);
  }

  /** Adds a handler that runs once; returns a function that removes it. */
  once<K extends keyof E>(event: K, handler: E[K]): () => void {
    const wrapped: Once = (...args: unknown[]) => {
      this.handlers.get(event)?.delete(wrapped as unknown as E[K]);
      (handler as unknown as Loose)(...args);
    };
    wrapped.listener = handler;
    return this.on(event, wrapped as unknown as E[K]);
  }

  /** Removes a handler added with `on` or `once`. */
  off<K extends keyof E>(event: K, handler: E[K]): void {
    const set = this.handlers.get(event);
    if (!set || set.delete(handler)) return;
    for (const h of set) {
      if ((h as unknown as Once).listener === handler) {
        set.delete(h);
        return;
      }
    }
  }

  /** Calls every handler of `event`; returns how many there were. */
  emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): number {
    const set = this.handlers.get(event);
    if (!set || set.size === 0) return 0;
    for (const handler of [...set]) {
      try {
        (handler as unknown as Loose)(...(args as unknown[]));
      } catch (err) {
        this.onHandlerError(err);
      }
    }
    return set.size;
  }

  /** How many handlers `event` has. */
  count(event: keyof E): number {
    return this.handlers.get(event)?.size ?? 0;
  }

  removeAll(): void {
    this.handlers.clear();
  }
}

function rethrowLater(err: unknown): void {
  setTimeout(() => {
    throw err;
  }, 0);
}
