//! Tokenizes standard input line by line with the classifier's default tokenizer and writes the
//! tokens separated by single spaces, one line per input line: the text `textcnn vectors`
//! trains on, for tools that split on whitespace (`bench/vectors.py` gives it to fastText so both
//! see the same tokens).
//!
//! ```text
//! cargo run --release --example tokenize_lines < raw.txt > tokens.txt
//! ```

use std::io::{BufRead, BufWriter, Write};

use textcnn::text::{Tokenizer, TokenizerConfig};

fn main() -> std::io::Result<()> {
    let tokenizer = Tokenizer::new(TokenizerConfig::default());
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin.lines() {
        let tokens = tokenizer.tokenize(&line?);
        // A token never holds whitespace, so splitting the output on spaces gives them back.
        writeln!(out, "{}", tokens.join(" "))?;
    }
    out.flush()
}
