/**
 * roomcast's server API: load a config, create a broker, listen.
 *
 * @example
 * import { createBroker, loadConfig } from 'roomcast';
 * const broker = await createBroker(loadConfig(process.env));
 * await broker.listen();
 */
export { type Broker, type BrokerOptions, createBroker } from './broker/create-broker.js';
export { type Config, ConfigError, loadConfig, type NamespaceConfig } from './config.js';
export { RoomcastError } from './errors.js';
export * from './protocol.js';
