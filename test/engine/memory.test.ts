import { createMemoryEngine } from '../../src/backends/memory-engine.js';
import { engineSuite } from './engine-suite.js';

engineSuite('memory', async () => {
  const engine = createMemoryEngine();
  return { a: engine, b: engine, close: () => engine.close() };
});
