"""PyTorch peer of `crates/facecmp-train/examples/speed.rs`: trains the same `compact` tower
(width 16, 128-d embedding, ResNet-style stages; see crates/facecmp-train/src/model.rs) with the
same contrastive loss (margin 1), SGD (lr 0.05 with the same linear warm-up over 50 steps,
Nesterov momentum 0.9, weight decay 5e-4) and the same batch layout (both images of every pair in
one [2B, 3, S, S] NCHW forward pass), on 2 threads (or THREADS), and prints pairs/s the way
speed.rs counts it.

    /work/torch-venv/bin/python bench/peers/train_compact_torch.py BATCH INPUT [STEPS [THREADS]]
    /usr/bin/time -v /work/torch-venv/bin/python bench/peers/train_compact_torch.py 32 64 30

The input is random synthetic data of the right shape, made fresh each step: data loading and
augmentation are not what is compared (burn's figure includes its own augmentation of the batch,
≈ 4 % of its CPU time in the profile in BENCHMARKS.md). pairs/s is BATCH × STEPS over the
wall time of all STEPS steps, the first one included, as speed.rs reports it; the rate after
WARMUP steps is printed too. The peak RSS is the whole process, `import torch` included.
"""

import resource
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

# What `speed` prints ("tower: N parameters"): burn's `num_params` counts the batch-norm running
# means and variances too (1,632 values), so it is torch's parameters + running statistics.
BURN_PARAMETERS = 321_264
WARMUP = 3


class ConvBn(nn.Sequential):
    """conv (no bias) → batch norm, as model.rs's ConvBn."""

    def __init__(self, cin, cout, kernel, stride):
        conv = nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False)
        super().__init__(conv, nn.BatchNorm2d(cout))


class ResidualBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.first = ConvBn(cin, cout, 3, stride)
        self.second = ConvBn(cout, cout, 3, 1)
        reshape = stride != 1 or cin != cout
        self.shortcut = ConvBn(cin, cout, 1, stride) if reshape else nn.Identity()

    def forward(self, x):
        return F.relu(self.second(F.relu(self.first(x))) + self.shortcut(x))


class CompactTower(nn.Module):
    def __init__(self, input_size, width=16, embedding_dim=128):
        super().__init__()
        w = width
        self.stem = ConvBn(3, w, 3, 2 if input_size >= 64 else 1)
        self.stages = nn.Sequential(
            ResidualBlock(w, 2 * w, 2), ResidualBlock(2 * w, 4 * w, 2), ResidualBlock(4 * w, 8 * w, 2)
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.embed = nn.Linear(8 * w, embedding_dim)
        self.embed_norm = nn.BatchNorm1d(embedding_dim)

    def forward(self, faces):
        x = self.stages(F.relu(self.stem(faces)))
        e = self.embed_norm(self.embed(self.pool(x).flatten(1)))
        return e / (e.pow(2).sum(1, keepdim=True) + 1e-12).sqrt()  # model.rs's l2_normalise


def contrastive(a, b, genuine, margin=1.0):
    """loss.rs: mean(y·d² + (1 − y)·max(0, m − d)²), d = ‖a − b‖."""
    squared = (a - b).pow(2).sum(1)
    distance = (squared + 1e-9).sqrt()
    return (genuine * squared + (1 - genuine) * (margin - distance).clamp_min(0).pow(2)).mean()


def main():
    args = [int(a) for a in sys.argv[1:]]
    batch, side, steps, threads = (args + [32, 32, 40, 2][len(args):])[:4]
    torch.set_num_threads(threads)
    torch.manual_seed(42)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"oneDNN {torch.backends.mkldnn.is_available()}, cpu {torch.backends.cpu.get_cpu_capability()}")

    tower = CompactTower(side).train()
    parameters = sum(p.numel() for p in tower.parameters())
    buffers = sum(b.numel() for n, b in tower.named_buffers() if "running" in n)
    print(f"tower: {parameters} parameters + {buffers} running statistics = {parameters + buffers}; "
          f"burn's: {BURN_PARAMETERS}")
    assert parameters + buffers == BURN_PARAMETERS, "not the same network as burn's"
    optimizer = torch.optim.SGD(tower.parameters(), lr=0.05, momentum=0.9, dampening=0.0,
                                nesterov=True, weight_decay=5e-4)
    labels = torch.tensor([1.0] * (batch // 2) + [0.0] * (batch - batch // 2))

    seconds = []
    for step in range(steps):
        started = time.perf_counter()
        for group in optimizer.param_groups:
            # schedule.rs's 50-step warm-up; its cosine decay after it is left out (a rate costs nothing).
            group["lr"] = 0.05 * min(step + 1, 50) / 50
        faces = torch.randn(2 * batch, 3, side, side)  # images of pair i at rows 2i and 2i + 1
        genuine = labels[torch.randperm(batch)]
        embeddings = tower(faces)
        loss = contrastive(embeddings[0::2], embeddings[1::2], genuine)
        loss.item()  # burn reads the loss back every step too
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seconds.append(time.perf_counter() - started)

    print(f"training: compact width 16, input {side}, batch {batch} pairs, {steps} steps: "
          f"{batch * steps / sum(seconds):.1f} pairs/s "
          f"({batch * (steps - WARMUP) / sum(seconds[WARMUP:]):.1f} after {WARMUP} warm-up steps)")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
