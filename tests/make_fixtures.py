"""PyTorch reference fixtures for the Kim CNN (tests/nn_reference.rs).

Builds a tiny Kim model with the reference implementation of ../shared/bench/torch_kim.py
(`KimCnn("conv1d", ...)`, its vocabulary and map count shrunk, its 2-class head replaced by a
3-class one), computes logits, the mean cross-entropy and every gradient on a fixed batch of
full-length rows (PyTorch has no valid-window masking, so no padding is used), then two optimizer
steps on that batch for Adam, AdamW, SGD with momentum and Adadelta, and writes everything to
tests/fixtures/kim_reference.json. Dropout is 0 (the model is put in eval mode; gradients flow
the same way).

Conversions to textcnn's layout: Conv1d weight [maps, emb_dim, h] -> [maps, h, emb_dim];
embedding row 0 (<pad>) is zeroed (no id 0 occurs in the batch, so it stays zero).

Regenerate (from the repository root):

    /tmp/refvenv/bin/python tests/make_fixtures.py
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared", "bench"))
sys.path.insert(0, "/work/shared/bench")
import torch_kim  # noqa: E402

VOCAB, EMB, REGIONS, MAPS, CLASSES, BATCH, SEQ = 20, 6, (2, 3), 4, 3, 3, 7


def build():
    torch.manual_seed(0)
    torch_kim.VOCAB, torch_kim.NF = VOCAB, MAPS
    m = torch_kim.KimCnn("conv1d", e=EMB, widths=REGIONS)
    m.fc = nn.Linear(MAPS * len(REGIONS), CLASSES)
    with torch.no_grad():
        m.emb.weight.mul_(0.25)  # textcnn's init scale; any values work for the comparison
        m.emb.weight[0].zero_()
    m.eval()
    return m


def named(m):
    """Parameters (or gradients) under textcnn's names and layout."""
    out = {}

    def put(name, t):
        out[name] = {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1)]}

    def get(p, grad):
        return p.grad if grad else p

    def collect(grad):
        put("embedding.weight", get(m.emb.weight, grad))
        for h, conv in zip(REGIONS, m.convs):
            put(f"conv{h}.weight", get(conv.weight, grad).permute(0, 2, 1).contiguous())
            put(f"conv{h}.bias", get(conv.bias, grad))
        put("fc.weight", get(m.fc.weight, grad))
        put("fc.bias", get(m.fc.bias, grad))
        return out

    return collect


def main():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, VOCAB, (BATCH, SEQ), generator=g)
    labels = torch.tensor([0, 2, 1])
    m = build()
    fix = {
        "config": {"vocab_size": VOCAB, "emb_dim": EMB, "region_sizes": list(REGIONS), "feature_maps": MAPS,
                   "num_classes": CLASSES, "dropout": 0.0},
        "ids": ids.reshape(-1).tolist(),
        "labels": labels.tolist(),
        "batch": BATCH,
        "seq_len": SEQ,
        "params": named(m)(False),
    }
    logits = m(ids)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    fix["logits"] = [float(v) for v in logits.detach().reshape(-1)]
    fix["loss"] = loss.item()
    fix["grads"] = named(m)(True)

    runs = {
        "adam": ({"kind": "adam", "lr": 0.01, "weight_decay": 0.0, "momentum": 0.0},
                 lambda p: torch.optim.Adam(p, lr=0.01)),
        "adam_l2": ({"kind": "adam", "lr": 0.01, "weight_decay": 0.1, "momentum": 0.0},
                    lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1)),
        "adamw": ({"kind": "adamw", "lr": 0.01, "weight_decay": 0.1, "momentum": 0.0},
                  lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)),
        "sgd": ({"kind": "sgd", "lr": 0.1, "weight_decay": 0.01, "momentum": 0.9},
                lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01)),
        "adadelta": ({"kind": "adadelta", "lr": 1.0, "weight_decay": 0.0, "momentum": 0.0},
                     lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.95, eps=1e-6)),
    }
    fix["steps"] = {}
    for name, (cfg, make) in runs.items():
        m = build()
        # weight decay must not move the <pad> row: textcnn never updates it
        opt = make(m.parameters())
        losses = []
        for _ in range(2):
            opt.zero_grad()
            loss = F.cross_entropy(m(ids), labels)
            loss.backward()
            m.emb.weight.grad[0].zero_()
            opt.step()
            with torch.no_grad():
                m.emb.weight[0].zero_()
            losses.append(loss.item())
        cfg.update({"max_norm": None, "clip_grad_norm": None, "sparse_embedding": False, "freeze_embedding": False})
        fix["steps"][name] = {"optimizer": cfg, "losses": losses, "params": named(m)(False)}

    path = os.path.join(HERE, "fixtures", "kim_reference.json")
    with open(path, "w") as f:
        json.dump(fix, f)
    print(f"wrote {path} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
