export interface HardeningOptions {
  decimals?: number;
  topK?: number;
  top1Only?: boolean;
}

export interface OipTensor {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown[];
  [key: string]: unknown;
}

export interface OipResponse {
  model_name?: string;
  outputs: OipTensor[];
  [key: string]: unknown;
}

function isProbabilityTensor(t: OipTensor): boolean {
  return t.shape.length === 2 && /^FP(16|32|64)$/.test(t.datatype) && (t.name === 'probabilities' || t.name === 'probs' || t.name === 'scores' || /prob/i.test(t.name));
}

/**
 * Output hardening against extraction (Tramèr et al. §6): fewer decimals, top-k or label-only
 * outputs remove most of what equation-solving needs. Returns a new response; the label tensor
 * and any other outputs are left as they are.
 */
export function hardenOutput<T extends OipResponse>(response: T, options: HardeningOptions | undefined): T {
  if (!options || (options.decimals === undefined && options.topK === undefined && !options.top1Only)) return response;
  if (!response || !Array.isArray(response.outputs)) return response;
  const outputs = response.outputs.map((t) => {
    if (!t || !Array.isArray(t.shape) || !Array.isArray(t.data) || !isProbabilityTensor(t)) return t;
    const [n, k] = t.shape as [number, number];
    if (t.data.length !== n * k) return t;
    const data = new Array<number>(n * k);
    const keep = options.top1Only ? 1 : Math.min(k, options.topK ?? k);
    const scale = options.decimals === undefined ? 0 : 10 ** options.decimals;
    const order = Array.from({ length: k }, (_, c) => c);
    for (let i = 0; i < n; i++) {
      const row = t.data.slice(i * k, (i + 1) * k).map((v) => (typeof v === 'number' ? v : Number(v)));
      order.sort((a, b) => row[b]! - row[a]! || a - b);
      for (let c = 0; c < k; c++) data[i * k + c] = 0;
      for (let r = 0; r < keep; r++) {
        const c = order[r]!;
        let v = options.top1Only ? 1 : row[c]!;
        if (scale) v = Math.round(v * scale) / scale;
        data[i * k + c] = v;
      }
    }
    return { ...t, data };
  });
  return { ...response, outputs };
}
