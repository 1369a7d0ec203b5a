/**
 * Jinja2 server-side template injection markers: what a chat template needs to escape the
 * template sandbox (dunder attribute walks, module globals, attr/getattr filters). Real chat
 * templates only loop over messages and format strings, so none of these appear in them.
 */
const markers: [RegExp, string][] = [
  [/__(class|mro|subclasses|globals|builtins|base|bases|init|import|getattribute|dict|code|func_globals|reduce|reduce_ex)__/, 'dunder attribute walk'],
  [/\\x5f\\x5f|\\u005f\\u005f|\\137\\137/i, 'escaped double underscore'],
  [/\|\s*attr\s*\(/, 'attr filter (attribute access by name)'],
  [/\b(os|subprocess|builtins|importlib|posix)\s*\.\s*(system|popen|spawn\w*|exec\w*|remove|unlink|rmdir|environ|getenv|import_module|run|call|check_output|Popen|eval)\b/, 'Python module access'],
  [/\b(popen|eval|exec|__import__|import_module|check_output)\s*\(/, 'code or command execution call'],
  [/\b(self\._TemplateReference__context|request\.application)\b/, 'Jinja internals whose globals reach os'],
];

/** Returns the reason the template looks like code execution, or null when it looks like a template. */
export function findTemplateInjection(template: string): string | null {
  for (const [re, why] of markers) {
    const m = re.exec(template);
    if (m) return `${why} (${JSON.stringify(m[0].slice(0, 60))})`;
  }
  return null;
}
