import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestValidator } from '../../../src/gateway/validate/index.js';
import { integerOfLiteral } from '../../../src/gateway/validate/exactIntegers.js';

const v = new RequestValidator();

/** Validates the OIP body `text` as the pipeline does: parsed, with the raw bytes beside it. */
function check(text: string): void {
  v.validate('oip.infer', JSON.parse(text) as Record<string, unknown>, Buffer.from(text));
}

function refused(text: string, message: string): void {
  assert.throws(() => check(text), (e: { code: string; status: number; message: string }) => {
    assert.equal(e.code, 'WARDEN_GATEWAY_INVALID_REQUEST');
    assert.equal(e.status, 400);
    assert.equal(e.message, message);
    return true;
  }, text);
}

const tensor = (datatype: string, data: string, shape = '[1]') => `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]},{"name":"t","shape":${shape},"datatype":"${datatype}","data":${data}}]}`;

test('integerOfLiteral: exact integers of JSON number literals, null for fractions', () => {
  assert.equal(integerOfLiteral('9223372036854775807'), 2n ** 63n - 1n);
  assert.equal(integerOfLiteral('-9223372036854775809'), -(2n ** 63n) - 1n);
  assert.equal(integerOfLiteral('9.223372036854775808e18'), 2n ** 63n);
  assert.equal(integerOfLiteral('9223372036854775807.000'), 2n ** 63n - 1n);
  assert.equal(integerOfLiteral('92233720368547758070e-1'), 2n ** 63n - 1n);
  assert.equal(integerOfLiteral('9223372036854775807.5'), null);
  assert.equal(integerOfLiteral('0.5'), null);
});

test('INT64 and UINT64 bounds are exact, though 2^63 - 1 and 2^63 parse to the same double', () => {
  check(tensor('INT64', '[9223372036854775807]'));
  check(tensor('INT64', '[-9223372036854775808]'));
  check(tensor('INT64', '[9223372036854775296]'));
  check(tensor('UINT64', '[18446744073709551615]'));
  check(tensor('INT64', '[9.223372036854775807e18]'));
  refused(tensor('INT64', '[9223372036854775808]'), 'inputs[1].data[0]: out of range for INT64');
  refused(tensor('INT64', '[1, 9223372036854775809]', '[2]'), 'inputs[1].data[1]: out of range for INT64');
  refused(tensor('INT64', '[-9223372036854775809]'), 'inputs[1].data[0]: out of range for INT64');
  refused(tensor('INT64', '[9223372036854776832]'), 'inputs[1].data[0]: out of range for INT64');
  refused(tensor('UINT64', '[18446744073709551616]'), 'inputs[1].data[0]: out of range for UINT64');
  refused(tensor('UINT64', '[[1], [18446744073709551616]]', '[2, 1]'), 'inputs[1].data[1]: out of range for UINT64');
  refused(tensor('UINT64', '[1.8446744073709551616e19]'), 'inputs[1].data[0]: out of range for UINT64');
  refused(tensor('INT64', '[9223372036854775807.5]'), 'inputs[1].data[0]: out of range for INT64');
  // Without the raw body the literal cannot be read: an element on the bound is refused (fail closed).
  assert.throws(() => v.validate('oip.infer', JSON.parse(tensor('INT64', '[9223372036854775807]')) as Record<string, unknown>), /out of range for INT64/);
  v.validate('oip.infer', JSON.parse(tensor('INT64', '[9223372036854774784]')) as Record<string, unknown>);
});

test('nested data must follow the shape: ragged, mixed and over-nested arrays are refused, naming the input', () => {
  const msg = (shape: string) => `inputs[1].data: nested arrays do not match shape ${shape} (ragged, mixed or nested too deep)`;
  check(tensor('INT32', '[[1, 2], [3, 4]]', '[2, 2]'));
  check(tensor('INT32', '[1, 2, 3, 4]', '[2, 2]'));
  check(tensor('INT32', '[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]', '[2, 2, 2]'));
  check(tensor('INT32', '[[1, 2, 3, 4], [5, 6, 7, 8]]', '[2, 2, 2]')); // inner dimensions flattened, still row-major
  check(tensor('INT32', '[[], []]', '[2, 0]'));
  check(tensor('INT32', '[7]', '[]'));
  refused(tensor('INT32', '[[1, 2, 3], [4]]', '[2, 2]'), msg('[2, 2]'));
  refused(tensor('INT32', '[[1], [2], [3], [4]]', '[2, 2]'), msg('[2, 2]'));
  refused(tensor('INT32', '[[1, 2], 3, 4]', '[2, 2]'), msg('[2, 2]'));
  refused(tensor('INT32', '[1, 2, [3, 4]]', '[2, 2]'), msg('[2, 2]'));
  refused(tensor('INT32', '[[1], [2]]', '[2]'), msg('[2]'));
  refused(tensor('INT32', '[[[1, 2]], [[3, 4]]]', '[2, 2]'), msg('[2, 2]'));
  refused(tensor('INT32', '[[1, 2, 3], [4, 5, 6, 7, 8]]', '[2, 2, 2]'), msg('[2, 2, 2]'));
  refused(tensor('INT32', '[[7]]', '[]'), msg('[]'));
});
