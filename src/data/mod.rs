//! Data stage: dataset readers (IMDB archive, fastText, CSV/TSV, JSONL, folders, plain lines) and splits.
