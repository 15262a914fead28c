//! The behaviour cases of authtoken, written once and run against every adapter
//! (in-process, through [`adapter::Harness`]) and every example (over TCP).

pub mod adapter;
