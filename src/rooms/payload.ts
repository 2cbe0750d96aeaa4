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
