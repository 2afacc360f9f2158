//! The web console in a real headless Chromium: runs the Playwright suite in
//! tests/console/suite.py against this build's `hotline`. Needs the project's Python venv
//! with `playwright` (tests/run installs it from tests/requirements.txt; or set
//! HOTLINE_PYTHON) and Debian's chromium (tests/run installs it; or set
//! HOTLINE_CHROMIUM). Either missing fails the test, never skips it.

use std::path::PathBuf;
use std::process::Command;

fn python() -> PathBuf {
    std::env::var_os("HOTLINE_PYTHON").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../.venv/bin/python"
            ))
        },
        PathBuf::from,
    )
}

#[test]
fn the_console_works_in_a_real_chromium() {
    let python = python();
    assert!(
        python.is_file(),
        "{} is missing: this test needs Python with playwright. Run tests/run, or \
         `.venv/bin/pip install -r tests/requirements.txt` (or set HOTLINE_PYTHON).",
        python.display()
    );
    let chromium = std::env::var_os("HOTLINE_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        chromium.is_file(),
        "{} is missing: this test needs Chromium (`apt-get install -y chromium`, which \
         tests/run does, or set HOTLINE_CHROMIUM).",
        chromium.display()
    );
    let probe = Command::new(&python)
        .args(["-c", "import playwright.sync_api"])
        .output()
        .expect("python runs");
    assert!(
        probe.status.success(),
        "{} has no playwright: `pip install -r tests/requirements.txt` into it.\n{}",
        python.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
    // Screenshots for a person to look at, under target/ (not committed).
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let suite = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/console/suite.py");
    let out = Command::new(&python)
        .arg(suite)
        .env("HOTLINE_BIN", env!("CARGO_BIN_EXE_hotline"))
        .env("HOTLINE_CHROMIUM", &chromium)
        .env("HOTLINE_SCREENSHOTS", &shots)
        .output()
        .expect("the suite runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the console suite failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
