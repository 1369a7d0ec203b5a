import type { ScanContext } from '../ScanContext.js';

/** Module roots that Keras deserialises its own objects from. */
const kerasModuleRoots = new Set(['keras', 'tf_keras', 'tensorflow', 'keras_hub', 'keras_nlp', 'keras_cv']);
/** Modules whose objects run commands or code when Keras resolves them (CVE-2025-1550 style). */
const dangerousModuleRoots = new Set(['os', 'posix', 'nt', 'subprocess', 'builtins', '__builtin__', 'sys', 'importlib', 'runpy', 'pty', 'socket', 'shutil', 'pickle', 'marshal', 'code', 'ctypes', 'webbrowser', 'io', 'pathlib', 'requests', 'urllib', 'numpy', 'pandas', 'torch']);

/**
 * Walks a Keras model config (config.json of `.keras`, `model_config` of H5): `Lambda` layers
 * carry marshalled Python bytecode, and `module`/`registered_name` pairs decide which Python
 * object Keras imports.
 */
export function checkKerasConfig(config: unknown, ctx: ScanContext, where: string): void {
  const seen = new Set<string>();
  const report = (rule: string, severity: 'critical' | 'high' | 'medium', message: string): void => {
    const key = rule + message;
    if (seen.has(key)) return;
    seen.add(key);
    ctx.add(rule, severity, `${where}: ${message}`);
  };
  const walk = (node: unknown, depth: number): void => {
    if (depth > 200 || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const v of node) walk(v, depth + 1);
      return;
    }
    const o = node as Record<string, unknown>;
    const className = typeof o.class_name === 'string' ? o.class_name : undefined;
    if (className === 'Lambda') {
      report('keras/lambda-layer', 'high', 'Lambda layer: its function is Python bytecode that runs when the model is loaded or called');
    }
    const module = typeof o.module === 'string' ? o.module : undefined;
    const registered = typeof o.registered_name === 'string' ? o.registered_name : undefined;
    // `@register_keras_serializable` objects carry "Package>Name": resolved from the user's
    // registry (custom code the user must supply), not imported by module name.
    const customRegistered = registered !== undefined && registered.includes('>');
    if (module !== undefined) {
      const root = module.split('.')[0]!;
      if (dangerousModuleRoots.has(root)) {
        report('keras/unsafe-module', 'critical', `object ${JSON.stringify(className ?? '?')} is resolved from module ${JSON.stringify(module)}, which runs code or commands`);
      } else if (!kerasModuleRoots.has(root) && !customRegistered) {
        report('keras/unsafe-module', 'high', `object ${JSON.stringify(className ?? '?')} is imported from non-Keras module ${JSON.stringify(module)}`);
      }
    }
    if (className === 'function' && typeof o.config === 'string' && module !== undefined && !kerasModuleRoots.has(module.split('.')[0]!)) {
      report('keras/unsafe-module', 'critical', `function ${JSON.stringify(o.config)} from ${JSON.stringify(module)} is called on load`);
    }
    if (customRegistered && (module === undefined || !dangerousModuleRoots.has(module.split('.')[0]!))) {
      report('keras/custom-object', 'medium', `custom object ${JSON.stringify(registered)} needs user code registered at load time`);
    }
    for (const v of Object.values(o)) walk(v, depth + 1);
  };
  walk(config, 0);
}
