//! The signing snippets of `docs/signing.md`, run against the real binary: for
//! many recipient ids and URLs, `docs/signing/sign.py` (with Python's
//! `cryptography`) and `docs/signing/sign.mjs` (with Node.js and
//! `@noble/ciphers`) print exactly what `opentime sign` prints, and the
//! markdown quotes the two files as they are, so a sender's backend that
//! copies them signs as opentime verifies.
//!
//! The test needs `python3` with `cryptography` (or the Python that `PYTHON`
//! names), `node` 18 or later, and docs/signing's npm packages in
//! `target/test-tools/signing`; `scripts/test` installs them
//! (`scripts/lib/test-tools.sh`). Without them it fails and says so, rather
//! than skip: a green run means the snippets were run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The key of the vectors in `docs/signing.md` (and of `src/access/`'s).
const VECTOR_KEY: &str = "opentime-test-vector-key";

/// The vectors `docs/signing.md` lists under [`VECTOR_KEY`].
const TOKEN_VECTORS: [(&str, &str); 4] = [
    ("alice", "v2zypqtUAH0Ntb9OSImdJRoeeCmDzr"),
    ("cust-1042", "v21Suq4-A3lF5NZBYFP8xc0d_Ybm8_lxkMdw"),
    ("Zoë 李", "v2g7xnToj5uNuWIraTbduEZ1ESsrl7NL2m"),
    (
        "alice@example.com",
        "v2GaXrWHN_VPx9GCs2VQOuYRzdFoqZAJ7k6BVJf-v9qupL",
    ),
];

/// The signed URLs `docs/signing.md` lists under [`VECTOR_KEY`].
const URL_VECTORS: [(&str, &str); 2] = [
    (
        "https://img.example.com/i/sale.gif?until=2026-12-01T00:00:00Z&campaign=bf",
        "https://img.example.com/i/sale.gif?until=2026-12-01T00:00:00Z&campaign=bf&s=84T5BR-2WWQng6LxIT-UMw",
    ),
    (
        "https://img.example.com/i/sale.gif?name=Zo%C3%AB+%26+co&until=2026-12-01T00:00:00Z&t=x",
        "https://img.example.com/i/sale.gif?name=Zo%C3%AB+%26+co&until=2026-12-01T00:00:00Z&t=x&s=uMvRUQW1JQHbLFLmHZhXbQ",
    ),
];

