//! The root README's install blocks (the ```toml fences under "### Install") name the
//! crates, versions and features this workspace has: each `authtoken*` crate at the
//! workspace's version with features it declares, and each other crate (sqlx, the
//! frameworks, tokio) at the workspace's own requirement, with features the workspace
//! itself uses. A README that drifts from the manifests fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use toml::{Table, Value};

/// The repository's root: two levels above this crate.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(path: &Path) -> Table {
    read(path)
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ```toml blocks of the README's "### Install" section, up to the next heading
/// (headings inside fences, such as a doctest's `# fn main`, do not count).
fn install_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut in_section = false;
    let mut fence: Option<(bool, String)> = None;
    for line in readme.lines() {
        match &mut fence {
            Some((is_toml, block)) => {
                if line.starts_with("```") {
                    if *is_toml && in_section {
                        blocks.push(std::mem::take(block));
                    }
                    fence = None;
                } else {
                    block.push_str(line);
                    block.push('\n');
                }
            }
            None if line.starts_with("```") => {
                fence = Some((line.trim_end() == "```toml", String::new()));
            }
            None if line.starts_with('#') => in_section = line.trim_end() == "### Install",
            None => {}
        }
    }
    blocks
}

/// A dependency as a README line names it: its version and the features it asks for.
#[derive(Debug)]
struct Named {
    version: String,
    features: Vec<String>,
}

