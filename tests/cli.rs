//! The command line: `sign` and `check`, run as a user runs them.

use std::path::Path;
use std::process::{Command, Output};

use opentime::access::KeyRing;
use opentime::recipient::RecipientId;

const KEY: &str = "cli-test-signing-key-0123";

fn opentime(args: &[&str], templates_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_opentime"))
        .args(args)
        .env_remove("OPENTIME_REDIS_URL")
        .env("OPENTIME_SIGNING_KEYS", KEY)
        .env("OPENTIME_TEMPLATES_DIR", templates_dir)
        .env(
            "OPENTIME_FONTS_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts"),
        )
        .output()
        .expect("the opentime binary runs")
}

fn templates() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/templates")
}

#[test]
fn sign_prints_the_token_alone_and_signs_csv_files() {
    let keys = KeyRing::new(vec![KEY.as_bytes().to_vec()]).unwrap();
    let output = opentime(&["sign", "--recipient", "cust-1042"], &templates());
    assert!(output.status.success());
    let expected = keys.sign_recipient(&RecipientId::new("cust-1042").unwrap());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("{expected}\n")
    );

    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("audience.csv");
    let signed = work.path().join("signed.csv");
    std::fs::write(
        &input,
        "id,email_domain\nann,example.com\n\"b,o\",example.org\n",
    )
    .unwrap();
    let output = opentime(
        &[
            "sign",
            "--csv",
            input.to_str().unwrap(),
            "-o",
            signed.to_str().unwrap(),
        ],
        &templates(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&signed).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id,email_domain,t");
    let ann = keys.sign_recipient(&RecipientId::new("ann").unwrap());
    assert_eq!(lines[1], format!("ann,example.com,{ann}"));
    let bo = keys.sign_recipient(&RecipientId::new("b,o").unwrap());
    assert_eq!(lines[2], format!("\"b,o\",example.org,{bo}"));

    let url = "https://ot.example.com/i/sale.png?until=2026-12-01";
    let output = opentime(&["sign", "--url", url], &templates());
    let printed = String::from_utf8(output.stdout).unwrap();
    let s = keys.sign_url("/i/sale.png", &[("until".into(), "2026-12-01".into())]);
    assert_eq!(printed.trim(), format!("{url}&s={s}"));
}

#[test]
fn check_passes_the_demo_templates_and_locates_every_problem() {
    let output = opentime(&["check"], &templates());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("4 templates ok"), "{stdout}");

    let work = tempfile::tempdir().unwrap();
    let broken = r##"{ "name": "broken", "width": 300, "height": 100, "access": "token",
      "variants": [
        { "id": "vip", "when": "profile.tier ==", "layers": [] },
        { "id": "default", "layers": [ { "type": "rect", "x": 0, "y": 0, "width": 10, "height": 10, "fill": "#ff" } ] } ] }"##;
    std::fs::write(work.path().join("broken.json"), broken).unwrap();
    let bad_color = broken.replace("profile.tier ==", "profile.tier == 'gold'");
    std::fs::write(
        work.path().join("color.json"),
        bad_color.replace("\"broken\"", "\"color\""),
    )
    .unwrap();
    std::fs::write(
        work.path().join("typo.json"),
        r#"{ "name": "typo", "widht": 3 }"#,
    )
    .unwrap();
    let output = opentime(&["check"], work.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(
        stdout.contains("broken.json: variant \"vip\": variants[0].when: line 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("color.json: variant \"default\": variants[1].layers[0].fill"),
        "{stdout}"
    );
    assert!(
        stdout.contains("typo.json") && stdout.contains("widht"),
        "{stdout}"
    );
}

#[test]
fn the_example_deployment_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/opentime.toml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "signing_keys_file = \"/etc/opentime/signing-keys\"",
        "signing_keys = \"an-example-signing-key-of-enough-length\"",
    );
    let work = tempfile::tempdir().unwrap();
    let copy = work.path().join("opentime.toml");
    std::fs::write(&copy, text).unwrap();
    let config = opentime::config::Config::load(Some(&copy)).expect("the example config is valid");
    assert_eq!(config.listen.port(), 8080);
    assert!(config.key_ring().is_ok());
}
