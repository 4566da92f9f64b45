# numpy reference for BENCHMARKS.md "1:N search": exact top 5 *samples* over N x 128 f32 unit vectors
# (one matrix-vector product + argpartition; no per-person step). Usage: python numpy_top5.py [N]
import sys, time
import numpy as np
n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
rng = np.random.default_rng(0)
m = rng.standard_normal((n, 128), dtype=np.float32)
m /= np.linalg.norm(m, axis=1, keepdims=True)
qs = rng.standard_normal((50, 128), dtype=np.float32)
qs /= np.linalg.norm(qs, axis=1, keepdims=True)
times = []
for q in qs:
    t = time.perf_counter()
    s = m @ q
    top = np.argpartition(-s, 5)[:5]
    top = top[np.argsort(-s[top])]
    times.append(time.perf_counter() - t)
times.sort()
print(f"numpy {np.__version__}, {n} x 128: median {times[len(times)//2]*1e3:.2f} ms, min {times[0]*1e3:.2f} ms")
