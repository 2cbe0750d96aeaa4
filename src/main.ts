#!/usr/bin/env node
/**
 * The roomcast CLI. The only module that reads `process.env` and handles signals.
 *
 *   roomcast serve            run the broker (the default)
 *   roomcast token --sub alice --subscribe 'chat:*' --publish 'chat:*' --ttl 1h
 *   roomcast check-config     validate the config and print a summary
 *   roomcast echo-config laravel-echo-server.json   the equivalent roomcast config (docs/laravel.md)
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { mintToken, parseTtl } from './auth/mint.js';
import { createBroker } from './broker/create-broker.js';
import { type Config, ConfigError, clustered, loadConfig } from './config.js';
import { fromEchoServerConfig } from './echo/migrate.js';

const EX_USAGE = 64;
const EX_CONFIG = 78;

/** Usage of each command; `roomcast <command> --help` prints its own, `roomcast help` all of them. */
const COMMANDS = {
  serve: `  serve                 run the broker (default); configured by config/default.json, ROOMCAST_CONFIG and env vars`,
  token: `  token --sub ID [--subscribe P]... [--publish P]... [--presence P]... [--ttl 1h] [--info JSON]
        [--namespace /] [--private-key file.pem]
                        mint a user token with the namespace's secret (ROOMCAST_JWT_SECRET), or with
                        --private-key for RS*/ES*/PS*; exit 78 when there is no key to sign with`,
  'check-config': `  check-config          validate the configuration and print a summary (exit 78 when bad)`,
  'echo-config': `  echo-config FILE      print the roomcast config equivalent to a laravel-echo-server.json (notes on stderr)`,
  help: `  help                  this text (also: roomcast <command> --help)`,
} as const;
type Command = keyof typeof COMMANDS;

const USAGE = `usage: roomcast [serve | token | check-config | echo-config | help]\n${Object.values(COMMANDS).join('\n')}`;

async function main(argv: string[]): Promise<number> {
  const [command = 'serve', ...args] = argv;
  if (command === 'help' || command === '--help' || command === '-h') return help(USAGE);
  if (!(command in COMMANDS)) {
    console.error(`roomcast: unknown command "${command}"\n${USAGE}`);
    return EX_USAGE;
  }
  if (args.includes('--help') || args.includes('-h'))
    return help(`usage: roomcast ${command}\n${COMMANDS[command as Command]}`);
  switch (command as Command) {
    case 'serve':
      noArguments('serve', args);
      return serve();
    case 'token':
      return token(args);
    case 'check-config':
      noArguments('check-config', args);
      return checkConfig();
    case 'echo-config':
      return echoConfig(args);
    default:
      return help(USAGE);
  }
}

function help(text: string): number {
  console.log(text);
  return 0;
}

function noArguments(command: string, args: string[]): void {
  if (args.length) throw new UsageError(`${command}: takes no arguments (got ${args.join(' ')})`);
}

function config(): Config {
  return loadConfig(process.env);
}

