//! Signed-note known answers (golang.org/x/mod/sumdb/note's note_test.go,
//! the same keys as in the C2SP signed-note spec) and tamper tests. These
//! guard byte-for-byte interoperability with Go's reference code.

#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns; a failed unwrap is a failed test"
)]

use countersign_tlog::note::{MAX_NOTE_SIZE, MAX_SIGNATURES};
use countersign_tlog::{Signer, TlogError, Verifier, open_note, sign_note};

const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter() -> Verifier {
    Verifier::from_key(PETER_VKEY).unwrap()
}

fn enoch() -> Verifier {
    Verifier::from_key(ENOCH_VKEY).unwrap()
}

fn malformed(result: Result<(String, Vec<String>), TlogError>) -> bool {
    matches!(result, Err(TlogError::MalformedNote(_)))
}

#[test]
fn go_reference_key_signs_to_the_identical_note() {
    let signer = Signer::from_private_key(PETER_SKEY).unwrap();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), 0xc74f20a3);
    let note = sign_note(TEXT, &signer).unwrap();
    assert_eq!(note, format!("{TEXT}\n{PETER_SIG}"));
}

#[test]
fn keys_round_trip_through_their_encodings() {
    let signer = Signer::from_private_key(PETER_SKEY).unwrap();
    assert_eq!(signer.to_private_key(), PETER_SKEY);
    assert_eq!(signer.verifier().to_key(), PETER_VKEY);
    assert_eq!(signer.verifier(), peter());
    assert_eq!(enoch().to_key(), ENOCH_VKEY);
    assert_eq!(enoch().key_id(), 0xaf0cfe78);
}

#[test]
fn reference_note_verifies() {
    let note = format!("{TEXT}\n{PETER_SIG}");
    let (text, names) = open_note(note.as_bytes(), &[peter()]).unwrap();
    assert_eq!(text, TEXT);
    assert_eq!(names, ["PeterNeumann"]);
}

#[test]
fn unknown_signers_are_skipped_known_ones_listed() {
    let note = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let (_, names) = open_note(note.as_bytes(), &[peter()]).unwrap();
    assert_eq!(names, ["PeterNeumann"]);
    let (_, names) = open_note(note.as_bytes(), &[enoch(), peter()]).unwrap();
    assert_eq!(names, ["PeterNeumann", "EnochRoot"]);
    assert_eq!(
        open_note(note.as_bytes(), &[]),
        Err(TlogError::UnverifiedNote)
    );
    // Repeated signatures by one key are listed once.
    let note = format!("{TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}");
    let (_, names) = open_note(note.as_bytes(), &[peter(), peter()]).unwrap();
    assert_eq!(names, ["PeterNeumann"]);
}

#[test]
fn wrong_key_with_the_same_name_does_not_verify() {
    let impostor = Signer::generate("PeterNeumann").unwrap().verifier();
    let note = format!("{TEXT}\n{PETER_SIG}");
    assert_eq!(
        open_note(note.as_bytes(), &[impostor]),
        Err(TlogError::UnverifiedNote)
    );
}

#[test]
fn right_key_under_another_name_does_not_verify() {
    let renamed = Verifier::new("PeterNeuman", peter().public_key()).unwrap();
    let note = format!("{TEXT}\n{PETER_SIG}");
    assert_eq!(
        open_note(note.as_bytes(), &[renamed]),
        Err(TlogError::UnverifiedNote)
    );
    // Renaming the signature line changes which key it claims.
    let renamed_line = PETER_SIG.replace("PeterNeumann", "CarmenSandiego");
    let note = format!("{TEXT}\n{renamed_line}");
    assert_eq!(
        open_note(note.as_bytes(), &[peter()]),
        Err(TlogError::UnverifiedNote)
    );
}

#[test]
fn modified_text_is_an_invalid_signature() {
    let note = format!("{}\n{PETER_SIG}", TEXT.replace("think", "thing"));
    assert_eq!(
        open_note(note.as_bytes(), &[peter()]),
        Err(TlogError::InvalidSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        })
    );
}

#[test]
fn modified_signature_is_an_invalid_signature() {
    let bad = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    let note = format!("{TEXT}\n{bad}");
    assert!(matches!(
        open_note(note.as_bytes(), &[peter()]),
        Err(TlogError::InvalidSignature { .. })
    ));
}

#[test]
fn truncated_signature_is_refused() {
    let b64 = PETER_SIG.trim_end().rsplit(' ').next().unwrap();
    for cut in [4, 8, 80, b64.len() - 4] {
        let note = format!("{TEXT}\n— PeterNeumann {}\n", &b64[..cut]);
        assert!(open_note(note.as_bytes(), &[peter()]).is_err(), "cut {cut}");
    }
    // Not a multiple of four: not base64 at all.
    let note = format!("{TEXT}\n— PeterNeumann {}\n", &b64[..b64.len() - 1]);
    assert!(malformed(open_note(note.as_bytes(), &[peter()])));
    // Only a key ID, no signature.
    let note = format!("{TEXT}\n— PeterNeumann x08gow==\n");
    assert!(malformed(open_note(note.as_bytes(), &[peter()])));
    // A key ID and one byte: well-formed, but not a valid signature.
    let note = format!("{TEXT}\n— PeterNeumann x08goxI=\n");
    assert!(matches!(
        open_note(note.as_bytes(), &[peter()]),
        Err(TlogError::InvalidSignature { .. })
    ));
}

