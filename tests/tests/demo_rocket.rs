//! The demo-API cases against the rocket example, on SQLite, on PostgreSQL
//! (`AUTHTOKEN_TEST_POSTGRES_URL`) and on MySQL or MariaDB (`AUTHTOKEN_TEST_MYSQL_URL`),
//! started in-process on an ephemeral port and driven over real TCP.

mod launchers;

use launchers::RocketLauncher;

authtoken_behaviour::demo_api_cases!(rocket_example, RocketLauncher);
authtoken_behaviour::demo_api_cases!(rocket_example_postgres, RocketLauncher, postgres);
authtoken_behaviour::demo_api_cases!(rocket_example_mysql, RocketLauncher, mysql);
