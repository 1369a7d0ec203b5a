import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestValidator } from '../../../src/gateway/validate/index.js';
import { isSafeNumber, LosslessNumber, parse } from 'lossless-json';
import { DataLiterals, integerOfLiteral } from '../../../src/gateway/validate/exactIntegers.js';

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

/** A raw body that counts how often it is decoded: every lossless parse of it starts with a decode. */
function countingBody(text: string): { raw: Buffer; decodes: () => number } {
  const raw = Buffer.from(text);
  let n = 0;
  const toString = raw.toString.bind(raw);
  raw.toString = ((...args: Parameters<Buffer['toString']>) => {
    n++;
    return toString(...args);
  }) as Buffer['toString'];
  return { raw, decodes: () => n };
}

// 64 inputs (the default maximum) each with one valid INT64 max: the body was re-parsed once per
// input, so a 1 MB body blocked the event loop for seconds. The work is counted, not timed.
test('the body is read for exact 64-bit literals once per request, however many inputs sit on a bound', () => {
  const inputs = (last: string) => Array.from({ length: 64 }, (_, i) => `{"name":"x${i}","shape":[3],"datatype":"INT64","data":[1,${i === 63 ? last : '9223372036854775807'},2]}`).join(',');
  const ok = countingBody(`{"inputs":[${inputs('9223372036854775807')}]}`);
  v.validate('oip.infer', JSON.parse(ok.raw.toString()) as Record<string, unknown>, ok.raw);
  assert.equal(ok.decodes(), 1 + 1, 'one decode here for JSON.parse, one for the validator');
  const bad = countingBody(`{"inputs":[${inputs('9223372036854775808')}]}`);
  const json = JSON.parse(bad.raw.toString()) as Record<string, unknown>;
  assert.throws(() => v.validate('oip.infer', json, bad.raw), { message: 'inputs[63].data[1]: out of range for INT64' });
  assert.equal(bad.decodes(), 2, 'the last input is still judged on its literal, from the same parse');
  // Without any element on a bound the body is not read at all.
  const plain = countingBody(tensor('INT64', '[9223372036854774784]'));
  v.validate('oip.infer', JSON.parse(plain.raw.toString()) as Record<string, unknown>, plain.raw);
  assert.equal(plain.decodes(), 1);
});

test('DataLiterals parses once, on first use, and serves every input from that parse', () => {
  let parses = 0;
  const text = '{"inputs":[{"data":[1,[2,9223372036854775807]]},{"data":[18446744073709551615]},{"data":"x"}]}';
  const literals = new DataLiterals(Buffer.from(text), (t) => {
    parses++;
    return parse(t, null, (n) => (isSafeNumber(n) ? parseFloat(n) : new LosslessNumber(n)));
  });
  assert.equal(parses, 0, 'nothing is parsed until an input asks');
  assert.deepEqual(literals.of(0), ['1', '2', '9223372036854775807']);
  assert.deepEqual(literals.of(1), ['18446744073709551615']);
  assert.equal(literals.of(2), null);
  assert.equal(literals.of(3), null);
  assert.deepEqual(literals.of(0), ['1', '2', '9223372036854775807']);
  assert.equal(parses, 1);
  const broken = new DataLiterals(Buffer.from('{"inputs":['), () => {
    parses++;
    throw new SyntaxError('x');
  });
  assert.equal(broken.of(0), null);
  assert.equal(broken.of(1), null);
  assert.equal(parses, 2, 'a body that does not parse is not tried again');
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
