import type { MessagePort, TransferListItem } from 'node:worker_threads';
import type { Endpoint } from 'comlink';

/**
 * Comlink speaks the web's `addEventListener('message', ev => ev.data)`; a Node MessagePort delivers the
 * bare value through `on('message')`. Comlink ships a Node adapter, but it has no usable types under
 * NodeNext, so this is the typed equivalent. Control plane only: the data plane never goes through Comlink.
 */
type Listener = ((event: { data: unknown }) => void) | { handleEvent(event: { data: unknown }): void };

export function nodeEndpoint(port: MessagePort): Endpoint {
  const wrapped = new WeakMap<Listener, (data: unknown) => void>();
  const endpoint = {
    postMessage(message: unknown, transfer?: TransferListItem[]) {
      port.postMessage(message, transfer);
    },
    addEventListener(_type: string, listener: Listener) {
      const onData = (data: unknown) => {
        const event = { data };
        if (typeof listener === 'function') listener(event);
        else listener.handleEvent(event);
      };
      wrapped.set(listener, onData);
      port.on('message', onData);
    },
    removeEventListener(_type: string, listener: Listener) {
      const onData = wrapped.get(listener);
      if (onData !== undefined) port.off('message', onData);
    },
    start() {
      port.start();
    },
  };
  // Comlink types its endpoint with DOM event types that Node's typings do not declare.
  return endpoint as unknown as Endpoint;
}
