//! An actix-web application on the README's install block: the store, the
//! authenticator and a route behind the adapter's middleware (built, not served).

use actix_web::{App, web};
use authtoken::{Authenticator, UserIdLoader};
use authtoken_actix::{AuthMiddleware, Authenticated};
use authtoken_sqlx::SqlxStore;

async fn me(user: Authenticated<String>) -> String {
    user.user().clone()
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = SqlxStore::connect("sqlite://tokens.db?mode=rwc").await?;
    store.migrate().await?;
    let auth = Authenticator::builder(store, UserIdLoader).build()?;
    let app = App::new()
        .wrap(AuthMiddleware::new(auth))
        .route("/me", web::get().to(me));
    drop(app);
    Ok(())
}
