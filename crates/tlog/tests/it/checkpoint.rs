//! Checkpoint parsing is strict so that there is one text per checkpoint;
//! these guard each rule of c2sp.org/tlog-checkpoint we enforce.

use countersign_tlog::{Checkpoint, Signer, TlogError, leaf_hash};

/// From tlog_tiles' checkpoint tests: root = SHA-256(0x00 ‖ "hello world").
const GOOD: &str =
    "example.com/origin\n123\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\nabc\ndef\n";

#[test]
fn parses_a_valid_checkpoint() {
    let cp = Checkpoint::parse(GOOD).unwrap();
    assert_eq!(cp.origin, "example.com/origin");
    assert_eq!(cp.size, 123);
    assert_eq!(cp.root, leaf_hash(b"hello world"));
    assert_eq!(cp.extensions, ["abc", "def"]);
    assert_eq!(cp.to_note_text(), GOOD);
    let plain = "o\n0\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n";
    assert_eq!(Checkpoint::parse(plain).unwrap().size, 0);
    let max = format!(
        "o\n{}\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n",
        u64::MAX
    );
    assert_eq!(Checkpoint::parse(&max).unwrap().size, u64::MAX);
}

#[test]
fn refuses_every_non_canonical_form() {
    let root = "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=";
    let bad = [
        format!("o\n1\n{root}"),
        format!("\n1\n{root}\n"),
        "o\n1\n".to_owned(),
        format!("o\n{root}\n"),
        format!("o\n01\n{root}\n"),
        format!("o\n00\n{root}\n"),
        format!("o\n+1\n{root}\n"),
        format!("o\n-1\n{root}\n"),
        format!("o\n 1\n{root}\n"),
        format!("o\n1 \n{root}\n"),
        format!("o\n\n{root}\n"),
        format!("o\n18446744073709551616\n{root}\n"),
        format!("o\n1\n{}\n", root.trim_end_matches('=')),
        format!("o\n1\n{}\n", root.replace('+', "-")),
        "o\n1\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBQ==\n".to_owned(),
        "o\n1\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0AAAA=\n".to_owned(),
        format!("o\n1\n{root}\n\nabc\n"),
        format!("o\n1\n{root}\nabc\n\n"),
        format!("o\n1\n {root}\n"),
    ];
    for text in bad {
        assert!(
            matches!(
                Checkpoint::parse(&text),
                Err(TlogError::MalformedCheckpoint(_))
            ),
            "accepted {text:?}"
        );
    }
}

#[test]
fn signs_and_opens() {
    let signer = Signer::generate("example.com/log").unwrap();
    let cp = Checkpoint::parse(GOOD).unwrap();
    let note = cp.sign(&signer).unwrap();
    assert!(note.starts_with(GOOD));
    assert_eq!(
        Checkpoint::open(note.as_bytes(), &[signer.verifier()]).unwrap(),
        cp
    );
    let stranger = Signer::generate("example.com/log").unwrap().verifier();
    assert_eq!(
        Checkpoint::open(note.as_bytes(), &[stranger]),
        Err(TlogError::UnverifiedNote)
    );
    let forged = note.replacen("\n123\n", "\n124\n", 1);
    assert!(matches!(
        Checkpoint::open(forged.as_bytes(), &[signer.verifier()]),
        Err(TlogError::InvalidSignature { .. })
    ));
}

#[test]
fn refuses_to_sign_what_would_not_parse_back() {
    let signer = Signer::generate("log").unwrap();
    let base = Checkpoint::parse(GOOD).unwrap();
    for cp in [
        Checkpoint {
            origin: String::new(),
            ..base.clone()
        },
        Checkpoint {
            origin: "a\nb".into(),
            ..base.clone()
        },
        Checkpoint {
            extensions: vec![String::new()],
            ..base.clone()
        },
        Checkpoint {
            extensions: vec!["x\ny".into()],
            ..base.clone()
        },
        Checkpoint {
            origin: "tab\there".into(),
            ..base.clone()
        },
    ] {
        assert!(cp.sign(&signer).is_err(), "{cp:?}");
    }
}
