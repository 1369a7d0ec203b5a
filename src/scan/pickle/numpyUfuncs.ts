/**
 * numpy's `_ufunc_reconstruct(module, name)` is `getattr(__import__(module), name)`: an import
 * gadget for anything but a ufunc. Only these modules and the ufunc names numpy 1.x/2.x define
 * (`isinstance(getattr(numpy, n), numpy.ufunc)`, plus numpy's own private umath ufuncs) pass.
 */
export const ufuncModules: ReadonlySet<string> = new Set([
  'numpy', 'numpy.core', 'numpy._core', 'numpy.core.umath', 'numpy._core.umath',
  'numpy.core._multiarray_umath', 'numpy._core._multiarray_umath',
]);

export const ufuncNames: ReadonlySet<string> = new Set([
  'abs', 'absolute', 'acos', 'acosh', 'add', 'arccos', 'arccosh', 'arcsin', 'arcsinh', 'arctan', 'arctan2', 'arctanh',
  'asin', 'asinh', 'atan', 'atan2', 'atanh', 'bitwise_and', 'bitwise_count', 'bitwise_invert', 'bitwise_left_shift',
  'bitwise_not', 'bitwise_or', 'bitwise_right_shift', 'bitwise_xor', 'cbrt', 'ceil', 'conj', 'conjugate', 'copysign',
  'cos', 'cosh', 'deg2rad', 'degrees', 'divide', 'divmod', 'equal', 'exp', 'exp2', 'expm1', 'fabs', 'float_power',
  'floor', 'floor_divide', 'fmax', 'fmin', 'fmod', 'frexp', 'gcd', 'greater', 'greater_equal', 'heaviside', 'hypot',
  'invert', 'isfinite', 'isinf', 'isnan', 'isnat', 'lcm', 'ldexp', 'left_shift', 'less', 'less_equal', 'log', 'log10',
  'log1p', 'log2', 'logaddexp', 'logaddexp2', 'logical_and', 'logical_not', 'logical_or', 'logical_xor', 'matmul',
  'matvec', 'maximum', 'minimum', 'mod', 'modf', 'multiply', 'negative', 'nextafter', 'not_equal', 'positive', 'pow',
  'power', 'rad2deg', 'radians', 'reciprocal', 'remainder', 'right_shift', 'rint', 'sign', 'signbit', 'sin', 'sinh',
  'spacing', 'sqrt', 'square', 'subtract', 'tan', 'tanh', 'true_divide', 'trunc', 'vecdot', 'vecmat',
  // numpy.core.umath only
  '_ones_like', '_arg', 'clip', 'str_len', 'isalnum', 'isalpha', 'isdecimal', 'isdigit', 'islower', 'isnumeric',
  'isspace', 'istitle', 'isupper', 'count', 'find', 'rfind', 'index', 'rindex', 'startswith', 'endswith',
]);
