// A small WebSocket client (RFC 6455) on node:http, for the test and the bench: Node 20's WebSocket
// needs --experimental-websocket. Binary and text messages, in order; pings answered; no extensions.
// (In a browser, Deno, Bun or Node ≥ 22 the built-in WebSocket speaks to the service the same way.)
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export class SocketClient {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private fragments: Buffer[] = [];
  private fragmentOpcode = 0;
  private messages: Array<Uint8Array | string> = [];
  private waiters: Array<{ resolve: (m: Uint8Array | string) => void; reject: (e: Error) => void }> = [];
  private closed: Error | undefined;

  private constructor(private readonly socket: Socket, head: Buffer) {
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => this.receive(data));
    socket.on('close', () => this.fail(new Error('the WebSocket closed')));
    socket.on('error', (error) => this.fail(error));
    if (head.length) this.receive(head);
  }

  /** Opens ws://… (rejects with the status and body when the server answers without upgrading). */
  static connect(url: string, timeoutMs = 30_000): Promise<SocketClient> {
    const key = randomBytes(16).toString('base64');
    const target = new URL(url);
    return new Promise((resolve, reject) => {
      const req = request({
        host: target.hostname, port: target.port, path: target.pathname + target.search, timeout: timeoutMs,
        headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': key, 'sec-websocket-version': '13' },
      });
      req.on('upgrade', (response, socket, head) => {
        const expected = createHash('sha1').update(key + GUID).digest('base64');
        if (response.headers['sec-websocket-accept'] !== expected) {
          socket.destroy();
          reject(new Error('the server answered the upgrade with a wrong Sec-WebSocket-Accept'));
        } else resolve(new SocketClient(socket, head));
      });
      req.on('response', (response) => {
        let body = '';
        response.on('data', (d: Buffer) => (body += d));
        response.on('end', () => reject(Object.assign(new Error(`no upgrade: ${response.statusCode} ${body}`), { status: response.statusCode, body })));
      });
      req.on('timeout', () => req.destroy(new Error('the upgrade timed out')));
      req.on('error', reject);
      req.end();
    });
  }

  /** Sends a binary message (or a text one). */
  send(data: Uint8Array | string): void {
    if (this.closed) throw this.closed;
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    const n = payload.length;
    const lengthBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
    const frame = Buffer.allocUnsafe(2 + lengthBytes + 4 + n);
    frame[0] = 0x80 | (typeof data === 'string' ? 1 : 2); // FIN, opcode
    frame[1] = 0x80 | (lengthBytes === 0 ? n : lengthBytes === 2 ? 126 : 127); // masked (a client always masks)
    if (lengthBytes === 2) frame.writeUInt16BE(n, 2);
    if (lengthBytes === 8) frame.writeBigUInt64BE(BigInt(n), 2);
    const maskAt = 2 + lengthBytes;
    randomBytes(4).copy(frame, maskAt);
    for (let i = 0; i < n; i++) frame[maskAt + 4 + i] = payload[i]! ^ frame[maskAt + (i & 3)]!;
    this.socket.write(frame);
  }

  /** The next message (binary as bytes, text as a string); rejects once the socket is closed. */
  next(): Promise<Uint8Array | string> {
    const message = this.messages.shift();
    if (message !== undefined) return Promise.resolve(message);
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Closes the connection (a close frame, then the TCP socket). */
  close(): void {
    if (!this.closed) {
      const frame = Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]); // close 1000, mask 0
      this.socket.end(frame);
    }
    this.fail(new Error('the WebSocket was closed by the client'));
  }

  private fail(error: Error): void {
    this.closed ??= error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.closed);
  }

  private receive(data: Buffer): void {
    this.chunks.push(data);
    this.buffered += data.length;
    for (;;) {
      if (this.buffered < 2) return;
      const head = this.peek(Math.min(this.buffered, 10));
      const short = head[1]! & 0x7f;
      const lengthBytes = short === 126 ? 2 : short === 127 ? 8 : 0;
      if (head.length < 2 + lengthBytes) return;
      const length = lengthBytes === 2 ? head.readUInt16BE(2) : lengthBytes === 8 ? Number(head.readBigUInt64BE(2)) : short;
      const start = 2 + lengthBytes; // server frames are not masked
      if (this.buffered < start + length) return;
      const frame = this.take(start + length);
      this.frame(frame[0]! >>> 7, frame[0]! & 0x0f, frame.subarray(start));
    }
  }

  private frame(fin: number, opcode: number, payload: Buffer): void {
    if (opcode === 8) {
      this.socket.end();
      this.fail(new Error(`the server closed the WebSocket (${payload.length >= 2 ? payload.readUInt16BE(0) : 1005})`));
      return;
    }
    if (opcode === 9) { // ping → pong
      const pong = Buffer.alloc(6 + payload.length);
      pong[0] = 0x8a;
      pong[1] = 0x80 | payload.length;
      payload.copy(pong, 6); // mask 0
      this.socket.write(pong);
      return;
    }
    if (opcode === 10) return;
    if (opcode !== 0) this.fragmentOpcode = opcode;
    this.fragments.push(payload);
    if (!fin) return;
    const whole = Buffer.concat(this.fragments);
    this.fragments = [];
    const message = this.fragmentOpcode === 1 ? whole.toString('utf8') : new Uint8Array(whole.buffer, whole.byteOffset, whole.length);
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(message);
    else this.messages.push(message);
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    return Buffer.concat(this.chunks).subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return all.subarray(0, n);
  }
}
