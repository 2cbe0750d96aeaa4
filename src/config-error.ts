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

/** How an error names a config path: `config a.b`, or `ROOMCAST_X (config a.b)` when an env var set it. */
export function fieldLabel(path: string, envNames: ReadonlyMap<string, string>): string {
  const fromEnv = [...envNames].find(([prefix]) => path === prefix || path.startsWith(`${prefix}.`));
  return fromEnv ? `${fromEnv[1]} (config ${path})` : `config ${path}`;
}
