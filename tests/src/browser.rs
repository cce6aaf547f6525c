//! A real browser for HTML tests: Debian's Chromium, headless, with a fresh
//! profile and no background networking (scripts/setup.sh --tests installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `$CHROMIUM`, or `chromium` on the PATH.
pub fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("chromium"))
}

fn headless(profile: &Path) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-extensions",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// A screenshot of `page` at `width`x`height`, written to `png`.
pub fn screenshot(page: &Path, png: &Path, width: u32, height: u32) {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = headless(profile.path())
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url(page))
        .output()
        .expect("running chromium (apt-get install chromium)");
    assert!(
        out.status.success() && png.is_file(),
        "chromium screenshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The DOM of `page` after loading, as HTML.
pub fn dom(page: &Path) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = headless(profile.path())
        .arg("--dump-dom")
        .arg(url(page))
        .output()
        .expect("running chromium (apt-get install chromium)");
    assert!(
        out.status.success(),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn url(page: &Path) -> String {
    let abs = std::fs::canonicalize(page).expect("page exists");
    format!("file://{}", abs.display())
}

/// Rows in the body of the table with `id`, in a DOM dump.
pub fn table_rows(dom: &str, id: &str) -> usize {
    let start = dom
        .find(&format!("<table id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table #{id}"));
    let body = start + dom[start..].find("<tbody>").expect("tbody");
    let end = body + dom[body..].find("</tbody>").expect("end of tbody");
    dom[body..end].matches("<tr").count()
}
