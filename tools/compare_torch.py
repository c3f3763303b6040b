#!/usr/bin/env python3
"""Compares `clformer run` with PyTorch's nn.TransformerEncoderLayer on the CPU.

Builds one PyTorch encoder layer (default d_model 384, 12 heads, d_ff 1536,
post-LN, ReLU), saves its weights as safetensors and a random input as .npy,
times PyTorch's forward (inference mode, median of --runs after warm-up) and
then `clformer run` on the same weights and input, checks that the outputs
agree, and prints both times and their ratio. Needs torch and numpy
(Debian: python3-torch); exits 77 when they are missing.

Usage: tools/compare_torch.py [--clformer build/tools/clformer] [--seq 512]
       [--d-model 384] [--heads 12] [--d-ff 1536] [--layers 1] [--runs 20]
       [--threads 2] [--device SPEC]
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time


def save_safetensors(path, tensors):
    """Writes float32 tensors (name -> numpy array) in the safetensors format."""
    header, offset, blobs = {}, 0, []
    for name, arr in tensors.items():
        data = arr.astype('<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(arr.shape),
                        'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--clformer', default=os.path.join(os.path.dirname(__file__), '..',
                                                       'build', 'tools', 'clformer'))
    ap.add_argument('--seq', type=int, default=512)
    ap.add_argument('--d-model', type=int, default=384)
    ap.add_argument('--heads', type=int, default=12)
    ap.add_argument('--d-ff', type=int, default=1536)
    ap.add_argument('--layers', type=int, default=1)
    ap.add_argument('--runs', type=int, default=20)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--device', default=None)
    a = ap.parse_args()
    try:
        import numpy as np
        import torch
    except ImportError as e:
        print(f'compare_torch: {e}; install python3-torch to compare', file=sys.stderr)
        return 77

    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    layer = torch.nn.TransformerEncoderLayer(a.d_model, a.heads, a.d_ff, dropout=0.0,
                                             batch_first=True)
    model = (torch.nn.TransformerEncoder(layer, a.layers, enable_nested_tensor=False)
             if a.layers > 1 else layer).eval()
    x = torch.rand(1, a.seq, a.d_model) * 2 - 1

    with torch.inference_mode():
        for _ in range(3):
            y = model(x)
        times = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            y = model(x)
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    torch_ms = times[len(times) // 2]

    with tempfile.TemporaryDirectory() as tmp:
        wpath, xpath, ypath = (os.path.join(tmp, n) for n in ('w.safetensors', 'x.npy', 'y.npy'))
        save_safetensors(wpath, {k: v.detach().numpy() for k, v in model.state_dict().items()})
        np.save(xpath, x[0].numpy().astype('<f4'))
        cmd = [a.clformer, 'run', '--weights', wpath, '--input', xpath, '--output', ypath,
               '--layers', str(a.layers), '--d-model', str(a.d_model), '--heads', str(a.heads),
               '--d-ff', str(a.d_ff), '--runs', str(a.runs), '--json']
        if a.device:
            cmd += ['--device', a.device]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            print(res.stderr, file=sys.stderr)
            return 1
        run = json.loads(res.stdout)
        ours = np.load(ypath)
    ref = y[0].numpy()
    err = float(np.abs(ours - ref).max())
    rel = float(np.linalg.norm(ours - ref) / np.linalg.norm(ref))
    print(f'shape: {a.layers} layer(s), d_model {a.d_model}, {a.heads} heads, d_ff {a.d_ff}, '
          f'seq {a.seq}, batch 1, {a.threads} threads')
    print(f'pytorch {torch.__version__}: {torch_ms:.2f} ms (median of {a.runs})')
    print(f'clformer on {run["device"]}: {run["ms"]:.2f} ms (median of {a.runs})')
    print(f'ratio (pytorch / clformer): {torch_ms / run["ms"]:.2f}')
    print(f'outputs agree: max abs difference {err:.2e}, relative {rel:.2e}')
    return 0 if rel < 1e-4 else 1


if __name__ == '__main__':
    sys.exit(main())
