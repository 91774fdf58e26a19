/**
 * What a process on this machine has used so far, read from Linux's /proc (proc(5)): its resident memory now and at
 * its peak (VmRSS, VmHWM of /proc/<pid>/status) and its CPU time (utime + stime of /proc/<pid>/stat, every thread).
 * For the benchmarks, which report them per process (the API, each worker, Redis, Orthanc).
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux x86-64). */
const USER_HZ = 100;

export interface ProcessUsage {
  rssBytes: number;
  /** The high-water mark of its resident memory over its whole life. */
  peakRssBytes: number;
  /** User + system CPU milliseconds of all its threads. */
  cpuMs: number;
}

/** kB fields of /proc/<pid>/status, e.g. `VmHWM:	  123456 kB`. */
function statusKb(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) : NaN;
}

/** Undefined when the process has gone (or /proc cannot be read: not Linux). */
export function readProcessUsage(pid: number): ProcessUsage | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, hence the last ')'): utime is the 14th, stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      rssBytes: statusKb(status, 'VmRSS') * 1024,
      peakRssBytes: statusKb(status, 'VmHWM') * 1024,
      cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ,
    };
  } catch {
    return undefined;
  }
}
