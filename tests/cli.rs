//! The command line: `sign` and `check`, run as a user runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use opentime::access::KeyRing;
use opentime::recipient::RecipientId;

const KEY: &str = "cli-test-signing-key-0123";

fn opentime(args: &[&str], templates_dir: &Path) -> Output {
    opentime_with(args, templates_dir, &[])
}

/// Runs `opentime` with the shipped fonts and demo recipients, unless `env`
/// names other directories.
fn opentime_with(args: &[&str], templates_dir: &Path, env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_opentime"));
    command
        .args(args)
        .env_remove("OPENTIME_REDIS_URL")
        .env("OPENTIME_SIGNING_KEYS", KEY)
        .env("OPENTIME_TEMPLATES_DIR", templates_dir)
        .env("OPENTIME_FONTS_DIR", root().join("fonts"))
        .env("OPENTIME_DEMO_DIR", root().join("assets/demo"));
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the opentime binary runs")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn templates() -> PathBuf {
    root().join("assets/templates")
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
    assert_eq!(
        lines[0], "id,email_domain,ot_token",
        "the attribute embed merges in"
    );
    let ann = keys.sign_recipient(&RecipientId::new("ann").unwrap());
    assert_eq!(lines[1], format!("ann,example.com,{ann}"));
    let bo = keys.sign_recipient(&RecipientId::new("b,o").unwrap());
    assert_eq!(lines[2], format!("\"b,o\",example.org,{bo}"));
    // --token-column keeps another name, such as the earlier `t`.
    let output = opentime(
        &[
            "sign",
            "--csv",
            input.to_str().unwrap(),
            "--token-column",
            "t",
        ],
        &templates(),
    );
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(printed.starts_with("id,email_domain,t\n"), "{printed}");

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
    assert!(stdout.contains("12 templates ok"), "{stdout}");
    // Every demo recipient is a sample state, and the bundled fonts draw
    // every script they use.
    let demo: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(root().join("assets/demo/recipients.json")).unwrap(),
    )
    .unwrap();
    assert!(
        stdout.contains(&format!("states: {} demo recipients", demo.len())),
        "{stdout}"
    );
    assert!(!stdout.contains("warning"), "{stdout}");

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

/// A fonts directory whose `sans` family has Noto Sans alone: Latin,
/// Cyrillic and Greek, and no other script.
fn latin_only_fonts(work: &Path) -> PathBuf {
    let fonts = work.join("fonts");
    std::fs::create_dir(&fonts).unwrap();
    for file in ["NotoSans-Regular.ttf", "NotoSans-Bold.ttf"] {
        std::fs::copy(root().join("fonts").join(file), fonts.join(file)).unwrap();
    }
    std::fs::write(
        fonts.join("fonts.toml"),
        "[families.sans]\n\
         regular = [{ file = \"NotoSans-Regular.ttf\" }]\n\
         bold = [{ file = \"NotoSans-Bold.ttf\" }]\n",
    )
    .unwrap();
    fonts
}

fn warning_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|line| line.starts_with("warning "))
        .collect()
}

/// The warnings about scripts no font has.
fn script_warning_lines(stdout: &str) -> Vec<&str> {
    warning_lines(stdout)
        .into_iter()
        .filter(|line| line.contains("no font has"))
        .collect()
}

