use super::*;

const REJECT: EncodedSeparators = EncodedSeparators::Reject;
const KEEP: EncodedSeparators = EncodedSeparators::Keep;

fn norm(path: &str) -> Result<String, PathError> {
    normalise(path, REJECT).map(Cow::into_owned)
}

#[test]
fn normal_paths_are_borrowed_unchanged() {
    for path in [
        "/",
        "/a",
        "/a/b/",
        "/api/v1/users/42",
        "/a;b=c/d",
        "/%C3%A9t%C3%A9",
        "/a%20b",
        "/%252e",
        "/A/b/C",
        "/a.b/..c/...",
        "/~user/x-y_z",
        "/!$&'()*+,;=:@",
        "*",
        "",
    ] {
        assert!(
            matches!(normalise(path, REJECT), Ok(Cow::Borrowed(p)) if p == path),
            "{path:?}"
        );
    }
}

/// RFC 3986 §5.4.1 and §5.4.2: the path part of each example, after merging with the base
/// `/b/c/d;p`, gives the path of the expected URI.
#[test]
fn rfc_3986_dot_segment_examples() {
    for (merged, expected) in [
        ("/b/c/g", "/b/c/g"),
        ("/b/c/./g", "/b/c/g"),
        ("/b/c/g/", "/b/c/g/"),
        ("/b/c/.", "/b/c/"),
        ("/b/c/./", "/b/c/"),
        ("/b/c/..", "/b/"),
        ("/b/c/../", "/b/"),
        ("/b/c/../g", "/b/g"),
        ("/b/c/../..", "/"),
        ("/b/c/../../", "/"),
        ("/b/c/../../g", "/g"),
        ("/b/c/../../../g", "/g"),
        ("/b/c/../../../../g", "/g"),
        ("/./g", "/g"),
        ("/../g", "/g"),
        ("/b/c/g.", "/b/c/g."),
        ("/b/c/.g", "/b/c/.g"),
        ("/b/c/g..", "/b/c/g.."),
        ("/b/c/..g", "/b/c/..g"),
        ("/b/c/./../g", "/b/g"),
        ("/b/c/./g/.", "/b/c/g/"),
        ("/b/c/g/./h", "/b/c/g/h"),
        ("/b/c/g/../h", "/b/c/h"),
        ("/b/c/g;x=1/./y", "/b/c/g;x=1/y"),
        ("/b/c/g;x=1/../y", "/b/c/y"),
        // §5.2.4's own walk-through.
        ("/a/b/c/./../../g", "/a/g"),
    ] {
        assert_eq!(norm(merged).unwrap(), expected, "{merged:?}");
    }
}

#[test]
fn hostile_paths_normalise_to_one_spelling() {
    for (path, expected) in [
        ("/a/%2e%2e/b", "/b"),
        ("/a/%2E%2E/b", "/b"),
        ("/a/.%2e/b", "/b"),
        ("/public/%2e%2e/admin/x", "/admin/x"),
        ("//a//b", "/a/b"),
        ("///", "/"),
        ("/a//", "/a/"),
        ("/%2561", "/%2561"),
        ("/%252e%252e/x", "/%252e%252e/x"),
        ("/%61dmin", "/admin"),
        ("/%7euser", "/~user"),
        ("/a/./b/../c", "/a/c"),
        ("/..", "/"),
        ("/../..", "/"),
        ("/.", "/"),
        ("/a/b/", "/a/b/"),
        ("/a/..", "/"),
        ("/a/b/..", "/a/"),
        ("/a;x/b", "/a;x/b"),
        ("/public/..;/admin", "/admin"),
        ("/public/.;x/admin", "/public/admin"),
        ("/%c3%a9", "/%C3%A9"),
        ("/é", "/%C3%A9"),
        ("/%e2%82%ac", "/%E2%82%AC"),
        ("/a%3bb", "/a%3Bb"),
        ("/a b", "/a%20b"),
        ("/{x}|\"", "/%7Bx%7D%7C%22"),
        ("/Admin", "/Admin"),
    ] {
        assert_eq!(norm(path).unwrap(), expected, "{path:?}");
    }
}