/// Keys the comparisons run under: the vectors' key, a key that is not
/// ASCII (keys are their UTF-8 bytes), and a list whose first key signs.
const KEYS: [&str; 3] = [
    VECTOR_KEY,
    "clé-secrète-0123456789-ü",
    " first-key-0123456789 , second-key-0123456789",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One way of signing: the binary or a snippet, run with arguments and an
/// environment as `opentime sign` takes them.
#[derive(Clone, Copy, Debug)]
enum Signer {
    Opentime,
    Python,
    Node,
}

const SIGNERS: [Signer; 3] = [Signer::Opentime, Signer::Python, Signer::Node];

impl Signer {
    fn command(self) -> Command {
        match self {
            Signer::Opentime => {
                let mut command = Command::new(env!("CARGO_BIN_EXE_opentime"));
                command
                    .arg("sign")
                    .env_remove("OPENTIME_REDIS_URL")
                    .env_remove("OPENTIME_SIGNING_KEYS_FILE")
                    .env(
                        "OPENTIME_PREFERENCES_FILE",
                        root().join("assets/preferences.toml"),
                    );
                command
            }
            Signer::Python => {
                let mut command = Command::new(tools().python.as_str());
                command.arg(root().join("docs/signing/sign.py"));
                command
            }
            Signer::Node => {
                let mut command = Command::new("node");
                command.arg(&tools().node_script);
                command
            }
        }
    }

    /// What the signer prints for `args`, or why it refused.
    fn run(self, key: &str, public_url: &str, args: &[&str]) -> Result<String, String> {
        let Output {
            status,
            stdout,
            stderr,
        } = self
            .command()
            .args(args)
            .env("OPENTIME_SIGNING_KEYS", key)
            .env("OPENTIME_PUBLIC_URL", public_url)
            .output()
            .unwrap_or_else(|error| panic!("{self:?} does not start: {error}"));
        if status.success() {
            Ok(String::from_utf8(stdout).expect("signers print UTF-8"))
        } else {
            Err(String::from_utf8_lossy(&stderr).into_owned())
        }
    }
}

/// Runs every signer on `args` and asserts that they print the same, and
/// returns it.
fn same_output(key: &str, public_url: &str, args: &[&str]) -> String {
    let expected = Signer::Opentime
        .run(key, public_url, args)
        .unwrap_or_else(|error| panic!("opentime sign {args:?} failed: {error}"));
    for signer in [Signer::Python, Signer::Node] {
        match signer.run(key, public_url, args) {
            Ok(printed) => assert_eq!(
                printed, expected,
                "{signer:?} and opentime sign disagree on {args:?} under key {key:?}"
            ),
            Err(error) => {
                panic!("{signer:?} failed on {args:?} (opentime printed {expected:?}): {error}")
            }
        }
    }
    expected
}

/// Runs every signer on `args` and asserts that each one refuses them.
fn all_refuse(key: &str, args: &[&str]) {
    for signer in SIGNERS {
        let result = signer.run(key, "https://ot.example.com", args);
        assert!(
            result.is_err(),
            "{signer:?} accepted {args:?}, printing {result:?}"
        );
    }
}

/// What the snippets need, checked once, with a message that says how to get
/// what is missing.
struct Tools {
    python: String,
    /// `sign.mjs`, copied beside the installed `node_modules`, which is where
    /// Node resolves its import from.
    node_script: PathBuf,
}

fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
        let check = Command::new(&python)
            .args([
                "-c",
                "from cryptography.hazmat.primitives.ciphers.aead import AESSIV",
            ])
            .output();
        match check {
            Ok(output) if output.status.success() => {}
            Ok(output) => panic!(
                "{python} has no cryptography package with AESSIV (38 or later), which docs/signing/sign.py needs: \
                 run scripts/test, which installs python3-cryptography, or set PYTHON to a Python that has it \
                 ({})",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Err(error) => panic!(
                "{python} does not run ({error}): docs/signing/sign.py needs Python 3 with the cryptography package; \
                 run scripts/test, which installs them, or set PYTHON"
            ),
        }

        let node = Command::new("node")
            .args(["-e", "process.exit(Number(process.versions.node.split('.')[0]) >= 18 ? 0 : 1)"])
            .status();
        match node {
            Ok(status) if status.success() => {}
            Ok(_) => panic!("docs/signing/sign.mjs needs Node.js 18 or later; this node is older"),
            Err(error) => panic!(
                "node does not run ({error}): docs/signing/sign.mjs needs Node.js 18 or later; \
                 run scripts/test, which installs nodejs and npm"
            ),
        }
        let installed = root().join("target/test-tools/signing");
        assert!(
            installed.join("node_modules/@noble/ciphers/package.json").is_file(),
            "{} has no @noble/ciphers, which docs/signing/sign.mjs imports: run scripts/test, which installs it \
             (or: mkdir -p {dir} && cp docs/signing/package*.json {dir} && npm ci --prefix {dir})",
            installed.display(),
            dir = installed.display()
        );
        let node_script = installed.join("sign.mjs");
        std::fs::copy(root().join("docs/signing/sign.mjs"), &node_script)
            .expect("sign.mjs can be copied into target/test-tools/signing");
        Tools { python, node_script }
    })
}

#[test]
fn the_markdown_quotes_the_snippets_as_they_are() {
    let markdown = std::fs::read_to_string(root().join("docs/signing.md"))
        .expect("docs/signing.md is readable");
    for (file, language) in [("sign.py", "python"), ("sign.mjs", "js")] {
        let source = std::fs::read_to_string(root().join("docs/signing").join(file))
            .expect("the snippet is readable");
        let block = format!("```{language}\n{source}```\n");
        assert!(
            markdown.contains(&block),
            "docs/signing.md does not quote docs/signing/{file} as it is: copy the file into its ```{language} block"
        );
    }
}

