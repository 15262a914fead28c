//! The token management page in headless Chromium, against each example over TCP
//! on SQLite. Skipped, with a `SKIPPED` line, when chromedriver or Chromium is not
//! installed; `.ci/run` installs them.

mod launchers;

use launchers::{ActixLauncher, AxumLauncher, RocketLauncher};

authtoken_behaviour::token_page_cases!(axum_example, AxumLauncher, "axum");
authtoken_behaviour::token_page_cases!(actix_example, ActixLauncher, "actix");
authtoken_behaviour::token_page_cases!(rocket_example, RocketLauncher, "rocket");