#[test]
fn check_warns_when_no_font_has_a_script_that_a_sample_state_uses() {
    let work = tempfile::tempdir().unwrap();
    let fonts = latin_only_fonts(work.path());
    let no_demo = work.path().join("no-demo");
    let anna = work.path().join("anna.json");
    std::fs::write(
        &anna,
        r#"{ "first_name": "Anna", "last_name": "Łukasiewicz", "renews_on": "2031-01-01", "points": 120, "ticket_id": "7" }"#,
    )
    .unwrap();
    let layla = work.path().join("layla.json");
    std::fs::write(&layla, r#"{ "first_name": "ليلى" }"#).unwrap();

    // Latin names need nothing Noto Sans lacks.
    let env = [
        ("OPENTIME_FONTS_DIR", fonts.as_path()),
        ("OPENTIME_DEMO_DIR", &no_demo),
    ];
    let output = opentime_with(
        &["check", "--state", anna.to_str().unwrap()],
        &templates(),
        &env,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("states: 0 demo recipients"), "{stdout}");
    assert!(stdout.contains("1 from --state"), "{stdout}");
    assert!(script_warning_lines(&stdout).is_empty(), "{stdout}");
    // One state is a thin sample: the fields the templates read and it
    // lacks are named, without failing the check.
    assert!(
        warning_lines(&stdout).iter().any(|line| line.contains(
            "loyalty.json: variant \"member\": variants[0].link: profile.tier is a field no sample state has"
        )),
        "{stdout}"
    );

    // An Arabic name is flagged in every layer that shows it, once per
    // layer, and the check still passes.
    let output = opentime_with(
        &[
            "check",
            "--state",
            anna.to_str().unwrap(),
            "--state",
            layla.to_str().unwrap(),
        ],
        &templates(),
        &env,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let warnings = script_warning_lines(&stdout);
    let renewed = format!(
        "warning {}: variant \"renewed\": variants[0].layers[1] (family \"sans\", bold): \
         no font has Arabic, used by sample state {} (\"ليلى\")",
        templates().join("renewal.json").display(),
        layla.display()
    );
    assert!(warnings.contains(&renewed.as_str()), "{stdout}");
    assert!(
        warnings
            .iter()
            .all(|line| line.contains("no font has Arabic")),
        "{stdout}"
    );
    assert!(
        warnings
            .iter()
            .any(|line| line.contains("reactivation.json")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "\n{} warnings: some recipients' scripts cannot be rendered\n",
            warnings.len()
        )),
        "{stdout}"
    );

    // The demo recipients bring their own scripts.
    let output = opentime_with(
        &["check"],
        &templates(),
        &[("OPENTIME_FONTS_DIR", fonts.as_path())],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    for (script, recipient) in [
        ("Arabic", "renewal-layla"),
        ("Hebrew", "reactivation-noa"),
        ("Devanagari", "loyalty-priya"),
        ("Thai", "support-somchai"),
        ("emoji", "loyalty-zoe"),
    ] {
        assert!(
            warning_lines(&stdout)
                .iter()
                .any(|line| line.contains(&format!(
                    "no font has {script}, used by sample state {recipient}"
                ))),
            "{script} of {recipient}: {stdout}"
        );
    }
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
    assert_eq!(config.server.listen.port(), 8080);
    assert!(config.key_ring().is_ok());
}

#[test]
fn check_refuses_bad_countdowns_and_warns_about_bad_deadlines() {
    let work = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(templates().join("flash-sale.json")).unwrap();
    let cases = [
        (
            "frames",
            good.replace("\"frames\": 60", "\"frames\": 0"),
            "timer.frames: must be 1 to 300",
        ),
        (
            "units",
            good.replace(
                "\"units\": [\"days\", \"hours\", \"minutes\", \"seconds\"]",
                "\"units\": [\"seconds\", \"days\"]",
            ),
            "variants[1].layers[1].units: list units largest first",
        ),
        (
            "size",
            good.replace("\"size\": 48", "\"size\": -4"),
            "variants[1].layers[1].size",
        ),
        (
            "format",
            good.replace("\"format\": \"gif\"", "\"format\": \"png\""),
            "format: a countdown template is a \"gif\"",
        ),
        (
            "zone",
            good.replace(
                "\"frames\": 60",
                "\"frames\": 60, \"time_zone\": \"Mars/Olympus\"",
            ),
            "timer.time_zone: unknown time zone",
        ),
    ];
    for (name, text, _) in &cases {
        let file = text.replace("\"name\": \"flash-sale\"", &format!("\"name\": \"{name}\""));
        std::fs::write(work.path().join(format!("{name}.json")), file).unwrap();
    }
    let output = opentime(&["check"], work.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    for (name, _, expected) in &cases {
        let line = stdout
            .lines()
            .find(|line| line.contains(&format!("{name}.json")))
            .unwrap_or_else(|| panic!("no line for {name}: {stdout}"));
        assert!(line.contains(expected), "{name}: {line}");
    }

    // A deadline that does not parse for a sample state is a warning.
    let state = work.path().join("bad-date.json");
    std::fs::write(&state, r#"{ "renews_on": "someday" }"#).unwrap();
    let output = opentime(&["check", "--state", state.to_str().unwrap()], &templates());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.lines().any(|line| line.starts_with("warning")
            && line.contains("renewal-timer.json: timer: the deadline \"someday\"")),
        "{stdout}"
    );
}

#[test]
fn check_holds_sources_to_the_configured_hosts_and_secrets() {
    let work = tempfile::tempdir().unwrap();
    let card = |name: &str, url: &str, header: &str| {
        format!(
            r##"{{ "name": "{name}", "width": 300, "height": 100, "access": "token",
              "sources": {{ "shop": {{ "url": "{url}", "headers": {{ "Authorization": "{header}" }} }} }},
              "variants": [ {{ "id": "default", "layers": [
                {{ "type": "text", "x": 0, "y": 0, "width": 300, "height": 100, "size": 12,
                  "text": "{{{{ source.shop.status | default('') }}}}" }} ] }} ] }}"##
        )
    };
    let files = [
        (
            "listed.json",
            card(
                "listed",
                "https://api.shop.example/c/{{ recipient.id }}",
                "Bearer {{ secret('shop') }}",
            ),
        ),
        (
            "offlist.json",
            card(
                "offlist",
                "https://evil.example/c/{{ recipient.id }}",
                "none",
            ),
        ),
        (
            "filled.json",
            card("filled", "https://{{ profile.shop }}.example/c", "none"),
        ),
        (
            "nosecret.json",
            card(
                "nosecret",
                "https://api.shop.example/c",
                "Bearer {{ secret('other') }}",
            ),
        ),
    ];
    for (file, json) in &files {
        std::fs::write(work.path().join(file), json).unwrap();
    }
    let output = opentime_with(
        &["check"],
        work.path(),
        &[
            (
                "OPENTIME_SOURCE_HOSTS",
                Path::new("https://api.shop.example"),
            ),
            (
                "OPENTIME_SECRETS",
                Path::new(r#"{"shop": "a-secret-never-printed"}"#),
            ),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stdout}");
    for expected in [
        "ok     ",
        "offlist.json: sources.shop.url: https://evil.example is not in source_hosts",
        "filled.json: sources.shop.url: the URL's host must be written out",
        "nosecret.json: sources.shop.headers.Authorization: secret(\"other\") is not in the server's [secrets]",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in {stdout}");
    }
    assert!(stdout.contains("listed.json"), "{stdout}");
    assert!(
        !stdout.contains("a-secret-never-printed") && !stderr.contains("a-secret-never-printed")
    );
}

#[test]
fn check_refuses_bad_polls_and_names_the_field() {
    let work = tempfile::tempdir().unwrap();
    let poll = |name: &str, poll: &str| {
        format!(
            r##"{{ "name": "{name}", "width": 300, "height": 100, "access": "token", {poll}
              "variants": [ {{ "id": "default", "layers": [
                {{ "type": "poll_results", "x": 0, "y": 0, "width": 300, "height": 100, "size": 12 }} ] }} ] }}"##
        )
    };
    let good = r#""poll": { "id": "topic", "options": [ { "id": "a" }, { "id": "b" } ], "thanks": "https://example.com/t" },"#;
    let files = [
        ("first.json", poll("first", good)),
        // The same poll id again: a vote URL could not say which one.
        ("second.json", poll("second", good)),
        ("nopoll.json", poll("nopoll", "")),
        (
            "twice.json",
            poll(
                "twice",
                &good.replace(r#""b""#, r#""a""#).replace("topic", "twice"),
            ),
        ),
        (
            "badlink.json",
            poll(
                "badlink",
                &good
                    .replace("https://example.com/t", "{{ vote.option")
                    .replace("topic", "badlink"),
            ),
        ),
    ];
    for (file, json) in &files {
        std::fs::write(work.path().join(file), json).unwrap();
    }
    let output = opentime(&["check"], work.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    for expected in [
        "ok     ",
        "second.json: poll.id: is the poll id of first already",
        "nopoll.json: variant \"default\": variants[0].layers[0].type: a poll_results layer needs the template's poll",
        "twice.json: poll.options[1].id: \"a\" is there twice",
        "badlink.json: poll.thanks",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in {stdout}");
    }
}

#[test]
fn sign_prints_the_one_click_unsubscribe_headers() {
    let token =
        String::from_utf8(opentime(&["sign", "--recipient", "cust-1042"], &templates()).stdout)
            .unwrap();
    let token = token.trim();
    let args = [
        "sign",
        "--recipient",
        "cust-1042",
        "--unsubscribe-headers",
        "--list",
        "offers",
    ];
    let public = Path::new("https://ot.example.com");
    let output = opentime_with(&args, &templates(), &[("OPENTIME_PUBLIC_URL", public)]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!(
            "List-Unsubscribe: <https://ot.example.com/u?t={token}&list=offers>\n\
             List-Unsubscribe-Post: List-Unsubscribe=One-Click\n"
        )
    );
    // Without the public address, or with a list nobody configured, it says why.
    let output = opentime(&args, &templates());
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("public_url"));
    let unknown = [
        "sign",
        "--recipient",
        "cust-1042",
        "--unsubscribe-headers",
        "--list",
        "casino",
    ];
    let output = opentime_with(&unknown, &templates(), &[("OPENTIME_PUBLIC_URL", public)]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("casino"));
    let plain_http = Path::new("http://ot.example.com");
    let output = opentime_with(&args, &templates(), &[("OPENTIME_PUBLIC_URL", plain_http)]);
    assert!(!output.status.success(), "RFC 8058 wants https");
}

#[test]
fn sign_refuses_the_public_demo_key_unless_asked_for_it() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_opentime"))
            .args(args)
            .env_remove("OPENTIME_REDIS_URL")
            .env_remove("OPENTIME_SIGNING_KEYS")
            .env_remove("OPENTIME_SIGNING_KEYS_FILE")
            .env("OPENTIME_TEMPLATES_DIR", templates())
            .env("OPENTIME_FONTS_DIR", root().join("fonts"))
            .env("OPENTIME_DEMO_DIR", root().join("assets/demo"))
            .output()
            .expect("the opentime binary runs")
    };
    let refused = run(&["sign", "--recipient", "cust-1042"]);
    assert!(!refused.status.success());
    assert!(refused.stdout.is_empty(), "no token printed");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("OPENTIME_SIGNING_KEYS") && stderr.contains("--demo"),
        "{stderr}"
    );
    let demo = run(&["sign", "--recipient", "cust-1042", "--demo"]);
    assert!(demo.status.success());
    let expected = KeyRing::demo().sign_recipient(&RecipientId::new("cust-1042").unwrap());
    assert_eq!(
        String::from_utf8(demo.stdout).unwrap(),
        format!("{expected}\n")
    );
}

