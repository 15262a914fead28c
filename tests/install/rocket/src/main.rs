//! A Rocket application on the README's install block: the store, the authenticator
//! and a route behind the adapter's guard (built, not launched).

use authtoken::{Authenticator, UserIdLoader};
use authtoken_rocket::{AuthFairing, Authenticated};
use authtoken_sqlx::SqlxStore;

#[rocket::get("/me")]
fn me(user: Authenticated<String>) -> String {
    user.into_inner().user().clone()
}

#[rocket::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = SqlxStore::connect("sqlite://tokens.db?mode=rwc").await?;
    store.migrate().await?;
    let auth = Authenticator::builder(store, UserIdLoader).build()?;
    let rocket = rocket::build()
        .mount("/", rocket::routes![me])
        .attach(AuthFairing::new(auth));
    drop(rocket);
    Ok(())
}
