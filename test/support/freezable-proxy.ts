import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

// A TCP proxy in front of a real server that can be frozen: connections stay
// open but nothing is passed either way until it thaws, as a hung Redis (one
// stopped by SIGSTOP, or behind a stalled network) behaves.

export interface FreezableProxy {
  url: string;
  readonly frozen: boolean;
  freeze(): void;
  /** Passes on what waited, and everything after. */
  thaw(): void;
  /** Connections made through the proxy so far. */
  connections: number;
  close(): Promise<void>;
}

export async function startFreezableProxy(target: { host: string; port: number }, scheme = 'redis'): Promise<FreezableProxy> {
  const sockets = new Set<Socket>();
  const held: (() => void)[] = [];
  let frozen = false;
  const proxy: FreezableProxy = {
    url: '',
    get frozen() {
      return frozen;
    },
    freeze: () => {
      frozen = true;
    },
    thaw: () => {
      frozen = false;
      for (const send of held.splice(0)) send();
    },
    connections: 0,
    close: async () => {},
  };
  const server = createServer((client) => {
    proxy.connections += 1;
    const upstream = connect(target);
    sockets.add(client).add(upstream);
    const pass = (from: Socket, to: Socket) =>
      from.on('data', (chunk: Buffer) => {
        if (frozen) held.push(() => to.destroyed || to.write(chunk));
        else to.write(chunk);
      });
    pass(client, upstream);
    pass(upstream, client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return proxy;
}
