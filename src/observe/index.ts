export { createLogger, redactUrl, type Logger, type LoggerOptions } from './logger.js';
