export type { AuditSink } from './AuditSink.js';
export { JsonLinesSink, formatJsonLine } from './JsonLinesSink.js';
export { SyslogSink, parseSyslogUrl, type SyslogSinkOptions } from './SyslogSink.js';
export { formatSyslogMessage, frameOctetCounted, DEFAULT_SD_ID, type SyslogFormatOptions } from './formatSyslog.js';
export { OtlpHttpSink, toOtlpLogsRequest, type OtlpHttpSinkOptions } from './OtlpHttpSink.js';
export { AuditForwarder, type AuditForwarderOptions } from './AuditForwarder.js';
export { createForwardSinks } from './createForwardSinks.js';
export { checkpointEntry, CHECKPOINT_EVENT_INDEX } from './checkpointEntry.js';
