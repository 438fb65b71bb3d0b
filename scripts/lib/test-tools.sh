# shellcheck shell=bash
# Sourced by scripts/test and .ci/run: installs what the test suite needs
# where it is missing, and says what it did. Everything already present is
# left alone, so on a machine that has it all this prints nothing.
#
#   Debian    apt-get install redis-server chromium chromium-driver (and a C
#             compiler, make, procps and curl where missing); python3-cryptography,
#             nodejs and npm for the signing snippets' test
#             (tests/signing_snippets.rs)
#   Ubuntu    the same, but Chromium from the snap store (Ubuntu's chromium
#             packages are stubs for that snap) when snapd runs; in a container
#             without snapd, it says how to point the tests at a Chrome instead
#   macOS     installs nothing: it says what to install with Homebrew
#   Rust      rustup's stable toolchain, installed for this user if cargo is
#             missing
#   npm       docs/signing's packages (@noble/ciphers), as its package-lock.json
#             says, into target/test-tools/signing, on every system with npm
#
# The signing snippets' test runs PYTHON (python3 unless set): where the
# python3 on PATH lacks the cryptography package but Debian's /usr/bin/python3
# has it, PYTHON is set to that.
#
# A browser named by CHROME and a driver named by CHROMEDRIVER are taken as
# they are. Warnings that the tests will fail for want of something are kept
# in test_tool_warnings, for the caller to repeat after the tests.

test_tool_warnings=()

test_tools_say() { echo "scripts/test: $*" >&2; }

# The first of the named programs that is on PATH and answers --version
# (Ubuntu's /usr/bin/chromium-browser is a stub that fails without its snap).
test_tools_first_runnable() {
    local name path
    for name in "$@"; do
        if path=$(command -v "$name") && "$path" --version >/dev/null 2>&1; then
            echo "$path"
            return 0
        fi
    done
    return 1
}

test_tools_have_browser() {
    [ -n "${CHROME:-}" ] || test_tools_first_runnable chromium chromium-browser google-chrome google-chrome-stable >/dev/null
}

test_tools_have_driver() {
    [ -n "${CHROMEDRIVER:-}" ] || test_tools_first_runnable chromedriver chromium.chromedriver >/dev/null
}

# Whether PYTHON (python3 unless set) has the cryptography package with AES-SIV
# (cryptography 38 or later), which docs/signing/sign.py needs.
test_tools_have_python_siv() {
    "${PYTHON:-python3}" -c 'from cryptography.hazmat.primitives.ciphers.aead import AESSIV' >/dev/null 2>&1
}

# Node.js 18 or later (docs/signing/sign.mjs uses util.parseArgs) and npm.
test_tools_have_node() {
    command -v npm >/dev/null 2>&1 &&
        node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' >/dev/null 2>&1
}

# Whether Debian's own /usr/bin/python3 has it, which apt-get installs it for.
test_tools_system_python_siv() {
    [ -z "${PYTHON:-}" ] && [ -x /usr/bin/python3 ] &&
        /usr/bin/python3 -c 'from cryptography.hazmat.primitives.ciphers.aead import AESSIV' >/dev/null 2>&1
}

# A PATH whose python3 is another one (pyenv, a venv) can still run the
# snippet with Debian's, which has the package or was just given it.
test_tools_find_python_siv() {
    test_tools_have_python_siv && return 0
    if test_tools_system_python_siv; then
        export PYTHON=/usr/bin/python3
        test_tools_say "the python3 on PATH lacks the cryptography package; the signing snippets' test uses /usr/bin/python3 (PYTHON=/usr/bin/python3)"
        return 0
    fi
    test_tool_warnings+=("${PYTHON:-python3} lacks the cryptography package with AES-SIV (38 or later; Ubuntu 22.04's python3-cryptography is older): install it with pip (python3 -m pip install 'cryptography>=38') or name a Python that has it (PYTHON=/path/to/python3 scripts/test). Until then tests/signing_snippets.rs fails.")
    test_tools_say "${test_tool_warnings[-1]}"
}

# docs/signing's npm packages, as its lock says, in target/test-tools/signing,
# installed again whenever the lock changes. The packages run no install
# scripts.
test_tools_install_signing_packages() {
    local root dir
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    dir=$root/target/test-tools/signing
    if ! test_tools_have_node; then
        test_tool_warnings+=("Node.js 18 or later with npm is missing (Ubuntu 22.04's nodejs is older): install a current Node.js. Until then tests/signing_snippets.rs fails.")
        test_tools_say "${test_tool_warnings[-1]}"
        return 0
    fi
    cmp -s "$root/docs/signing/package-lock.json" "$dir/node_modules/opentime-package-lock.json" && return 0
    test_tools_say "installing docs/signing's npm packages into target/test-tools/signing (npm ci)"
    mkdir -p "$dir"
    cp "$root/docs/signing/package.json" "$root/docs/signing/package-lock.json" "$dir/"
    if npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null; then
        cp "$root/docs/signing/package-lock.json" "$dir/node_modules/opentime-package-lock.json"
    else
        test_tool_warnings+=("npm ci of docs/signing's packages failed (see above). Until it works tests/signing_snippets.rs fails.")
        test_tools_say "${test_tool_warnings[-1]}"
    fi
}

test_tools_have_cargo() {
    # A toolchain rustup installed earlier may not be on this shell's PATH yet.
    if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
        # shellcheck source=/dev/null
        . "$HOME/.cargo/env"
    fi
    command -v cargo >/dev/null 2>&1
}