#[test]
fn malformed_notes_from_the_go_tests_are_refused() {
    let bad = [
        TEXT.to_owned(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\x01{TEXT}\n{PETER_SIG}"),
        format!(
            "{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        ),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
        format!("{TEXT}\n{PETER_SIG}\n"),
        format!(
            "{TEXT}\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        ),
        format!(
            "{TEXT}\n—  PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        ),
        format!("{TEXT}\n— PeterNeumann\n"),
        format!("{TEXT}\r\n{PETER_SIG}"),
    ];
    for note in bad {
        assert!(
            malformed(open_note(note.as_bytes(), &[peter()])),
            "accepted {note:?}"
        );
    }
}

#[test]
fn non_utf8_is_refused() {
    let mut note = format!("{TEXT}\n{PETER_SIG}").into_bytes();
    note.insert(0, 0xff);
    assert!(malformed(open_note(&note, &[peter()])));
}

#[test]
fn oversize_note_is_refused_before_parsing() {
    let long = format!("{}\n\n{PETER_SIG}", "a".repeat(MAX_NOTE_SIZE));
    assert_eq!(
        open_note(long.as_bytes(), &[peter()]),
        Err(TlogError::MalformedNote("note is larger than 1 MiB"))
    );
    let signer = Signer::from_private_key(PETER_SKEY).unwrap();
    let text = format!("{}\n", "a".repeat(MAX_NOTE_SIZE));
    assert!(sign_note(&text, &signer).is_err());
}

#[test]
fn too_many_signatures_are_refused() {
    let ok = format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES));
    assert!(open_note(ok.as_bytes(), &[peter()]).is_ok());
    let note = format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES + 1));
    assert!(malformed(open_note(note.as_bytes(), &[peter()])));
    assert!(malformed(open_note(note.as_bytes(), &[])));
}

/// Listing the same verifier twice is harmless (Go's VerifierList calls
/// that ambiguous; we only refuse two *different* keys with the same name
/// and key ID, which takes a 32-bit collision).
#[test]
fn duplicate_verifiers_are_harmless() {
    let note = format!("{TEXT}\n{PETER_SIG}");
    let (_, names) = open_note(note.as_bytes(), &[peter(), enoch(), peter()]).unwrap();
    assert_eq!(names, ["PeterNeumann"]);
}

#[test]
fn sign_refuses_text_that_open_would_refuse() {
    let signer = Signer::from_private_key(PETER_SKEY).unwrap();
    assert!(sign_note("abc", &signer).is_err());
    assert!(sign_note("", &signer).is_err());
    assert!(sign_note("a\tb\n", &signer).is_err());
    // Text with blank lines inside still round-trips.
    for text in ["\n", "a\n\nb\n", "a\n\n", "é ☃ 𝄞\n"] {
        let note = sign_note(text, &signer).unwrap();
        let (got, _) = open_note(note.as_bytes(), &[signer.verifier()]).unwrap();
        assert_eq!(got, text);
    }
}

#[test]
fn generated_keys_round_trip() {
    let signer = Signer::generate("countersign.example/log").unwrap();
    let again = Signer::from_private_key(&signer.to_private_key()).unwrap();
    assert_eq!(again.verifier(), signer.verifier());
    let verifier = Verifier::from_key(&signer.verifier().to_key()).unwrap();
    let note = sign_note("hello\n", &again).unwrap();
    let (_, names) = open_note(note.as_bytes(), &[verifier]).unwrap();
    assert_eq!(names, ["countersign.example/log"]);
    assert_ne!(
        Signer::generate("x").unwrap().to_private_key(),
        Signer::generate("x").unwrap().to_private_key()
    );
}

#[test]
fn signer_debug_does_not_leak_the_secret() {
    let signer = Signer::from_private_key(PETER_SKEY).unwrap();
    let shown = format!("{signer:?}");
    assert!(shown.contains("PeterNeumann"));
    assert!(!shown.contains("AYEKFALV"));
    assert!(!shown.contains("PRIVATE"));
}

#[test]
fn invalid_names_are_refused() {
    for name in ["", "a b", "a+b", "a\tb", "a\u{a0}b", "a\u{2003}b"] {
        assert!(
            matches!(
                Signer::new(name, [7; 32]),
                Err(TlogError::InvalidKeyName(_))
            ),
            "{name:?}"
        );
        assert!(Signer::generate(name).is_err());
    }
}

/// Every proper substring and every single-byte bump of the reference keys
/// must be refused (as in Go's TestNewVerifier / TestNewSigner).
#[test]
fn mangled_keys_are_refused() {
    for key in [PETER_VKEY, PETER_SKEY] {
        let parse = |s: &str| {
            if key == PETER_VKEY {
                Verifier::from_key(s).is_ok()
            } else {
                Signer::from_private_key(s).is_ok()
            }
        };
        assert!(parse(key));
        let b = key.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if (i, j) != (0, b.len()) {
                    assert!(!parse(&key[i..j]), "accepted {:?}", &key[i..j]);
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] += 1;
            if let Ok(s) = String::from_utf8(m) {
                assert!(!parse(&s), "accepted {s:?}");
            }
        }
    }
    // Wrong length with a matching key ID, unknown algorithm with a
    // matching key ID (from Go's tests).
    assert!(
        Verifier::from_key(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
        .is_err()
    );
    assert!(
        Verifier::from_key("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .is_err()
    );
}
