import { startEmulator, runEmulatorFromCli } from '../../src/emulator';
import { createClock } from '../../src/emulator/clock';
import { client, createChatBatch } from './helpers';

describe('clocks', () => {
  test('manual clock moves only through advance', () => {
    const c = createClock('manual', 1, 100);
    expect(c.now()).toBe(100);
    c.advance(2.5);
    expect(c.now()).toBe(102.5);
    expect(() => c.advance(-1)).toThrow(RangeError);
  });

  test('real clock runs at `speed` times wall time', async () => {
    const c = createClock('real', 100, 0);
    const t = Date.now();
    await new Promise((r) => setTimeout(r, 50));
    const elapsedWall = (Date.now() - t) / 1000;
    expect(c.now()).toBeGreaterThanOrEqual(elapsedWall * 100 * 0.9);
    expect(c.now()).toBeLessThan(elapsedWall * 100 + 5);
    expect(() => createClock('real', 0)).toThrow();
  });

  test('a real-clock emulator at high speed completes a batch without advance()', async () => {
    const h = await startEmulator({
      speed: 1000,
      apiKey: 'k',
      validatingSeconds: 2,
      requestSeconds: 1,
      finalizingSeconds: 2,
    });
    try {
      const c = client(h, h.url, 'k');
      const b = await createChatBatch(c, 3);
      let status = b.status;
      for (let i = 0; i < 100 && status !== 'completed'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        status = (await c.batches.retrieve(b.id)).status;
      }
      expect(status).toBe('completed');
    } finally {
      await h.close();
    }
  });

  test('runEmulatorFromCli prints the URL and key and stops on SIGTERM', async () => {
    const lines: string[] = [];
    let url = '';
    const listeners = process.listenerCount('SIGTERM');
    const running = runEmulatorFromCli({
      apiKey: 'sk-cli',
      print: (l) => lines.push(l),
      onReady: (h) => {
        url = h.url;
        process.emit('SIGTERM', 'SIGTERM');
      },
    });
    await running;
    expect(lines.join('\n')).toContain(`OPENAI_BASE_URL=${url}`);
    expect(lines.join('\n')).toContain('OPENAI_API_KEY=sk-cli');
    expect(process.listenerCount('SIGTERM')).toBe(listeners);
    await expect(fetch(`${url}/batches`)).rejects.toThrow();
  });
});
