import { createMemoryEngine } from '../../src/backends/memory-engine.js';
import { engineSuite, RecordingSink } from './engine-suite.js';

engineSuite('memory', async () => {
  const sinkA = new RecordingSink();
  const sinkB = new RecordingSink();
  const engine = createMemoryEngine(RecordingSink.both(sinkA, sinkB));
  return { a: engine, b: engine, sinkA, sinkB, close: () => engine.close() };
});
