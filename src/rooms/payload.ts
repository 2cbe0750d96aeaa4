/**
 * The size of a published payload, as the `payloadBytes` limit counts it: the bytes of its JSON,
 * except that binary parts (Socket.IO carries Buffers and typed arrays as binary attachments) count
 * their own length, not the three to four times longer JSON of their numbers.
 *
 * @example
 * payloadSize({ text: 'hi' }); // 13
 * payloadSize({ file: Buffer.alloc(1000) }); // 1010 (1000 + `{"file":0}`)
 */
export function payloadSize(data: unknown): number {
  // Most payloads hold no binary: plain JSON.stringify keeps V8's fast path, which a replacer
  // function turns off (about twice the cost, on every publish).
  if (!holdsBinary(data)) return Buffer.byteLength(JSON.stringify(data) ?? 'null');
  let binary = 0;
  const json = JSON.stringify(data, function (this: Record<string, unknown>, key: string, value: unknown) {
    // `this[key]` is the value before its toJSON() ran: a Buffer, not `{ type: 'Buffer', data }`.
    const raw = this[key];
    if (raw instanceof ArrayBuffer || ArrayBuffer.isView(raw)) {
      binary += raw.byteLength;
      return 0;
    }
    return value;
  });
  return Buffer.byteLength(json ?? 'null') + binary;
}

/** Whether any value inside `data` is an ArrayBuffer or a view of one; iterative, so depth is no limit. */
export function holdsBinary(data: unknown): boolean {
  const stack: unknown[] = [data];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== 'object' || value === null) continue;
    if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return true;
    if (Array.isArray(value)) for (const item of value) stack.push(item);
    else for (const key of Object.keys(value)) stack.push((value as Record<string, unknown>)[key]);
  }
  return false;
}
