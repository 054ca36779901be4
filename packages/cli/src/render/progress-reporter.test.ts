import { describe, expect, it } from 'vitest';
import { progressReporter } from './progress-reporter.js';

function terminal(isTTY: boolean) {
  const written: string[] = [];
  return { isTTY, written, write: (text: string) => written.push(text) };
}

describe('progressReporter', () => {
  it('on a terminal: draws each step in place with its time, and clears the line when stopped', () => {
    const stream = terminal(true);
    let clock = 0;
    const progress = progressReporter({ json: false, stream, now: () => clock });
    progress.step('connecting to node main.js');
    clock = 2500;
    progress.step('listing tools');
    clock = 4600;
    // The timer's redraw, as it would come 100 ms later.
    (progress as unknown as { step: (s: string) => void }).step('listing tools');
    progress.stop();
    expect(stream.written[0]).toBe('\r\u001b[2K⠋ connecting to node main.js');
    expect(stream.written[1]).toBe('\r\u001b[2K⠙ listing tools');
    expect(stream.written.at(-1)).toBe('\r\u001b[2K');
    expect(stream.written.every((w) => w.startsWith('\r\u001b[2K'))).toBe(true);
    expect(stream.written.join('')).not.toContain('\n');
  });

  it('shows the seconds a step has taken once it passes one', async () => {
    const stream = terminal(true);
    let clock = 0;
    const progress = progressReporter({ json: false, stream, now: () => clock, intervalMs: 5 });
    progress.step('running the bundle tests');
    clock = 3200;
    await new Promise((r) => setTimeout(r, 30));
    progress.stop();
    expect(stream.written.some((w) => w.endsWith('running the bundle tests (3s)'))).toBe(true);
  });

  it('prints nothing when the stream is not a terminal, or with --json', () => {
    for (const [isTTY, json] of [[false, false], [true, true], [false, true]] as const) {
      const stream = terminal(isTTY);
      const progress = progressReporter({ json, stream });
      progress.step('connecting');
      progress.stop();
      expect(stream.written).toEqual([]);
    }
  });
});
