#!/usr/bin/env python3
"""Speed and quality of `textcnn vectors` beside fastText's `skipgram` (or `cbow`), in one session.

Both tools train on the same tokens: the texts are written one per line, tokenized by textcnn's tokenizer
(`cargo build --release --example tokenize_lines`) and joined by spaces, and both read that file with the
same settings (dim, epoch, minn, maxn, bucket, threads, ...). The runs alternate (ours, fastText, ours,
fastText, ...) and each pair gives a ratio, so a machine whose speed drifts still compares like with like.
Each run is timed from outside as a whole process (start-up, reading and writing the vectors included):
wall seconds and CPU seconds (user + system, from wait4).

Quality, without analogies or labels: the cosine similarities of all pairs of the K most frequent words
(present in every file) are correlated between our vectors and fastText's. fastText against a second
fastText run (another seed; its Hogwild threads are not repeatable anyway) gives the agreement that two
equally good trainings reach, the yardstick for ours. Also the overlap of the 10 nearest neighbours.

    python bench/vectors.py                       # IMDB's 25,000 training reviews, 2 threads, 3 pairs
    python bench/vectors.py --input suite:news20  # the texts of a suite set's train.tsv
    python bench/vectors.py --input my.txt --model cbow --epoch 1 --runs 1

fastText: `--fasttext PATH` names its command-line binary (built from the source release: `make` in
fastText's folder); without one the script uses the Python module `fasttext` (fasttext-wheel) of this
interpreter, timed the same way in a child process that also writes the .vec file.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import time

import common


def imdb_texts(shared):
    """The 25,000 training reviews of the IMDB archive, in path order."""
    folder = os.path.join(shared, "data/imdb")
    for name in ("aclImdb_v1_labeled.tar.gz", "aclImdb_v1.tar.gz"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            break
    else:
        raise SystemExit(f"no IMDB archive in {folder}")
    rows = []
    with tarfile.open(path) as t:
        for m in t:
            parts = m.name.split("/")
            if m.isfile() and len(parts) == 4 and parts[1] == "train" and parts[2] in ("pos", "neg"):
                rows.append((m.name, t.extractfile(m).read().decode("utf-8")))
    rows.sort()
    return [text for _, text in rows]


def suite_texts(shared, name):
    path = common.suite_train_file(shared, name)
    if path is None:
        raise SystemExit(f"{name}: not a set of {shared}/data/suite")
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = header.index("text")
        return [line.rstrip("\n").split("\t")[col] for line in f]


def input_texts(spec, shared):
    if spec == "imdb":
        return imdb_texts(shared)
    if spec.startswith("suite:"):
        return suite_texts(shared, spec[len("suite:"):])
    with open(spec, encoding="utf-8") as f:
        return f.read().splitlines()


def tokenize(texts, raw_path, tok_path):
    """Writes the texts one per line (line breaks inside a text become spaces) and their tokens."""
    tool = os.path.join(common.ROOT, "target/release/examples/tokenize_lines")
    if not os.access(tool, os.X_OK):
        raise SystemExit(f"{tool}: build it with `cargo build --release --example tokenize_lines`")
    with open(raw_path, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(" ".join(t.split("\n")).replace("\r", " ") + "\n")
    with open(raw_path, "rb") as src, open(tok_path, "wb") as dst:
        subprocess.run([tool], stdin=src, stdout=dst, check=True)


def timed(cmd, log):
    """Runs `cmd` (output to `log`); returns (wall s, CPU s). Exits with the log if it fails. Removes the
    model fastText's binary saves beside its .vec (as large as its input matrix, 800 MB by default)."""
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(open(log, encoding="utf-8", errors="replace").read()[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    for i, arg in enumerate(cmd[:-1]):
        if arg == "-output" and os.path.isfile(cmd[i + 1] + ".bin"):
            os.remove(cmd[i + 1] + ".bin")
    return wall, usage.ru_utime + usage.ru_stime


FASTTEXT_PY = """
import sys, fasttext
inp, out, model, dim, epoch, lr, ws, neg, min_count, minn, maxn, bucket, t, threads, seed = sys.argv[1:]
kw = dict(model=model, dim=int(dim), epoch=int(epoch), lr=float(lr), ws=int(ws), neg=int(neg),
    minCount=int(min_count), minn=int(minn), maxn=int(maxn), bucket=int(bucket), t=float(t), thread=int(threads),
    verbose=0)
try:
    m = fasttext.train_unsupervised(inp, seed=int(seed), **kw)
except TypeError:  # fasttext-wheel 0.9.2 has no seed argument: a second run differs by its Hogwild threads alone
    m = fasttext.train_unsupervised(inp, **kw)
with open(out, "w", encoding="utf-8") as f:
    f.write(f"{len(m.words)} {m.get_dimension()}\\n")
    for w in m.words:
        f.write(w + " " + " ".join(f"{x:.5g}" for x in m.get_word_vector(w)) + "\\n")
"""


def fasttext_cmd(a, inp, out_prefix, seed):
    if a.fasttext:
        return [a.fasttext, a.model, "-input", inp, "-output", out_prefix, "-dim", str(a.dim), "-epoch",
                str(a.epoch), "-lr", str(a.lr), "-ws", str(a.ws), "-neg", str(a.neg), "-minCount",
                str(a.min_count), "-minn", str(a.minn), "-maxn", str(a.maxn), "-bucket", str(a.bucket),
                "-t", str(a.t), "-thread", str(a.threads), "-seed", str(seed), "-verbose", "0"]
    return [sys.executable, "-c", FASTTEXT_PY, inp, out_prefix + ".vec", a.model, str(a.dim), str(a.epoch),
            str(a.lr), str(a.ws), str(a.neg), str(a.min_count), str(a.minn), str(a.maxn), str(a.bucket),
            str(a.t), str(a.threads), str(seed)]


def ours_cmd(a, inp, out):
    return [a.textcnn, "vectors", "--input", inp, "--output", out, "--force", "--quiet", "--model", a.model,
            "--dim", str(a.dim), "--epoch", str(a.epoch), "--lr", str(a.lr), "--ws", str(a.ws), "--neg",
            str(a.neg), "--min-count", str(a.min_count), "--minn", str(a.minn), "--maxn", str(a.maxn),
            "--bucket", str(a.bucket), "--t", str(a.t), "--threads", str(a.threads), "--seed", "0"]


def load_vec(path):
    import numpy as np

    words, rows = [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        f.readline()
        for line in f:
            parts = line.rstrip().split(" ")
            if parts[0] == "</s>":  # fastText's end-of-line token; textcnn has none
                continue
            words.append(parts[0])
            rows.append(parts[1:])
    return words, np.array(rows, dtype=np.float32)


def agreement(a_path, b_path, k):
    """(Pearson, Spearman) of the pair cosines of the k most frequent common words, and the mean overlap of
    their 10 nearest neighbours among those words."""
    import numpy as np

    wa, A = load_vec(a_path)
    wb, B = load_vec(b_path)
    ib = {w: i for i, w in enumerate(wb)}
    common_words = [w for w in wa if w in ib][:k]
    ia = {w: i for i, w in enumerate(wa)}
    x = A[[ia[w] for w in common_words]]
    y = B[[ib[w] for w in common_words]]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    sx, sy = x @ x.T, y @ y.T
    iu = np.triu_indices(len(common_words), 1)
    pearson = float(np.corrcoef(sx[iu], sy[iu])[0, 1])
    rank = lambda v: np.argsort(np.argsort(v))
    spearman = float(np.corrcoef(rank(sx[iu]), rank(sy[iu]))[0, 1])
    np.fill_diagonal(sx, -2)
    np.fill_diagonal(sy, -2)
    nx = np.argsort(-sx, axis=1)[:, :10]
    ny = np.argsort(-sy, axis=1)[:, :10]
    overlap = float(np.mean([len(set(nx[i]) & set(ny[i])) / 10 for i in range(len(common_words))]))
    return pearson, spearman, overlap


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_paths(ap, "vectors")
    ap.add_argument("--input", default="imdb", help="imdb, suite:NAME, or a text file (one text per line)")
    ap.add_argument("--fasttext", help="fastText's command-line binary (default: the Python module)")
    ap.add_argument("--runs", type=int, default=3, help="timed pairs (ours, fastText)")
    ap.add_argument("--model", choices=["skipgram", "cbow"], default="skipgram")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--epoch", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--ws", type=int, default=5)
    ap.add_argument("--neg", type=int, default=5)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--minn", type=int, default=3)
    ap.add_argument("--maxn", type=int, default=6)
    ap.add_argument("--bucket", type=int, default=2000000)
    ap.add_argument("--t", type=float, default=1e-4)
    ap.add_argument("--top", type=int, default=1000, help="frequent words whose pair cosines are compared")
    a = ap.parse_args()
    common.check_binary(a.textcnn)
    if a.fasttext is None:
        import importlib.util

        if importlib.util.find_spec("fasttext") is None:
            raise SystemExit("no --fasttext binary and no fasttext module in this Python")
    out = common.fresh_output(os.path.dirname(os.path.abspath(a.out)), os.path.basename(a.out), [])
    os.makedirs(out)
    raw, tok = os.path.join(out, "texts.txt"), os.path.join(out, "tokens.txt")
    tokenize(input_texts(a.input, a.shared), raw, tok)
    with open(tok, encoding="utf-8") as f:
        lines = tokens = 0
        for line in f:
            lines += 1
            tokens += len(line.split())
    print(f"input {a.input}: {lines} texts, {tokens} tokens; {a.model}, dim {a.dim}, epoch {a.epoch}, "
          f"minn {a.minn}, maxn {a.maxn}, bucket {a.bucket}, threads {a.threads}")

    times = {"ours": [], "fastText": []}
    for run in range(a.runs):
        times["ours"].append(timed(ours_cmd(a, tok, os.path.join(out, "ours.vec")), os.path.join(out, "ours.log")))
        times["fastText"].append(
            timed(fasttext_cmd(a, tok, os.path.join(out, "fasttext"), 0), os.path.join(out, "fasttext.log")))
        print(f"pair {run + 1}: ours {times['ours'][-1][0]:.1f} s, fastText {times['fastText'][-1][0]:.1f} s wall",
              flush=True)
    # A second fastText training (another seed) and a second of ours (another seed): how far two equally good
    # runs of one tool land from each other.
    timed(fasttext_cmd(a, tok, os.path.join(out, "fasttext_seed1"), 1), os.path.join(out, "fasttext_seed1.log"))
    seed1 = ours_cmd(a, tok, os.path.join(out, "ours_seed1.vec"))
    seed1[-1] = "1"
    timed(seed1, os.path.join(out, "ours_seed1.log"))

    print()
    print(f"| {'command':<44} | {'wall s (median)':>15} | {'CPU s (median)':>14} |")
    print(f"|{'-' * 46}|{'-' * 17}|{'-' * 16}|")
    for name in ("ours", "fastText"):
        label = f"textcnn vectors --threads {a.threads}" if name == "ours" else (
            f"fasttext {a.model} -thread {a.threads}" + ("" if a.fasttext else " (Python module)"))
        print(f"| {label:<44} | {statistics.median(t[0] for t in times[name]):>15.1f} | "
              f"{statistics.median(t[1] for t in times[name]):>14.1f} |")
    wall_ratios = [o[0] / f[0] for o, f in zip(times["ours"], times["fastText"])]
    cpu_ratios = [o[1] / f[1] for o, f in zip(times["ours"], times["fastText"])]
    print(f"| {'ratio ours / fastText (median of pairs)':<44} | {statistics.median(wall_ratios):>15.2f} | "
          f"{statistics.median(cpu_ratios):>14.2f} |")
    print(f"pairs, wall ratio: {' '.join(f'{r:.2f}' for r in wall_ratios)}")

    vec = lambda name: os.path.join(out, name)
    print()
    print(f"agreement of the cosines of all pairs of the {a.top} most frequent words (and 10-NN overlap):")
    print(f"| {'vectors':<34} | {'Pearson':>7} | {'Spearman':>8} | {'10-NN overlap':>13} |")
    print(f"|{'-' * 36}|{'-' * 9}|{'-' * 10}|{'-' * 15}|")
    for label, x, y in (("ours vs fastText", "ours.vec", "fasttext.vec"),
                        ("fastText vs fastText (seed 1)", "fasttext.vec", "fasttext_seed1.vec"),
                        ("ours vs ours (seed 1)", "ours.vec", "ours_seed1.vec"),
                        ("ours (seed 1) vs fastText (seed 1)", "ours_seed1.vec", "fasttext_seed1.vec")):
        p, s, o = agreement(vec(x), vec(y), a.top)
        print(f"| {label:<34} | {p:>7.3f} | {s:>8.3f} | {o:>13.3f} |")


if __name__ == "__main__":
    main()