#[test]
fn embed_prints_the_html_to_paste_for_each_platform() {
    let public = Path::new("https://ot.example.com/");
    let embed = |args: &[&str]| {
        let mut all = vec!["embed"];
        all.extend_from_slice(args);
        opentime_with(&all, &templates(), &[("OPENTIME_PUBLIC_URL", public)])
    };
    let output = embed(&["--template", "renewal", "--esp", "braze"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "<a href=\"https://ot.example.com/c/renewal?t={{custom_attribute.${ot_token}}}\">\
         <img src=\"https://ot.example.com/i/renewal.png?t={{custom_attribute.${ot_token}}}\" \
         width=600 height=200 alt=\"Your membership renewal\" style=\"display:block;border:0\"></a>\n"
    );
    // A countdown is a GIF; the email id follows the token, escaped.
    let output = embed(&[
        "--template",
        "flash-sale",
        "--esp",
        "mailchimp",
        "--attribute",
        "sale_token",
        "--e",
        "flash.2026-03",
    ]);
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "<a href=\"https://ot.example.com/c/flash-sale?t=*|SALE_TOKEN|*&amp;e=flash.2026-03\">\
         <img src=\"https://ot.example.com/i/flash-sale.gif?t=*|SALE_TOKEN|*&amp;e=flash.2026-03\" \
         width=600 height=150 alt=\"Flash sale: the time left to shop\" style=\"display:block;border:0\"></a>\n"
    );
    // --base stands in for public_url, and wins over it.
    let output = embed(&[
        "--template",
        "renewal",
        "--esp",
        "plain",
        "--base",
        "https://mail.example.org/ot/",
    ]);
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        printed.starts_with("<a href=\"https://mail.example.org/ot/c/renewal?t=TOKEN\">"),
        "{printed}"
    );

    // What is wrong is said, and nothing is printed.
    for (args, expected) in [
        (
            &["--template", "renewal", "--esp", "marketo"][..],
            "unknown email platform \"marketo\": use one of braze, sfmc, klaviyo, mailchimp, customerio, iterable, hubspot, sendgrid, plain",
        ),
        (
            &["--template", "renewal", "--esp", "sfmc", "--e", "step 2"],
            "e \"step 2\" is not an email id: 1 to 64",
        ),
        (
            &[
                "--template",
                "renewal",
                "--esp",
                "sfmc",
                "--attribute",
                "ot-token",
            ],
            "the attribute \"ot-token\" is not a profile attribute name",
        ),
        (
            &["--template", "no-such", "--esp", "sfmc"],
            "no template \"no-such\"",
        ),
        (
            &[
                "--template",
                "renewal",
                "--esp",
                "sfmc",
                "--base",
                "ot.example.com",
            ],
            "--base: the base URL \"ot.example.com\" is not an http(s) origin",
        ),
    ] {
        let output = embed(args);
        assert!(!output.status.success(), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let output = opentime(
        &["embed", "--template", "renewal", "--esp", "sfmc"],
        &templates(),
    );
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("set public_url (OPENTIME_PUBLIC_URL)"),
        "without public_url or --base it says which to give"
    );
}

