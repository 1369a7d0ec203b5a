import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTable, terminalSafe } from '../../src/cli/output.js';

// A hostile incident title / audit principal: clears the screen, sets the window title, reverses text, adds a line.
const hostile = 'a\u001b[2J\u001b]0;pwned\u0007b\u202eevil\u2066x\u009bc\nFAKE ROW\r';

test('table cells from the server cannot drive the terminal, reorder text or add lines', () => {
  const table = formatTable(['id', 'title'], [['inc_1', hostile], ['inc_2', 'ok']]);
  assert.doesNotMatch(table, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
  assert.equal(table.split('\n').length, 3, 'one line per row');
  assert.match(table, /a\\u001b\[2J\\u001b\]0;pwned\\u0007b\\u202eevil\\u2066x\\u009bc\\u000aFAKE ROW\\u000d/);
  // Columns still line up after escaping.
  const [header, row1, row2] = table.split('\n');
  assert.equal(header!.indexOf('title'), row1!.indexOf('a\\u001b'));
  assert.equal(row2!.indexOf('ok'), row1!.indexOf('a\\u001b'));
});

test('printed text keeps newlines, tabs and CRLF (policies, PEM) but not controls or bidi overrides', () => {
  assert.equal(terminalSafe('permit(principal, action, resource);\r\n\tx\n'), 'permit(principal, action, resource);\r\n\tx\n');
  assert.equal(terminalSafe('ok\rFAILED \u001b]0;t\u0007 \u202e'), 'ok\\u000dFAILED \\u001b]0;t\\u0007 \\u202e');
});
