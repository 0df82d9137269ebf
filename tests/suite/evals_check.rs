//! `evalgate evals check` driven as a binary: broken suites give `file:line:col` lines and
//! exit 1; the shipped `evals/` directory passes.

use std::path::Path;
use std::process::Output;

fn evals_check(dir: &Path, config: &Path) -> Output {
    crate::common::evalgate()
        .arg("--config")
        .arg(config)
        .args(["evals", "check"])
        .arg(dir)
        .env("RUST_LOG", "off")
        .output()
        .expect("the binary runs")
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    let config = dir.join("evalgate.toml");
    std::fs::write(&config, "").unwrap();
    config
}

#[test]
fn broken_suites_are_reported_with_positions_and_exit_1() {
    let root = tempfile::tempdir().unwrap();
    let evals = root.path().join("evals");
    std::fs::create_dir(&evals).unwrap();
    std::fs::write(
        evals.join("a_bad.yaml"),
        "name: bad\nassert:\n  - type: regex\n    value: \"[unclosed\"\n  - type: icontians\n    value: x\n  - type: llm-rubric\n    judge: nobody\n    rubric: \"{{output}} vs {{answer}}\"\n",
    )
    .unwrap();
    std::fs::write(
        evals.join("b_typo.yaml"),
        "name: typo\nassert:\n  - type: contains\n    vaule: x\n",
    )
    .unwrap();
    std::fs::write(
        evals.join("c_good.yaml"),
        "name: good\nassert:\n  - type: is-json\n",
    )
    .unwrap();
    let output = evals_check(&evals, &write_config(root.path()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let a_bad = evals.join("a_bad.yaml").display().to_string();
    let b_typo = evals.join("b_typo.yaml").display().to_string();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.contains(&format!("{a_bad}:4:12: invalid regex: unclosed character class").as_str()),
        "{stdout}"
    );
    assert!(
        lines.contains(&format!("{a_bad}:5:11: unknown assertion type `icontians`").as_str()),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with(&format!("{a_bad}:8:12: unknown judge `nobody`"))),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with(&format!("{b_typo}:4:5: ")) && line.contains("vaule")),
        "{stdout}"
    );
    let template_problem = format!("{a_bad}:9:13: unknown template variable `{{{{answer}}}}`");
    assert!(
        lines.iter().any(|line| line.starts_with(&template_problem)),
        "{stdout}"
    );
    assert!(!stdout.contains("c_good.yaml"), "{stdout}");
    assert_eq!(
        lines.last().copied(),
        Some(format!("error: 5 problem(s) in 2 file(s) under {}", evals.display()).as_str()),
        "{stdout}"
    );
}

#[test]
fn the_rubric_template_variable_error_is_reported_when_the_judge_exists() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(
        root.path().join("j.yaml"),
        "name: j\nassert:\n  - type: llm-rubric\n    judge: grader\n    rubric: \"{{output}} vs {{answer}}\"\n",
    )
    .unwrap();
    let config = root.path().join("evalgate.toml");
    std::fs::write(&config, "[judges.grader]\nmodel = \"judge-model\"\n").unwrap();
    let output = evals_check(root.path(), &config);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("j.yaml:5:13: unknown template variable `{{answer}}`"),
        "{stdout}"
    );
}

#[test]
fn the_shipped_suites_pass_the_check() {
    let root = tempfile::tempdir().unwrap();
    let evals = Path::new(env!("CARGO_MANIFEST_DIR")).join("evals");
    let output = evals_check(&evals, &write_config(root.path()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("suite `support` ok"), "{stdout}");
    assert!(
        stdout.lines().last().unwrap_or("").starts_with("ok: "),
        "{stdout}"
    );
}

#[test]
fn a_missing_directory_is_an_error_not_an_empty_pass() {
    let root = tempfile::tempdir().unwrap();
    let output = evals_check(&root.path().join("nope"), &write_config(root.path()));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("cannot read the suites directory"));
}

// See: issue 13 (`evals check` ignored `[evals].dir`).
#[test]
fn without_a_directory_argument_the_config_evals_dir_is_checked() {
    let root = tempfile::tempdir().unwrap();
    let evals = root.path().join("my-suites");
    std::fs::create_dir(&evals).unwrap();
    std::fs::write(
        evals.join("bad.yaml"),
        "name: bad\nassert:\n  - type: icontians\n    value: x\n",
    )
    .unwrap();
    let config = root.path().join("evalgate.toml");
    std::fs::write(
        &config,
        format!("[evals]\ndir = {:?}\n", evals.display().to_string()),
    )
    .unwrap();
    let output = crate::common::evalgate()
        .arg("--config")
        .arg(&config)
        .args(["evals", "check"])
        .current_dir(root.path())
        .env("RUST_LOG", "off")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("my-suites"), "{stdout}");
    assert!(
        stdout.contains("unknown assertion type `icontians`"),
        "{stdout}"
    );
}
