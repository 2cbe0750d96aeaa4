import { describe, expect, it } from 'vitest';
import { TokenSource } from '../../src/client/token.js';

/** A `getToken` whose answers the test gives, one per call, in order. */
function scripted() {
  const answers: Array<(token: string) => void> = [];
  const getToken = () => new Promise<string>((resolve) => answers.push(resolve));
  return { getToken, answers };
}

describe('TokenSource (the SDK token cache)', () => {
  it('does not let a getToken call given up on bring its token back after a newer one', async () => {
    const { getToken, answers } = scripted();
    const tokens = new TokenSource(undefined, getToken);
    const late = tokens.fresh();
    tokens.abandon(); // the connection gave up waiting (connectTimeoutMs)
    const next = tokens.fresh();
    expect(answers).toHaveLength(2); // asked again, not handed the call it gave up on
    answers[1]!('new');
    expect(await next).toBe('new');
    answers[0]!('late');
    expect(await late).toBe('late'); // its own caller still hears it...
    expect(await tokens.get()).toBe('new'); // ...but it is not the token from now on
    expect(answers).toHaveLength(2);
  });

  it('does not let a late answer bring back a token after the current one was refused', async () => {
    const { getToken, answers } = scripted();
    const tokens = new TokenSource(undefined, getToken);
    const first = tokens.fresh();
    answers[0]!('one');
    expect(await first).toBe('one');
    const slow = tokens.fresh();
    tokens.abandon();
    tokens.refused(); // the server refused 'one'
    answers[1]!('late');
    await slow;
    const again = tokens.get(); // no token now: getToken is asked
    expect(answers).toHaveLength(3);
    answers[2]!('two');
    expect(await again).toBe('two');
  });

  it('shares one getToken call between callers while it runs', async () => {
    const { getToken, answers } = scripted();
    const tokens = new TokenSource(undefined, getToken);
    const a = tokens.get();
    const b = tokens.fresh();
    await Promise.resolve();
    expect(answers).toHaveLength(1);
    answers[0]!('shared');
    expect([await a, await b]).toEqual(['shared', 'shared']);
  });
});
