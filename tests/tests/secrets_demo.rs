//! The axum example after a run of the demo API: no token in any log line (every
//! level, every target), nor anywhere in the bytes of its SQLite database files.

mod launchers;

use authtoken::TokenPrefix;
use authtoken_behaviour::demo_api::{Backend, Client, TestDatabase, launch, token_header};
use authtoken_behaviour::logs;
use launchers::AxumLauncher;

const PASSWORD: &str = "correct horse battery staple";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_example_neither_logs_nor_stores_a_token() {
    let logs = logs::capture();
    let backend = Backend::sqlite().expect("SQLite is always there");
    let database = TestDatabase::create(&backend).await;
    let server = launch::<AxumLauncher>(&database).await;
    let client = Client::new(server.address());

    let mut tokens = Vec::new();
    for i in 0..4 {
        let name = format!("user-{i}");
        let registered = client.register_ok(&name, PASSWORD).await;
        client.assert_user(&registered, &name).await;
        let logged_in = client.login_ok(&name, PASSWORD).await;
        client.assert_user(&logged_in, &name).await;
        // A typo of a real token: refused, and the refusal is logged.
        let mut typo = logged_in.clone();
        typo.pop();
        typo.push('!');
        assert_eq!(client.me(&typo).await.status, 401);
        let logout = client
            .post("/api/logout", Some(&token_header(&logged_in)))
            .await;
        assert_eq!(logout.status, 204, "{logout:?}");
        client.assert_revoked(&logged_in).await;
        match i {
            1 => {
                let all = client
                    .post("/api/logout-all", Some(&token_header(&registered)))
                    .await;
                assert_eq!(all.status, 204, "{all:?}");
            }
            2 => {
                let deleted = client
                    .delete("/api/me", Some(&token_header(&registered)))
                    .await;
                assert_eq!(deleted.status, 204, "{deleted:?}");
            }
            _ => {}
        }
        tokens.extend([registered, logged_in]);
    }
    server.stop().await;

    logs.assert_no_token(&tokens, &TokenPrefix::default());

    let path = database
        .url()
        .strip_prefix("sqlite://")
        .and_then(|rest| rest.split('?').next())
        .expect("a SQLite file URL")
        .to_owned();
    let mut scanned = 0;
    for suffix in ["", "-wal", "-journal"] {
        let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) else {
            continue;
        };
        scanned += bytes.len();
        for token in &tokens {
            let random = &token.as_bytes()[4..36];
            assert!(
                !contains(&bytes, random),
                "{path}{suffix} holds a token's secret"
            );
        }
    }
    assert!(scanned > 4096, "the database files were read");
}