#[test]
fn a_template_alt_text_is_escaped_its_default_is_the_name_and_check_refuses_a_bad_one() {
    let work = tempfile::tempdir().unwrap();
    let poster = |name: &str, alt: &str| {
        format!(
            r##"{{ "name": "{name}", "width": 320, "height": 100, "format": "jpeg", "access": "public"{alt},
  "variants": [ {{ "id": "default", "link": "https://example.com/",
    "layers": [ {{ "type": "rect", "x": 0, "y": 0, "width": 320, "height": 100, "fill": "#123456" }} ] }} ] }}"##
        )
    };
    let files = [
        (
            "fish-and-chips",
            poster("fish-and-chips", r#", "alt": "Fish & \"chips\" <today>""#),
        ),
        ("spring_sale", poster("spring_sale", "")),
    ];
    for (name, json) in &files {
        std::fs::write(work.path().join(format!("{name}.json")), json).unwrap();
    }
    let public = Path::new("https://ot.example.com");
    let embed = |name: &str| {
        let output = opentime_with(
            &[
                "embed",
                "--template",
                name,
                "--esp",
                "klaviyo",
                "--e",
                "w12",
            ],
            work.path(),
            &[("OPENTIME_PUBLIC_URL", public)],
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    // A public template takes no token: its URLs carry only e.
    assert_eq!(
        embed("fish-and-chips"),
        "<a href=\"https://ot.example.com/c/fish-and-chips?e=w12\">\
         <img src=\"https://ot.example.com/i/fish-and-chips.jpg?e=w12\" width=320 height=100 \
         alt=\"Fish &amp; &quot;chips&quot; &lt;today&gt;\" style=\"display:block;border:0\"></a>\n"
    );
    assert!(embed("spring_sale").contains(" alt=\"Spring sale\" "));

    let too_long = format!(r#", "alt": "{}""#, "a".repeat(301));
    std::fs::write(work.path().join("long.json"), poster("long", &too_long)).unwrap();
    std::fs::write(
        work.path().join("broken.json"),
        poster("broken", r#", "alt": "two\nlines""#),
    )
    .unwrap();
    let output = opentime(&["check"], work.path());
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    for (file, expected) in [
        ("long.json", "alt: holds at most 300 characters"),
        ("broken.json", "alt: is one line of text"),
    ] {
        let line = stdout
            .lines()
            .find(|line| line.contains(file))
            .unwrap_or_else(|| panic!("no line for {file}: {stdout}"));
        assert!(line.contains(expected), "{line}");
    }
}

/// Each platform's guide shows the snippet `opentime embed` prints for it,
/// to the letter, so the guides cannot drift from the command.
#[test]
fn every_platform_guide_quotes_what_embed_prints() {
    for esp in [
        "braze",
        "sfmc",
        "klaviyo",
        "mailchimp",
        "customerio",
        "iterable",
        "hubspot",
        "sendgrid",
    ] {
        let output = opentime(
            &[
                "embed",
                "--template",
                "renewal",
                "--esp",
                esp,
                "--base",
                "https://ot.example.com",
            ],
            &templates(),
        );
        assert!(output.status.success(), "{esp}: {output:?}");
        let snippet = String::from_utf8(output.stdout).unwrap();
        let guide = std::fs::read_to_string(root().join(format!("docs/esp/{esp}.md"))).unwrap();
        assert!(
            guide.contains(snippet.trim()),
            "docs/esp/{esp}.md does not show what opentime embed prints:\n{snippet}"
        );
    }
}