async function serve(): Promise<number> {
  const cfg = config();
  const broker = await createBroker(cfg);
  // A broker holds thousands of connections: a stray rejection (a library's promise nobody
  // awaited, e.g. a Redis call during an outage) is logged as a bug, not a reason to drop them all.
  process.on('unhandledRejection', (err) => broker.log.error({ err }, 'unhandled promise rejection'));
  const listening = await broker.listen().catch(async (err: unknown) => {
    await broker.close().catch(() => undefined);
    throw listenError(err, cfg);
  });
  const { url, metrics } = listening;
  broker.log.info(
    {
      url,
      metrics: metrics ? `${metrics.url}/metrics` : `${url}/metrics`,
      cluster: cfg.redis.target?.kind ?? 'memory',
    },
    'roomcast listening',
  );
  if (!cfg.production) printDevBanner(cfg, url);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    broker.log.info({ signal }, 'draining');
    broker.close().then(
      () => process.exit(0),
      (err: unknown) => {
        broker.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return new Promise<number>(() => undefined); // runs until a signal
}

/** A port or host that cannot be listened on is the operator's setting: one line, exit 78. */
function listenError(err: unknown, cfg: Config): unknown {
  const { code, port } = err as NodeJS.ErrnoException & { port?: number };
  const metrics = port !== undefined && port !== cfg.port && port === cfg.metrics.port;
  const why = `cannot listen on ${cfg.host}:${metrics ? port : cfg.port} (${code})`;
  if (code === 'EADDRINUSE' || code === 'EACCES')
    return new ConfigError(metrics ? 'ROOMCAST_METRICS_PORT (config metrics.port)' : 'PORT', why);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new ConfigError('HOST', why);
  return err;
}

function printDevBanner(cfg: Config, url: string): void {
  const ns = cfg.namespaces['/']!;
  // With only a public key configured the server cannot sign a demo token (it has no private key).
  const demo = ns.jwt.secrets.length
    ? mintToken(ns, {
        sub: 'demo',
        rooms: { subscribe: ['*'], publish: ['*'], presence: ['*'] },
        info: { name: 'Demo' },
        ttlSec: 24 * 3600,
      })
    : null;
  const lines = [
    '',
    `roomcast (development) on ${url}  — ${clustered(cfg) ? `cluster over Redis (${cfg.redis.target?.kind})` : 'one node, in memory'}`,
    generatedSecretLine(cfg.generated),
    cfg.generated.apiKey ? `  ROOMCAST_API_KEYS=${cfg.generated.apiKey}   (generated for this run)` : '',
    '',
    ...(demo
      ? [
          'Demo token (sub "demo", every room, 24h):',
          `  ${demo}`,
          '',
          'Connect (from this folder; prints the join reply, then each message):',
          `  node -e 'const s = require("socket.io-client").io("${url}", { auth: { token: "${demo}" } }); s.emit("join", { room: "chat:lobby" }, console.log); s.on("message", console.log)'`,
        ]
      : [
          'Mint a token with your private key: roomcast token --sub demo --subscribe "*" --private-key key.pem',
        ]),
    'Publish from your backend:',
    `  curl -s -X POST ${url}/v1/publish -H "Authorization: Bearer ${ns.apiKeys[0]}" -H "Content-Type: application/json" -d '{"room":"chat:lobby","event":"msg","data":{"text":"hi"}}'`,
    cfg.demo ? `Demo page: ${url}/` : '',
    '',
  ];
  console.log(lines.filter((l, i, all) => l !== '' || all[i - 1] !== '').join('\n'));
}

/**
 * The generated JWT secret as the banner shows it: as `ROOMCAST_JWT_SECRET` only when namespace
 * `/` uses it (that env var sets `/`'s secret); other keyless namespaces share it and are named.
 */
function generatedSecretLine(generated: Config['generated']): string {
  const { jwtSecret, jwtSecretFor } = generated;
  if (!jwtSecret) return '';
  const others = jwtSecretFor.filter((name) => name !== '/');
  const also = others.length ? `; also the JWT secret of namespaces ${others.join(', ')}` : '';
  return jwtSecretFor.includes('/')
    ? `  ROOMCAST_JWT_SECRET=${jwtSecret}   (generated for this run${also})`
    : `  JWT secret of namespaces ${others.join(', ')} (no jwt.secrets in the config; generated for this run): ${jwtSecret}`;
}

function token(args: string[]): number {
  const { values } = parseArgs({
    args,
    options: {
      sub: { type: 'string' },
      subscribe: { type: 'string', multiple: true },
      publish: { type: 'string', multiple: true },
      presence: { type: 'string', multiple: true },
      ttl: { type: 'string', default: '1h' },
      info: { type: 'string' },
      namespace: { type: 'string', default: '/' },
      'private-key': { type: 'string' },
    },
    strict: true,
  });
  if (!values.sub) throw new UsageError('token: --sub is required');
  const cfg = config();
  const ns = cfg.namespaces[values.namespace];
  if (!ns) throw new UsageError(`token: no namespace "${values.namespace}" in the config`);
  if (
    !values['private-key'] &&
    ns.jwt.secrets[0] !== undefined &&
    ns.jwt.secrets[0] === cfg.generated.jwtSecret
  ) {
    // A key made up for this run signs a token no broker accepts: a configuration problem (78).
    throw new ConfigError(
      ns.name === '/' ? 'ROOMCAST_JWT_SECRET' : `config namespaces.${ns.name}.jwt.secrets`,
      `no JWT key to sign with for namespace "${ns.name}": set ${ns.name === '/' ? "ROOMCAST_JWT_SECRET to the broker's secret" : 'jwt.secrets in the config file'}, or pass --private-key key.pem`,
    );
  }
  let info: unknown;
  if (values.info !== undefined) {
    try {
      info = JSON.parse(values.info);
    } catch {
      throw new UsageError('token: --info must be JSON');
    }
  }
  const jwt = mintOrUsage(ns, {
    sub: values.sub,
    rooms: {
      subscribe: values.subscribe ?? [],
      publish: values.publish ?? [],
      presence: values.presence ?? [],
    },
    info,
    ttlSec: parseTtlOrUsage(values.ttl),
    ...(values['private-key'] ? { privateKey: readFileSync(values['private-key'], 'utf8') } : {}),
  });
  console.log(jwt);
  return 0;
}

/** `mintToken`, with its complaints (no secret, no RS/ES/PS algorithm) as usage errors: exit 64, no stack. */
function mintOrUsage(ns: Parameters<typeof mintToken>[0], opts: Parameters<typeof mintToken>[1]): string {
  try {
    return mintToken(ns, opts);
  } catch (err) {
    throw new UsageError(`token: ${(err as Error).message}`);
  }
}

function parseTtlOrUsage(value: string): number {
  try {
    return parseTtl(value);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function checkConfig(): number {
  const cfg = config();
  console.log(
    `config ok: ${Object.keys(cfg.namespaces).length} namespace(s) [${Object.keys(cfg.namespaces).join(', ')}], ` +
      `${clustered(cfg) ? `cluster over Redis (${cfg.redis.target?.kind}, ${cfg.redis.mode})` : 'one node in memory'}, ` +
      `${cfg.production ? 'production' : 'development'}`,
  );
  return 0;
}

/** Prints the roomcast config (stdout) for a laravel-echo-server.json, and what did not carry over (stderr). */
function echoConfig(args: string[]): number {
  const [file] = args;
  if (!file || args.length > 1) throw new UsageError('echo-config: give one laravel-echo-server.json');
  let les: unknown;
  try {
    les = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`echo-config: cannot read ${file} as JSON (${(err as Error).message})`);
  }
  let migration: ReturnType<typeof fromEchoServerConfig>;
  try {
    migration = fromEchoServerConfig(les);
  } catch (err) {
    throw new UsageError(`echo-config: ${(err as Error).message}`);
  }
  console.log(JSON.stringify(migration.config, null, 2));
  for (const line of migration.notes) console.error(`not carried over: ${line}`);
  return 0;
}

class UsageError extends Error {}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConfigError) {
      console.error(`roomcast: config error: ${err.message}`);
      process.exit(EX_CONFIG);
    }
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`roomcast: ${(err as Error).message}\n${USAGE}`);
      process.exit(EX_USAGE);
    }
    console.error('roomcast: fatal:', err);
    process.exit(1);
  },
);
