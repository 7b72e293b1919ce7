//! The README is the front door and `docs/` holds the rest: every relative link between them must
//! lead somewhere, to the file and to the heading it names, so a moved section cannot leave a
//! reader at a dead end.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    for entry in std::fs::read_dir(root().join("docs")).expect("docs/") {
        let path = entry.expect("docs/ entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages
}

/// Markdown links `[text](target)` outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let tail = &rest[at + 2..];
            let Some(end) = tail.find(')') else { break };
            out.push(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    out
}

/// The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to dashes.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim().to_lowercase();
        let anchor: String = title
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        out.insert(anchor);
    }
    out
}

#[test]
fn every_relative_link_in_the_readme_and_docs_leads_to_a_file_and_heading() {
    let mut broken = Vec::new();
    let pages = pages();
    assert!(pages.len() > 5, "the docs pages are found: {pages:?}");
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("page");
        for link in links(&text) {
            if link.starts_with("http://") || link.starts_with("https://") {
                continue;
            }
            let (file, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().expect("dir").join(file)
            };
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", page.display()));
                continue;
            }
            let is_page = target.extension().is_some_and(|e| e == "md");
            if !anchor.is_empty() && is_page {
                let headings = anchors(&std::fs::read_to_string(&target).expect("target"));
                if !headings.contains(anchor) {
                    broken.push(format!("{}: {link} (no such heading)", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_stays_a_front_door() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 300,
        "README.md has {lines} lines; move detail into docs/"
    );
    for command in ["make dev", "make test"] {
        assert!(readme.contains(command), "the README says `{command}`");
    }
}

#[test]
fn the_link_reader_sees_links_and_headings_as_github_does() {
    assert_eq!(
        links("see [a](docs/a.md#x) and [b](#y)\n```\n[c](nope.md)\n```"),
        ["docs/a.md#x", "#y"]
    );
    let headings = anchors("# Title\n## Which clock a `version` comes from\n```\n# not\n```");
    assert!(headings.contains("which-clock-a-version-comes-from"));
    assert!(!headings.contains("not"));
}