test_tools_install_rust() {
    test_tools_say "cargo is missing: installing Rust's stable toolchain with rustup into ~/.cargo"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
        sh -s -- -y --profile minimal --default-toolchain stable --component rustfmt,clippy >/dev/null
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
}

test_tools_macos() {
    local formulas=() casks=()
    # Homebrew's Chrome and Chromium live in /Applications, not on PATH.
    local app
    for app in "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" \
        "/Applications/Chromium.app/Contents/MacOS/Chromium"; do
        if [ -z "${CHROME:-}" ] && ! test_tools_have_browser && [ -x "$app" ]; then
            export CHROME="$app"
        fi
    done
    command -v redis-server >/dev/null 2>&1 || formulas+=(redis)
    test_tools_have_node || formulas+=(node)
    test_tools_have_browser || casks+=(google-chrome)
    test_tools_have_driver || casks+=(chromedriver)
    if [ ${#formulas[@]} -gt 0 ] || [ ${#casks[@]} -gt 0 ] || ! test_tools_have_cargo || ! test_tools_have_python_siv; then
        test_tools_say "on macOS this script installs nothing; what is missing, with Homebrew:"
        [ ${#formulas[@]} -eq 0 ] || echo "  brew install ${formulas[*]}" >&2
        [ ${#casks[@]} -eq 0 ] || echo "  brew install --cask ${casks[*]}" >&2
        test_tools_have_python_siv || echo "  python3 -m pip install --user 'cryptography>=38'   # or name a Python that has it: PYTHON=/path/to/python3" >&2
        test_tools_have_cargo || echo "  Rust: curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh   # then open a new shell" >&2
        [ ${#casks[@]} -eq 0 ] || echo "  (chromedriver must match Chrome's major version; macOS may ask to allow it: xattr -d com.apple.quarantine \"\$(command -v chromedriver)\")" >&2
        exit 1
    fi
}

test_tools_debian_like() {
    local id="" id_like="" packages=() sudo=()
    # shellcheck source=/dev/null
    id=$(. /etc/os-release && echo "${ID:-}")
    # shellcheck source=/dev/null
    id_like=$(. /etc/os-release && echo "${ID_LIKE:-}")
    local ubuntu=false
    [[ $id == ubuntu || " $id_like " == *" ubuntu "* ]] && ubuntu=true

    { command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || packages+=(redis-server)
    # The tests stop their servers with the kill program, not the shell's.
    type -P kill >/dev/null || packages+=(procps)
    # ring and jemalloc build C code.
    { command -v cc && command -v make; } >/dev/null 2>&1 || packages+=(build-essential)
    test_tools_have_cargo || { command -v curl >/dev/null 2>&1 || packages+=(curl ca-certificates); }
    # The signing snippets' test runs docs/signing/sign.py and sign.mjs.
    test_tools_have_python_siv || test_tools_system_python_siv || packages+=(python3 python3-cryptography)
    if ! command -v node >/dev/null 2>&1; then
        packages+=(nodejs npm)
    elif ! command -v npm >/dev/null 2>&1; then
        packages+=(npm)
    fi
    local want_snap=false
    if ! test_tools_have_browser || ! test_tools_have_driver; then
        if ! $ubuntu; then
            packages+=(chromium chromium-driver)
        elif command -v snap >/dev/null 2>&1 && snap list >/dev/null 2>&1; then
            want_snap=true
        else
            test_tool_warnings+=("Chromium is missing, and Ubuntu ships it only as a snap, which cannot be installed here (snapd is not running: a container?). Install Google Chrome and the chromedriver of the same version, then put both on PATH or name them: CHROME=/path/to/chrome CHROMEDRIVER=/path/to/chromedriver scripts/test. Until then the browser tests fail.")
            test_tools_say "${test_tool_warnings[-1]}"
        fi
    fi

    if [ ${#packages[@]} -gt 0 ] || $want_snap; then
        if [ "$(id -u)" -ne 0 ]; then
            command -v sudo >/dev/null 2>&1 || {
                local wanted=("${packages[@]}")
                if $want_snap; then wanted+=("chromium (snap)"); fi
                test_tools_say "missing: ${wanted[*]}; sudo is not installed, so run this script as root once, or install them as root"
                exit 1
            }
            sudo=(sudo)
        fi
    fi
    if [ ${#packages[@]} -gt 0 ]; then
        test_tools_say "installing with apt-get: ${packages[*]}"
        "${sudo[@]}" apt-get update -qq
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
    fi
    if $want_snap; then
        test_tools_say "installing Chromium and its driver from the snap store (Ubuntu's chromium packages are stubs for this snap)"
        "${sudo[@]}" snap install chromium
    fi
    # The snap's programs are chromium and chromium.chromedriver in /snap/bin.
    if [ -d /snap/bin ] && [[ ":$PATH:" != *":/snap/bin:"* ]]; then
        export PATH="$PATH:/snap/bin"
    fi
}

test_tools_install() {
    case "$(uname -s)" in
        Darwin)
            test_tools_macos
            ;;
        Linux)
            if command -v apt-get >/dev/null 2>&1 && [ -f /etc/os-release ]; then
                test_tools_debian_like
            else
                test_tools_say "installs only on Debian and Ubuntu; here, install redis-server, Chromium (or Chrome), chromedriver and a C compiler yourself"
            fi
            ;;
        *)
            test_tools_say "installs only on Debian, Ubuntu and macOS; install redis-server, Chromium (or Chrome), chromedriver and a C compiler yourself"
            ;;
    esac
    test_tools_have_cargo || test_tools_install_rust
    test_tools_find_python_siv
    test_tools_install_signing_packages
}
