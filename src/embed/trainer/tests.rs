use super::*;

#[test]
fn shards_split_tokens_evenly_at_sentence_bounds() {
    let texts: Vec<Vec<String>> = (0..10)
        .map(|i| vec!["w".to_string(); if i < 5 { 1 } else { 3 }])
        .collect();
    let c = Corpus::from_token_lists(texts.iter().map(Vec::as_slice), 1).unwrap();
    // 20 tokens: sentence starts 0,1,2,3,4,5,8,11,14,17.
    assert_eq!(shards(&c, 1), [(0, 10)]);
    assert_eq!(shards(&c, 2), [(0, 7), (7, 10)]);
    assert_eq!(shards(&c, 4), [(0, 5), (5, 7), (7, 9), (9, 10)]);
}

/// fastText's skip-gram round as written there: the hidden vector recomputed and the input
/// rows updated after every update (the reference for [`round_kernel`]'s deferred form).
fn fasttext_round(w: &mut Worker, sh: &Shared, job: &RoundJob) {
    let st = sh.settings;
    let mut rng = round_rng(w, sh, job);
    let (mut hidden, mut grad) = (vec![0.0; st.dim], vec![0.0; st.dim]);
    let mut tokens = 0u64;
    while w.next < w.end {
        let sentence = sh.corpus.sentence(w.next);
        w.next += 1;
        let progress = (job.tokens_before + tokens) as f64 / sh.total_tokens;
        let lr = st.lr as f32 * (1.0 - progress.min(1.0) as f32);
        tokens += sentence.len() as u64;
        let line: Vec<u32> = sentence
            .iter()
            .copied()
            .filter(|&t| rng.unit() <= sh.keep[t as usize])
            .collect();
        for pos in 0..line.len() {
            let boundary = 1 + rng.below(st.ws);
            let (a, b) = w.word_slots(line[pos], sh);
            let (lo, hi) = (
                pos.saturating_sub(boundary),
                (pos + boundary).min(line.len() - 1),
            );
            for (c, &target) in (lo..).zip(&line[lo..=hi]) {
                if c == pos {
                    continue;
                }
                let slots = w.slot_lists[a..b].to_vec();
                mean_rows(&w.input, &slots, &mut hidden);
                grad.fill(0.0);
                logistic_steps(sh, &mut w.output, &hidden, &mut grad, target, lr, &mut rng);
                for &s in &slots {
                    add(&grad, w.input.row_mut(s));
                }
            }
        }
    }
}

#[test]
fn deferred_skipgram_updates_equal_fasttexts_per_update_ones() {
    let mut rng = SplitMix64::new(1);
    let words: Vec<String> = ["aaaaaa", "abab", "cat", "dog", "x", "banana", "bananas"]
        .iter()
        .map(|w| w.to_string())
        .collect();
    let texts: Vec<Vec<String>> = (0..40)
        .map(|_| {
            (0..12)
                .map(|_| words[rng.below(words.len())].clone())
                .collect()
        })
        .collect();
    let corpus = Corpus::from_token_lists(texts.iter().map(Vec::as_slice), 1).unwrap();
    let settings = VectorSettings {
        dim: 20,
        min_count: 1,
        bucket: 37, // collisions: some words list a bucket twice
        t: 1.0,
        ..VectorSettings::default()
    };
    let nwords = corpus.dictionary().len();
    let subwords = SubwordTable::new(corpus.dictionary(), 3, 6, settings.bucket);
    let gains = hidden_gains(&subwords, nwords);
    assert!(
        gains.iter().any(|&g| g > 1.0) && gains.contains(&1.0),
        "{gains:?}"
    );
    let in_rows = nwords + settings.bucket;
    let (input, ready) = (vec![0.0; in_rows * 20], vec![0u64; in_rows.div_ceil(64)]);
    let output = vec![0.0; nwords * 20];
    let keep = vec![1.0; nwords];
    let negatives = negative_sampler(corpus.dictionary().counts());
    let tables = Tables::new();
    let sh = Shared {
        corpus: &corpus,
        subwords: &subwords,
        input: &input,
        ready: &ready,
        output: &output,
        keep: &keep,
        negatives: &negatives,
        neg: 5,
        gains: &gains,
        tables: &tables,
        settings: &settings,
        threads: 1,
        total_tokens: corpus.tokens() as f64,
    };
    let job = RoundJob {
        epoch: 0,
        round: 0,
        tokens_before: 0,
    };
    let mut ours = Worker::new(0, 0..corpus.sentences(), in_rows, nwords, 20);
    let mut theirs = Worker::new(0, 0..corpus.sentences(), in_rows, nwords, 20);
    round_kernel(&mut ours, &sh, &job);
    fasttext_round(&mut theirs, &sh, &job);
    assert!(ours.updates > 1000);
    assert_eq!(ours.input.rows, theirs.input.rows);
    assert_eq!(ours.output.rows, theirs.output.rows);
    for (lr_ours, lr_theirs) in [(&ours.input, &theirs.input), (&ours.output, &theirs.output)] {
        let scale = lr_theirs.local.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(scale > 0.05, "{scale}");
        for (a, b) in lr_ours.local.iter().zip(&lr_theirs.local) {
            assert!((a - b).abs() <= 1e-4 * scale, "{a} vs {b}");
        }
    }
}