fn named(name: &str, value: &Value) -> Named {
    match value {
        Value::String(version) => Named {
            version: version.clone(),
            features: Vec::new(),
        },
        Value::Table(table) => {
            let unknown: Vec<_> = table
                .keys()
                .filter(|key| !["version", "features", "default-features"].contains(&key.as_str()))
                .collect();
            assert!(unknown.is_empty(), "{name}: unexpected keys {unknown:?}");
            Named {
                version: table
                    .get("version")
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("{name}: no version"))
                    .to_owned(),
                features: strings(table.get("features")),
            }
        }
        other => panic!("{name}: {other:?} is not a dependency"),
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|array| {
            array
                .iter()
                .map(|v| v.as_str().expect("a string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The workspace as the install blocks are checked against it.
struct Workspace {
    /// `workspace.package.version`.
    version: String,
    /// Each published crate under `crates/`, and the features it declares.
    members: BTreeMap<String, BTreeSet<String>>,
    /// `[workspace.dependencies]`: the version requirement of each other crate.
    requirements: BTreeMap<String, String>,
    /// Every feature of another crate that some manifest of the workspace turns on.
    used_features: BTreeMap<String, BTreeSet<String>>,
}

impl Workspace {
    fn read() -> Self {
        let root = root();
        let manifest = parse(&root.join("Cargo.toml"));
        let workspace = manifest["workspace"].as_table().expect("[workspace]");
        let version = workspace["package"]["version"]
            .as_str()
            .expect("workspace.package.version")
            .to_owned();

        let mut members = BTreeMap::new();
        let mut requirements = BTreeMap::new();
        let mut used_features: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, dep) in workspace["dependencies"].as_table().expect("deps") {
            if let Some(requirement) = dep.as_str().or_else(|| dep.get("version")?.as_str()) {
                requirements.insert(name.clone(), requirement.to_owned());
            }
            used_features
                .entry(name.clone())
                .or_default()
                .extend(strings(dep.get("features")));
        }

        let mut manifests = Vec::new();
        for dir in ["crates", "examples"] {
            for entry in std::fs::read_dir(root.join(dir)).expect(dir) {
                let path = entry.expect(dir).path().join("Cargo.toml");
                if path.exists() {
                    manifests.push((dir == "crates", parse(&path)));
                }
            }
        }
        manifests.push((false, parse(&root.join("tests/Cargo.toml"))));

        for (published, manifest) in &manifests {
            let features = manifest.get("features").and_then(Value::as_table);
            if *published {
                let name = manifest["package"]["name"].as_str().expect("name");
                let declared = features.map(|f| f.keys().cloned().collect());
                members.insert(name.to_owned(), declared.unwrap_or_default());
            }
            // `dep/feature` in this crate's own features.
            for forwarded in features.into_iter().flat_map(|f| f.values()) {
                for item in strings(Some(forwarded)) {
                    if let Some((dep, feature)) = item.split_once('/') {
                        let dep = dep.trim_start_matches("dep:").trim_end_matches('?');
                        let entry = used_features.entry(dep.to_owned()).or_default();
                        entry.insert(feature.to_owned());
                    }
                }
            }
            // `features = [...]` on dependencies, target-specific ones included.
            let targets = manifest.get("target").and_then(Value::as_table);
            let tables = std::iter::once(manifest).chain(
                targets
                    .into_iter()
                    .flat_map(|t| t.values().filter_map(Value::as_table)),
            );
            for table in tables {
                for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
                    let Some(deps) = table.get(section).and_then(Value::as_table) else {
                        continue;
                    };
                    for (name, dep) in deps {
                        let entry = used_features.entry(name.clone()).or_default();
                        entry.extend(strings(dep.get("features")));
                    }
                }
            }
        }

        Self {
            version,
            members,
            requirements,
            used_features,
        }
    }

    /// What is wrong with one line of an install block, if anything.
    fn check(&self, name: &str, dep: &Named) -> Vec<String> {
        let mut wrong = Vec::new();
        if let Some(declared) = self.members.get(name) {
            if dep.version != self.version {
                wrong.push(format!(
                    "{name}: version {:?}, the workspace's is {:?}",
                    dep.version, self.version
                ));
            }
            for feature in &dep.features {
                if !declared.contains(feature) {
                    wrong.push(format!("{name}: no feature {feature:?} (has {declared:?})"));
                }
            }
        } else if let Some(requirement) = self.requirements.get(name) {
            if &dep.version != requirement {
                wrong.push(format!(
                    "{name}: version {:?}, the workspace requires {requirement:?}",
                    dep.version
                ));
            }
            let used = &self.used_features[name];
            for feature in &dep.features {
                if !used.contains(feature) {
                    wrong.push(format!(
                        "{name}: feature {feature:?} is one the workspace never builds with \
                         (it uses {used:?})"
                    ));
                }
            }
        } else {
            wrong.push(format!(
                "{name}: not a crate of the workspace nor one it uses"
            ));
        }
        wrong
    }
}

#[test]
fn the_readme_install_blocks_match_the_workspace() {
    let workspace = Workspace::read();
    let blocks = install_blocks(&read(&root().join("README.md")));
    assert_eq!(
        blocks.len(),
        3,
        "one install block per framework: {blocks:#?}"
    );

    let mut wrong = Vec::new();
    let mut adapters = BTreeSet::new();
    for block in &blocks {
        let table: Table = block
            .parse()
            .unwrap_or_else(|e| panic!("an install block is not TOML: {e}\n{block}"));
        assert_eq!(
            table.keys().collect::<Vec<_>>(),
            ["dependencies"],
            "a whole [dependencies] section:\n{block}"
        );
        let deps = table["dependencies"].as_table().expect("[dependencies]");
        for needed in ["authtoken", "authtoken-sqlx", "sqlx"] {
            assert!(deps.contains_key(needed), "no {needed} in\n{block}");
        }
        let ours: Vec<_> = ["authtoken-axum", "authtoken-actix", "authtoken-rocket"]
            .into_iter()
            .filter(|adapter| deps.contains_key(*adapter))
            .collect();
        assert_eq!(ours.len(), 1, "one adapter per block:\n{block}");
        adapters.extend(ours);
        for (name, value) in deps {
            wrong.extend(workspace.check(name, &named(name, value)));
        }
    }
    assert_eq!(adapters.len(), 3, "a block for each adapter");
    assert!(
        wrong.is_empty(),
        "the README's install blocks drifted:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_workspace_is_read_as_it_is() {
    // The crates the blocks are checked against, with their features.
    let workspace = Workspace::read();
    for name in [
        "authtoken",
        "authtoken-sqlx",
        "authtoken-axum",
        "authtoken-actix",
        "authtoken-rocket",
    ] {
        assert!(workspace.members.contains_key(name), "{name}");
    }
    assert!(workspace.members["authtoken-sqlx"].contains("postgres"));
    assert!(workspace.requirements.contains_key("sqlx"));
}

/// Each install block is, line for line, the `[dependencies]` of a crate the workspace
/// builds (`tests/install/{axum,actix,rocket}`, whose `authtoken*` lines add only a
/// `path`): so the blocks compile as written, with `cargo build --workspace`.
#[test]
fn the_readme_install_blocks_are_crates_that_compile() {
    let blocks = install_blocks(&read(&root().join("README.md")));
    let mut compared = 0;
    for block in &blocks {
        let table: Table = block
            .parse()
            .unwrap_or_else(|e| panic!("an install block is not TOML: {e}\n{block}"));
        let written = table["dependencies"].as_table().expect("[dependencies]");
        let framework = ["axum", "actix", "rocket"]
            .into_iter()
            .find(|framework| written.contains_key(&format!("authtoken-{framework}")))
            .unwrap_or_else(|| panic!("no adapter in\n{block}"));
        let manifest = root().join(format!("tests/install/{framework}/Cargo.toml"));
        let mut built = parse(&manifest)["dependencies"]
            .as_table()
            .expect("[dependencies]")
            .clone();
        for (name, value) in &mut built {
            if let Value::Table(fields) = value
                && name.starts_with("authtoken")
            {
                assert!(
                    fields.remove("path").is_some(),
                    "{name} in {} has a path",
                    manifest.display()
                );
                // `{ version = "x" }` is written `"x"`.
                if fields.len() == 1
                    && let Some(version) = fields.get("version").cloned()
                {
                    *value = version;
                }
            }
        }
        assert_eq!(
            &built,
            written,
            "the README's {framework} block and {} differ",
            manifest.display()
        );
        compared += 1;
    }
    assert_eq!(compared, 3, "a crate for each block");
}
