"""PyTorch reference fixture for the conv2d architecture (tests/nn_conv2d_reference.rs).

A tiny model with every conv2d feature: embedding (row 0 = <pad> zeroed) -> unsqueeze(1) ->
Conv2d(1, 3, 3, padding="same") -> ReLU -> MaxPool2d(2) -> Conv2d(3, 2, 2, padding="same") (an
even kernel: PyTorch pads 0 before and 1 after, as textcnn) -> ReLU -> AvgPool2d(2) ->
flatten -> Linear(4, 5) -> ReLU -> Linear(5, 3). Computes the logits, the mean cross-entropy
and every gradient on a fixed batch (one row ends in <pad> ids), then one Adam step (lr 0.01),
and writes tests/fixtures/conv2d_reference.json. Dropout is 0 (eval mode). textcnn's parameter
layout is PyTorch's (conv weight [maps, c_in, k, k], linear weight [out, in]); only the names
differ.

Regenerate (from the repository root):

    /tmp/refvenv/bin/python tests/make_conv2d_fixture.py
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB, EMB, SEQ, CLASSES, BATCH = 11, 6, 8, 3, 3


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMB)
        self.conv0 = nn.Conv2d(1, 3, 3, padding="same")
        self.conv1 = nn.Conv2d(3, 2, 2, padding="same")
        self.hidden0 = nn.Linear(2 * 2 * 1, 5)
        self.fc = nn.Linear(5, CLASSES)

    def forward(self, ids):
        x = self.emb(ids).unsqueeze(1)
        x = F.max_pool2d(F.relu(self.conv0(x)), 2)
        x = F.avg_pool2d(F.relu(self.conv1(x)), 2)
        return self.fc(F.relu(self.hidden0(x.flatten(1))))


def build():
    torch.manual_seed(0)
    m = Net()
    with torch.no_grad():
        m.emb.weight.mul_(0.5)
        m.emb.weight[0].zero_()
        for p in [m.conv0.weight, m.conv1.weight, m.hidden0.weight, m.fc.weight]:
            p.mul_(2.0)  # larger activations: fewer dead ReLUs in the tiny model
    m.eval()
    return m


def named(m, grad):
    out = {}
    pairs = [("embedding.weight", m.emb.weight), ("conv0.weight", m.conv0.weight),
             ("conv0.bias", m.conv0.bias), ("conv1.weight", m.conv1.weight), ("conv1.bias", m.conv1.bias),
             ("hidden0.weight", m.hidden0.weight), ("hidden0.bias", m.hidden0.bias),
             ("fc.weight", m.fc.weight), ("fc.bias", m.fc.bias)]
    for name, p in pairs:
        t = p.grad if grad else p
        out[name] = {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1)]}
    return out


def main():
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(1, VOCAB, (BATCH, SEQ), generator=g)
    ids[1, 5:] = 0  # row 1 has 5 real tokens then <pad>
    lengths = [SEQ, 5, SEQ]
    labels = torch.tensor([2, 0, 1])
    m = build()
    fix = {
        "config": {"vocab_size": VOCAB, "emb_dim": EMB, "seq_len": SEQ,
                   "blocks": [{"kernel": 3, "maps": 3, "pool": 2, "pool_kind": "max"},
                              {"kernel": 2, "maps": 2, "pool": 2, "pool_kind": "avg"}],
                   "hidden": [5], "dropout": 0.0, "num_classes": CLASSES},
        "ids": ids.reshape(-1).tolist(),
        "lengths": lengths,
        "labels": labels.tolist(),
        "params": named(m, False),
    }
    logits = m(ids)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    m.emb.weight.grad[0].zero_()  # textcnn never trains the <pad> row (PyTorch without padding_idx does)
    fix["logits"] = [float(v) for v in logits.detach().reshape(-1)]
    fix["loss"] = loss.item()
    fix["grads"] = named(m, True)
    m = build()
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    opt.zero_grad()
    F.cross_entropy(m(ids), labels).backward()
    m.emb.weight.grad[0].zero_()
    opt.step()
    fix["adam_step"] = named(m, False)
    path = os.path.join(HERE, "fixtures", "conv2d_reference.json")
    with open(path, "w") as f:
        json.dump(fix, f)
    print(f"wrote {path} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
