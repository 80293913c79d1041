#!/usr/bin/env bash
# Builds the textcnn Python package as one self-contained manylinux wheel (abi3: every CPython
# >= 3.9 on this architecture) with maturin, into target/wheels/, and prints its path. Needs the
# Rust toolchain and Python >= 3.9 with venv, here only: the wheel then installs on any Linux
# machine of the same architecture with glibc at least the tag's, without Rust, in seconds:
#     pip install target/wheels/textcnn-*.whl     (add "[sklearn]" etc. after the file name for extras)
# maturin comes from PyPI into a virtual environment of its own (target/maturin-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f "$HOME/.cargo/env" ]; then . "$HOME/.cargo/env"; fi
venv=target/maturin-venv
if [ ! -x "$venv/bin/maturin" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q "maturin>=1.9,<2"
fi
rm -f target/wheels/textcnn-*.whl
# maturin checks that the extension links only the libraries a manylinux policy allows
# (glibc, libgcc_s, libm, libpthread; anything else would be copied into the wheel) and tags
# the wheel with the oldest manylinux policy its glibc symbols allow (manylinux_2_34 on Debian 13
# with glibc 2.41); --strip drops
# debug symbols.
"$venv/bin/maturin" build --release --strip -m python/Cargo.toml \
    -o target/wheels >&2
ls target/wheels/textcnn-*.whl
