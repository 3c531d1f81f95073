/**
 * Clock skew between this machine and the shared services: the readings (read.ts), used by
 * `livecomponents doctor --connect` and the token clean-up, and the running app's monitor (monitor.ts).
 */
export { CLOCK_SERVICES, databaseTimeOf, describeSkew, measureSkew, postgresTime, redisTime, type ClockService, type ClockSkew, type ServiceTime } from './read.js';
export { startClockSkewMonitor, type ClockSkewLog, type ClockSkewMonitor, type ClockSkewMonitorOptions, type ClockSource } from './monitor.js';
