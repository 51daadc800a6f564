// pino for the daemon: JSON lines for machines, readable lines when a person watches
// a terminal. stdout carries nothing but log lines.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export function createLogger(level: string, pretty_ = process.stdout.isTTY === true): Logger {
  const options = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (!pretty_) return pino(options);
  return pino(options, pretty({ sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
}

export type { Logger };