#[test]
fn encoded_separators_and_controls_are_refused_by_default() {
    for (path, error) in [
        ("/a/..%2fb", PathError::EncodedSeparator),
        ("/a%2Fb", PathError::EncodedSeparator),
        ("/a\\b", PathError::EncodedSeparator),
        ("/a/..\\..\\b", PathError::EncodedSeparator),
        ("/a%5cb", PathError::EncodedSeparator),
        ("/a%00b", PathError::EncodedControl),
        ("/a%0d%0a", PathError::EncodedControl),
        ("/a%7F", PathError::EncodedControl),
        ("/a\u{1}", PathError::EncodedControl),
        ("/%zz", PathError::InvalidEscape),
        ("/%4", PathError::InvalidEscape),
        ("/%", PathError::InvalidEscape),
        ("/%%41", PathError::InvalidEscape),
        ("/%4g", PathError::InvalidEscape),
        ("a/b", PathError::NotAbsolute),
    ] {
        assert_eq!(normalise(path, REJECT), Err(error), "{path:?}");
    }
}

#[test]
fn kept_separators_stay_encoded_and_are_not_segments() {
    for (path, expected) in [
        ("/a%2Fb", "/a%2Fb"),
        ("/a%2fb", "/a%2Fb"),
        ("/a/..%2fb", "/a/..%2Fb"),
        ("/a/%2e%2e%2fb", "/a/..%2Fb"),
        ("/a\\b", "/a%5Cb"),
        ("/a%5cb/../c", "/c"),
        ("/a%00", "/a%00"),
    ] {
        assert_eq!(normalise(path, KEEP).unwrap(), expected, "{path:?}");
    }
    assert_eq!(normalise("/%zz", KEEP), Err(PathError::InvalidEscape));
}

#[test]
fn prefixes_hold_paths_on_segment_boundaries_whatever_the_parameters() {
    assert!(within_prefix("/", "/anything"));
    assert!(within_prefix("/api", "/api"));
    assert!(within_prefix("/api", "/api/v1"));
    assert!(!within_prefix("/api", "/apix"));
    assert!(within_prefix("/api/", "/api/x"));
    assert!(!within_prefix("/api/", "/api"));
    assert!(within_prefix("/api", "/api;v=1"));
    assert!(within_prefix("/api", "/api;v=1/x"));
    assert!(within_prefix("/a/b", "/a;p/b;q/c"));
    assert!(!within_prefix("/api", "/apix;v=1"));
    assert!(!within_prefix("/api/", "/api;v=1"));
    assert!(within_prefix("/api/", "/api;v=1/"));
    assert!(!within_prefix("/public/", "/admin;/public/"));
}

/// A small xorshift generator: the crate is std-only.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Random paths made of the pieces attacks are made of: normalising never panics, a normal
/// result is normal again (idempotent, and borrowed the second time), and its segments hold
/// no dot segment and no empty one.
#[test]
fn random_paths_never_panic_and_normalise_idempotently() {
    const PIECES: &[&str] = &[
        "/", "//", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "\\", "%00", "%25", "%", "%4",
        "%zz", "a", "B", "é", ";", ";x=1", "%41", "%c3%a9", "~", "%7e", " ", "{", "%", "\u{7f}",
        "2e", "?",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let len = rng.next() % 12;
        let mut path = String::from("/");
        for _ in 0..len {
            let piece = PIECES[(rng.next() % PIECES.len() as u64) as usize];
            path.push_str(piece);
        }
        for mode in [REJECT, KEEP] {
            let Ok(once) = normalise(&path, mode) else {
                continue;
            };
            let twice = normalise(&once, mode);
            assert!(
                matches!(&twice, Ok(Cow::Borrowed(p)) if *p == once),
                "{path:?} gave {once:?}, then {twice:?}"
            );
            assert!(once.is_ascii(), "{once:?}");
            let inner = once.strip_suffix('/').unwrap_or(&once);
            for segment in inner.split('/').skip(1) {
                assert!(!segment.is_empty(), "{path:?} gave {once:?}");
                assert!(
                    !is_dot_segment(segment.as_bytes()),
                    "{path:?} gave {once:?}"
                );
            }
        }
    }
    // Arbitrary bytes, as far as a `&str` allows.
    for _ in 0..5_000 {
        let bytes: Vec<u8> = (0..rng.next() % 16).map(|_| rng.next() as u8).collect();
        let path = format!("/{}", String::from_utf8_lossy(&bytes));
        for mode in [REJECT, KEEP] {
            if let Ok(once) = normalise(&path, mode) {
                assert_eq!(normalise(&once, mode).as_deref(), Ok(&*once), "{path:?}");
            }
        }
    }
}
