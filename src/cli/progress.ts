import type { SingleBar } from 'cli-progress';

/**
 * A progress bar on stderr, drawn only on a terminal: piped or redirected output gets the result
 * alone, not a stream of redraws. cli-progress is loaded on first use.
 */
export function progressBar(label: string) {
  const tty = process.stderr.isTTY === true;
  let bar: SingleBar | null = null;
  let loading: Promise<void> | null = null;
  let last: [number, number] | null = null;
  const draw = () => {
    if (!bar || !last) return;
    bar.setTotal(Math.max(last[1], last[0], 1));
    bar.update(last[0]);
  };
  return {
    update(value: number, total: number) {
      if (!tty) return;
      last = [value, total];
      if (bar) return draw();
      loading ??= import('cli-progress').then(({ default: cliProgress }) => {
        bar = new cliProgress.SingleBar(
          { format: `${label} [{bar}] {percentage}% | {value}/{total} | {duration_formatted}`, stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(Math.max(total, 1), 0);
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