#[test]
fn merge_takes_lone_copies_and_adds_shared_changes_in_order_whatever_the_parts() {
    let (dim, rows) = (3, 200);
    let copies = |touched: &[(u32, [f32; 3])]| {
        let mut lr = LocalRows::new(rows, dim);
        for (r, v) in touched {
            lr.slot_of(*r, |local| local.extend_from_slice(v));
        }
        lr
    };
    let a = copies(&[
        (5, [2.0, 3.0, 1.5]),
        (130, [1.0, 1.0, 1.0]),
        (64, [4.0, 4.0, 4.0]),
    ]);
    let b = copies(&[
        (130, [0.5, 0.0, 2.0]),
        (7, [1.25, 1.5, 1.5]),
        (5, [1.25, 1.5, 1.5]),
    ]);
    let merged = |parts| {
        let mut m = vec![1.0f32; rows * dim];
        let mut ready = vec![0u64; rows.div_ceil(64)];
        ready[0] = u64::MAX; // rows 0..64 hold values, the others are at their first draw
        merge(&mut m, Some(&mut ready), dim, &[&a, &b], 9, parts);
        (m, ready)
    };
    let (m, ready) = merged(1);
    assert_eq!(merged(2), (m.clone(), ready.clone()));
    assert_eq!(merged(3), (m.clone(), ready.clone()));
    // Both changed row 5 (from 1): 2 + (1.25 - 1), ...
    assert_eq!(&m[5 * dim..6 * dim], &[2.25, 3.5, 2.0]);
    // Lone copies are taken as they are.
    assert_eq!(&m[7 * dim..8 * dim], &[1.25, 1.5, 1.5]);
    assert_eq!(&m[64 * dim..65 * dim], &[4.0, 4.0, 4.0]);
    // Row 130 started at its initial draw.
    let mut init = vec![0.0; dim];
    init_row(9, 130, &mut init);
    let want: Vec<f32> = (0..dim)
        .map(|j| 1.0 + ([0.5, 0.0, 2.0][j] - init[j]))
        .collect();
    assert_eq!(&m[130 * dim..131 * dim], want.as_slice());
    assert!(bit(&ready, 130) && bit(&ready, 64) && !bit(&ready, 100));
    assert_eq!(&m[100 * dim..101 * dim], &[1.0, 1.0, 1.0]);
    assert_eq!(merge_part_rows(200, 3), 128);
}

#[test]
fn rows_initialise_from_their_own_stream() {
    let (mut a, mut b, mut c) = (vec![0.0; 50], vec![0.0; 50], vec![0.0; 50]);
    init_row(3, 17, &mut a);
    init_row(3, 17, &mut b);
    init_row(3, 18, &mut c);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().all(|v| v.abs() <= 1.0 / 50.0) && a.iter().any(|v| v.abs() > 0.01));
}
