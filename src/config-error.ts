/** A bad setting: `field` names it (and the env var that set it); the CLI exits 78 with the message. */
export class ConfigError extends Error {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    // One line, always: a JSON error quotes the file's text, line breaks included.
    super(`${field}: ${detail}`.replace(/\s*[\r\n]+\s*/g, ' '));
    this.name = 'ConfigError';
  }
}