#[test]
fn the_vectors_in_the_markdown_are_what_opentime_signs() {
    let markdown = std::fs::read_to_string(root().join("docs/signing.md"))
        .expect("docs/signing.md is readable");
    for (id, token) in TOKEN_VECTORS {
        let printed = same_output(VECTOR_KEY, "https://ot.example.com", &["--recipient", id]);
        assert_eq!(printed, format!("{token}\n"), "the token of {id:?}");
        assert!(
            markdown.contains(&format!("`{token}`")),
            "docs/signing.md lacks the token of {id:?}"
        );
    }
    for (url, signed) in URL_VECTORS {
        let printed = same_output(VECTOR_KEY, "https://ot.example.com", &["--url", url]);
        assert_eq!(printed, format!("{signed}\n"), "the signature of {url}");
        assert!(
            markdown.contains(signed),
            "docs/signing.md lacks the signed form of {url}"
        );
    }
}

#[test]
fn tokens_agree_for_every_kind_of_id() {
    let longest = "é".repeat(128);
    let ids = [
        "alice",
        "cust-1042",
        "Zoë 李",
        "alice.smith@example.com",
        "a/b+c?d=e&f#g",
        " spaces around ",
        "🦀 crab",
        "0",
        &longest,
    ];
    for key in KEYS {
        for id in ids {
            let token = same_output(key, "https://ot.example.com", &["--recipient", id]);
            assert!(token.starts_with("v2"), "{token}");
        }
    }
}

#[test]
fn ids_opentime_refuses_the_snippets_refuse() {
    let too_long = "x".repeat(257);
    let crab_too_long = "🦀".repeat(65);
    for id in [
        "",
        "a\nb",
        "tab\there",
        "nul\u{7f}",
        &too_long,
        &crab_too_long,
    ] {
        all_refuse(VECTOR_KEY, &["--recipient", id]);
    }
}

#[test]
fn signed_urls_agree() {
    let urls = [
        "https://img.example.com/i/sale.gif?until=2026-12-01T00:00:00Z&campaign=bf",
        "https://ot.example.com/i/sale.png?name=Zo%C3%AB+%26+co&until=2026-12-01T00:00:00Z&t=x",
        "/i/sale.gif?b=2&a=1&a=0",
        "https://ot.example.com/i/a%7Eb%2fc.gif?x=%7e&y&z=",
        "https://ot.example.com/i/sale.png",
        "https://ot.example.com/i/sale.png?s=old-signature&until=2027-01-01#part",
        "//ot.example.com/c/renewal?campaign=spring%20sale&e=step-1",
        "https://ot.example.com?x=1",
        "HTTPS://ot.example.com:8443/i/%E6%9D%8E.png?q=%C3%28&r=%F0%9F%A6&u=%EF%BB%BFbom",
        "https://ot.example.com/i/x.png?a=1&&b=2&=v&%73=sig&s",
        "  https://ot.example.com/i/x.png?emoji=🦀&space=a b&plus=a+b  ",
        "https://ot.example.com/i/x.png??a=1",
        "https://ot.example.com/i/x.png?a=%zz&b=%&c=%4",
        "https://ot.example.com/i/ü ber.png?ключ=значение&k=v*(!)'",
        "https://ot.example.com/i/x.png?t={{custom_attribute.${ot_token}}}&until=2026",
    ];
    for key in KEYS {
        for url in urls {
            let signed = same_output(key, "https://ot.example.com", &["--url", url]);
            assert!(signed.contains("s="), "{signed}");
        }
    }
}

#[test]
fn urls_opentime_refuses_the_snippets_refuse() {
    for url in [
        "i/sale.gif?x=1",
        "1http://ot.example.com/i/x.png",
        "mailto:someone",
    ] {
        all_refuse(VECTOR_KEY, &["--url", url]);
    }
}

#[test]
fn unsubscribe_headers_agree() {
    for public_url in [
        "https://ot.example.com",
        "https://ot.example.com/",
        "https://example.com/ot",
    ] {
        for id in ["cust-1042", "Zoë 李"] {
            let headers = same_output(
                VECTOR_KEY,
                public_url,
                &["--recipient", id, "--unsubscribe-headers"],
            );
            assert!(
                headers.starts_with("List-Unsubscribe: <https://"),
                "{headers}"
            );
            let with_list = same_output(
                VECTOR_KEY,
                public_url,
                &[
                    "--recipient",
                    id,
                    "--unsubscribe-headers",
                    "--list",
                    "offers",
                ],
            );
            assert!(with_list.contains("&list=offers>"), "{with_list}");
        }
    }
}
