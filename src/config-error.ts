/** A bad setting: `field` names it (and the env var that set it); the CLI exits 78 with the message. */
export class ConfigError extends Error {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`${field}: ${detail}`);
    this.name = 'ConfigError';
  }
}
