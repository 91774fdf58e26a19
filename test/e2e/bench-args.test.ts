import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from './bench-args';

describe('npm run bench: the command line', () => {
  it('when no --workers is given, then the bench runs in-process with its defaults', () => {
    expect(parseBenchArgs([])).toEqual({ studies: 20, size: 256, concurrency: 1, workers: 0 });
  });

  it('when --workers N and --concurrency M are given, then the queue mode runs N workers of M analyses each', () => {
    expect(
      parseBenchArgs(['--workers', '2', '--concurrency', '4', '--studies', '40', '--in-flight', '8', '--ep', 'webgpu']),
    ).toEqual({ studies: 40, size: 256, concurrency: 4, workers: 2, inFlight: 8, ep: 'webgpu' });
  });

  it('when --local is given, then the in-process bench reads the studies from memory; with --workers it is refused', () => {
    expect(parseBenchArgs(['--local', '--ep', 'webgpu'])).toMatchObject({ workers: 0, local: true, ep: 'webgpu' });
    expect(parseBenchArgs([])).not.toHaveProperty('local');
    expect(() => parseBenchArgs(['--local', '--workers', '2'])).toThrow(/--local is for the in-process bench/);
  });

  it('when --decode-threads is 0, then it is kept (decoding in the analyzing thread), not dropped as unset', () => {
    expect(parseBenchArgs(['--decode-threads', '0']).decodeThreads).toBe(0);
  });

  it.each([
    [['--workers=-1'], '--workers must be a whole number of at least 0, not "-1"'],
    [['--workers', '1.5'], '--workers must be a whole number of at least 0, not "1.5"'],
    [['--concurrency', '0'], '--concurrency must be a whole number of at least 1, not "0"'],
    [['--studies', ''], '--studies must be a whole number of at least 1, not ""'],
    [['--size', '300'], '--size must be 256 or 512, not "300"'],
    [['--ep', 'tensorrt'], '--ep must be one of auto, cpu, webgpu, cuda, not "tensorrt"'],
    [['--in-flight', '4'], '--in-flight is for the queue: give --workers N (1 or more) with it'],
    [['--syntax', '1.2.3'], '--syntax must be one of the transfer syntax UIDs'],
    [['--worker', '2'], "Unknown option '--worker'"],
  ])('when given %j, then it says what is wrong', (args, message) => {
    expect(() => parseBenchArgs(args)).toThrow(message);
  });
});
