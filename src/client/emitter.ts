/**
 * A small typed event emitter that runs in browsers and Node alike (no `node:events`). A handler
 * that throws does not stop the others: the error goes to `onHandlerError`.
 */

/** Event names and their handlers' signatures, e.g. `{ connected: (info: { url: string }) => void }`. */
export type EventMap<E> = { [K in keyof E]: (...args: never[]) => void };

type Loose = (...args: unknown[]) => void;

export class Emitter<E extends EventMap<E>> {
  /** Per event: each handler as it was given, and what runs for it (itself, or its `once` wrapper). */
  private readonly handlers = new Map<keyof E, Map<E[keyof E], Loose>>();

  constructor(private readonly onHandlerError: (err: unknown) => void = rethrowLater) {}

  /**
   * Adds a handler; returns a function that removes it.
   *
   * @example
   * const off = client.on('connected', () => console.log('up'));
   * off();
   */
  on<K extends keyof E>(event: K, handler: E[K]): () => void {
    return this.add(event, handler, false);
  }

  /** Adds a handler that runs once; returns a function that removes it. */
  once<K extends keyof E>(event: K, handler: E[K]): () => void {
    return this.add(event, handler, true);
  }

  /** Removes a handler added with `on` or `once`. */
  off<K extends keyof E>(event: K, handler: E[K]): void {
    this.handlers.get(event)?.delete(handler);
  }

  /** Calls every handler of `event`; returns how many there were. */
  emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): number {
    const runs = this.handlers.get(event);
    if (!runs || runs.size === 0) return 0;
    for (const run of [...runs.values()]) {
      try {
        run(...(args as unknown[]));
      } catch (err) {
        this.onHandlerError(err);
      }
    }
    return runs.size;
  }

  private add<K extends keyof E>(event: K, handler: E[K], once: boolean): () => void {
    let runs = this.handlers.get(event);
    if (!runs) {
      runs = new Map();
      this.handlers.set(event, runs);
    }
    const call = handler as unknown as Loose;
    runs.set(
      handler,
      once
        ? (...args) => {
            this.off(event, handler);
            call(...args);
          }
        : call,
    );
    return () => this.off(event, handler);
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
