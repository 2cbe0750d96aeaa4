#!/usr/bin/env node
/**
 * The roomcast CLI. The only module that reads `process.env` and handles signals.
 *
 *   roomcast serve            run the broker (the default)
 *   roomcast token --sub alice --subscribe 'chat:*' --publish 'chat:*' --ttl 1h
 *   roomcast check-config     validate the config and print a summary
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { mintToken, parseTtl } from './auth/mint.js';
import { createBroker } from './broker/create-broker.js';
import { type Config, ConfigError, loadConfig } from './config.js';

const EX_USAGE = 64;
const EX_CONFIG = 78;

const USAGE = `usage: roomcast [serve | token | check-config | help]
  serve                 run the broker (default); configured by config/default.json, ROOMCAST_CONFIG and env vars
  token --sub ID [--subscribe P]... [--publish P]... [--presence P]... [--ttl 1h] [--info JSON]
        [--namespace /] [--private-key file.pem]
                        mint a user token with the configured key
  check-config          validate the configuration and print a summary`;

async function main(argv: string[]): Promise<number> {
  const [command = 'serve', ...args] = argv;
  switch (command) {
    case 'serve':
      return serve();
    case 'token':
      return token(args);
    case 'check-config':
      return checkConfig();
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;
    default:
      console.error(`roomcast: unknown command "${command}"\n${USAGE}`);
      return EX_USAGE;
  }
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
  const { url } = await broker.listen().catch(async (err: unknown) => {
    await broker.close().catch(() => undefined);
    throw listenError(err, cfg);
  });
  broker.log.info(
    { url, cluster: cfg.redis.target ? cfg.redis.target.kind : 'memory' },
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
  const code = (err as NodeJS.ErrnoException).code;
  const why = `cannot listen on ${cfg.host}:${cfg.port} (${code})`;
  if (code === 'EADDRINUSE' || code === 'EACCES') return new ConfigError('PORT', why);
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
    `roomcast (development) on ${url}  — one node, in memory`,
    cfg.generated.jwtSecret
      ? `  ROOMCAST_JWT_SECRET=${cfg.generated.jwtSecret}   (generated for this run)`
      : '',
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
  if (cfg.generated.jwtSecret && !values['private-key']) {
    console.error(
      'roomcast: warning: no ROOMCAST_JWT_SECRET is set; this token is signed with a one-off key',
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
      `${cfg.redis.target ? `cluster over Redis (${cfg.redis.target.kind}, ${cfg.redis.mode})` : 'one node in memory'}, ` +
      `${cfg.production ? 'production' : 'development'}`,
  );
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
