import type { RandomSource } from '../io/RandomSource.js';
import type { ScanContext } from '../ScanContext.js';
import type { Severity } from '../types.js';
import { ProtoError, ProtoReader } from './ProtoReader.js';

/** TensorFlow ops that run Python, or read/write arbitrary files, when a graph is executed. */
const riskyOps: Record<string, [Severity, string]> = {
  PyFunc: ['critical', 'runs a Python function'],
  PyFuncStateless: ['critical', 'runs a Python function'],
  EagerPyFunc: ['critical', 'runs a Python function'],
  ReadFile: ['high', 'reads an arbitrary file'],
  WriteFile: ['high', 'writes an arbitrary file'],
  MatchingFiles: ['high', 'lists files on the host'],
  ImmutableConst: ['medium', 'memory-maps a file named in the graph'],
  DebugIdentityV2: ['medium', 'writes debug events to a path named in the graph'],
  PrintV2: ['low', 'prints to a stream named in the graph'],
  // Non-checkpoint file writers: a model has no reason to run them at load or serve time.
  DatasetToTFRecord: ['high', 'writes a dataset to a file named in the graph'],
  ExperimentalDatasetToTFRecord: ['high', 'writes a dataset to a file named in the graph'],
  SaveDataset: ['high', 'writes a dataset to a directory named in the graph'],
  SaveDatasetV2: ['high', 'writes a dataset to a directory named in the graph'],
  SnapshotDataset: ['high', 'writes dataset snapshots to a directory named in the graph'],
  SnapshotDatasetV2: ['high', 'writes dataset snapshots to a directory named in the graph'],
  CreateSummaryFileWriter: ['high', 'writes event files to a directory named in the graph'],
  CreateSummaryDbWriter: ['high', 'writes to a database file named in the graph'],
  // Checkpoint writers: every SavedModel's saver has them (so they cannot rank higher without
  // flagging every model), but TF1 loading runs main_op/restore_op, which may point at them.
  SaveV2: ['low', 'writes checkpoint files to a path the graph computes'],
  Save: ['low', 'writes checkpoint files to a path the graph computes'],
  SaveSlices: ['low', 'writes checkpoint files to a path the graph computes'],
  MergeV2Checkpoints: ['low', 'merges and deletes checkpoint files at paths the graph computes'],
  LoadLibrary: ['critical', 'loads a native library'],
};

/**
 * TensorFlow `saved_model.pb` (SavedModel → MetaGraphDef → GraphDef / FunctionDefLibrary →
 * NodeDef.op): reports risky ops. Constant tensors embedded in the graph are skipped by offset.
 */
export async function scanSavedModel(src: RandomSource, ctx: ScanContext): Promise<void> {
  const p = new ProtoReader(src);
  const seen = new Map<string, { at: number; count: number }>();
  const nodeDef = async (start: number, end: number): Promise<void> => {
    for await (const f of p.fields(start, end)) {
      if (f.field === 2 && f.wire === 2) {
        const op = await p.string(f, 256);
        if (op in riskyOps) {
          const s = seen.get(op);
          if (s) s.count++;
          else seen.set(op, { at: start, count: 1 });
        }
      }
    }
  };
  const graphDef = async (start: number, end: number): Promise<void> => {
    for await (const f of p.fields(start, end)) {
      if (f.wire !== 2) continue;
      if (f.field === 1) await nodeDef(f.start, f.end);
      else if (f.field === 2) {
        for await (const fn of p.fields(f.start, f.end)) {
          if (fn.field !== 1 || fn.wire !== 2) continue;
          for await (const part of p.fields(fn.start, fn.end)) if (part.field === 3 && part.wire === 2) await nodeDef(part.start, part.end);
        }
      }
    }
  };
  try {
    for await (const f of p.fields(0, src.size)) {
      if (f.field !== 2 || f.wire !== 2) continue;
      for await (const m of p.fields(f.start, f.end)) if (m.field === 2 && m.wire === 2) await graphDef(m.start, m.end);
    }
  } catch (err) {
    if (!(err instanceof ProtoError)) throw err;
    ctx.add('tf/invalid', 'high', `malformed SavedModel protobuf (not validated): ${err.message}`);
  }
  for (const [op, { at, count }] of seen) {
    const [severity, why] = riskyOps[op]!;
    ctx.add('tf/risky-op', severity, `graph uses ${op} (${why})${count > 1 ? ` ${count} times` : ''}`, at);
  }
}
