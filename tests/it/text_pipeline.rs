//! Text pipeline end to end: tokenizer properties, vocabulary from the training split only,
//! save/load giving identical encodings.

use textcnn::text::{
    EncodeConfig, PAD_ID, TextPipeline, Tokenizer, TokenizerConfig, Truncation, UNK_ID, Vocab,
    tokenize_all,
};

/// With no cleaning options, tokenization only removes whitespace: the tokens concatenated are
/// the input without whitespace, for every script (nothing non-ASCII is ever dropped).
#[test]
fn tokenization_loses_nothing_but_whitespace() {
    let raw = TokenizerConfig {
        lowercase: false,
        strip_html: false,
        ..Default::default()
    };
    let tok = Tokenizer::new(raw);
    let samples = [
        "Plain English, with punctuation!? And numbers: 3.14 and 1,000.",
        "我爱自然语言处理，今天天气很好。混合English和中文",
        "東京は日本の首都です。カタカナ",
        "한국어 문장입니다.",
        "مرحبا بالعالم",
        "हिन्दी भाषा में वाक्य",
        "ภาษาไทยไม่มีช่องว่าง",
        "Emoji 😀👍🏽 👨‍👩‍👧 🇫🇷 ❤️ and symbols € ™ ©",
        "Ελληνικά και Кириллица, ÇàÉïÕ",
        "tabs\tand\u{a0}nbsp\u{3000}ideographic space",
    ];
    for s in samples {
        let got: String = tok.tokenize(s).concat();
        let want: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(got, want, "{s}");
        assert!(
            tok.tokenize(s)
                .iter()
                .all(|t| !t.is_empty() && !t.chars().any(char::is_whitespace))
        );
    }
}

#[test]
fn imdb_style_review() {
    let tok = Tokenizer::new(TokenizerConfig::default());
    let review = "This movie wasn't GOOD.<br /><br />I'd give it 3/10 &amp; that's generous... 😀";
    assert_eq!(
        tok.tokenize(review),
        [
            "this", "movie", "wasn't", "good", ".", "i'd", "give", "it", "3", "/", "10", "&",
            "that's", "generous", ".", ".", ".", "😀"
        ]
    );
}

#[test]
fn vocab_from_train_only_and_identical_after_reload() {
    let tokenizer = Tokenizer::new(TokenizerConfig::default());
    let train = ["good film, good cast", "bad film", "good"];
    let test = ["unseen words in test", "good"];
    let train_tokens = tokenize_all(&tokenizer, &train);
    let vocab = Vocab::build(train_tokens.iter().map(Vec::as_slice), 1, None);
    assert_eq!(
        vocab.tokens(),
        ["<pad>", "<unk>", "good", "film", ",", "bad", "cast"]
    );
    assert_eq!(vocab.get("unseen"), None);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vocab.txt");
    vocab.save(&path).unwrap();
    let reloaded = Vocab::load(&path).unwrap();
    let encode = EncodeConfig {
        max_len: 4,
        truncation: Truncation::Tail,
        min_len: 3,
    };
    let a = TextPipeline {
        tokenizer: tokenizer.clone(),
        vocab,
        encode: encode.clone(),
    };
    let b = TextPipeline {
        tokenizer,
        vocab: reloaded,
        encode,
    };
    let texts: Vec<&str> = train.iter().chain(&test).copied().collect();
    assert_eq!(a.encode_batch(&texts), b.encode_batch(&texts));
    let e = a.encode_text(test[0]);
    assert_eq!(e.ids, [UNK_ID; 4]);
    assert_eq!((e.n_tokens, e.n_oov, e.truncated), (4, 4, false));
    let e = a.encode_text("good film, good cast");
    assert_eq!(e.ids, [3, 4, 2, 6]); // tail: film , good cast
    assert!(e.truncated);
    let e = a.encode_text("");
    assert_eq!(e.ids, [PAD_ID; 3]);
}

#[test]
fn tokenizer_config_json_is_stable() {
    // The bundle format depends on these field names.
    let json = serde_json::to_value(TokenizerConfig::default()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "lowercase": true, "strip_html": true, "keep_punctuation": true,
            "stopwords": [], "segment_cjk": true
        })
    );
    let enc = serde_json::to_value(EncodeConfig {
        max_len: 400,
        truncation: Truncation::HeadTail,
        min_len: 5,
    })
    .unwrap();
    assert_eq!(
        enc,
        serde_json::json!({"max_len": 400, "truncation": "head+tail", "min_len": 5})
    );
}
