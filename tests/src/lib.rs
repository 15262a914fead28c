#![doc = include_str!("../README.md")]

pub mod adapter;
pub mod demo_api;
pub mod endpoints;
pub mod logs;
pub mod token_page;
pub mod webdriver;

/// The repository's README, so that its snippets are compiled (and run) by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct RootReadme;
