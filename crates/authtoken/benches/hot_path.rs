//! The hot path, step by step: header parse, format and checksum check, digest, a
//! request answered from the cache, and issuing a token.
//!
//! `cargo bench -p authtoken --bench hot_path`

use std::hint::black_box;
use std::time::{Duration, Instant};

use authtoken::header::parse_authorization;
use authtoken::token::classify;
use authtoken::{
    Authenticator, DigestKey, IssueOptions, Keyword, MemoryStore, TokenHasher, TokenPrefix,
    UserIdLoader,
};
use criterion::{Criterion, criterion_group, criterion_main};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn keywords() -> Vec<Keyword> {
    ["Token", "Bearer"]
        .into_iter()
        .map(|word| Keyword::new(word).expect("a valid keyword"))
        .collect()
}

fn sample_token() -> String {
    TokenPrefix::default().generate().expose_secret().to_owned()
}

fn parsing(c: &mut Criterion) {
    let keywords = keywords();
    let header = format!("Bearer {}", sample_token());
    c.bench_function("header/parse", |b| {
        b.iter(|| parse_authorization(black_box(header.as_bytes()), &keywords));
    });

    let prefix = TokenPrefix::default();
    let token = sample_token();
    c.bench_function("token/format_and_checksum", |b| {
        b.iter(|| classify(&prefix, black_box(token.as_bytes()), false));
    });
    let mut bad = token.clone().into_bytes();
    let last = bad.len() - 1;
    bad[last] = if bad[last] == b'0' { b'1' } else { b'0' };
    c.bench_function("token/bad_checksum", |b| {
        b.iter(|| classify(&prefix, black_box(&bad), false));
    });
}

fn digests(c: &mut Criterion) {
    let token = sample_token();
    let sha256 = TokenHasher::sha256();
    c.bench_function("digest/sha256", |b| {
        b.iter(|| sha256.digest(black_box(token.as_bytes())));
    });
    let key = DigestKey::new(1, vec![7u8; 32]).expect("a valid key");
    let hmac = TokenHasher::hmac(key, []).expect("valid keys");
    c.bench_function("digest/hmac_sha256", |b| {
        b.iter(|| hmac.digest(black_box(token.as_bytes())));
    });
}

fn authenticate(c: &mut Criterion) {
    let rt = runtime();
    let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader)
        .build()
        .expect("default settings");
    let token = rt
        .block_on(auth.issue("42", IssueOptions::new()))
        .expect("issued")
        .token()
        .expose_secret()
        .to_owned();
    let header = format!("Token {token}");
    rt.block_on(auth.authenticate(Some(header.as_bytes())))
        .expect("valid")
        .expect("not anonymous");
    c.bench_function("authenticate/cache_warm", |b| {
        b.iter(|| rt.block_on(auth.authenticate(Some(black_box(header.as_bytes())))));
    });

    let malformed = b"Token not-a-token-at-all";
    c.bench_function("authenticate/malformed", |b| {
        b.iter(|| rt.block_on(auth.authenticate(Some(black_box(malformed)))));
    });
    let mut bad = header.clone().into_bytes();
    let last = bad.len() - 1;
    bad[last] = if bad[last] == b'0' { b'1' } else { b'0' };
    c.bench_function("authenticate/bad_checksum", |b| {
        b.iter(|| rt.block_on(auth.authenticate(Some(black_box(&bad)))));
    });

    // What the adapters call on every request: answered from memory, no future.
    for (name, credential) in [
        ("authenticate_now/cache_warm", header.as_bytes()),
        ("authenticate_now/malformed", malformed.as_slice()),
        ("authenticate_now/bad_checksum", bad.as_slice()),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                auth.authenticate_request_now(None, [black_box(credential)])
                    .map_err(|_| "the cache answers")
                    .expect("answered from memory")
            });
        });
    }
}

fn issue(c: &mut Criterion) {
    let rt = runtime();
    let auth = Authenticator::builder(MemoryStore::new(), UserIdLoader)
        .build()
        .expect("default settings");
    // Timed in chunks; the store is emptied between chunks, outside the timing, so
    // that it stays small however many iterations criterion asks for.
    c.bench_function("issue/memory_store", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            let mut left = iterations;
            while left > 0 {
                let chunk = left.min(10_000);
                let started = Instant::now();
                for _ in 0..chunk {
                    black_box(
                        rt.block_on(auth.issue("42", IssueOptions::new().name("bench")))
                            .expect("issued"),
                    );
                }
                total += started.elapsed();
                rt.block_on(auth.revoke_user("42")).expect("revoked");
                left -= chunk;
            }
            total
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = parsing, digests, authenticate, issue
}
criterion_main!(benches);
