import type { SingleBar } from 'cli-progress';

/**
 * A progress bar on stderr, drawn only on a terminal: piped or redirected output gets the result
 * alone, not a stream of redraws. cli-progress is loaded on first use. `format` replaces the part
 * after the bar (cli-progress tokens, and the names of the payload given to update).
 */
export function progressBar(label: string, format = '{percentage}% | {value}/{total} | {duration_formatted}') {
  const tty = process.stderr.isTTY === true;
  let bar: SingleBar | null = null;
  let loading: Promise<void> | null = null;
  let last: [number, number, object] | null = null;
  const draw = () => {
    if (!bar || !last) return;
    bar.setTotal(Math.max(last[1], last[0], 1));
    bar.update(last[0], last[2]);
  };
  return {
    update(value: number, total: number, payload: object = {}) {
      if (!tty) return;
      last = [value, total, payload];
      if (bar) return draw();
      loading ??= import('cli-progress').then(({ default: cliProgress }) => {
        bar = new cliProgress.SingleBar(
          { format: `${label} [{bar}] ${format}`, stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(Math.max(total, 1), 0, payload);
        draw();
      });
    },
    async stop() {
      await loading;
      bar?.stop();
      bar = null;
    },
  };
}
