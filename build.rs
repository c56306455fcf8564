//! Installs the browser scripts that `src/web/assets.rs` embeds (htmx and its
//! SSE extension, pinned by `package.json` and `package-lock.json`) with
//! `npm ci` when they are missing or not the versions the lock file pins.
//! The scripts are never committed (see `.gitignore`).

use std::path::Path;
use std::process::Command;

/// The files `src/web/assets.rs` includes.
const SCRIPTS: [&str; 2] = [
    "node_modules/htmx.org/dist/htmx.min.js",
    "node_modules/htmx-ext-sse/dist/sse.min.js",
];
/// npm's record of what it installed (npm 7 and later).
const INSTALLED: &str = "node_modules/.package-lock.json";

fn main() {
    // The integration tests' PostgreSQL cases run when TEST_DATABASE_URL is
    // set, and are reported as ignored (not passed) when it is not.
    println!("cargo::rerun-if-env-changed=TEST_DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.trim().is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // `migrations`: `sqlx::migrate!` embeds the files, and a new one must
    // rebuild the crate (cargo watches a directory's files).
    for file in [
        "build.rs",
        "package.json",
        "package-lock.json",
        "migrations",
    ]
    .into_iter()
    .chain(SCRIPTS)
    {
        println!("cargo::rerun-if-changed={file}");
    }

    let lock = match std::fs::read_to_string(root.join("package-lock.json")) {
        Ok(lock) => lock,
        Err(e) => return fail(&format!("package-lock.json cannot be read ({e})")),
    };
    let installed = std::fs::read_to_string(root.join(INSTALLED)).unwrap_or_default();
    if SCRIPTS.iter().all(|s| root.join(s).is_file()) && pins_match(&lock, &installed) {
        return;
    }

    // `--ignore-scripts`: nothing from the registry runs on this machine.
    let output = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(root)
        .output();
    match output {
        Err(e) => fail(&format!("cannot run npm ({e})")),
        Ok(out) if !out.status.success() => {
            // Cargo shows a build script's stderr when the build fails.
            eprintln!("{}", String::from_utf8_lossy(&out.stdout));
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            fail(&format!("`npm ci` failed ({})", out.status));
        }
        Ok(_) => {
            if let Some(missing) = SCRIPTS.iter().find(|s| !root.join(s).is_file()) {
                fail(&format!(
                    "`npm ci` succeeded but {missing} is missing (the package layout changed: \
                     update build.rs and src/web/assets.rs)"
                ));
            }
        }
    }
}

/// Whether npm installed exactly what the lock file pins: each package
/// digest (`"integrity"`) of the lock is in npm's record of the install.
fn pins_match(lock: &str, installed: &str) -> bool {
    let mut digests = lock
        .split("\"integrity\": \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .peekable();
    digests.peek().is_some() && digests.all(|d| installed.contains(d))
}

/// Stops the build with one message saying what to do.
fn fail(why: &str) {
    println!(
        "cargo::error=htmx and its SSE extension, embedded in the binary, could not be \
         installed from the npm registry: {why}. Install Node.js and npm (Debian: \
         `apt-get install npm`), check that the npm registry can be reached, and build \
         again (the build runs `npm ci --ignore-scripts` in the crate root)."
    );
}
