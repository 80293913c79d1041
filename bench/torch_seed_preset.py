"""PyTorch CPU reference for `textcnn bench --workload seed`: the `--arch seed` preset
(vocab 10,002, emb 100, Conv2d 64 x 3x3 'same', ReLU, MaxPool 2x2, flatten, dense 64, ReLU,
dropout 0.5, dense 2; Adam 1e-3; batch 32) on random token ids.

Usage: python bench/torch_seed_preset.py SEQ_LEN THREADS [STEPS]
Prints one RESULT line with the median milliseconds per training step (after 3 warm-up steps).
Same timing method as ../shared/bench/torch_kim.py.
"""
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, EMB, MAPS, HIDDEN, BATCH = 10_002, 100, 64, 64, 32


class SeedPreset(nn.Module):
    def __init__(self, seq_len):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMB, padding_idx=0)
        self.conv = nn.Conv2d(1, MAPS, 3, padding=1)
        self.hidden = nn.Linear(MAPS * (seq_len // 2) * (EMB // 2), HIDDEN)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(HIDDEN, 2)

    def forward(self, ids):
        x = self.emb(ids).unsqueeze(1)  # [batch, 1, seq_len, emb]
        y = F.max_pool2d(F.relu(self.conv(x)), 2).flatten(1)
        return self.fc(self.drop(F.relu(self.hidden(y))))


def main():
    seq_len, threads = int(sys.argv[1]), int(sys.argv[2])
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    torch.set_num_threads(threads)
    torch.manual_seed(42)
    model = SeedPreset(seq_len)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(42)
    data = [(torch.randint(1, VOCAB, (BATCH, seq_len), generator=g),
             torch.randint(0, 2, (BATCH,), generator=g)) for _ in range(4)]
    warm, times = 3, []
    for i in range(warm + steps):
        ids, y = data[i % 4]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(ids), y)
        loss.backward()
        opt.step()
        loss.item()
        if i >= warm:
            times.append((time.perf_counter() - t0) * 1e3)
    print(f"RESULT framework=torch-{torch.__version__} workload=seed seq_len={seq_len} batch={BATCH} "
          f"threads={threads} ms_per_step={statistics.median(times):.2f} "
          f"min={min(times):.2f} max={max(times):.2f}")


if __name__ == "__main__":
    main()
