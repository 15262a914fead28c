//! An axum application on the README's install block: the store, the authenticator
//! and a route behind the adapter's extractor (built, not served).

use authtoken::{Authenticator, UserIdLoader};
use authtoken_axum::Authenticated;
use authtoken_sqlx::SqlxStore;
use axum::Router;
use axum::routing::get;

async fn me(user: Authenticated<String>) -> String {
    user.user().clone()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = SqlxStore::connect("sqlite://tokens.db?mode=rwc").await?;
    store.migrate().await?;
    let auth = Authenticator::builder(store, UserIdLoader).build()?;
    let app: Router = Router::new().route("/me", get(me)).with_state(auth);
    drop(app);
    Ok(())
}
